/*
 * demo_common: the scaffolding ota_demo, ota_byo_demo and ota_gateway_demo share (see
 * demo_common.h). Messages are prefixed with the program's name, as each program printed them.
 */
#define _POSIX_C_SOURCE 200809L

#include "demo_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t demo_stop_signal;

static void on_signal(int sig) { demo_stop_signal = sig; }

void demo_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: the signal must interrupt poll() so the loop notices at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

const char *demo_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

/* ------------------------------------------------------------------------------------------- */
/* Command line                                                                                */
/* ------------------------------------------------------------------------------------------- */

void demo_usage(FILE *to, const char *prog, const char *note)
{
    /* The continuation lines line up under the first option, after "usage: PROG ". */
    int indent = (int)strlen("usage: ") + (int)strlen(prog) + 1;

    fprintf(to,
            "usage: %s [--device-info FILE] [--product-id ID] [--device-name NAME]\n"
            "%*s[--device-secret BASE64] [--host HOST] [--port PORT]\n"
            "%*s--version RUNNING_VERSION --dir DIR [--once]\n"
            "%*s[--tls] [--ca FILE] [--host-tls] [--readback] [--cert FILE --key FILE]\n"
            "\n"
            "  --device-info FILE   Tencent device_info.json (productId, deviceName,\n"
            "                       key_deviceinfo.deviceSecret); the flags below override it\n"
            "  --product-id ID      product id\n"
            "  --device-name NAME   device name\n"
            "  --device-secret B64  device secret (base64, as the console shows it)\n"
            "  --host HOST          MQTT broker (default: ID.iotcloud.tencentdevices.com)\n"
            "  --port PORT          MQTT broker port (default: 1883, 8883 with --tls)\n"
            "  --version VERSION    running firmware version (DIR/running_version overrides it)\n"
            "  --dir DIR            state directory: firmware.bin, ota_record.0/.1, running_version\n"
            "  --once               exit 0 when an update completed, 1 when one failed\n"
            "  --tls                MQTT over TLS (https firmware URLs always use TLS)\n"
            "  --ca FILE            extra trusted CA certificate(s), PEM, for MQTT and HTTPS\n"
            "  --host-tls           TLS by the platform (OpenSSL), the library speaks plain bytes;\n"
            "                       default: the library's built-in TLS (rustls)\n"
            "  --readback           read the slot back and check its MD5 again before booting it\n"
            "                       (on Linux that reads the page cache, not the disk)\n"
            "  --cert FILE          certificate authentication: the device certificate (PEM;\n"
            "                       DER too with the built-in TLS); implies --tls, no secret\n"
            "  --key FILE           the device certificate's private key (PEM or DER)\n"
            "\n",
            prog, indent, "", indent, "", indent, "");
    if (note != NULL)
        fprintf(to, "%s\n", note);
    fprintf(to,
            "exit status: 0 done (--once), 1 failed (--once), 2 bad arguments, 3 ota_init failed,\n"
            "             130/143 interrupted\n");
}

/* "--name value" or "--name=value". Returns 1 and advances *i when argv[*i] is option `name`. */
static int take_value(const char *prog, int argc, char **argv, int *i, const char *name,
                      const char **out, int *bad)
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
        fprintf(stderr, "%s: %s needs a value\n", prog, name);
        *bad = 1;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

