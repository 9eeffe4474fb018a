/*
 * ota_byo_demo: ota_demo with the MQTT connection owned by the program (bring-your-own MQTT).
 *
 *   ota_byo_demo [--device-info FILE] [--product-id ID] [--device-name NAME]
 *                [--device-secret BASE64] [--host HOST] [--port PORT]
 *                --version RUNNING_VERSION --dir DIR [--once]
 *
 * The same job, command line, files and exit status as ota_demo (see ota_demo.c), but the firmware
 * already holds its MQTT session with IoT Explorer (here libmosquitto, signed in as Tencent
 * expects: tencent_sign.c) and the library only borrows it: it is initialised with
 * OTA_FLAG_HOST_MQTT, publishes and subscribes through ota_platform.mqtt_publish/mqtt_subscribe,
 * and is told about the connection (ota_mqtt_connected/disconnected), handed the messages of its
 * update topic (ota_mqtt_input) and the PUBACKs of its QoS1 reports (ota_mqtt_acked). The library
 * still opens the HTTP connection for the download itself; the main loop poll()s the MQTT socket
 * and the library's socket together. Tencent allows one connection per device identity, so a
 * firmware that already talks to the cloud must work this way.
 *
 * Exit status: 0 with --once after an update completed; 1 with --once after an update failed;
 * 2 bad arguments; 3 ota_init() failed; 130/143 on SIGINT/SIGTERM.
 * Set OTA_DEMO_DEBUG=1 in the environment to see the library's debug lines too.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo_common.h"
#include "mosq_link.h"

/* No MQTT buffers: the host's MQTT client has its own. Only the HTTP buffer (response head, then
 * the download chunk) is the library's. */
static uint8_t http_buf[DEMO_HTTP_BUF_LEN];
static ota_client client;

/* ota_platform.user: the posix_platform must stay first (see posix_platform.h). */
typedef struct {
    posix_platform plat;
    mosq_link *link;
    demo_version ver; /* running version, DIR/running_version, the reboot pending */
    demo_events ev;   /* the event lines' wording; done/failed for the main loop */
    int readback;     /* --readback */
} demo_ctx;

/* Same command line as ota_demo (demo_common.c), with one line more in the usage text. */
#define PROG "ota_byo_demo"
#define USAGE_NOTE "The program owns the MQTT connection (libmosquitto) and lends it to the library."

/* ------------------------------------------------------------------------------------------- */
/* The library's callbacks                                                                     */
/* ------------------------------------------------------------------------------------------- */

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

/* Bring-your-own MQTT: the library's reports and its subscription go out on the host's
 * connection. Both are called from inside ota_poll(). */
static int32_t on_mqtt_publish(void *user, const char *topic, const uint8_t *payload, size_t len,
                               uint8_t qos)
{
    demo_ctx *d = user;
    return mosq_link_publish(d->link, 0, topic, payload, len, qos);
}

static int32_t on_mqtt_subscribe(void *user, const char *topic, uint8_t qos)
{
    demo_ctx *d = user;
    return mosq_link_subscribe(d->link, 0, topic, qos);
}

/* ------------------------------------------------------------------------------------------- */
/* Start-up and the simulated reboot                                                           */
/* ------------------------------------------------------------------------------------------- */

static int start_client(demo_ctx *d, const device_info *id)
{
    ota_config cfg;
    ota_platform plat;
    int32_t rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = id->product_id;
    cfg.device_name = id->device_name;
    cfg.device_secret = id->device_secret; /* required, though the host signs in */
    cfg.running_version = d->ver.running;
    /* https firmware URLs: TLS by the platform (OpenSSL in posix_platform.c), as for MQTT. */
    cfg.flags = OTA_FLAG_HOST_MQTT | OTA_FLAG_HOST_TLS;
    if (d->readback) /* off by default, as in ota_demo */
        cfg.flags |= OTA_FLAG_READBACK_VERIFY;
    cfg.http_buf = http_buf; /* mqtt_rx_buf/mqtt_tx_buf stay NULL: the host's client has its own */
    cfg.http_len = sizeof http_buf;
    cfg.net_poll_ms = 250;   /* the main loop wakes on socket readiness */
    cfg.journal_interval = DEMO_JOURNAL_INTERVAL;

    memset(&plat, 0, sizeof plat);
    posix_platform_bind(&d->plat, d, &plat);
    plat.on_event = on_event;
    plat.log = on_log;
    plat.mqtt_publish = on_mqtt_publish;
    plat.mqtt_subscribe = on_mqtt_subscribe;

    rc = ota_init(&client, &cfg, &plat);
    if (rc != OTA_OK) {
        posix_log(&d->plat, POSIX_LOG_ERROR, "demo", "ota_init failed: %s (%d)", ota_strerror(rc),
                  (int)rc);
        return rc;
    }
    /* Hand the client the connection; if it is already up this is its ota_mqtt_connected(). */
    mosq_link_set_client(d->link, 0, &client, id->device_name);
    return OTA_OK;
}

