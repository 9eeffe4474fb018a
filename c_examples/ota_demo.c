/*
 * ota_demo: Tencent Cloud IoT Explorer OTA on Linux with qcloud-ota.
 *
 *   ota_demo [--device-info FILE] [--product-id ID] [--device-name NAME] [--device-secret BASE64]
 *            [--host HOST] [--port PORT] --version RUNNING_VERSION --dir DIR [--once]
 *            [--tls] [--ca FILE] [--host-tls] [--readback] [--cert FILE --key FILE]
 *
 * It connects to the broker, reports the running version, waits for an update command, downloads
 * the image into DIR/firmware.bin (resuming after a restart, journal in DIR/ota_record.0 and .1), and
 * when the image is verified "reboots": it stops the client, records the new version in
 * DIR/running_version and starts the client again as the new firmware would, which then reports
 * `done` and the new version. DIR/running_version, when present, overrides --version, so a killed
 * and restarted process behaves like a rebooted device.
 *
 * Exit status: 0 with --once after an update completed; 1 with --once after an update failed;
 * 2 bad arguments; 3 ota_init() failed; 130/143 on SIGINT/SIGTERM.
 *
 * The platform callbacks (sockets, slot, record store, clock) are in posix_platform.c; the command
 * line, the identity, DIR/running_version and the reboot's bookkeeping, which ota_byo_demo shares,
 * in demo_common.c. This file holds what a firmware's main task does: configure, init, poll, react
 * to events.
 * TLS, both ways a firmware can do it: by default the library's built-in TLS (rustls over the
 * plain sockets of posix_platform.c; it needs tls_buf and the wall clock, and trusts Tencent's IoT
 * CA for MQTT, the usual web roots for HTTPS, and --ca); with --host-tls the platform opens TLS
 * itself (OpenSSL here, mbedTLS on Zephyr/FreeRTOS) and the library speaks plain bytes over it.
 * --cert/--key: certificate authentication (OTA_FLAG_CERT_AUTH), the device certificate as the
 * TLS client credential instead of a secret, handed to the library or to OpenSSL.
 * Set OTA_DEMO_DEBUG=1 in the environment to see the library's debug lines too.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo_common.h"
/* Print a "still waiting" status line this often while nothing else happens. */
#define STATUS_EVERY_MS 60000u

/*
 * The buffers the library works in, sized here rather than inside the library so the RAM is
 * visible and countable. Minimums: OTA_MIN_MQTT_RX, OTA_MIN_MQTT_TX, OTA_MIN_HTTP.
 *  - MQTT rx holds one whole incoming message: update_firmware is ~500 bytes plus whatever
 *    user_defined the console adds, so 4096 leaves room.
 *  - MQTT tx holds one outgoing packet: CONNECT (with the signed password) or a report.
 *  - HTTP holds the response head, then serves as the download chunk: bigger means fewer recv()
 *    and slot_write() calls (DEMO_HTTP_BUF_LEN, 16 KiB).
 */
static uint8_t mqtt_rx_buf[4096];
static uint8_t mqtt_tx_buf[1024];
static uint8_t http_buf[DEMO_HTTP_BUF_LEN];
/* The built-in TLS's receive buffer: one whole TLS record per connection, the broker's and the
 * firmware server's (OTA_MIN_TLS_LEN each). Not used with --host-tls. */
static uint8_t tls_buf[2 * OTA_MIN_TLS_LEN];
/* --ca FILE: extra trust anchors (PEM), handed to the library (built-in TLS) or OpenSSL. */
static uint8_t ca_pem[64 * 1024];
static size_t ca_len;
/* --cert/--key with the built-in TLS: the device certificate and key, lent to the library until
 * ota_deinit() (it copies neither, and never logs them). */
static uint8_t client_cert[16 * 1024];
static size_t client_cert_len;
static uint8_t client_key[16 * 1024];
static size_t client_key_len;

/* The client's storage (OTA_CLIENT_SIZE bytes); the library keeps all its state in here. */
static ota_client client;

/*
 * Everything the callbacks share, passed as ota_platform.user. The posix_platform must stay the
 * first member: the platform callbacks treat `user` as a posix_platform pointer.
 */
