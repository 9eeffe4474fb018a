/*
 * ota_gateway_demo: a gateway updating its sub-devices over its own MQTT connection.
 *
 *   ota_gateway_demo --host HOST [--port PORT] --dir DIR --gateway PRODUCT/DEVICE/SECRET
 *                    --sub PRODUCT/DEVICE/SECRET[:VERSION] [--sub ...] [--once]
 *
 *   --host HOST        MQTT broker (Tencent: {gateway product}.iotcloud.tencentdevices.com)
 *   --port PORT        MQTT broker port (default 1883)
 *   --dir DIR          state directory: DIR/<device>/ holds each sub-device's slot (firmware.bin),
 *                      its record (ota_record.0/.1) and the version it "runs" (running_version)
 *   --gateway P/D/S    the gateway's identity: the MQTT connection signs in with it
 *   --sub P/D/S[:V]    a sub-device: product id, device name, device secret (base64; may itself
 *                      contain '/'), running version (default 1.0.0; DIR/<device>/running_version
 *                      overrides it). Repeatable, up to 8 (the test uses 3).
 *   --once             exit when every sub-device's update finished: 0 all done, 1 any failed
 *                      or skipped (its online refused)
 *
 * One MQTT connection (libmosquitto, as the gateway device), one qcloud-ota client per sub-device
 * (OTA_FLAG_HOST_MQTT, each with its own identity, slot, record and HTTP buffer) sharing it, as
 * Tencent's gateway samples do: a sub-device's OTA topics carry its own product id and device
 * name ($ota/update/{sub pid}/{sub dn}), published and subscribed over the gateway's connection.
 * Routing (mosq_link.c): every message received is offered to each client's ota_mqtt_input(),
 * which takes only its own update topic; each PUBACK goes to the client whose publish got that
 * message id. All clients download at once in one poll() loop. Each sub-device "reboots" on its
 * own when its image is ready: its client is deinitialised and initialised again with the new
 * version (remembered in DIR/<device>/running_version), then reports `done`.
 *
 * Online first (gateway_subdev.h): on Tencent's gateway protocol a sub-device's topics work only
 * while the gateway has brought it online on its current connection. After every CONNACK the
 * demo subscribes $gateway/operation/result/{gw}, sends `online` for each sub-device, and starts
 * (or, after a reconnect, resumes: mosq_link_client_ready) a sub-device's client only on its
 * reply with result 0. A sub-device whose online is refused (-1: not bound to this gateway, see
 * the console's topology) or unanswered is reported and skipped; the others go on. `offline` is
 * sent for each sub-device when the demo stops serving it. The binding itself is made in the
 * console (no `bind` here, as in Tencent's sub-device OTA sample).
 * Exit status: as above (a sub-device whose first ota_init() fails counts as failed); 2 bad
 * arguments; 3 ota_init() failed at a sub-device's reboot; 130/143 on SIGINT/SIGTERM.
 * Set OTA_DEMO_DEBUG=1 in the environment to see the library's debug lines too.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Exit codes, signals, DIR/running_version and the reboot's bookkeeping are ota_demo's. */
#include "demo_common.h"
#include "gateway_subdev.h"
#include "mosq_link.h"

#define MAX_SUBS (MOSQ_LINK_MAX_CLIENTS < GW_SUBDEV_MAX ? MOSQ_LINK_MAX_CLIENTS : GW_SUBDEV_MAX)
/* Per sub-device HTTP buffer: the response head must fit (OTA_MIN_HTTP); more means fewer recv()
 * and slot_write() calls. A gateway with little RAM can go down to OTA_MIN_HTTP. */
#define SUB_HTTP_BUF 4096

typedef struct {
    char product_id[OTA_PRODUCT_ID_MAX + 1];
    char device_name[OTA_DEVICE_NAME_MAX + 1];
    char secret[DEVICE_SECRET_MAX + 1];
    char version[OTA_VERSION_MAX + 1];
} identity;

/*
 * One sub-device. ota_platform.user points here; the posix_platform must stay first. What the
 * library itself needs per extra client is `client` and `http_buf`; the rest is this demo's
 * bookkeeping (the posix_platform's path strings are most of it).
 */
typedef struct {
    posix_platform plat; /* DIR/<device>/ */
    ota_client client;
    uint8_t http_buf[SUB_HTTP_BUF];

    int index;
    mosq_link *link;
    identity id;
    demo_version ver;    /* running version, DIR/<device>/running_version, the reboot pending */
    int active;          /* the client is initialised */
    demo_events ev;      /* the event lines' wording; done/failed for the main loop */
    int skipped;         /* its online was refused: never started, or stopped */
} sub_ctx;

