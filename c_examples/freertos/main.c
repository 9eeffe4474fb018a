/*
 * The qcloud-ota firmware on FreeRTOS + lwIP (+ mbedTLS) for QEMU's mps2-an386: the way firmware
 * built on STM32Cube or ESP-IDF runs the library. One task owns the ota_client and sleeps for
 * what ota_poll() returns; lwIP's thread and the LAN9118 receive task do the networking.
 *
 *   settings  a file of key=value lines whose path is QEMU's semihosting command line
 *             (scripts/rtos-demo.sh writes it from its own command line)
 *   network   LAN9118 on QEMU's user network: 10.0.2.15/24, the host's loopback is 10.0.2.2
 *   flash     the slot and the record copies are files in the device directory (emu_flash.h),
 *             so killing QEMU is a power cut and the next run resumes
 *   reboot    SCB->AIRCR.SYSRESETREQ; the boot code plays the bootloader: an image marked at
 *             OTA_EVENT_IMAGE_READY (DIR/boot_pending) becomes the running version
 *   once      with once=1 the run ends (semihosting exit) with 0 after `done`, 1 after `fail`
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "lwip/dns.h"
#include "lwip/init.h"
#include "lwip/netdb.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/tcpip.h"
#include "mbedtls/md5.h"
#include "mbedtls/platform.h"

#include "console.h"
#include "emu_flash.h"
#include "lan9118_netif.h"
#include "ota_lwip_platform.h"
#include "qcloud_ota.h"
#include "semihost.h"

#define VERSION_CAP 33
#define OTA_TASK_STACK_BYTES (8 * 1024)
#define OTA_TASK_PRIORITY 2
#define SLOT_CAPACITY (8u << 20)
#define LOOPBACK_ALIAS "10.0.2.2" /* QEMU user networking: the host's loopback */

#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define LAN9118_FREE_RUN (*(volatile uint32_t *)0x4020009Cu) /* 25 MHz of virtual time */

/* ---- settings ------------------------------------------------------------------------------ */

static char settings_text[2048];
static struct {
    const char *product_id, *device_name, *device_secret, *host, *version, *dir, *ca;
    uint16_t port;
    bool once, tls, bench;
} settings;

static bool load_settings(void)
{
    static char path[300];
    char *line, *next;
    int32_t n;
    if (semihost_cmdline(path, sizeof path) != 0 || !path[0])
        return false;
    n = emu_flash_read_file(path, (uint8_t *)settings_text, sizeof settings_text - 1);
    if (n < 0)
        return false;
    settings_text[n] = 0;
    for (line = settings_text; line && *line; line = next) {
        char *v;
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = 0;
        if (!strcmp(line, "product_id"))
            settings.product_id = v;
        else if (!strcmp(line, "device_name"))
            settings.device_name = v;
        else if (!strcmp(line, "device_secret"))
            settings.device_secret = v;
        else if (!strcmp(line, "host"))
            settings.host = v[0] ? v : NULL; /* NULL: the library's default broker */
        else if (!strcmp(line, "port"))
            settings.port = (uint16_t)strtoul(v, NULL, 10);
        else if (!strcmp(line, "version"))
            settings.version = v;
        else if (!strcmp(line, "dir"))
            settings.dir = v;
        else if (!strcmp(line, "ca"))
            settings.ca = v[0] ? v : NULL;
        else if (!strcmp(line, "once"))
            settings.once = v[0] == '1';
        else if (!strcmp(line, "tls"))
            settings.tls = v[0] == '1';
        else if (!strcmp(line, "bench"))
            settings.bench = v[0] == '1';
    }
    return settings.product_id && settings.device_name && settings.device_secret
           && settings.version && settings.dir;
}

/* Loopback names (given on the command line or in a firmware URL) are the host's loopback,
 * which the guest reaches as 10.0.2.2; IPv4 literals are used as they are; any other name
 * (the real cloud's broker and COS hosts) is looked up through QEMU's DNS forwarder. The lookup
 * blocks this task for up to lwIP's DNS timeout: a product firmware resolves ahead of time or
 * caches, since the library counts on net_connect returning promptly. */
static int resolve(void *ctx, const char *host, struct in_addr *out)
{
    struct hostent *he;
    (void)ctx;
    if (!strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1")
        || !strcmp(host, "[::1]"))
        host = LOOPBACK_ALIAS;
    if (inet_aton(host, out))
        return 0;
    he = lwip_gethostbyname(host);
    if (he == NULL || he->h_addrtype != AF_INET || he->h_addr_list[0] == NULL) {
        console_printf("resolve: %s: no address\n", host);
        return -1;
    }
    memcpy(out, he->h_addr_list[0], sizeof *out);
    return 0;
}