typedef struct {
    posix_platform plat;

    demo_version ver; /* running version, DIR/running_version, the reboot pending */
    demo_events ev;   /* the event lines' wording; done/failed for the main loop */
} demo_ctx;

/* The usage text, the parsing and the identity are ota_byo_demo's too: demo_common.c. */
#define PROG "ota_demo"

/* ------------------------------------------------------------------------------------------- */
/* Events and log lines from the library                                                      */
/* ------------------------------------------------------------------------------------------- */

/* Called from inside ota_poll(). Only ota_accept/ota_defer/ota_decline may be called from here;
 * everything else (the reboot, exiting) is flagged for the main loop. */
static void on_event(void *user, const ota_event *ev)
{
    demo_ctx *d = user;
    demo_on_event(&d->ev, &d->ver, &d->plat, ev);
}

static void on_log(void *user, int32_t level, const char *msg, size_t len)
{
    demo_ctx *d = user;
    demo_forward_log(&d->plat, "ota", "", level, msg, len);
}

/* ------------------------------------------------------------------------------------------- */
/* Start-up and the simulated reboot                                                           */
/* ------------------------------------------------------------------------------------------- */

static int start_client(demo_ctx *d, const device_info *id, const demo_args *a)
{
    ota_config cfg;
    ota_platform plat;
    int32_t rc;

    memset(&cfg, 0, sizeof cfg); /* 0/NULL = the library's default for every optional field */
    cfg.product_id = id->product_id;
    cfg.device_name = id->device_name;
    cfg.device_secret = id->device_secret;
    cfg.broker_host = a->host; /* NULL: {product_id}.iotcloud.tencentdevices.com */
    cfg.broker_port = (uint16_t)a->port;
    cfg.running_version = d->ver.running;
    cfg.mqtt_rx_buf = mqtt_rx_buf;
    cfg.mqtt_rx_len = sizeof mqtt_rx_buf;
    cfg.mqtt_tx_buf = mqtt_tx_buf;
    cfg.mqtt_tx_len = sizeof mqtt_tx_buf;
    cfg.http_buf = http_buf;
    cfg.http_len = sizeof http_buf;
    /* The main loop wakes on socket readiness, so the library need not ask for short polls; the
     * cap only bounds the cost of a readiness case the loop does not see. */
    cfg.net_poll_ms = 250;
    /* A kill re-downloads at most 16 KiB; each save costs two fdatasync()s here. On flash, keep
     * the default (64 KiB) or a multiple of the sector size: each save erases one of the record's
     * two sectors. */
    cfg.journal_interval = DEMO_JOURNAL_INTERVAL;
    /* Off by default: through the page cache a read-back re-reads what was just written, not the
     * disk. On memory-mapped flash it reads the cells themselves; turn it on there. */
    if (a->readback)
        cfg.flags |= OTA_FLAG_READBACK_VERIFY;
    if (a->tls)
        cfg.flags |= OTA_FLAG_MQTT_TLS;
    if (a->cert_path != NULL) {
        cfg.flags |= OTA_FLAG_CERT_AUTH; /* no secret, no password: the certificate signs in */
        cfg.device_secret = NULL;
    }
    if (a->host_tls || !ota_has_builtin_tls()) {
        cfg.flags |= OTA_FLAG_HOST_TLS; /* posix_platform.c opens TLS (OTA_NET_TLS), and presents
                                         * --cert/--key at OTA_NET_CLIENT_CERT */
    } else {
        cfg.tls_buf = tls_buf;
        cfg.tls_len = sizeof tls_buf;
        cfg.ca = ca_len ? ca_pem : NULL;
        cfg.ca_len = ca_len;
        cfg.client_cert = client_cert_len ? client_cert : NULL;
        cfg.client_cert_len = client_cert_len;
        cfg.client_key = client_key_len ? client_key : NULL;
        cfg.client_key_len = client_key_len;
    }

    memset(&plat, 0, sizeof plat);
    posix_platform_bind(&d->plat, d, &plat);
    plat.on_event = on_event;
    plat.log = on_log;

    rc = ota_init(&client, &cfg, &plat); /* copies cfg and plat: both may go out of scope */
    if (rc != OTA_OK)
        posix_log(&d->plat, POSIX_LOG_ERROR, "demo", "ota_init failed: %s (%d)", ota_strerror(rc),
                  (int)rc);
    return rc;
}

