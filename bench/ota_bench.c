/*
 * ota_bench: one complete OTA update through the C ABI, timed, for scripts/bench.sh.
 *
 *   ota_bench --host H --port P --product-id ID --device-name DN --device-secret B64
 *             --version RUNNING --dir DIR [--readback] [--http-buf N] [--journal N]
 *             [--demo] [--http-port P] [--stack] [--timeout S] [--ca FILE]
 *
 * It is the demo's main loop (c_examples/ota_demo.c) without its options and log lines: the POSIX
 * callbacks of c_examples/posix_platform.c, compiled in unchanged, are wrapped so the bench can
 * timestamp and count what crosses the ABI. It waits for the offer, downloads into DIR/firmware.bin,
 * "reboots" on OTA_EVENT_IMAGE_READY (ota_deinit + ota_init on the new version, as the demo does),
 * waits for OTA_EVENT_DONE and prints one line:
 *
 *   RESULT size=.. download_ms=.. verified_ms=.. ready_ms=.. http_rx_bytes=.. http_recvs=..
 *          slot_writes=.. slot_reads=.. store_saves=.. polls=.. [stack_lib=.. stack_all=..]
 *
 *   download_ms  OTA_EVENT_DOWNLOAD_STARTED -> the slot_write that completes the image
 *   verified_ms  OTA_EVENT_DOWNLOAD_STARTED -> slot_close(bootable=true), i.e. the MD5 matched
 *                (after the read-back pass with --readback) and the record was written
 *   ready_ms     OTA_EVENT_DOWNLOAD_STARTED -> OTA_EVENT_IMAGE_READY (adds the `burning` PUBACK)
 *
 * --stack paints the stack below ota_poll() and reports its high-water mark in bytes: stack_lib is
 * the library's own frames (each callback's frames are measured and repainted when it returns, so
 * the figure is the library's depth plus one minimal callback frame); stack_all includes what the
 * POSIX callbacks themselves use (getaddrinfo, printf, ...). It slows the run: do not time it.
 *
 * --demo sets what ota_demo ships with (demo_common.h: its HTTP buffer and record interval; like
 * the demo, no read-back unless --readback); later --http-buf/--journal override it.
 *
 * --http-port P sends the download's connection to 127.0.0.1:P instead of the host and port in the
 * offered URL (the request itself is unchanged): scripts/bench.sh points it at nginx serving the
 * same image under the same path, so the firmware server is not what limits the figure.
 *
 * --ca FILE turns on the library's built-in TLS for the download (an https:// URL in the offer):
 * FILE (PEM) is its extra trust anchor, tls_buf is OTA_MIN_TLS_LEN bytes; MQTT stays plain.
 *
 * Exit status: 0 done, 1 failed or timed out, 2 bad arguments, 3 ota_init failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo_common.h" /* DEMO_HTTP_BUF_LEN, DEMO_JOURNAL_INTERVAL: --demo */
#include "posix_platform.h"
#include "qcloud_ota.h"

/* ---- stack painting (x86-64 and aarch64 only; elsewhere --stack reports 0) ------------------- */

#define PAINT_BYTES (256 * 1024)
#define PAINT_WORD 0xA5A5A5A5A5A5A5A5ull
#define RED_ZONE 256

static int stack_mode;
static int in_poll; /* inside measured_poll() with the paint in place */
static uintptr_t paint_bottom; /* lowest painted address (8-aligned) */
static uintptr_t lib_low = UINTPTR_MAX, all_low = UINTPTR_MAX;
static uintptr_t poll_base; /* stack pointer just before ota_poll() is called */

#if defined(__x86_64__)
#define GET_SP(v) __asm__ volatile("mov %%rsp, %0" : "=r"(v))
#elif defined(__aarch64__)
#define GET_SP(v) __asm__ volatile("mov %0, sp" : "=r"(v))
#else
#define GET_SP(v) ((v) = 0)
#endif

/* These are macros, not functions: a call would put its own frame into the area being measured. */
#define PAINT_BELOW(sp)                                                                            \
    do {                                                                                           \
        volatile uint64_t *w_ = (volatile uint64_t *)paint_bottom;                                 \
        uintptr_t top_ = ((sp) - RED_ZONE) & ~(uintptr_t)7;                                       \
        while ((uintptr_t)w_ < top_)                                                              \
            *w_++ = PAINT_WORD;                                                                    \
    } while (0)