/* ---- TLS: trust, clock, entropy, memory ---------------------------------------------------- */

static unsigned char trust_pem[16 * 1024];

/* NOT FOR A SHIPPING BUILD: mps2-an386 has no TRNG, so this test firmware stirs the host's
 * clock and the LAN9118's free-running counter into a xorshift generator. A real device reads
 * its TRNG here (STM32 RNG, ESP32 esp_fill_random). */
static int test_entropy(void *ctx, unsigned char *buf, size_t len)
{
    static uint64_t x;
    (void)ctx;
    x ^= ((uint64_t)semihost_time() << 32) ^ LAN9118_FREE_RUN ^ xTaskGetTickCount();
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)(x >> 24);
    }
    return 0;
}

/* The host's clock stands in for the RTC/SNTP a device would have: certificate dates are
 * checked. */
static int64_t unix_time_s(void *ctx)
{
    (void)ctx;
    return (int64_t)semihost_time();
}

static void on_tls_failure(void *ctx, const tls_mbedtls_conn *conn)
{
    (void)ctx;
    console_printf("tls: %s (mbedTLS -0x%04x, verify flags 0x%lx)\n",
                   tls_mbedtls_failure_name(tls_mbedtls_error(conn)),
                   (unsigned)-tls_mbedtls_mbedtls_error(conn),
                   (unsigned long)tls_mbedtls_verify_flags(conn));
}

/* mbedTLS's allocations from the FreeRTOS heap (heap_4), so its peak is the heap's. */
static void *tls_calloc(size_t n, size_t size)
{
    return pvPortCalloc(n, size);
}

/* ---- the OTA task ----------------------------------------------------------------------------- */

static ota_client client;
static uint8_t mqtt_rx[2048], mqtt_tx[1024], http_buf[4096];
static ota_lwip_net net;
static char running_version[VERSION_CAP];
static enum { RUNNING, REBOOT, FINISHED, FAILED } run_state = RUNNING;
static TaskHandle_t ota_task_handle;
/* Virtual time in LAN9118 FREE_RUN ticks (40 ns), and how much of it the CPU slept in the idle
 * task: under -icount shift=0 one instruction takes 1 ns, so each busy tick is 40 instructions
 * (newlib-nano's printf has no %llu: the figures are printed in ticks). */
static volatile uint32_t idle_ticks;
static uint32_t download_start_ticks, download_start_idle, download_bytes, download_ticks,
    download_idle;
static char next_version[VERSION_CAP];

static void on_event(void *user, const ota_event *e)
{
    (void)user;
    switch (e->kind) {
    case OTA_EVENT_CONNECTED:
        console_printf("event: connected\n");
        break;
    case OTA_EVENT_DISCONNECTED:
        console_printf("event: disconnected (%s)\n", ota_strerror(e->error));
        break;
    case OTA_EVENT_OFFERED:
        console_printf("event: offered %s (%lu bytes)\n", e->version, (unsigned long)e->file_size);
        break;
    case OTA_EVENT_DOWNLOAD_STARTED:
        console_printf("event: download of %s from %lu\n", e->version,
                       (unsigned long)e->downloaded);
        download_start_ticks = LAN9118_FREE_RUN;
        download_start_idle = idle_ticks;
        download_bytes = e->file_size - e->downloaded;
        break;
    case OTA_EVENT_PROGRESS:
        console_printf("progress %u%% %lu/%lu\n", (unsigned)e->percent,
                       (unsigned long)e->downloaded, (unsigned long)e->file_size);
        break;
    case OTA_EVENT_IMAGE_READY:
        download_ticks = LAN9118_FREE_RUN - download_start_ticks;
        download_idle = idle_ticks - download_start_idle;
        /* The "bootloader" mark: the verified image boots at the next reset. */
        strncpy(next_version, e->version, VERSION_CAP - 1);
        if (!emu_flash_write_text("boot_pending", e->version))
            console_printf("cannot mark the image bootable\n");
        console_printf("event: image %s ready (download %lu bytes in %lu us, busy %lu us)\n",
                       e->version, (unsigned long)download_bytes,
                       (unsigned long)(download_ticks / 25u),
                       (unsigned long)((download_ticks - download_idle) / 25u));
        if (settings.bench)
            console_printf("figure download_bytes=%lu\nfigure download_busy_ticks=%lu\n",
                           (unsigned long)download_bytes,
                           (unsigned long)(download_ticks - download_idle));
        run_state = REBOOT;
        break;
    case OTA_EVENT_DONE:
        console_printf("event: update to %s done\n", e->version);
        run_state = FINISHED;
        break;
    case OTA_EVENT_FAILED:
        console_printf("event: update to %s failed: result_code %d (%s)\n", e->version,
                       (int)e->result_code, ota_strerror(e->error));
        run_state = FAILED;
        break;
    case OTA_EVENT_ERROR:
        console_printf("event: error %d (%s)\n", (int)e->error, ota_strerror(e->error));
        break;
    default:
        break;
    }
}