int demo_parse_args(const char *prog, int argc, char **argv, demo_args *a)
{
    const char *port = NULL;
    int i, bad = 0;

    memset(a, 0, sizeof *a);
    a->port = 1883;
    for (i = 1; i < argc && !bad; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--once") == 0)
            a->once = 1;
        else if (strcmp(arg, "--tls") == 0)
            a->tls = 1;
        else if (strcmp(arg, "--host-tls") == 0)
            a->host_tls = 1;
        else if (strcmp(arg, "--readback") == 0)
            a->readback = 1;
        else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return -1;
        else if (take_value(prog, argc, argv, &i, "--device-info", &a->device_info_path, &bad)
                 || take_value(prog, argc, argv, &i, "--product-id", &a->product_id, &bad)
                 || take_value(prog, argc, argv, &i, "--device-name", &a->device_name, &bad)
                 || take_value(prog, argc, argv, &i, "--device-secret", &a->device_secret, &bad)
                 || take_value(prog, argc, argv, &i, "--host", &a->host, &bad)
                 || take_value(prog, argc, argv, &i, "--port", &port, &bad)
                 || take_value(prog, argc, argv, &i, "--version", &a->version, &bad)
                 || take_value(prog, argc, argv, &i, "--dir", &a->dir, &bad)
                 || take_value(prog, argc, argv, &i, "--ca", &a->ca_path, &bad)
                 || take_value(prog, argc, argv, &i, "--cert", &a->cert_path, &bad)
                 || take_value(prog, argc, argv, &i, "--key", &a->key_path, &bad))
            continue;
        else {
            fprintf(stderr, "%s: unknown argument '%s'\n", prog, arg);
            bad = 1;
        }
    }
    if (!bad && (a->cert_path == NULL) != (a->key_path == NULL)) {
        fprintf(stderr, "%s: --cert and --key go together\n", prog);
        bad = 1;
    }
    if (a->cert_path != NULL)
        a->tls = 1; /* certificate authentication is TLS only */
    if (!bad && port != NULL) {
        char *end = NULL;
        unsigned long v;
        errno = 0;
        v = strtoul(port, &end, 10);
        if (errno != 0 || end == port || *end != '\0' || v == 0 || v > 65535 || port[0] == '-') {
            fprintf(stderr, "%s: bad --port '%s' (1..65535)\n", prog, port);
            bad = 1;
        }
        a->port = (unsigned)v;
    }
    if (!bad && port == NULL && a->tls)
        a->port = 8883;
    if (!bad && (a->version == NULL || a->version[0] == '\0')) {
        fprintf(stderr, "%s: --version is required\n", prog);
        bad = 1;
    }
    if (!bad && (a->dir == NULL || a->dir[0] == '\0')) {
        fprintf(stderr, "%s: --dir is required\n", prog);
        bad = 1;
    }
    if (!bad && a->host != NULL && a->host[0] == '\0') {
        fprintf(stderr, "%s: --host is empty\n", prog);
        bad = 1;
    }
    return bad ? EXIT_USAGE : 0;
}

int demo_copy_field(const char *prog, char *out, size_t cap, const char *value, const char *what)
{
    if (strlen(value) >= cap) {
        fprintf(stderr, "%s: %s is too long (at most %lu bytes)\n", prog, what,
                (unsigned long)(cap - 1));
        return -1;
    }
    strcpy(out, value);
    return 0;
}