/* Lowest address below `sp` that is no longer paint (UINTPTR_MAX: none). */
#define LOWEST_TOUCHED(sp, out)                                                                    \
    do {                                                                                           \
        volatile uint64_t *w_ = (volatile uint64_t *)paint_bottom;                                 \
        uintptr_t top_ = ((sp) - RED_ZONE) & ~(uintptr_t)7;                                       \
        (out) = UINTPTR_MAX;                                                                       \
        while ((uintptr_t)w_ < top_) {                                                            \
            if (*w_ != PAINT_WORD) {                                                               \
                (out) = (uintptr_t)w_;                                                             \
                break;                                                                             \
            }                                                                                      \
            w_++;                                                                                  \
        }                                                                                          \
    } while (0)

/* At a callback's entry: whatever lies touched below us was left by library frames. */
#define CB_ENTER(sp_var)                                                                           \
    uintptr_t sp_var = 0;                                                                          \
    if (in_poll) {                                                                              \
        uintptr_t low_;                                                                            \
        GET_SP(sp_var);                                                                            \
        LOWEST_TOUCHED(sp_var, low_);                                                              \
        if (sp_var < lib_low)                                                                      \
            lib_low = sp_var;                                                                      \
        if (low_ < lib_low)                                                                        \
            lib_low = low_;                                                                        \
    }

/* At its exit: measure what the callback used, then paint it over so it never counts as library. */
#define CB_LEAVE(sp_var)                                                                           \
    if (in_poll) {                                                                              \
        uintptr_t low_;                                                                            \
        LOWEST_TOUCHED(sp_var, low_);                                                              \
        if (low_ < all_low)                                                                        \
            all_low = low_;                                                                        \
        PAINT_BELOW(sp_var);                                                                       \
    }

/* Touch the pages once so painting below the stack pointer never meets an unmapped page. */
__attribute__((noinline)) static void prefault_stack(void)
{
    volatile uint8_t big[PAINT_BYTES + 8192];
    size_t i;
    for (i = 0; i < sizeof big; i += 4096)
        big[i] = 0;
    (void)big[0];
}

/* ---- the bench's context ------------------------------------------------------------------- */

typedef struct {
    posix_platform plat; /* first: posix_platform.c treats `user` as a posix_platform pointer */
    ota_platform inner;  /* the POSIX callbacks, as posix_platform_bind() fills them */

    int32_t http_sock;
    uint16_t http_port; /* --http-port: where the download connects instead (0: the URL's) */
    uint64_t http_rx_bytes, http_recvs, slot_writes, slot_reads, store_saves, polls;
    uint32_t file_size;
    double t_started, t_last_write, t_bootable, t_ready;

    int reboot_pending, done, failed;
    char new_version[OTA_VERSION_MAX + 1];
} bench_ctx;

static bench_ctx B;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t w_now_ms(void *u)
{
    uint64_t r;
    CB_ENTER(sp);
    r = B.inner.now_ms(u);
    CB_LEAVE(sp);
    return r;
}

static int32_t w_net_connect(void *u, int32_t ch, const char *host, uint16_t port, uint32_t fl)
{
    int32_t r;
    CB_ENTER(sp);
    if (ch == OTA_CHANNEL_HTTP && B.http_port != 0) {
        host = "127.0.0.1";
        port = B.http_port;
    }
    r = B.inner.net_connect(u, ch, host, port, fl);
    if (ch == OTA_CHANNEL_HTTP)
        B.http_sock = r;
    CB_LEAVE(sp);
    return r;
}

static int32_t w_net_send(void *u, int32_t s, const uint8_t *buf, size_t len)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.net_send(u, s, buf, len);
    CB_LEAVE(sp);
    return r;
}

static int32_t w_net_recv(void *u, int32_t s, uint8_t *buf, size_t len)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.net_recv(u, s, buf, len);
    if (s == B.http_sock) {
        B.http_recvs++;
        if (r > 0)
            B.http_rx_bytes += (uint64_t)r;
    }
    CB_LEAVE(sp);
    return r;
}

