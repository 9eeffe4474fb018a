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

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device_info.h"
#include "mosq_link.h"
#include "posix_platform.h"
#include "qcloud_ota.h"

#define EXIT_DONE 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INIT 3
#define MAX_WAIT_MS 1000

/* No MQTT buffers: the host's MQTT client has its own. Only the HTTP buffer (response head, then
 * the download chunk) is the library's. */
static uint8_t http_buf[16384];
static ota_client client;
static volatile sig_atomic_t stop_signal;

typedef struct {
    const char *device_info_path, *product_id, *device_name, *device_secret, *host, *version, *dir;
    unsigned port;
    int once;
} demo_args;

/* ota_platform.user: the posix_platform must stay first (see posix_platform.h). */
typedef struct {
    posix_platform plat;
    mosq_link *link;
    char running_version[OTA_VERSION_MAX + 1];
    char running_version_path[POSIX_PATH_MAX];
    char running_version_tmp[POSIX_PATH_MAX];
    int reboot_pending, update_done, update_failed, last_decile;
    char new_version[OTA_VERSION_MAX + 1];
} demo_ctx;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ota_byo_demo [--device-info FILE] [--product-id ID] [--device-name NAME]\n"
            "                    [--device-secret BASE64] [--host HOST] [--port PORT]\n"
            "                    --version RUNNING_VERSION --dir DIR [--once]\n"
            "\n"
            "  --device-info FILE   Tencent device_info.json (productId, deviceName,\n"
            "                       key_deviceinfo.deviceSecret); the flags below override it\n"
            "  --product-id ID      product id\n"
            "  --device-name NAME   device name\n"
            "  --device-secret B64  device secret (base64, as the console shows it)\n"
            "  --host HOST          MQTT broker (default: ID.iotcloud.tencentdevices.com)\n"
            "  --port PORT          MQTT broker port (default: 1883)\n"
            "  --version VERSION    running firmware version (DIR/running_version overrides it)\n"
            "  --dir DIR            state directory: firmware.bin, ota_record.0/.1, running_version\n"
            "  --once               exit 0 when an update completed, 1 when one failed\n"
            "\n"
            "The program owns the MQTT connection (libmosquitto) and lends it to the library.\n"
            "exit status: 0 done (--once), 1 failed (--once), 2 bad arguments, 3 ota_init failed,\n"
            "             130/143 interrupted\n");
}

static int take_value(int argc, char **argv, int *i, const char *name, const char **out, int *bad)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "ota_byo_demo: %s needs a value\n", name);
        *bad = 1;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

static int parse_args(int argc, char **argv, demo_args *a)
{
    const char *port = NULL;
    int i, bad = 0;

    memset(a, 0, sizeof *a);
    a->port = 1883;
    for (i = 1; i < argc && !bad; i++) {
        if (strcmp(argv[i], "--once") == 0)
            a->once = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return -1;
        else if (!take_value(argc, argv, &i, "--device-info", &a->device_info_path, &bad)
                 && !take_value(argc, argv, &i, "--product-id", &a->product_id, &bad)
                 && !take_value(argc, argv, &i, "--device-name", &a->device_name, &bad)
                 && !take_value(argc, argv, &i, "--device-secret", &a->device_secret, &bad)
                 && !take_value(argc, argv, &i, "--host", &a->host, &bad)
                 && !take_value(argc, argv, &i, "--port", &port, &bad)
                 && !take_value(argc, argv, &i, "--version", &a->version, &bad)
                 && !take_value(argc, argv, &i, "--dir", &a->dir, &bad)) {
            fprintf(stderr, "ota_byo_demo: unknown argument '%s'\n", argv[i]);
            bad = 1;
        }
    }
    if (!bad && port != NULL) {
        char *end = NULL;
        unsigned long v;
        errno = 0;
        v = strtoul(port, &end, 10);
        if (errno != 0 || end == port || *end != '\0' || v == 0 || v > 65535 || port[0] == '-') {
            fprintf(stderr, "ota_byo_demo: bad --port '%s' (1..65535)\n", port);
            bad = 1;
        }
        a->port = (unsigned)v;
    }
    if (!bad && (a->version == NULL || a->version[0] == '\0')) {
        fprintf(stderr, "ota_byo_demo: --version is required\n");
        bad = 1;
    }
    if (!bad && (a->dir == NULL || a->dir[0] == '\0')) {
        fprintf(stderr, "ota_byo_demo: --dir is required\n");
        bad = 1;
    }
    if (!bad && a->host != NULL && a->host[0] == '\0') {
        fprintf(stderr, "ota_byo_demo: --host is empty\n");
        bad = 1;
    }
    return bad ? EXIT_USAGE : 0;
}

/* ------------------------------------------------------------------------------------------- */
/* The library's callbacks                                                                     */
/* ------------------------------------------------------------------------------------------- */

