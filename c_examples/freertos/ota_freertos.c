/*
 * qcloud-ota on FreeRTOS + FreeRTOS+TCP: a port example (docs/freertos.md).
 *
 * NOT built against FreeRTOS here (its sources cannot be installed on the test machine): the test
 * suite only compiles this file for Cortex-M4 with -Wall -Wextra -Werror against declaration-only
 * stand-ins of the FreeRTOS headers it uses (tests/freertos_headers/), which checks the calls
 * against the documented prototypes and nothing more. The same callbacks run for real in the
 * bare-metal QEMU firmware (c_examples/mps2-an386/firmware.c), over a UART link instead of
 * FreeRTOS+TCP.
 *
 * What you provide: flash_erase/flash_write/flash_read for your part (the "flash driver" below),
 * the slot and record addresses, the identity, and a call to ota_start_task() after the IP stack
 * is up. One task owns the client: it calls ota_poll() and sleeps for the delay it returns.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"
#include "FreeRTOS_IP.h"
#include "FreeRTOS_Sockets.h"

#include "qcloud_ota.h"

/* ---- your flash driver (PORT) ---------------------------------------------------------------- */

int flash_erase(uint32_t addr, uint32_t len);                       /* whole sectors */
int flash_write(uint32_t addr, const uint8_t *data, uint32_t len);  /* erased area */
int flash_read(uint32_t addr, uint8_t *buf, uint32_t len);
int boot_mark_pending(void); /* e.g. MCUboot's boot_set_pending(0): boot the slot once */
void board_reboot(void);     /* e.g. CMSIS NVIC_SystemReset() */

#define SLOT_ADDR 0x08080000u   /* PORT: the secondary slot */
#define SLOT_SIZE (448u * 1024u)
#define RECORD_ADDR(copy) (0x080F0000u + (copy) * 0x1000u) /* two independent sectors */
#define RECORD_SECTOR 0x1000u

#define MAX_SOCKS 2 /* MQTT and HTTP */
#define OTA_TASK_STACK_WORDS (10240 / sizeof(StackType_t)) /* ota_init needs ~7.7 KiB (QEMU) */

typedef struct {
    Socket_t sock[MAX_SOCKS];
    uint32_t image_size;
} freertos_port;

static freertos_port port;
static ota_client client;
static uint8_t mqtt_rx[2048], mqtt_tx[1024], http_buf[4096];

/* ---- clock ----------------------------------------------------------------------------------- */

static uint64_t now_ms(void *user)
{
    /* 64-bit milliseconds from the 32-bit tick count, extended across wraps (one caller). */
    static uint32_t last;
    static uint64_t high;
    uint32_t t = (uint32_t)xTaskGetTickCount();
    (void)user;
    if (t < last)
        high += (uint64_t)1 << 32;
    last = t;
    return (high + t) * portTICK_PERIOD_MS;
}

/* ---- sockets: FreeRTOS+TCP, non-blocking ----------------------------------------------------- */

