/*
 * A bare-metal qcloud-ota firmware for QEMU's mps2-an386 (Cortex-M4F; mps2-an385, Cortex-M3, has
 * the same map). No RTOS, no heap: one ota_client, its buffers and a super-loop.
 *
 *   sockets  tunnelled over UART0 to a host bridge (modem_link.h), like a modem's AT sockets
 *   clock    SysTick, 1 ms
 *   slot     PSRAM at 0x21000000 + 4 KiB (up to SLOT_CAPACITY), record store in front of it:
 *            outside every ELF section, so both survive the reset that "boots" the new image
 *   reboot   SCB->AIRCR.SYSRESETREQ; the boot code plays the bootloader: an image closed as
 *            bootable becomes the running version
 *
 * The bridge sends the identity and broker at boot (hello/config). After `done` the firmware
 * dumps the slot over the link and ends the run with its stack and RAM figures.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "modem_link.h"
#include "qcloud_ota.h"

#define SLOT_CAPACITY (4u << 20)
#define MAX_SOCKS 4
#define LINK_TIMEOUT_MS 10000u
#define VERSION_CAP 33

/* RAM the library needs besides its client: the smallest buffers that carry Tencent's messages
 * (an update_firmware offer is ~500 bytes), a download chunk of 2 KiB. */
#define MQTT_RX_LEN 1024
#define MQTT_TX_LEN 512
#define HTTP_LEN 2048

/* What survives a reset (PSRAM, see mps2_an386.ld). */
typedef struct {
    uint32_t magic;
    uint32_t boots;
    uint32_t image_size;
    uint32_t bootable;
    uint32_t stack_init_max; /* deepest stack below the ota_init() call site */
    uint32_t stack_poll_max; /* deepest stack below the ota_poll() call site, across resets */
    uint32_t stack_total_max;
    char next_version[VERSION_CAP];    /* the image in the slot, once bootable */
    char running_version[VERSION_CAP]; /* what the "bootloader" started */
    uint32_t record_len[2];
    uint8_t record[2][OTA_RECORD_SIZE];
} persist_t;

#define PERSIST_MAGIC 0x51C0A7A5u
#define PERSIST ((persist_t *)(void *)__persist_start)
#define SLOT (__persist_start + 4096)

static ota_client client;
static uint8_t mqtt_rx[MQTT_RX_LEN], mqtt_tx[MQTT_TX_LEN], http_buf[HTTP_LEN];
static bool sock_used[MAX_SOCKS];

/* Identity and broker from the bridge's config frame. */
static char cfg_text[512];
static const char *cfg_pid, *cfg_dn, *cfg_secret, *cfg_host, *cfg_version;
static uint16_t cfg_port;

static enum { RUNNING, REBOOT, FINISHED, FAILED } run_state = RUNNING;
static uintptr_t sp_at_ota_call;

/* ---- logging over the link ------------------------------------------------------------------ */

static void log_line(uint8_t level, const char *text)
{
    (void)link_send(LINK_LOG, level, text, strlen(text), NULL, 0);
}