static sub_ctx subs[MAX_SUBS];
static int n_subs;
/* The online/offline exchange; sub-device i is index i there as in subs[] and the link. */
static gw_subdev gw_ops;
static posix_platform *gw_log;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ota_gateway_demo --host HOST [--port PORT] --dir DIR\n"
            "                        --gateway PRODUCT/DEVICE/SECRET\n"
            "                        --sub PRODUCT/DEVICE/SECRET[:VERSION] [--sub ...] [--once]\n"
            "\n"
            "  --gateway   the gateway's identity (the MQTT connection signs in with it)\n"
            "  --sub       a sub-device to update (repeatable, up to %d); VERSION default 1.0.0\n"
            "  --dir DIR   state: DIR/<device>/firmware.bin, ota_record.0/.1, running_version\n"
            "  --once      exit 0 when every sub-device's update is done, 1 if any failed\n",
            MAX_SUBS);
}

/* "PRODUCT/DEVICE/SECRET[:VERSION]": the secret is base64 (may hold '/', never ':'). */
static int parse_identity(const char *arg, identity *out, int with_version, const char *what)
{
    const char *a = strchr(arg, '/'), *b = a ? strchr(a + 1, '/') : NULL, *colon;
    size_t secret_len;

    memset(out, 0, sizeof *out);
    if (a == NULL || b == NULL || a == arg || b == a + 1 || b[1] == '\0') {
        fprintf(stderr, "ota_gateway_demo: %s '%s': want PRODUCT/DEVICE/SECRET%s\n", what, arg,
                with_version ? "[:VERSION]" : "");
        return -1;
    }
    colon = with_version ? strrchr(b + 1, ':') : NULL;
    secret_len = colon ? (size_t)(colon - (b + 1)) : strlen(b + 1);
    if ((size_t)(a - arg) >= sizeof out->product_id
        || (size_t)(b - a - 1) >= sizeof out->device_name || secret_len == 0
        || secret_len >= sizeof out->secret
        || (colon && (colon[1] == '\0' || strlen(colon + 1) >= sizeof out->version))) {
        fprintf(stderr, "ota_gateway_demo: %s '%s': a field is empty or too long\n", what, arg);
        return -1;
    }
    memcpy(out->product_id, arg, (size_t)(a - arg));
    memcpy(out->device_name, a + 1, (size_t)(b - a - 1));
    memcpy(out->secret, b + 1, secret_len);
    strcpy(out->version, colon ? colon + 1 : "1.0.0");
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* The library's callbacks (user = the sub_ctx)                                                */
/* ------------------------------------------------------------------------------------------- */

static void on_event(void *user, const ota_event *ev)
{
    sub_ctx *s = user;
    demo_on_event(&s->ev, &s->ver, &s->plat, ev);
}

static void on_log(void *user, int32_t level, const char *msg, size_t len)
{
    sub_ctx *s = user;
    demo_forward_log(&s->plat, s->id.device_name, "ota: ", level, msg, len);
}

static int32_t on_mqtt_publish(void *user, const char *topic, const uint8_t *payload, size_t len,
                               uint8_t qos)
{
    sub_ctx *s = user;
    return mosq_link_publish(s->link, s->index, topic, payload, len, qos);
}

static int32_t on_mqtt_subscribe(void *user, const char *topic, uint8_t qos)
{
    sub_ctx *s = user;
    return mosq_link_subscribe(s->link, s->index, topic, qos);
}

/* ------------------------------------------------------------------------------------------- */
/* Sub-device life cycle                                                                       */
/* ------------------------------------------------------------------------------------------- */

static int start_sub(sub_ctx *s)
{
    ota_config cfg;
    ota_platform plat;
    int32_t rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = s->id.product_id;
    cfg.device_name = s->id.device_name;
    cfg.device_secret = s->id.secret;
    cfg.running_version = s->ver.running;
    /* https firmware URLs: TLS by the platform (OpenSSL in posix_platform.c), as for MQTT. */
    cfg.flags = OTA_FLAG_HOST_MQTT | OTA_FLAG_HOST_TLS; /* no read-back: see ota_demo.c */
    cfg.http_buf = s->http_buf;
    cfg.http_len = sizeof s->http_buf;
    cfg.net_poll_ms = 250;

    memset(&plat, 0, sizeof plat);
    posix_platform_bind(&s->plat, s, &plat);
    plat.on_event = on_event;
    plat.log = on_log;
    plat.mqtt_publish = on_mqtt_publish;
    plat.mqtt_subscribe = on_mqtt_subscribe;

    rc = ota_init(&s->client, &cfg, &plat);
    if (rc != OTA_OK) {
        posix_log(&s->plat, POSIX_LOG_ERROR, s->id.device_name, "ota_init failed: %s (%d)",
                  ota_strerror(rc), (int)rc);
        return -1;
    }
    s->active = 1;
    mosq_link_set_client(s->link, s->index, &s->client, s->id.device_name);
    return 0;
}

static void stop_sub(sub_ctx *s)
{
    if (!s->active)
        return;
    mosq_link_set_client(s->link, s->index, NULL, NULL);
    ota_deinit(&s->client);
    posix_platform_close_all(&s->plat);
    s->active = 0;
}

/* This sub-device's "reboot": only its client restarts; the gateway and the others go on. */
static int reboot_sub(sub_ctx *s)
{
    stop_sub(s);
    if (demo_version_reboot(&s->ver, &s->plat, s->id.device_name) != 0)
        return -1;
    if (start_sub(s) != 0)
        return -1;
    /* Still online on this connection: its topics work at once. */
    if (gw_subdev_get_state(&gw_ops, s->index) == GW_SUBDEV_ONLINE)
        mosq_link_client_ready(s->link, s->index);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Online/offline (gateway_subdev) over the link                                               */
/* ------------------------------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int32_t gw_publish(void *user, const char *topic, const uint8_t *payload, size_t len)
{
    return mosq_link_publish_host(user, topic, payload, len);
}

static int32_t gw_subscribe(void *user, const char *topic)
{
    return mosq_link_subscribe_host(user, topic, 1);
}

/* A sub-device's online state changed (from inside mosq_link_service or gw_subdev_poll). */
static void gw_on_change(void *user, int index, gw_subdev_state state, int result)
{
    sub_ctx *s = &subs[index];
    const char *tag = s->id.device_name;
    (void)user;

    switch (state) {
    case GW_SUBDEV_ONLINE:
        posix_log(gw_log, POSIX_LOG_INFO, "gateway", "%s/%s online", s->id.product_id, tag);
        if (s->active) {
            mosq_link_client_ready(s->link, index); /* again, after a reconnect */
        } else if (start_sub(s) != 0) {
            s->ev.failed = 1;
            gw_subdev_offline(&gw_ops, index);
        } else {
            mosq_link_client_ready(s->link, index);
        }
        break;
    case GW_SUBDEV_REFUSED:
        posix_log(gw_log, POSIX_LOG_ERROR, "gateway",
                  "%s/%s: online refused: result %d (%s); skipping this sub-device",
                  s->id.product_id, tag, result, gw_subdev_result_text(result));
        stop_sub(s);
        s->skipped = 1;
        break;
    case GW_SUBDEV_OFFLINE:
        posix_log(gw_log, POSIX_LOG_INFO, "gateway",
                  "%s/%s offline with the connection; online again after the reconnect",
                  s->id.product_id, tag);
        break;
    default:
        break;
    }
}

static void link_connected(void *user)
{
    gw_subdev_connected(user);
}

static void link_disconnected(void *user)
{
    gw_subdev_disconnected(user);
}

static void link_message(void *user, const char *topic, const uint8_t *payload, size_t len)
{
    if (gw_subdev_input(user, topic, payload, len))
        posix_log(gw_log, POSIX_LOG_DEBUG, "gateway", "%s: %.*s", topic, (int)len,
                  (const char *)payload);
    else
        posix_log(gw_log, POSIX_LOG_DEBUG, "mqtt", "message on %s (%lu bytes) for no client",
                  topic, (unsigned long)len);
}

static void link_subacked(void *user, int token, int granted)
{
    if (granted >= 0x80)
        return; /* on_subscribe logged it; the online requests wait (and nothing works) */
    gw_subdev_acked(user, token);
}

/* Stop serving sub-device i: its client first, then `offline`. */
static void retire_sub(sub_ctx *s)
{
    stop_sub(s);
    gw_subdev_offline(&gw_ops, s->index);
}

static int setup_sub(sub_ctx *s, const char *dir, int debug)
{
    char path[POSIX_PATH_MAX], buf[OTA_VERSION_MAX + 2];
    int n;

    if (snprintf(path, sizeof path, "%s/%s", dir, s->id.device_name) >= (int)sizeof path
        || posix_platform_init(&s->plat, path) != 0)
        return -1;
    s->plat.stdout_is_tty = false;
    if (debug)
        s->plat.log_threshold = POSIX_LOG_DEBUG;
    if (demo_version_paths(&s->ver, s->plat.dir) != 0)
        return -1;
    snprintf(s->ver.running, sizeof s->ver.running, "%s", s->id.version);
    /* A previous run "rebooted" it. Unlike ota_demo, an unreadable or overlong file is not an
     * error here: the sub-device keeps the version from --sub. */
    n = demo_version_read(&s->ver, buf, sizeof buf);
    if (n > 0 && n <= OTA_VERSION_MAX)
        memcpy(s->ver.running, buf, (size_t)n + 1);
    return 0;
}

int main(int argc, char **argv)
{
    static mosq_link link;
    static posix_platform gw; /* the gateway's own log lines (DIR) */
    const char *host = NULL, *dir = NULL, *port_arg = NULL, *gateway_arg = NULL;
    const char *sub_args[MAX_SUBS];
    identity gateway;
    unsigned long port = 1883;
    int once = 0, debug, i, rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--once") == 0) {
            once = 1;
            continue;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--host") == 0)
            slot = &host;
        else if (strcmp(argv[i], "--port") == 0)
            slot = &port_arg;
        else if (strcmp(argv[i], "--dir") == 0)
            slot = &dir;
        else if (strcmp(argv[i], "--gateway") == 0)
            slot = &gateway_arg;
        else if (strcmp(argv[i], "--sub") == 0) {
            if (n_subs == MAX_SUBS) {
                fprintf(stderr, "ota_gateway_demo: at most %d --sub\n", MAX_SUBS);
                return EXIT_USAGE;
            }
            slot = &sub_args[n_subs++];
        }
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "ota_gateway_demo: %s '%s'\n",
                    slot == NULL ? "unknown argument" : "no value for", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
        *slot = argv[++i];
    }
    if (port_arg != NULL) {
        char *end = NULL;
        errno = 0;
        port = strtoul(port_arg, &end, 10);
        if (errno || end == port_arg || *end || port == 0 || port > 65535 || port_arg[0] == '-') {
            fprintf(stderr, "ota_gateway_demo: bad --port '%s'\n", port_arg);
            return EXIT_USAGE;
        }
    }
    if (host == NULL || !host[0] || dir == NULL || !dir[0] || gateway_arg == NULL || n_subs == 0) {
        fprintf(stderr, "ota_gateway_demo: --host, --dir, --gateway and a --sub are required\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (parse_identity(gateway_arg, &gateway, 0, "--gateway") != 0)
        return EXIT_USAGE;
    for (i = 0; i < n_subs; i++) {
        int k;
        if (parse_identity(sub_args[i], &subs[i].id, 1, "--sub") != 0)
            return EXIT_USAGE;
        for (k = 0; k < i; k++)
            if (strcmp(subs[k].id.device_name, subs[i].id.device_name) == 0) {
                fprintf(stderr, "ota_gateway_demo: sub-device %s given twice\n",
                        subs[i].id.device_name);
                return EXIT_USAGE;
            }
    }

    debug = demo_debug_wanted();
    if (posix_platform_init(&gw, dir) != 0)
        return EXIT_USAGE;
    gw.stdout_is_tty = false;
    if (debug)
        gw.log_threshold = POSIX_LOG_DEBUG;
    if (mosq_link_init(&link, &gw, host, (uint16_t)port, gateway.product_id, gateway.device_name,
                       gateway.secret)
        != 0)
        return EXIT_USAGE;
    gw_log = &gw;
    if (gw_subdev_init(&gw_ops, gateway.product_id, gateway.device_name, gw_publish, gw_subscribe,
                       gw_on_change, &link)
        != 0) {
        fprintf(stderr, "ota_gateway_demo: gateway identity too long\n");
        return EXIT_USAGE;
    }
    {
        mosq_link_hooks hooks = {&gw_ops, link_connected, link_disconnected, link_message,
                                 link_subacked};
        mosq_link_set_hooks(&link, &hooks);
    }
    for (i = 0; i < n_subs; i++) {
        subs[i].index = i;
        subs[i].link = &link;
        subs[i].ev.tag = subs[i].id.device_name;
        subs[i].ev.link = "subscribed on the gateway's connection";
        subs[i].ev.link_down = "the gateway's connection is down: reports wait";
        if (setup_sub(&subs[i], gw.dir, debug) != 0
            || gw_subdev_add(&gw_ops, subs[i].id.product_id, subs[i].id.device_name) != i)
            return EXIT_USAGE;
    }

    demo_install_signals();

    demo_log_title(&gw, "gateway", "gateway demo");
    posix_log(&gw, POSIX_LOG_INFO, "gateway", "gateway  %s/%s on %s:%lu (plain TCP, libmosquitto)",
              gateway.product_id, gateway.device_name, host, port);
    for (i = 0; i < n_subs; i++)
        posix_log(&gw, POSIX_LOG_INFO, "gateway", "sub %d    %s/%s running %s, dir %s", i,
                  subs[i].id.product_id, subs[i].id.device_name, subs[i].ver.running,
                  subs[i].plat.dir);
    posix_log(&gw, POSIX_LOG_INFO, "gateway",
              "memory per extra client: %lu bytes (ota_client %lu + http buffer %lu; no MQTT "
              "buffers in this mode); this demo's own bookkeeping per sub-device adds %lu",
              (unsigned long)(sizeof(ota_client) + SUB_HTTP_BUF),
              (unsigned long)sizeof(ota_client), (unsigned long)SUB_HTTP_BUF,
              (unsigned long)(sizeof(sub_ctx) - sizeof(ota_client) - SUB_HTTP_BUF));

    /* The clients start as their sub-devices come online (gw_on_change). */
    for (;;) {
        struct pollfd fds[MAX_SUBS * POSIX_MAX_SOCKS + 1];
        int first[MAX_SUBS], count[MAX_SUBS];
        uint32_t ms = gw_subdev_poll(&gw_ops, mono_ms()), link_ms;
        int n = 0, li = -1, finished = 0, any_failed = 0, skipped = 0;

        if (ms > MAX_WAIT_MS)
            ms = MAX_WAIT_MS;
        for (i = 0; i < n_subs; i++) {
            if (subs[i].active) {
                uint32_t m = ota_poll(&subs[i].client);
                if (m < ms)
                    ms = m;
            }
        }
        if (demo_stop_signal) {
            posix_log(&gw, POSIX_LOG_INFO, "gateway", "%s: stopping",
                      demo_signal_name(demo_stop_signal));
            for (i = 0; i < n_subs; i++)
                retire_sub(&subs[i]);
            mosq_link_close(&link);
            return 128 + demo_stop_signal;
        }
        for (i = 0; i < n_subs; i++) {
            sub_ctx *s = &subs[i];
            if (s->ver.reboot_pending) {
                if (reboot_sub(s) != 0) {
                    int k;
                    for (k = 0; k < n_subs; k++)
                        retire_sub(&subs[k]);
                    mosq_link_close(&link);
                    return EXIT_INIT;
                }
                ms = 0;
            }
            if (once && s->active && (s->ev.done || s->ev.failed)) {
                /* Finished: this client leaves; the others go on. */
                posix_log(&gw, POSIX_LOG_INFO, "gateway", "%s finished (%s)", s->id.device_name,
                          s->ev.done ? "done" : "failed");
                retire_sub(s);
            }
            finished += s->ev.done || s->ev.failed || s->skipped;
            any_failed |= s->ev.failed;
            skipped += s->skipped && !s->ev.done && !s->ev.failed;
        }
        if (once && finished == n_subs) {
            for (i = 0; i < n_subs; i++)
                retire_sub(&subs[i]); /* `offline` for those that remain (none with --once) */
            mosq_link_close(&link);
            posix_log(&gw, POSIX_LOG_INFO, "gateway", "all %d sub-devices finished: %s, %d skipped",
                      n_subs, any_failed ? "at least one failed" : "no failure", skipped);
            return any_failed || skipped ? EXIT_FAILED : EXIT_DONE;
        }

        /* One poll() for every sub-device's HTTP socket and the gateway's MQTT socket. */
        link_ms = mosq_link_wait_ms(&link);
        if (ms > link_ms)
            ms = link_ms;
        for (i = 0; i < n_subs; i++) {
            first[i] = n;
            count[i] = posix_platform_pollfds(&subs[i].plat, &fds[n], POSIX_MAX_SOCKS);
            n += count[i];
        }
        if (mosq_link_pollfd(&link, &fds[n]))
            li = n++;
        rc = poll(fds, (nfds_t)n, (int)ms);
        if (rc <= 0)
            for (i = 0; i < n; i++)
                fds[i].revents = 0;
        for (i = 0; i < n_subs; i++)
            posix_platform_poll_done(&subs[i].plat, &fds[first[i]], count[i]);
        mosq_link_service(&link, li >= 0 ? &fds[li] : NULL);
    }
}