static void w_net_close(void *u, int32_t s)
{
    CB_ENTER(sp);
    B.inner.net_close(u, s);
    if (s == B.http_sock)
        B.http_sock = -100;
    CB_LEAVE(sp);
}

static int32_t w_slot_open(void *u, uint32_t size, uint32_t off)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.slot_open(u, size, off);
    CB_LEAVE(sp);
    return r;
}

static int32_t w_slot_write(void *u, uint32_t off, const uint8_t *d, size_t len)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.slot_write(u, off, d, len);
    B.slot_writes++;
    if (r == 0 && B.file_size && (uint64_t)off + len == B.file_size)
        B.t_last_write = now_s();
    CB_LEAVE(sp);
    return r;
}

static int32_t w_slot_read(void *u, uint32_t off, uint8_t *buf, size_t len)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.slot_read(u, off, buf, len);
    B.slot_reads++;
    CB_LEAVE(sp);
    return r;
}

static int32_t w_slot_close(void *u, bool bootable)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.slot_close(u, bootable);
    if (bootable && r == 0)
        B.t_bootable = now_s();
    CB_LEAVE(sp);
    return r;
}

static int32_t w_store_load(void *u, uint8_t copy, uint8_t *buf, size_t cap)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.store_load(u, copy, buf, cap);
    CB_LEAVE(sp);
    return r;
}

static int32_t w_store_save(void *u, uint8_t copy, const uint8_t *d, size_t len)
{
    int32_t r;
    CB_ENTER(sp);
    r = B.inner.store_save(u, copy, d, len);
    B.store_saves++;
    CB_LEAVE(sp);
    return r;
}

static void w_on_event(void *u, const ota_event *ev)
{
    CB_ENTER(sp);
    (void)u;
    switch (ev->kind) {
    case OTA_EVENT_DOWNLOAD_STARTED:
        if (B.t_started == 0)
            B.t_started = now_s();
        B.file_size = ev->file_size;
        break;
    case OTA_EVENT_IMAGE_READY:
        B.t_ready = now_s();
        snprintf(B.new_version, sizeof B.new_version, "%s", ev->version ? ev->version : "");
        B.reboot_pending = 1;
        break;
    case OTA_EVENT_DONE:
        B.done = 1;
        break;
    case OTA_EVENT_FAILED:
        fprintf(stderr, "ota_bench: update failed: result_code %d, %s\n", (int)ev->result_code,
                ota_strerror(ev->error));
        B.failed = 1;
        break;
    case OTA_EVENT_ERROR:
    case OTA_EVENT_DISCONNECTED:
        fprintf(stderr, "ota_bench: event %d: %s\n", (int)ev->kind, ota_strerror(ev->error));
        break;
    default:
        break;
    }
    CB_LEAVE(sp);
}

static void w_log(void *u, int32_t level, const char *msg, size_t len)
{
    CB_ENTER(sp);
    (void)u;
    if (level <= OTA_LOG_WARN)
        fprintf(stderr, "ota_bench: library: %.*s\n", (int)(len > 1024 ? 1024 : len), msg);
    CB_LEAVE(sp);
}

/* ---- one update ---------------------------------------------------------------------------- */

static uint8_t mqtt_rx[4096], mqtt_tx[1024];
static uint8_t *http_buf;
/* --ca: the built-in TLS's record buffer (https download only) and the anchor it trusts. */
static uint8_t tls_buf[OTA_MIN_TLS_LEN];
static uint8_t ca_pem[64 * 1024];
static size_t ca_len;
static ota_client client;

typedef struct {
    const char *host, *pid, *dn, *secret, *version, *dir, *ca;
    unsigned port, http_port;
    size_t http_len;
    uint32_t journal;
    int readback;
    double timeout_s;
} bench_args;