static void log_kv(const char *key, uint32_t value)
{
    char line[64];
    char digits[11];
    size_t n = 0, k = strlen(key);
    int i = 0;
    if (k > sizeof line - 13)
        k = sizeof line - 13;
    memcpy(line, key, k);
    n = k;
    line[n++] = '=';
    do {
        digits[i++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value && i < 10);
    while (i)
        line[n++] = digits[--i];
    line[n] = 0;
    log_line(OTA_LOG_INFO, line);
}

static void lib_log(void *user, int32_t level, const char *msg, size_t len)
{
    (void)user;
    if (level <= OTA_LOG_INFO)
        (void)link_send(LINK_LOG, (uint8_t)level, msg, len, NULL, 0);
}

/* ---- clock ------------------------------------------------------------------------------------ */

static uint64_t now_ms(void *user)
{
    (void)user;
    return board_now_ms();
}

/* ---- sockets over the link ------------------------------------------------------------------- */

/* One request, one 'R' reply: its i32, or OTA_NET_ERROR when the link failed. */
static int32_t result_of(uint8_t seq)
{
    uint8_t r[4];
    size_t n = 0;
    int type = link_reply(seq, r, sizeof r, &n, LINK_TIMEOUT_MS);
    if (type != LINK_RESULT || n != 4)
        return OTA_NET_ERROR;
    return (int32_t)((uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16
                     | (uint32_t)r[3] << 24);
}

static int32_t net_connect(void *user, int32_t channel, const char *host, uint16_t port,
                           uint32_t flags)
{
    uint8_t head[4];
    int32_t h, r;
    (void)user;
    if (flags & OTA_NET_TLS)
        return OTA_NET_ERROR; /* the bridge carries plain TCP; a modem would open its TLS socket */
    for (h = 0; h < MAX_SOCKS && sock_used[h]; h++)
        ;
    if (h == MAX_SOCKS)
        return OTA_NET_ERROR;
    head[0] = (uint8_t)(port & 0xFFu);
    head[1] = (uint8_t)(port >> 8);
    head[2] = (uint8_t)flags;
    head[3] = (uint8_t)channel;
    r = result_of(link_send(LINK_OPEN, (uint8_t)h, head, sizeof head, host, strlen(host)));
    if (r < 0)
        return OTA_NET_ERROR;
    sock_used[h] = true;
    return h;
}

static int32_t net_send(void *user, int32_t sock, const uint8_t *buf, size_t len)
{
    (void)user;
    if (sock < 0 || sock >= MAX_SOCKS || !sock_used[sock])
        return OTA_NET_ERROR;
    if (len > LINK_MAX_PAYLOAD)
        len = LINK_MAX_PAYLOAD;
    return result_of(link_send(LINK_SEND, (uint8_t)sock, buf, len, NULL, 0));
}

static int32_t net_recv(void *user, int32_t sock, uint8_t *buf, size_t len)
{
    uint8_t max[2];
    size_t n = 0;
    uint8_t seq;
    int type;
    (void)user;
    if (sock < 0 || sock >= MAX_SOCKS || !sock_used[sock])
        return OTA_NET_ERROR;
    if (len > LINK_MAX_PAYLOAD)
        len = LINK_MAX_PAYLOAD;
    max[0] = (uint8_t)(len & 0xFFu);
    max[1] = (uint8_t)(len >> 8);
    seq = link_send(LINK_RECV, (uint8_t)sock, max, sizeof max, NULL, 0);
    /* The data lands in the library's buffer directly: the link needs no buffer of its own. */
    type = link_reply(seq, buf, len, &n, LINK_TIMEOUT_MS);
    if (type == LINK_DATA)
        return n ? (int32_t)n : OTA_NET_WOULD_BLOCK;
    if (type == LINK_RESULT && n == 4) {
        int32_t r = (int32_t)((uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16
                              | (uint32_t)buf[3] << 24);
        return r == 0 ? 0 : OTA_NET_ERROR;
    }
    return OTA_NET_ERROR;
}

static void net_close(void *user, int32_t sock)
{
    (void)user;
    if (sock < 0 || sock >= MAX_SOCKS || !sock_used[sock])
        return;
    (void)result_of(link_send(LINK_CLOSE, (uint8_t)sock, NULL, 0, NULL, 0));
    sock_used[sock] = false;
}

/* ---- slot and record in PSRAM ---------------------------------------------------------------- */

static int32_t slot_open(void *user, uint32_t image_size, uint32_t offset)
{
    (void)user;
    if (image_size > SLOT_CAPACITY || offset > image_size)
        return -1;
    if (offset == 0)
        memset(SLOT, 0xFF, image_size); /* "erase" */
    PERSIST->image_size = image_size;
    PERSIST->bootable = 0;
    return 0;
}

static int32_t slot_write(void *user, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)user;
    if (offset > PERSIST->image_size || len > PERSIST->image_size - offset)
        return -1;
    memcpy(SLOT + offset, data, len);
    return 0;
}

static int32_t slot_read(void *user, uint32_t offset, uint8_t *buf, size_t len)
{
    (void)user;
    if (offset > PERSIST->image_size || len > PERSIST->image_size - offset)
        return -1;
    memcpy(buf, SLOT + offset, len);
    return 0;
}

static int32_t slot_close(void *user, bool bootable)
{
    (void)user;
    PERSIST->bootable = bootable;
    return 0;
}

static int32_t store_load(void *user, uint8_t copy, uint8_t *buf, size_t cap)
{
    uint32_t n;
    (void)user;
    if (copy > 1)
        return -1;
    n = PERSIST->record_len[copy];
    if (n > OTA_RECORD_SIZE || n > cap)
        return -1;
    memcpy(buf, PERSIST->record[copy], n);
    return (int32_t)n;
}

static int32_t store_save(void *user, uint8_t copy, const uint8_t *data, size_t len)
{
    (void)user;
    if (copy > 1 || len > OTA_RECORD_SIZE)
        return -1;
    memcpy(PERSIST->record[copy], data, len);
    PERSIST->record_len[copy] = (uint32_t)len;
    return 0;
}

/* ---- events ---------------------------------------------------------------------------------- */

static void on_event(void *user, const ota_event *e)
{
    (void)user;
    switch (e->kind) {
    case OTA_EVENT_IMAGE_READY:
        /* The MD5-verified image is bootable: remember its version for the "bootloader". */
        strncpy(PERSIST->next_version, e->version, VERSION_CAP - 1);
        PERSIST->next_version[VERSION_CAP - 1] = 0;
        run_state = REBOOT;
        break;
    case OTA_EVENT_DONE:
        run_state = FINISHED;
        break;
    case OTA_EVENT_FAILED:
        run_state = FAILED;
        break;
    case OTA_EVENT_PROGRESS:
        if (e->percent % 10u == 0)
            log_kv("progress", e->percent);
        break;
    default:
        break;
    }
}

/* ---- the library's memory helpers --------------------------------------------------------------- */

/* The library brings its own small ARM EABI memory helpers (src/ffi/arm_mem.rs), and as it comes
 * before the C library on the link line, memset and memcmp here are the library's too. Checked
 * once at boot against plain byte loops (volatile, so the compiler cannot turn them into calls to
 * the functions under test): every length to 40, every alignment, both overlap directions. */
void __aeabi_memcpy(void *dest, const void *src, size_t n);
void __aeabi_memmove(void *dest, const void *src, size_t n);
void __aeabi_memset(void *dest, size_t n, int c);
void __aeabi_memclr(void *dest, size_t n);

static bool same(const uint8_t *a, const volatile uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static void fill(uint8_t *buf, volatile uint8_t *ref, size_t n, uint8_t seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        buf[i] = ref[i] = (uint8_t)(seed + i * 7u);
}

/* 0 when they work, else the number of the check that failed. */
static uint32_t mem_helpers_check(void)
{
    static uint8_t buf[64];
    static volatile uint8_t ref[64];
    size_t len, a, b, i, n;
    for (len = 0; len <= 40; len++) {
        for (a = 0; a < 4; a++) {
            for (b = 0; b < 8; b++) {
                /* memmove both ways (b < a and b > a overlap), memcpy between halves. */
                fill(buf, ref, sizeof buf, (uint8_t)(len + a));
                __aeabi_memmove(buf + a, buf + b, len);
                {
                    uint8_t tmp[64];
                    for (i = 0; i < len; i++)
                        tmp[i] = ref[b + i];
                    for (i = 0; i < len; i++)
                        ref[a + i] = tmp[i];
                }
                if (!same(buf, ref, sizeof buf))
                    return 1;
                fill(buf, ref, sizeof buf, (uint8_t)b);
                __aeabi_memcpy(buf + a, buf + 32 + b, len > 24 ? 24 : len);
                for (i = 0; i < (len > 24 ? 24 : len); i++)
                    ref[a + i] = ref[32 + b + i];
                if (!same(buf, ref, sizeof buf))
                    return 2;
                fill(buf, ref, sizeof buf, (uint8_t)a);
                __aeabi_memset(buf + b, len, 0x5a);
                __aeabi_memclr(buf + 48 + a, len > 12 ? 12 : len);
                if (memset(buf + a, 0xc3, len / 2) != buf + a)
                    return 3;
                for (i = 0; i < len; i++)
                    ref[b + i] = 0x5a;
                for (i = 0; i < (len > 12 ? 12 : len); i++)
                    ref[48 + a + i] = 0;
                for (i = 0; i < len / 2; i++)
                    ref[a + i] = 0xc3;
                if (!same(buf, ref, sizeof buf))
                    return 4;
            }
        }
        /* memcmp: zero for equal (also n = 0), and the sign of the first differing byte as
         * unsigned char. */
        n = len > 32 ? 32 : len;
        fill(buf, ref, sizeof buf, 1);
        if (memcmp(buf, buf + 32, 0) != 0 || memcmp(buf + 3, buf + 3, n) != 0)
            return 5;
        if (n > 0) {
            buf[32 + n - 1] = (uint8_t)(buf[n - 1] + 0x80); /* only the last byte differs */
            for (i = 0; i + 1 < n; i++)
                buf[32 + i] = buf[i];
            if ((memcmp(buf, buf + 32, n) < 0) != (buf[n - 1] < buf[32 + n - 1]) ||
                memcmp(buf, buf + 32, n) == 0 || memcmp(buf, buf + 32, n - 1) != 0)
                return 6;
        }
    }
    return 0;
}

/* ---- boot, config, results ------------------------------------------------------------------- */

/* The bridge's config: "key=value" strings, NUL-separated. */
static bool fetch_config(void)
{
    char hello[16] = "boot=";
    size_t n = 0, i = 0;
    uint32_t b = PERSIST->boots;
    uint8_t seq;
    char digits[10];
    int d = 0;
    do {
        digits[d++] = (char)('0' + b % 10u);
        b /= 10u;
    } while (b && d < 10);
    while (d)
        hello[5 + i++] = digits[--d];
    seq = link_send(LINK_HELLO, 0, hello, strlen(hello), NULL, 0);
    if (link_reply(seq, (uint8_t *)cfg_text, sizeof cfg_text - 1, &n, LINK_TIMEOUT_MS)
        != LINK_CONFIG)
        return false;
    cfg_text[n] = 0;
    for (i = 0; i < n;) {
        char *kv = cfg_text + i, *v = strchr(kv, '=');
        i += strlen(kv) + 1; /* before the '=' is cut: values may hold '=' (base64) */
        if (v == NULL)
            continue;
        *v++ = 0;
        if (!strcmp(kv, "product_id"))
            cfg_pid = v;
        else if (!strcmp(kv, "device_name"))
            cfg_dn = v;
        else if (!strcmp(kv, "device_secret"))
            cfg_secret = v;
        else if (!strcmp(kv, "broker_host"))
            cfg_host = v;
        else if (!strcmp(kv, "broker_port")) {
            uint32_t p = 0;
            for (; *v >= '0' && *v <= '9'; v++)
                p = p * 10u + (uint32_t)(*v - '0');
            cfg_port = (uint16_t)p;
        } else if (!strcmp(kv, "version"))
            cfg_version = v;
    }
    return cfg_pid && cfg_dn && cfg_secret && cfg_host && cfg_port && cfg_version;
}

/* Deepest stack below the ota_* call site so far (the library, the callbacks it made, and any
 * exception frame that landed on top of them) into *max, and for the whole firmware. Kept
 * across the reset. */
static void update_stack_figures(uint32_t *max)
{
    uintptr_t low = board_stack_low_water();
    uint32_t ota = sp_at_ota_call > low ? (uint32_t)(sp_at_ota_call - low) : 0;
    uint32_t total = (uint32_t)(board_stack_top() - low);
    if (ota > *max)
        *max = ota;
    if (total > PERSIST->stack_total_max)
        PERSIST->stack_total_max = total;
}

static void dump_slot(void)
{
    uint32_t off;
    for (off = 0; off < PERSIST->image_size; off += 2048u) {
        uint32_t n = PERSIST->image_size - off < 2048u ? PERSIST->image_size - off : 2048u;
        uint8_t o[4] = { (uint8_t)off, (uint8_t)(off >> 8), (uint8_t)(off >> 16),
                         (uint8_t)(off >> 24) };
        (void)link_send(LINK_DUMP, 0, o, sizeof o, SLOT + off, n);
    }
}

static void end_run(uint8_t status)
{
    log_kv("stack_ota_init_max", PERSIST->stack_init_max);
    log_kv("stack_ota_poll_max", PERSIST->stack_poll_max);
    log_kv("stack_total_max", PERSIST->stack_total_max);
    log_kv("ota_client_size", (uint32_t)sizeof client);
    log_kv("buffers", MQTT_RX_LEN + MQTT_TX_LEN + HTTP_LEN);
    log_kv("link_errors", link_errors());
    log_kv("boots", PERSIST->boots);
    (void)link_send(LINK_END, status, PERSIST->running_version, strlen(PERSIST->running_version),
                    NULL, 0);
    for (;;)
        __asm__ volatile("wfi"); /* the bridge stops QEMU */
}

int main(void)
{
    static const ota_platform platform = {
        .user = NULL,
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
        .log = lib_log,
    };
    ota_config cfg;
    int32_t rc;
    uint32_t failed;

    board_init();
    if (PERSIST->magic != PERSIST_MAGIC) { /* first power-on: PSRAM is blank */
        memset(PERSIST, 0, sizeof *PERSIST);
        PERSIST->magic = PERSIST_MAGIC;
    }
    PERSIST->boots++;
    failed = mem_helpers_check();
    if (failed) {
        log_kv("memory helpers: check failed", failed);
        end_run(3);
    }
    if (!fetch_config())
        end_run(2);
    /* The "bootloader": a verified, bootable image in the slot becomes the running firmware. */
    if (PERSIST->bootable && PERSIST->next_version[0]) {
        memcpy(PERSIST->running_version, PERSIST->next_version, VERSION_CAP);
        PERSIST->bootable = 0;
        PERSIST->next_version[0] = 0;
    } else if (!PERSIST->running_version[0]) {
        strncpy(PERSIST->running_version, cfg_version, VERSION_CAP - 1);
    }
    log_line(OTA_LOG_INFO, "booting");
    log_line(OTA_LOG_INFO, PERSIST->running_version);

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = cfg_pid;
    cfg.device_name = cfg_dn;
    cfg.device_secret = cfg_secret;
    cfg.broker_host = cfg_host;
    cfg.broker_port = cfg_port;
    cfg.running_version = PERSIST->running_version;
    cfg.mqtt_rx_buf = mqtt_rx;
    cfg.mqtt_rx_len = sizeof mqtt_rx;
    cfg.mqtt_tx_buf = mqtt_tx;
    cfg.mqtt_tx_len = sizeof mqtt_tx;
    cfg.http_buf = http_buf;
    cfg.http_len = sizeof http_buf;
    cfg.slot_size = SLOT_CAPACITY;
    /* Twice the default: fewer reports over a metered cellular link, and a margin so that delays
     * between the device and the cloud (here: an emulator on a loaded host) never make two
     * reports arrive less than a second apart. */
    cfg.progress_interval_ms = 3000;

    sp_at_ota_call = board_sp();
    rc = ota_init(&client, &cfg, &platform);
    if (rc != OTA_OK) {
        log_line(OTA_LOG_ERROR, ota_strerror(rc));
        end_run(3);
    }
    update_stack_figures(&PERSIST->stack_init_max);
    board_stack_repaint(); /* ota_poll's depth on its own from here */
    for (;;) {
        uint32_t ms = ota_poll(&client);
        update_stack_figures(&PERSIST->stack_poll_max);
        if (run_state == REBOOT) {
            log_line(OTA_LOG_INFO, "image ready: rebooting into it");
            board_reset();
        }
        if (run_state == FINISHED) {
            dump_slot();
            end_run(0);
        }
        if (run_state == FAILED)
            end_run(1);
        board_wait_ms(ms);
    }
}