static int32_t net_connect(void *user, int32_t channel, const char *host, uint16_t p,
                           uint32_t flags)
{
    freertos_port *fp = user;
    struct freertos_sockaddr addr;
    TickType_t no_wait = 0;
    Socket_t s;
    uint32_t ip;
    int32_t h;
    BaseType_t rc;
    (void)channel;

    if (flags & OTA_NET_TLS)
        return OTA_NET_ERROR; /* PORT: plug mbedTLS/your TLS here, or use plain MQTT/HTTP */
    for (h = 0; h < MAX_SOCKS && fp->sock[h] != NULL; h++)
        ;
    if (h == MAX_SOCKS)
        return OTA_NET_ERROR;
    /* PORT: FreeRTOS_gethostbyname() blocks this task while it resolves (with
     * ipconfigDNS_USE_CALLBACKS the callback variant does not). */
    ip = FreeRTOS_gethostbyname(host);
    if (ip == 0)
        return OTA_NET_ERROR;
    s = FreeRTOS_socket(FREERTOS_AF_INET, FREERTOS_SOCK_STREAM, FREERTOS_IPPROTO_TCP);
    if (s == FREERTOS_INVALID_SOCKET)
        return OTA_NET_ERROR;
    /* Zero timeouts: connect, send and recv return at once (ota_poll never blocks). */
    FreeRTOS_setsockopt(s, 0, FREERTOS_SO_RCVTIMEO, &no_wait, sizeof no_wait);
    FreeRTOS_setsockopt(s, 0, FREERTOS_SO_SNDTIMEO, &no_wait, sizeof no_wait);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = FREERTOS_AF_INET;
    addr.sin_port = FreeRTOS_htons(p);
    addr.sin_addr = ip;
    rc = FreeRTOS_connect(s, &addr, sizeof addr);
    if (rc != 0 && rc != -pdFREERTOS_ERRNO_EINPROGRESS && rc != -pdFREERTOS_ERRNO_EWOULDBLOCK) {
        FreeRTOS_closesocket(s);
        return OTA_NET_ERROR;
    }
    fp->sock[h] = s;
    return h;
}

static Socket_t sock_of(freertos_port *fp, int32_t h)
{
    return h >= 0 && h < MAX_SOCKS ? fp->sock[h] : NULL;
}

static int32_t net_send(void *user, int32_t h, const uint8_t *buf, size_t len)
{
    Socket_t s = sock_of(user, h);
    BaseType_t n;
    if (s == NULL)
        return OTA_NET_ERROR;
    if (FreeRTOS_issocketconnected(s) != pdTRUE)
        return OTA_NET_WOULD_BLOCK; /* still connecting (a failed connect shows in recv) */
    n = FreeRTOS_send(s, buf, len, FREERTOS_MSG_DONTWAIT);
    if (n > 0)
        return (int32_t)n;
    if (n == 0 || n == -pdFREERTOS_ERRNO_ENOSPC || n == -pdFREERTOS_ERRNO_EWOULDBLOCK)
        return OTA_NET_WOULD_BLOCK;
    return OTA_NET_ERROR;
}

static int32_t net_recv(void *user, int32_t h, uint8_t *buf, size_t len)
{
    Socket_t s = sock_of(user, h);
    BaseType_t n;
    if (s == NULL)
        return OTA_NET_ERROR;
    n = FreeRTOS_recv(s, buf, len, FREERTOS_MSG_DONTWAIT);
    if (n > 0)
        return (int32_t)n;
    if (n == 0)
        return OTA_NET_WOULD_BLOCK; /* FreeRTOS+TCP: 0 means "nothing yet", not "closed" */
    if (n == -pdFREERTOS_ERRNO_ENOTCONN && FreeRTOS_issocketconnected(s) != pdTRUE)
        return 0; /* the peer closed (or the connect failed) */
    return OTA_NET_ERROR;
}

static void net_close(void *user, int32_t h)
{
    freertos_port *fp = user;
    Socket_t s = sock_of(fp, h);
    if (s == NULL)
        return;
    FreeRTOS_shutdown(s, FREERTOS_SHUT_RDWR);
    FreeRTOS_closesocket(s);
    fp->sock[h] = NULL;
}

/* ---- slot and record over the flash driver --------------------------------------------------- */

static int32_t slot_open(void *user, uint32_t image_size, uint32_t offset)
{
    freertos_port *fp = user;
    if (image_size > SLOT_SIZE)
        return -1;
    fp->image_size = image_size;
    /* A fresh download erases what it will write; a resume keeps the verified prefix. */
    return offset == 0 ? flash_erase(SLOT_ADDR, SLOT_SIZE) : 0;
}

static int32_t slot_write(void *user, uint32_t offset, const uint8_t *data, size_t len)
{
    freertos_port *fp = user;
    if (offset > fp->image_size || len > fp->image_size - offset)
        return -1;
    return flash_write(SLOT_ADDR + offset, data, (uint32_t)len);
}