static void on_log(void *user, int32_t level, const char *msg, size_t len)
{
    (void)user;
    if (level <= OTA_LOG_INFO)
        console_printf("ota: %.*s\n", (int)len, msg);
}

static void figures(void)
{
    UBaseType_t free_words = uxTaskGetStackHighWaterMark(NULL);
    console_printf("figure ota_stack_used=%lu\n",
                   (unsigned long)(OTA_TASK_STACK_BYTES - free_words * sizeof(StackType_t)));
    console_printf("figure heap_total=%lu\n", (unsigned long)configTOTAL_HEAP_SIZE);
    console_printf("figure heap_min_free=%lu\n", (unsigned long)xPortGetMinimumEverFreeHeapSize());
    console_printf("figure ota_client_size=%lu\n", (unsigned long)sizeof client);
    console_printf("figure rx_dropped=%lu\n", (unsigned long)lan9118_rx_dropped());
}

/* MD5 alone over as many bytes as the download carried (the HTTP buffer, again and again), on
 * the same core: the reference for the download path's cost per byte. */
static void bench_md5(uint32_t bytes)
{
    mbedtls_md5_context md5;
    unsigned char digest[16];
    uint32_t t0, i0, done;
    t0 = LAN9118_FREE_RUN;
    i0 = idle_ticks;
    mbedtls_md5_init(&md5);
    (void)mbedtls_md5_starts_ret(&md5);
    for (done = 0; done < bytes; done += sizeof http_buf) {
        uint32_t n = bytes - done < sizeof http_buf ? bytes - done : sizeof http_buf;
        (void)mbedtls_md5_update_ret(&md5, http_buf, n);
    }
    (void)mbedtls_md5_finish_ret(&md5, digest);
    mbedtls_md5_free(&md5);
    console_printf("figure md5_bytes=%lu\nfigure md5_busy_ticks=%lu\n", (unsigned long)bytes,
                   (unsigned long)(LAN9118_FREE_RUN - t0 - (idle_ticks - i0)));
}

static void reset_now(void) __attribute__((noreturn));
static void reset_now(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = (0x5FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;)
        ;
}

static void ota_task(void *arg)
{
    ota_platform platform;
    ota_config cfg;
    int32_t rc;
    (void)arg;

    memset(&platform, 0, sizeof platform);
    net.resolve = resolve;
    net.entropy = test_entropy;
    net.unix_time_s = unix_time_s;
    net.on_tls_failure = on_tls_failure;
    if (settings.ca) {
        int32_t n = emu_flash_read_file(settings.ca, trust_pem, sizeof trust_pem - 1);
        if (n < 0) {
            console_printf("cannot read the CA file %s\n", settings.ca);
            semihost_exit(3);
        }
        trust_pem[n] = 0;
        net.ca = trust_pem;
        net.ca_len = (size_t)n + 1; /* PEM: the NUL counts */
    }
    (void)mbedtls_platform_set_calloc_free(tls_calloc, vPortFree);
    ota_lwip_platform(&platform, &net);
    emu_flash_platform(&platform);
    platform.on_event = on_event;
    platform.log = on_log;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = settings.product_id;
    cfg.device_name = settings.device_name;
    cfg.device_secret = settings.device_secret;
    cfg.broker_host = settings.host;
    cfg.broker_port = settings.port;
    cfg.running_version = running_version;
    cfg.mqtt_rx_buf = mqtt_rx;
    cfg.mqtt_rx_len = sizeof mqtt_rx;
    cfg.mqtt_tx_buf = mqtt_tx;
    cfg.mqtt_tx_len = sizeof mqtt_tx;
    cfg.http_buf = http_buf;
    cfg.http_len = sizeof http_buf;
    cfg.slot_size = SLOT_CAPACITY;
    /* Twice the default: an emulator on a loaded host must never bring two reports closer
     * than the cloud's one second. */
    cfg.progress_interval_ms = 3000;
    if (settings.tls)
        cfg.flags |= OTA_FLAG_MQTT_TLS;

    rc = ota_init(&client, &cfg, &platform);
    if (rc != OTA_OK) {
        console_printf("ota_init: %s\n", ota_strerror(rc));
        semihost_exit(3);
    }
    for (;;) {
        uint32_t ms = ota_poll(&client);
        if (run_state == REBOOT) {
            figures(); /* this boot's: the download ran in it */
            console_printf("rebooting into %s\n", next_version);
            reset_now();
        }
        if (settings.once && (run_state == FINISHED || run_state == FAILED)) {
            figures();
            if (settings.bench)
                bench_md5(1u << 20);
            semihost_exit(run_state == FINISHED ? 0 : 1);
        }
        if (run_state != RUNNING)
            run_state = RUNNING; /* without --once: keep serving the cloud */
        vTaskDelay(ms ? pdMS_TO_TICKS(ms) : 1);
    }
}