static void on_event(void *user, const ota_event *ev)
{
    demo_ctx *d = user;
    posix_platform *p = &d->plat;
    const char *ver = ev->version != NULL ? ev->version : "";

    switch (ev->kind) {
    case OTA_EVENT_CONNECTED:
        posix_log(p, POSIX_LOG_INFO, "event", "subscribed on the host's connection (running %s)",
                  ver);
        break;
    case OTA_EVENT_DISCONNECTED:
        posix_log(p, POSIX_LOG_WARN, "event", "the host's connection is down: reports wait");
        break;
    case OTA_EVENT_VERSION_REPORTED:
        posix_log(p, POSIX_LOG_INFO, "event", "cloud acknowledged version %s", ver);
        posix_log(p, POSIX_LOG_INFO, "demo", "wait for ota upgrade command...");
        break;
    case OTA_EVENT_OFFERED:
        posix_log(p, POSIX_LOG_INFO, "event", "update offered: %s -> %s (%lu bytes)",
                  d->running_version, ver, (unsigned long)ev->file_size);
        break;
    case OTA_EVENT_DOWNLOAD_STARTED:
        d->last_decile = -1;
        posix_log(p, POSIX_LOG_INFO, "event", "download of %s %s at %lu/%lu", ver,
                  ev->downloaded > 0 ? "resumed" : "started", (unsigned long)ev->downloaded,
                  (unsigned long)ev->file_size);
        break;
    case OTA_EVENT_PROGRESS:
        if (ev->percent / 10 > d->last_decile) {
            d->last_decile = ev->percent / 10;
            posix_log(p, POSIX_LOG_INFO, "event", "progress %3u%% %lu/%lu", (unsigned)ev->percent,
                      (unsigned long)ev->downloaded, (unsigned long)ev->file_size);
        }
        break;
    case OTA_EVENT_IMAGE_READY:
        posix_log(p, POSIX_LOG_INFO, "event",
                  "image %s verified (%lu bytes) and bootable; cloud told 'burning'", ver,
                  (unsigned long)ev->file_size);
        snprintf(d->new_version, sizeof d->new_version, "%s", ver);
        d->reboot_pending = 1;
        break;
    case OTA_EVENT_DONE:
        posix_log(p, POSIX_LOG_INFO, "event", "update to %s done: cloud acknowledged", ver);
        d->update_done = 1;
        break;
    case OTA_EVENT_FAILED:
        posix_log(p, POSIX_LOG_ERROR, "event", "update to %s failed: result_code %d, error %d (%s)",
                  ver, (int)ev->result_code, (int)ev->error, ota_strerror(ev->error));
        d->update_failed = 1;
        break;
    case OTA_EVENT_ERROR:
        posix_log(p, POSIX_LOG_WARN, "event", "%s (%d); retrying", ota_strerror(ev->error),
                  (int)ev->error);
        break;
    default:
        break;
    }
}

static void on_log(void *user, int32_t level, const char *msg, size_t len)
{
    demo_ctx *d = user;
    int lvl = level >= OTA_LOG_ERROR && level <= OTA_LOG_DEBUG ? (int)level : OTA_LOG_INFO;
    posix_log(&d->plat, lvl, "ota", "%.*s", (int)(len > 4096 ? 4096 : len), msg);
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

static int read_running_version(demo_ctx *d, char *out, size_t cap)
{
    FILE *f = fopen(d->running_version_path, "r");
    size_t n;

    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    return n > 0 ? 1 : 0;
}

static int start_client(demo_ctx *d, const device_info *id)
{
    ota_config cfg;
    ota_platform plat;
    int32_t rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = id->product_id;
    cfg.device_name = id->device_name;
    cfg.device_secret = id->device_secret; /* required, though the host signs in */
    cfg.running_version = d->running_version;
    cfg.flags = OTA_FLAG_HOST_MQTT | OTA_FLAG_READBACK_VERIFY;
    cfg.http_buf = http_buf; /* mqtt_rx_buf/mqtt_tx_buf stay NULL: the host's client has its own */
    cfg.http_len = sizeof http_buf;
    cfg.net_poll_ms = 250;   /* the main loop wakes on socket readiness */
    cfg.journal_interval = 16 * 1024;

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
    char line[OTA_VERSION_MAX + 2];
    int n;

    stop_client(d);
    n = snprintf(line, sizeof line, "%s\n", d->new_version);
    if (posix_write_file_atomic(&d->plat, d->running_version_path, d->running_version_tmp, line,
                                (size_t)n)
        != 0)
        return -1;
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "rebooting into %s", d->new_version);
    snprintf(d->running_version, sizeof d->running_version, "%s", d->new_version);
    d->reboot_pending = 0;
    d->plat.image_bootable = false;
    return start_client(d, id) == OTA_OK ? 0 : -1;
}

static void on_signal(int sig) { stop_signal = sig; }