static int start(const bench_args *a, const char *running)
{
    ota_config cfg;
    ota_platform plat;
    int32_t rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = a->pid;
    cfg.device_name = a->dn;
    cfg.device_secret = a->secret;
    cfg.broker_host = a->host;
    cfg.broker_port = (uint16_t)a->port;
    cfg.running_version = running;
    cfg.mqtt_rx_buf = mqtt_rx;
    cfg.mqtt_rx_len = sizeof mqtt_rx;
    cfg.mqtt_tx_buf = mqtt_tx;
    cfg.mqtt_tx_len = sizeof mqtt_tx;
    cfg.http_buf = http_buf;
    cfg.http_len = a->http_len;
    cfg.net_poll_ms = 250; /* the loop waits on socket readiness, as the demo's does */
    cfg.journal_interval = a->journal;
    if (a->readback)
        cfg.flags |= OTA_FLAG_READBACK_VERIFY;
    if (ca_len) {
        cfg.tls_buf = tls_buf;
        cfg.tls_len = sizeof tls_buf;
        cfg.ca = ca_pem;
        cfg.ca_len = ca_len;
    }

    memset(&B.inner, 0, sizeof B.inner);
    posix_platform_bind(&B.plat, &B, &B.inner);
    plat = B.inner;
    plat.now_ms = w_now_ms;
    plat.net_connect = w_net_connect;
    plat.net_send = w_net_send;
    plat.net_recv = w_net_recv;
    plat.net_close = w_net_close;
    plat.slot_open = w_slot_open;
    plat.slot_write = w_slot_write;
    plat.slot_read = w_slot_read;
    plat.slot_close = w_slot_close;
    plat.store_load = w_store_load;
    plat.store_save = w_store_save;
    plat.on_event = w_on_event;
    plat.log = w_log;
    rc = ota_init(&client, &cfg, &plat);
    if (rc != OTA_OK)
        fprintf(stderr, "ota_bench: ota_init: %s\n", ota_strerror(rc));
    return rc;
}

__attribute__((noinline)) static uint32_t measured_poll(void)
{
    uintptr_t sp, low;
    uint32_t ms;

    if (!stack_mode)
        return ota_poll(&client);
    GET_SP(sp);
    if (paint_bottom == 0)
        paint_bottom = (sp - PAINT_BYTES) & ~(uintptr_t)7;
    if (poll_base == 0 || sp > poll_base)
        poll_base = sp;
    PAINT_BELOW(sp);
    in_poll = 1;
    ms = ota_poll(&client);
    in_poll = 0;
    LOWEST_TOUCHED(sp, low);
    if (low < lib_low)
        lib_low = low;
    return ms;
}