int demo_load_identity(const char *prog, const char *usage_note, const demo_args *a,
                       device_info *id)
{
    memset(id, 0, sizeof *id);
    if (a->device_info_path != NULL) {
        char err[512];
        if (device_info_load(a->device_info_path, id, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return -1;
        }
    }
    if ((a->product_id
         && demo_copy_field(prog, id->product_id, sizeof id->product_id, a->product_id,
                            "--product-id"))
        || (a->device_name
            && demo_copy_field(prog, id->device_name, sizeof id->device_name, a->device_name,
                               "--device-name"))
        || (a->device_secret
            && demo_copy_field(prog, id->device_secret, sizeof id->device_secret,
                               a->device_secret, "--device-secret")))
        return -1;
    /* With --cert the certificate is the credential: no secret. */
    if (!id->product_id[0] || !id->device_name[0]
        || (!id->device_secret[0] && a->cert_path == NULL)) {
        fprintf(stderr, "%s: missing %s: give --device-info or the flag\n", prog,
                !id->product_id[0]    ? "the product id (--product-id)"
                : !id->device_name[0] ? "the device name (--device-name)"
                                      : "the device secret (--device-secret, or --cert/--key)");
        demo_usage(stderr, prog, usage_note);
        return -1;
    }
    return 0;
}

int demo_debug_wanted(void)
{
    const char *dbg = getenv("OTA_DEMO_DEBUG");
    return dbg != NULL && dbg[0] != '\0' && strcmp(dbg, "0") != 0;
}

/* ------------------------------------------------------------------------------------------- */
/* DIR/running_version and the simulated reboot                                                */
/* ------------------------------------------------------------------------------------------- */

int demo_version_paths(demo_version *v, const char *dir)
{
    if (snprintf(v->path, sizeof v->path, "%s/running_version", dir) >= (int)sizeof v->path
        || snprintf(v->tmp, sizeof v->tmp, "%s/running_version.tmp", dir) >= (int)sizeof v->tmp)
        return -1;
    return 0;
}

int demo_version_read(const demo_version *v, char *out, size_t cap)
{
    FILE *f = fopen(v->path, "r");
    size_t n;

    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    return (int)n;
}

void demo_version_image_ready(demo_version *v, posix_platform *p, const char *tag,
                              const char *version, const ota_event *ev)
{
    posix_log(p, POSIX_LOG_INFO, tag,
              "image %s verified (%lu bytes) and bootable; cloud told 'burning'", version,
              (unsigned long)ev->file_size);
    snprintf(v->next, sizeof v->next, "%s", version);
    v->reboot_pending = 1;
}

int demo_version_reboot(demo_version *v, posix_platform *p, const char *tag)
{
    char line[OTA_VERSION_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", v->next);

    if (posix_write_file_atomic(p, v->path, v->tmp, line, (size_t)n) != 0)
        return -1;
    posix_log(p, POSIX_LOG_INFO, tag, "rebooting into %s", v->next);
    snprintf(v->running, sizeof v->running, "%s", v->next);
    v->reboot_pending = 0;
    p->image_bootable = false;
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Events                                                                                      */
/* ------------------------------------------------------------------------------------------- */

static const char *result_code_meaning(int32_t code)
{
    switch (code) {
    case -1: return "download timeout";
    case -2: return "firmware not found";
    case -3: return "signature expired";
    case -4: return "MD5 mismatch";
    case -5: return "upgrade failed";
    default: return "?";
    }
}

static void show_progress(demo_events *e, posix_platform *p, const ota_event *ev)
{
    unsigned pct = ev->percent > 100 ? 100 : ev->percent;

    if (e->progress_bar && p->stdout_is_tty) {
        /* One line redrawn in place: [#####.....]  42% 3523456/8388608 */
        enum { WIDTH = 30 };
        char bar[WIDTH + 1];
        unsigned fill = pct * WIDTH / 100, i;
        for (i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[WIDTH] = '\0';
        printf("\r[%s] %3u%% %lu/%lu", bar, pct, (unsigned long)ev->downloaded,
               (unsigned long)ev->file_size);
        fflush(stdout);
        p->line_open = true;
        if (pct == 100)
            posix_end_line(p);
    } else if ((int)(pct / 10) > e->last_decile) {
        /* A log file gets a line per 10 %, not one per percent. */
        e->last_decile = (int)(pct / 10);
        posix_log(p, POSIX_LOG_INFO, e->tag, "progress %3u%% %lu/%lu", pct,
                  (unsigned long)ev->downloaded, (unsigned long)ev->file_size);
    }
}

void demo_on_event(demo_events *e, demo_version *v, posix_platform *p, const ota_event *ev)
{
    const char *ver = ev->version != NULL ? ev->version : "";

    switch (ev->kind) {
    case OTA_EVENT_CONNECTED:
        posix_log(p, POSIX_LOG_INFO, e->tag, "%s (running %s)", e->link, ver);
        break;
    case OTA_EVENT_DISCONNECTED:
        if (e->link_down != NULL)
            posix_log(p, POSIX_LOG_WARN, e->tag, "%s", e->link_down);
        else
            posix_log(p, POSIX_LOG_WARN, e->tag, "disconnected: %s (%d); reconnecting with backoff",
                      ota_strerror(ev->error), (int)ev->error);
        break;
    case OTA_EVENT_VERSION_REPORTED:
        posix_log(p, POSIX_LOG_INFO, e->tag, "cloud acknowledged version %s", ver);
        if (e->wait_line)
            posix_log(p, POSIX_LOG_INFO, "demo", "wait for ota upgrade command...");
        break;
    case OTA_EVENT_OFFERED:
        /* With OTA_FLAG_MANUAL_ACCEPT the firmware decides here, e.g. ota_defer() while the device
         * is busy, ota_decline() on low battery, else ota_accept(). The demos accept
         * automatically (flag not set). */
        posix_log(p, POSIX_LOG_INFO, e->tag, "update offered: %s -> %s (%lu bytes)", v->running,
                  ver, (unsigned long)ev->file_size);
        break;
    case OTA_EVENT_DOWNLOAD_STARTED:
        e->last_decile = -1;
        if (ev->downloaded > 0)
            posix_log(p, POSIX_LOG_INFO, e->tag, "download of %s resumed at %lu/%lu", ver,
                      (unsigned long)ev->downloaded, (unsigned long)ev->file_size);
        else
            posix_log(p, POSIX_LOG_INFO, e->tag, "download of %s started (%lu bytes)", ver,
                      (unsigned long)ev->file_size);
        break;
    case OTA_EVENT_PROGRESS:
        show_progress(e, p, ev);
        break;
    case OTA_EVENT_IMAGE_READY:
        demo_version_image_ready(v, p, e->tag, ver, ev);
        break;
    case OTA_EVENT_DONE:
        posix_log(p, POSIX_LOG_INFO, e->tag, "update to %s done: cloud acknowledged", ver);
        e->done = 1;
        break;
    case OTA_EVENT_FAILED:
        posix_log(p, POSIX_LOG_ERROR, e->tag,
                  "update to %s failed: result_code %d (%s), error %d (%s)", ver,
                  (int)ev->result_code, result_code_meaning(ev->result_code), (int)ev->error,
                  ota_strerror(ev->error));
        e->failed = 1;
        break;
    case OTA_EVENT_ERROR:
        posix_log(p, POSIX_LOG_WARN, e->tag, "%s (%d)%s%s; retrying", ota_strerror(ev->error),
                  (int)ev->error, ver[0] ? " during update to " : "", ver);
        break;
    default:
        posix_log(p, POSIX_LOG_DEBUG, e->tag, "event %d (error %d)", (int)ev->kind,
                  (int)ev->error);
        break;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Start-up                                                                                    */
/* ------------------------------------------------------------------------------------------- */

int demo_start(const char *prog, const char *usage_note, int argc, char **argv, demo_args *a,
               device_info *id, posix_platform *plat, demo_version *v, char *file_version,
               size_t file_version_cap, int *from_file)
{
    int rc;

    /* Line-buffered even into a pipe or file, so a killed process leaves a complete log. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    rc = demo_parse_args(prog, argc, argv, a);
    if (rc == -1) {
        demo_usage(stdout, prog, usage_note);
        return 0;
    }
    if (rc != 0) {
        demo_usage(stderr, prog, usage_note);
        return EXIT_USAGE;
    }
    if (demo_load_identity(prog, usage_note, a, id) != 0)
        return EXIT_USAGE;

    if (posix_platform_init(plat, a->dir) != 0)
        return EXIT_USAGE;
    if (demo_debug_wanted())
        plat->log_threshold = POSIX_LOG_DEBUG;
    if (demo_version_paths(v, plat->dir) != 0) {
        fprintf(stderr, "%s: --dir is too long\n", prog);
        return EXIT_USAGE;
    }

    /* A previous run that "rebooted" left the version it booted into. */
    rc = demo_version_read(v, file_version, file_version_cap);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, v->path, strerror(errno));
        return EXIT_USAGE;
    }
    *from_file = rc > 0;
    if (demo_copy_field(prog, v->running, sizeof v->running, rc > 0 ? file_version : a->version,
                        rc > 0 ? v->path : "--version"))
        return EXIT_USAGE;
    return -1;
}

void demo_log_title(posix_platform *p, const char *tag, const char *what)
{
    posix_log(p, POSIX_LOG_INFO, tag, "qcloud-ota %s, library %s", what, ota_version());
}

void demo_forward_log(posix_platform *p, const char *tag, const char *prefix, int32_t level,
                      const char *msg, size_t len)
{
    int lvl = level >= OTA_LOG_ERROR && level <= OTA_LOG_DEBUG ? (int)level : OTA_LOG_INFO;
    posix_log(p, lvl, tag, "%s%.*s", prefix, (int)(len > 4096 ? 4096 : len), msg);
}