static int32_t slot_read(void *user, uint32_t offset, uint8_t *buf, size_t len)
{
    (void)user;
    return flash_read(SLOT_ADDR + offset, buf, (uint32_t)len);
}

static int32_t slot_close(void *user, bool bootable)
{
    (void)user;
    return bootable ? boot_mark_pending() : 0;
}

/* Record copy layout: a 4-byte length, then the record; an erased sector (0xFFFFFFFF) is empty. */
static int32_t store_load(void *user, uint8_t copy, uint8_t *buf, size_t cap)
{
    uint32_t len;
    (void)user;
    if (copy > 1 || flash_read(RECORD_ADDR(copy), (uint8_t *)&len, sizeof len) != 0)
        return -1;
    if (len == 0xFFFFFFFFu || len == 0)
        return 0;
    if (len > cap || len > OTA_RECORD_SIZE)
        return -1;
    return flash_read(RECORD_ADDR(copy) + 4u, buf, len) == 0 ? (int32_t)len : -1;
}

static int32_t store_save(void *user, uint8_t copy, const uint8_t *data, size_t len)
{
    uint32_t n = (uint32_t)len;
    (void)user;
    if (copy > 1 || len > OTA_RECORD_SIZE || flash_erase(RECORD_ADDR(copy), RECORD_SECTOR) != 0)
        return -1;
    if (len == 0)
        return 0;
    /* The data before the length: a cut in between leaves an erased length, i.e. "empty". */
    if (flash_write(RECORD_ADDR(copy) + 4u, data, n) != 0)
        return -1;
    return flash_write(RECORD_ADDR(copy), (const uint8_t *)&n, sizeof n);
}

/* ---- the task -------------------------------------------------------------------------------- */

static void on_event(void *user, const ota_event *e)
{
    (void)user;
    if (e->kind == OTA_EVENT_IMAGE_READY) {
        /* PORT: reboot when the product allows it (here at once); the bootloader swaps. */
        board_reboot();
    }
}

typedef struct {
    const char *product_id, *device_name, *device_secret, *running_version;
} ota_identity;

static void ota_task(void *arg)
{
    const ota_identity *id = arg;
    static const ota_platform platform = {
        .user = &port,
        .now_ms = now_ms,
        .net_connect = net_connect,
        .net_send = net_send,
        .net_recv = net_recv,
        .net_close = net_close,
        .slot_open = slot_open,
        .slot_write = slot_write,
        .slot_read = slot_read,
        .slot_close = slot_close,
        .store_load = store_load,
        .store_save = store_save,
        .on_event = on_event,
    };
    ota_config cfg;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = id->product_id;
    cfg.device_name = id->device_name;
    cfg.device_secret = id->device_secret;
    cfg.running_version = id->running_version;
    cfg.mqtt_rx_buf = mqtt_rx;
    cfg.mqtt_rx_len = sizeof mqtt_rx;
    cfg.mqtt_tx_buf = mqtt_tx;
    cfg.mqtt_tx_len = sizeof mqtt_tx;
    cfg.http_buf = http_buf;
    cfg.http_len = sizeof http_buf;
    cfg.slot_size = SLOT_SIZE;
    if (ota_init(&client, &cfg, &platform) != OTA_OK)
        vTaskDelete(NULL);
    for (;;) {
        uint32_t ms = ota_poll(&client);
        /* Sleep for the delay asked (at least a tick, so lower-priority tasks run). */
        vTaskDelay(ms / portTICK_PERIOD_MS ? ms / portTICK_PERIOD_MS : 1);
    }
}

/* Call once the network is up (after eNetworkUp in vApplicationIPNetworkEventHook); `id` must
 * stay valid (static). */
BaseType_t ota_start_task(const ota_identity *id, UBaseType_t priority)
{
    return xTaskCreate(ota_task, "ota", OTA_TASK_STACK_WORDS, (void *)id, priority, NULL);
}