static void stop_client(demo_ctx *d)
{
    mosq_link_set_client(d->link, 0, NULL, NULL);
    ota_deinit(&client);
    posix_platform_close_all(&d->plat);
}

/* The "reboot": only the OTA client restarts; the firmware's MQTT session stays up. */
static int reboot(demo_ctx *d, const device_info *id)
{
    stop_client(d);
    if (demo_version_reboot(&d->ver, &d->plat, "demo") != 0)
        return -1;
    return start_client(d, id) == OTA_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    static demo_ctx demo;
    static mosq_link link;
    demo_ctx *d = &demo;
    demo_args args;
    device_info id;
    char file_version[OTA_VERSION_MAX + 2], host[OTA_HOST_MAX + 1];
    int from_file, rc;

    /* Command line, identity, DIR and the running version: all shared with ota_demo. */
    rc = demo_start(PROG, USAGE_NOTE, argc, argv, &args, &id, &d->plat, &d->ver, file_version,
                    sizeof file_version, &from_file);
    if (rc >= 0)
        return rc;
    d->plat.stdout_is_tty = false; /* one log line per 10%, no progress bar */
    d->readback = args.readback;
    d->ev.tag = "event";
    d->ev.link = "subscribed on the host's connection";
    d->ev.link_down = "the host's connection is down: reports wait";
    d->ev.wait_line = 1;

    if (args.host != NULL)
        snprintf(host, sizeof host, "%s", args.host);
    else
        snprintf(host, sizeof host, "%s.iotcloud.tencentdevices.com", id.product_id);
    if (mosq_link_init(&link, &d->plat, host, (uint16_t)args.port, id.product_id, id.device_name,
                       id.device_secret)
        != 0)
        return EXIT_USAGE;
    d->link = &link;

    demo_install_signals();

    demo_log_title(&d->plat, "demo", "bring-your-own-MQTT demo");
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "device   %s/%s", id.product_id, id.device_name);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "broker   %s:%u (plain TCP, libmosquitto)", host,
              args.port);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "running  %s%s%s", d->ver.running,
              from_file ? " (from " : "", from_file ? d->ver.path : "");
    if (from_file)
        posix_log(&d->plat, POSIX_LOG_INFO, "demo", "(--version %s ignored)", args.version);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "dir      %s", d->plat.dir);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "buffers  http %lu; client %lu bytes (no MQTT "
              "buffers in this mode)%s",
              (unsigned long)sizeof http_buf, (unsigned long)sizeof client,
              args.once ? "; --once" : "");

    if (start_client(d, &id) != OTA_OK) {
        mosq_link_close(&link);
        return EXIT_INIT;
    }

    for (;;) {
        struct pollfd fds[POSIX_MAX_SOCKS + 1];
        uint32_t ms, link_ms;
        int n, li = -1, i;

        ms = ota_poll(&client);

        if (demo_stop_signal) {
            int sig = demo_stop_signal;
            posix_log(&d->plat, POSIX_LOG_INFO, "demo", "%s: stopping", demo_signal_name(sig));
            stop_client(d);
            mosq_link_close(&link);
            return 128 + sig;
        }
        if (d->ver.reboot_pending) {
            if (reboot(d, &id) != 0) {
                mosq_link_close(&link);
                return EXIT_INIT;
            }
            continue;
        }
        if (args.once && (d->ev.done || d->ev.failed)) {
            stop_client(d);
            mosq_link_close(&link);
            return d->ev.done ? EXIT_DONE : EXIT_FAILED;
        }

        /* One poll() for the library's HTTP socket and the host's MQTT socket. */
        link_ms = mosq_link_wait_ms(&link);
        if (ms > link_ms)
            ms = link_ms;
        if (ms > MAX_WAIT_MS)
            ms = MAX_WAIT_MS;
        n = posix_platform_pollfds(&d->plat, fds, POSIX_MAX_SOCKS);
        if (mosq_link_pollfd(&link, &fds[n]))
            li = n;
        rc = poll(fds, (nfds_t)(n + (li >= 0)), (int)ms);
        if (rc <= 0)
            for (i = 0; i < n + (li >= 0); i++)
                fds[i].revents = 0;
        posix_platform_poll_done(&d->plat, fds, n);
        /* libmosquitto reads, writes, pings, reconnects, and hands the library what arrived. */
        mosq_link_service(&link, li >= 0 ? &fds[li] : NULL);
    }
}