/* What a real device does between OTA_EVENT_IMAGE_READY and running the new firmware. */
static int reboot(demo_ctx *d, const device_info *id, const demo_args *a)
{
    posix_platform *p = &d->plat;

    ota_deinit(&client);
    posix_platform_close_all(p);
    /* The bootloader swaps in the new image: from now on the device runs the new version. */
    if (demo_version_reboot(&d->ver, p, "demo") != 0) {
        posix_log(p, POSIX_LOG_ERROR, "demo", "cannot record the new version in %s",
                  d->ver.path);
        return -1;
    }
    /* A fresh boot: the library finds its record and reports `done`, then the new version. */
    return start_client(d, id, a) == OTA_OK ? 0 : -1;
}

static void print_status(demo_ctx *d, const char *what)
{
    static const char *const states[] = { "idle", "offered", "downloading", "ready",
                                          "confirming" };
    ota_status st;
    if (ota_get_status(&client, &st) != OTA_OK)
        return;
    posix_log(&d->plat, POSIX_LOG_INFO, "demo",
              "%s: state %s, %s, running %s%s%s, %lu/%lu bytes, last error: %s", what,
              st.state >= 0 && st.state <= 4 ? states[st.state] : "?",
              st.connected ? "connected" : "not connected", st.running_version,
              st.target_version[0] ? ", target " : "", st.target_version,
              (unsigned long)st.downloaded, (unsigned long)st.file_size,
              ota_strerror(st.last_error));
}