static int parse(int argc, char **argv, bench_args *a)
{
    int i;
    memset(a, 0, sizeof *a);
    a->host = "127.0.0.1";
    a->port = 1883;
    a->http_len = 16384;
    a->journal = 0; /* the library's default, 64 KiB */
    a->timeout_s = 600;
    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "--readback") == 0) { a->readback = 1; continue; }
        if (strcmp(f, "--stack") == 0) { stack_mode = 1; continue; }
        if (strcmp(f, "--demo") == 0) {
            a->http_len = DEMO_HTTP_BUF_LEN;
            a->journal = DEMO_JOURNAL_INTERVAL;
            continue;
        }
        if (v == NULL) { fprintf(stderr, "ota_bench: %s needs a value\n", f); return -1; }
        i++;
        if (strcmp(f, "--host") == 0) a->host = v;
        else if (strcmp(f, "--port") == 0) a->port = (unsigned)atoi(v);
        else if (strcmp(f, "--http-port") == 0) a->http_port = (unsigned)atoi(v);
        else if (strcmp(f, "--product-id") == 0) a->pid = v;
        else if (strcmp(f, "--device-name") == 0) a->dn = v;
        else if (strcmp(f, "--device-secret") == 0) a->secret = v;
        else if (strcmp(f, "--version") == 0) a->version = v;
        else if (strcmp(f, "--dir") == 0) a->dir = v;
        else if (strcmp(f, "--http-buf") == 0) a->http_len = (size_t)atol(v);
        else if (strcmp(f, "--journal") == 0) a->journal = (uint32_t)atol(v);
        else if (strcmp(f, "--timeout") == 0) a->timeout_s = atof(v);
        else if (strcmp(f, "--ca") == 0) a->ca = v;
        else { fprintf(stderr, "ota_bench: unknown option %s\n", f); return -1; }
    }
    if (!a->pid || !a->dn || !a->secret || !a->version || !a->dir || a->port == 0
        || a->http_len == 0 || a->http_port > 65535) {
        fprintf(stderr, "ota_bench: need --product-id --device-name --device-secret --version "
                        "--dir (and a port, an --http-buf > 0)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_args a;
    double deadline;
    char running[OTA_VERSION_MAX + 1];

    if (parse(argc, argv, &a) != 0)
        return 2;
    http_buf = malloc(a.http_len); /* the host's buffer; the core never allocates (the built-in TLS does) */
    if (http_buf == NULL)
        return 2;
    if (a.ca != NULL) {
        FILE *f = fopen(a.ca, "rb");
        ca_len = f ? fread(ca_pem, 1, sizeof ca_pem, f) : 0;
        if (f == NULL || ferror(f) || ca_len == 0 || !feof(f)) {
            fprintf(stderr, "ota_bench: cannot read --ca %s (at most %lu bytes)\n", a.ca,
                    (unsigned long)sizeof ca_pem);
            if (f != NULL)
                fclose(f);
            return 2;
        }
        fclose(f);
    }
    if (stack_mode)
        prefault_stack();
    if (posix_platform_init(&B.plat, a.dir) != 0)
        return 2;
    B.plat.log_threshold = POSIX_LOG_WARN;
    B.http_sock = -100;
    B.http_port = (uint16_t)a.http_port;
    snprintf(running, sizeof running, "%s", a.version);
    if (start(&a, running) != OTA_OK)
        return 3;

    deadline = now_s() + a.timeout_s;
    while (!B.done && !B.failed) {
        struct pollfd fds[POSIX_MAX_SOCKS];
        uint32_t ms;
        int n;

        if (now_s() > deadline) {
            fprintf(stderr, "ota_bench: timed out after %.0f s\n", a.timeout_s);
            break;
        }
        ms = measured_poll();
        B.polls++;
        if (B.reboot_pending) {
            /* The demo's simulated reboot: the new firmware starts and reports `done`. */
            ota_deinit(&client);
            posix_platform_close_all(&B.plat);
            B.reboot_pending = 0;
            snprintf(running, sizeof running, "%s", B.new_version);
            if (start(&a, running) != OTA_OK)
                return 3;
            continue;
        }
        if (ms == 0)
            continue;
        if (ms > 1000)
            ms = 1000;
        n = posix_platform_pollfds(&B.plat, fds, POSIX_MAX_SOCKS);
        if (poll(fds, (nfds_t)n, (int)ms) > 0)
            posix_platform_poll_done(&B.plat, fds, n);
    }
    ota_deinit(&client);
    posix_platform_close_all(&B.plat);

    printf("RESULT size=%lu download_ms=%.1f verified_ms=%.1f ready_ms=%.1f http_rx_bytes=%llu "
           "http_recvs=%llu slot_writes=%llu slot_reads=%llu store_saves=%llu polls=%llu "
           "http_buf=%lu journal=%lu readback=%d tls=%d",
           (unsigned long)B.file_size, (B.t_last_write - B.t_started) * 1e3,
           (B.t_bootable - B.t_started) * 1e3, (B.t_ready - B.t_started) * 1e3,
           (unsigned long long)B.http_rx_bytes, (unsigned long long)B.http_recvs,
           (unsigned long long)B.slot_writes, (unsigned long long)B.slot_reads,
           (unsigned long long)B.store_saves, (unsigned long long)B.polls,
           (unsigned long)a.http_len, (unsigned long)a.journal, a.readback, ca_len > 0);
    if (stack_mode)
        printf(" stack_lib=%lu stack_all=%lu",
               (unsigned long)(lib_low == UINTPTR_MAX ? 0 : poll_base - lib_low),
               (unsigned long)(all_low == UINTPTR_MAX || all_low > lib_low
                                   ? (lib_low == UINTPTR_MAX ? 0 : poll_base - lib_low)
                                   : poll_base - all_low));
    printf("\n");
    free(http_buf);
    return B.done ? 0 : 1;
}