/* ---- network bring-up, in lwIP's thread ------------------------------------------------------ */

static struct netif eth;

static void net_up(void *arg)
{
    ip4_addr_t ip, mask, gw;
    (void)arg;
    IP4_ADDR(&ip, 10, 0, 2, 15);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 10, 0, 2, 2);
    if (netif_add(&eth, &ip, &mask, &gw, NULL, lan9118_netif_init, tcpip_input) == NULL)
        console_fatal("netif", "LAN9118 not found", __FILE__, __LINE__);
    netif_set_default(&eth);
    netif_set_up(&eth);
    {
        ip_addr_t dns; /* QEMU user networking's DNS forwarder, asked only for non-loopback names */
        IP_ADDR4(&dns, 10, 0, 2, 3);
        dns_setserver(0, &dns);
    }
    if (xTaskCreate(ota_task, "ota", OTA_TASK_STACK_BYTES / sizeof(StackType_t), NULL,
                    OTA_TASK_PRIORITY, &ota_task_handle)
        != pdPASS)
        console_fatal("task", "no memory for the OTA task", __FILE__, __LINE__);
}

/* ---- boot ---------------------------------------------------------------------------------- */

/* The "bootloader": an image marked bootable becomes the running version. */
static void boot(void)
{
    char pending[VERSION_CAP];
    if (emu_flash_read_text("boot_pending", pending, sizeof pending) && pending[0]) {
        strcpy(running_version, pending);
        (void)emu_flash_write_text("running_version", running_version);
        (void)emu_flash_remove("boot_pending");
    } else if (!emu_flash_read_text("running_version", running_version, sizeof running_version)
               || !running_version[0]) {
        strncpy(running_version, settings.version, VERSION_CAP - 1);
    }
    console_printf("booting %s (FreeRTOS %s, lwIP %s)\n", running_version, tskKERNEL_VERSION_NUMBER,
                   LWIP_VERSION_STRING);
}

int main(void)
{
    console_init();
    if (!load_settings())
        console_fatal("settings", "no settings file on the semihosting command line", __FILE__,
                      __LINE__);
    emu_flash_init(settings.dir);
    srand(semihost_time() ^ LAN9118_FREE_RUN); /* TCP ports and sequence numbers per boot */
    boot();
    tcpip_init(net_up, NULL);
    vTaskStartScheduler();
    console_fatal("scheduler", "did not start", __FILE__, __LINE__);
}

/* ---- FreeRTOS hooks ---------------------------------------------------------------------------- */

void vApplicationIdleHook(void)
{
    /* A spinning idle task starves QEMU's device emulation: sleep. With interrupts masked the
     * pending one wakes WFI but runs only after the sleep was counted. */
    uint32_t t0;
    __asm__ volatile("cpsid i" ::: "memory");
    t0 = LAN9118_FREE_RUN;
    __asm__ volatile("dsb\n wfi" ::: "memory");
    idle_ticks += LAN9118_FREE_RUN - t0;
    __asm__ volatile("cpsie i" ::: "memory");
}

void vApplicationStackOverflowHook(TaskHandle_t task, char *name)
{
    (void)task;
    console_fatal("stack overflow", name, __FILE__, __LINE__);
}

void vApplicationMallocFailedHook(void)
{
    console_fatal("malloc", "FreeRTOS heap exhausted", __FILE__, __LINE__);
}

void rtos_assert_failed(const char *file, int line)
{
    console_fatal("assert", "configASSERT", file, line);
}