/* A whole file into buf (at most cap bytes). Returns 0, or -1 after saying why. */
static int read_whole(const char *path, const char *what, uint8_t *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = f ? fread(buf, 1, cap, f) : 0;
    if (f == NULL || ferror(f) || *len == 0 || !feof(f)) {
        fprintf(stderr, PROG ": cannot read %s %s (at most %lu bytes)\n", what, path,
                (unsigned long)cap);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static void mask_secret(const char *secret, char *out, size_t cap)
{
    size_t n = strlen(secret);
    if (n <= 4)
        snprintf(out, cap, "****");
    else
        snprintf(out, cap, "%.2s...%s (%lu chars)", secret, secret + n - 2, (unsigned long)n);
}

/* ------------------------------------------------------------------------------------------- */
/* main                                                                                        */
/* ------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static demo_ctx demo; /* static: zeroed, and not on the stack of a long-running loop */
    demo_ctx *d = &demo;
    demo_args args;
    device_info id;
    char secret_shown[48];
    char file_version[OTA_VERSION_MAX + 2];
    uint64_t last_status;
    int from_file, rc;

    /* Command line, identity, DIR and the running version: all shared with ota_byo_demo. */
    rc = demo_start(PROG, NULL, argc, argv, &args, &id, &d->plat, &d->ver, file_version,
                    sizeof file_version, &from_file);
    if (rc >= 0)
        return rc;

    demo_install_signals();
    d->ev.tag = "event";
    d->ev.link = "connected and subscribed";
    d->ev.wait_line = 1;
    d->ev.progress_bar = 1;
    if (args.ca_path != NULL) {
        if (read_whole(args.ca_path, "--ca", ca_pem, sizeof ca_pem, &ca_len) != 0)
            return EXIT_USAGE;
        d->plat.tls_ca_file = args.ca_path;
    }
    if (args.cert_path != NULL) {
        if (read_whole(args.cert_path, "--cert", client_cert, sizeof client_cert,
                       &client_cert_len) != 0
            || read_whole(args.key_path, "--key", client_key, sizeof client_key, &client_key_len)
                   != 0)
            return EXIT_USAGE;
        d->plat.tls_cert_file = args.cert_path;
        d->plat.tls_key_file = args.key_path;
    }
    if (args.host_tls && !posix_platform_has_tls()) {
        fprintf(stderr, PROG ": --host-tls needs the demo built with OpenSSL (libssl-dev)\n");
        return EXIT_USAGE;
    }

    if (args.cert_path != NULL)
        snprintf(secret_shown, sizeof secret_shown, "none (certificate)");
    else
        mask_secret(id.device_secret, secret_shown, sizeof secret_shown);
    demo_log_title(&d->plat, "demo", "demo");
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "device   %s/%s, secret %s", id.product_id,
              id.device_name, secret_shown);
    {
        const char *how = !args.tls ? "plain TCP"
                          : args.host_tls || !ota_has_builtin_tls() ? "TLS by the platform (OpenSSL)"
                                                                    : "TLS, built-in (rustls)";
        if (args.host != NULL)
            posix_log(&d->plat, POSIX_LOG_INFO, "demo", "broker   %s:%u (%s)", args.host,
                      args.port, how);
        else
            posix_log(&d->plat, POSIX_LOG_INFO, "demo",
                      "broker   %s.iotcloud.tencentdevices.com:%u (%s)", id.product_id, args.port,
                      how);
    }
    if (from_file && strcmp(file_version, args.version) != 0)
        posix_log(&d->plat, POSIX_LOG_INFO, "demo", "running  %s (from %s; --version %s ignored)",
                  d->ver.running, d->ver.path, args.version);
    else
        posix_log(&d->plat, POSIX_LOG_INFO, "demo", "running  %s", d->ver.running);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "dir      %s (slot firmware.bin, record %s)",
              d->plat.dir, "ota_record.0/.1");
    posix_log(&d->plat, POSIX_LOG_INFO, "demo",
              "buffers  mqtt rx %lu, mqtt tx %lu, http %lu; client %lu bytes%s%s",
              (unsigned long)sizeof mqtt_rx_buf, (unsigned long)sizeof mqtt_tx_buf,
              (unsigned long)sizeof http_buf, (unsigned long)sizeof client,
              args.once ? "; --once" : "", args.readback ? "; --readback" : "");

    if (start_client(d, &id, &args) != OTA_OK)
        return EXIT_INIT;

    last_status = 0;
    for (;;) {
        struct pollfd fds[POSIX_MAX_SOCKS];
        uint32_t ms;
        int n;

        ms = ota_poll(&client);

        if (demo_stop_signal) {
            int sig = demo_stop_signal;
            posix_log(&d->plat, POSIX_LOG_INFO, "demo", "%s: stopping", demo_signal_name(sig));
            print_status(d, "at exit");
            ota_deinit(&client);
            posix_platform_close_all(&d->plat);
            posix_platform_deinit(&d->plat);
            return 128 + sig;
        }
        if (d->ver.reboot_pending) {
            if (reboot(d, &id, &args) != 0)
                return EXIT_INIT;
            continue;
        }
        if (args.once && (d->ev.done || d->ev.failed)) {
            print_status(d, "at exit");
            ota_deinit(&client);
            posix_platform_close_all(&d->plat);
            posix_platform_deinit(&d->plat);
            return d->ev.done ? EXIT_DONE : EXIT_FAILED;
        }
        {
            /* A heartbeat while idle, so a quiet log still shows the client is alive and why. */
            struct timespec ts;
            uint64_t now;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
            if (last_status == 0)
                last_status = now;
            else if (now - last_status >= STATUS_EVERY_MS) {
                last_status = now;
                print_status(d, "status");
            }
        }

        if (ms == 0 || posix_platform_pending(&d->plat))
            continue; /* the library has more to do right away, or OpenSSL holds bytes for it */
        if (ms > MAX_WAIT_MS)
            ms = MAX_WAIT_MS;
        /* Sleep until a socket is readable (or connected, or writable after a blocked send), or
         * until the library's next timer. With no socket open this is a plain sleep. */
        n = posix_platform_pollfds(&d->plat, fds, POSIX_MAX_SOCKS);
        if (poll(fds, (nfds_t)n, (int)ms) > 0)
            posix_platform_poll_done(&d->plat, fds, n);
    }
}