static int copy_field(char *out, size_t cap, const char *value, const char *what)
{
    if (strlen(value) >= cap) {
        fprintf(stderr, "ota_byo_demo: %s is too long (at most %lu bytes)\n", what,
                (unsigned long)(cap - 1));
        return -1;
    }
    strcpy(out, value);
    return 0;
}

int main(int argc, char **argv)
{
    static demo_ctx demo;
    static mosq_link link;
    demo_ctx *d = &demo;
    demo_args args;
    device_info id;
    char file_version[OTA_VERSION_MAX + 2], host[OTA_HOST_MAX + 1];
    struct sigaction sa;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = parse_args(argc, argv, &args);
    if (rc == -1) {
        usage(stdout);
        return 0;
    }
    if (rc != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }

    memset(&id, 0, sizeof id);
    if (args.device_info_path != NULL) {
        char err[512];
        if (device_info_load(args.device_info_path, &id, err, sizeof err) != 0) {
            fprintf(stderr, "ota_byo_demo: %s\n", err);
            return EXIT_USAGE;
        }
    }
    if ((args.product_id
         && copy_field(id.product_id, sizeof id.product_id, args.product_id, "--product-id"))
        || (args.device_name
            && copy_field(id.device_name, sizeof id.device_name, args.device_name,
                          "--device-name"))
        || (args.device_secret
            && copy_field(id.device_secret, sizeof id.device_secret, args.device_secret,
                          "--device-secret")))
        return EXIT_USAGE;
    if (!id.product_id[0] || !id.device_name[0] || !id.device_secret[0]) {
        fprintf(stderr, "ota_byo_demo: missing %s: give --device-info or the flag\n",
                !id.product_id[0]    ? "the product id (--product-id)"
                : !id.device_name[0] ? "the device name (--device-name)"
                                     : "the device secret (--device-secret)");
        usage(stderr);
        return EXIT_USAGE;
    }

    if (posix_platform_init(&d->plat, args.dir) != 0)
        return EXIT_USAGE;
    d->plat.stdout_is_tty = false; /* one log line per 10%, no progress bar */
    {
        const char *dbg = getenv("OTA_DEMO_DEBUG");
        if (dbg != NULL && dbg[0] != '\0' && strcmp(dbg, "0") != 0)
            d->plat.log_threshold = POSIX_LOG_DEBUG;
    }
    if (snprintf(d->running_version_path, sizeof d->running_version_path, "%s/running_version",
                 d->plat.dir) >= (int)sizeof d->running_version_path
        || snprintf(d->running_version_tmp, sizeof d->running_version_tmp,
                    "%s/running_version.tmp", d->plat.dir) >= (int)sizeof d->running_version_tmp) {
        fprintf(stderr, "ota_byo_demo: --dir is too long\n");
        return EXIT_USAGE;
    }
    rc = read_running_version(d, file_version, sizeof file_version);
    if (rc < 0) {
        fprintf(stderr, "ota_byo_demo: cannot read %s: %s\n", d->running_version_path,
                strerror(errno));
        return EXIT_USAGE;
    }
    if (copy_field(d->running_version, sizeof d->running_version,
                   rc > 0 ? file_version : args.version,
                   rc > 0 ? d->running_version_path : "--version"))
        return EXIT_USAGE;

    if (args.host != NULL)
        snprintf(host, sizeof host, "%s", args.host);
    else
        snprintf(host, sizeof host, "%s.iotcloud.tencentdevices.com", id.product_id);
    if (mosq_link_init(&link, &d->plat, host, (uint16_t)args.port, id.product_id, id.device_name,
                       id.device_secret)
        != 0)
        return EXIT_USAGE;
    d->link = &link;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "qcloud-ota bring-your-own-MQTT demo, library %s",
              ota_version());
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "device   %s/%s", id.product_id, id.device_name);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "broker   %s:%u (plain TCP, libmosquitto)", host,
              args.port);
    posix_log(&d->plat, POSIX_LOG_INFO, "demo", "running  %s%s%s", d->running_version,
              rc > 0 ? " (from " : "", rc > 0 ? d->running_version_path : "");
    if (rc > 0)
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

        if (stop_signal) {
            int sig = stop_signal;
            posix_log(&d->plat, POSIX_LOG_INFO, "demo", "%s: stopping",
                      sig == SIGINT ? "SIGINT" : "SIGTERM");
            stop_client(d);
            mosq_link_close(&link);
            return 128 + sig;
        }
        if (d->reboot_pending) {
            if (reboot(d, &id) != 0) {
                mosq_link_close(&link);
                return EXIT_INIT;
            }
            continue;
        }
        if (args.once && (d->update_done || d->update_failed)) {
            stop_client(d);
            mosq_link_close(&link);
            return d->update_done ? EXIT_DONE : EXIT_FAILED;
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
