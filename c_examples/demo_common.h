/*
 * demo_common: what ota_demo, ota_byo_demo and ota_gateway_demo do alike.
 *
 * The three programs differ in who owns the MQTT connection and in their main loops; those stay in
 * their own files. What they share is the scaffolding around the library, kept here so the three
 * cannot drift apart (the CLI test and the end-to-end tests rely on the exact wording and exit
 * codes):
 *   - the exit codes and the SIGINT/SIGTERM handling (exit 128 + signal);
 *   - the command line of ota_demo and ota_byo_demo (same options, same usage text, same errors,
 *     prefixed with the program's name) and the identity (device_info.json, then flags);
 *   - DIR/running_version, which stands in for "the version the bootloader started", and the
 *     simulated reboot that records the new version there;
 *   - the event callback's body: one log line per event, done/failed for the main loop;
 *   - the configuration ota_demo and ota_byo_demo ship with (which the bench measures);
 *   - OTA_DEMO_DEBUG and the first banner line.
 */
#ifndef DEMO_COMMON_H
#define DEMO_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "device_info.h"
#include "posix_platform.h"
#include "qcloud_ota.h"

#define EXIT_DONE 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INIT 3

/* Longest wait between two ota_poll() calls; ota_poll() may ask for less. */
#define MAX_WAIT_MS 1000

/*
 * The configuration ota_demo and ota_byo_demo ship with (bench/ota_bench.c --demo measures the
 * same): a 16 KiB HTTP buffer (the download chunk: fewer recv() and slot_write() calls), the
 * record saved every 16 KiB (a kill re-downloads at most that much; each save is two fdatasync()s
 * in posix_platform.c, so on a gateway's eMMC the library's default, 64 KiB, costs a quarter as
 * many), and no read-back unless --readback (see demo_usage()).
 */
#define DEMO_HTTP_BUF_LEN 16384
#define DEMO_JOURNAL_INTERVAL (16 * 1024)

/* ------------------------------------------------------------------------------------------- */
/* Signals                                                                                     */
/* ------------------------------------------------------------------------------------------- */

/* Set by the signal handler, read by the main loop: the one thing a handler may safely do. */
extern volatile sig_atomic_t demo_stop_signal;

/* SIGINT and SIGTERM set demo_stop_signal; the main loop stops and exits with 128 + signal. */
void demo_install_signals(void);

/* "SIGINT" or "SIGTERM", for the "stopping" log line. */
const char *demo_signal_name(int sig);

/* ------------------------------------------------------------------------------------------- */
/* Command line and identity (ota_demo, ota_byo_demo)                                          */
/* ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *device_info_path;
    const char *product_id;
    const char *device_name;
    const char *device_secret;
    const char *host; /* NULL: {product_id}.iotcloud.tencentdevices.com */
    unsigned port;
    const char *version;
    const char *dir;
    int once;
    int tls;             /* --tls: MQTT over TLS (default port 8883) */
    int host_tls;        /* --host-tls: the platform (OpenSSL) opens TLS, not the library */
    const char *ca_path; /* --ca FILE: extra PEM trust anchor(s) for MQTT and HTTPS */
    int readback;        /* --readback: OTA_FLAG_READBACK_VERIFY */
    /* --cert FILE --key FILE: certificate authentication (implies --tls; no secret needed): the
     * device certificate and its private key, PEM (DER too with the built-in TLS). */
    const char *cert_path;
    const char *key_path;
} demo_args;

/* The usage text, `note` (may be NULL) printed as a line of its own before the exit statuses. */
void demo_usage(FILE *to, const char *prog, const char *note);

/* Returns 0, EXIT_USAGE (after a message on stderr), or -1 for --help. */
int demo_parse_args(const char *prog, int argc, char **argv, demo_args *a);

/* Copies `value` into out[cap], or says on stderr that `what` is too long and returns -1. */
int demo_copy_field(const char *prog, char *out, size_t cap, const char *value, const char *what);

/* The identity: device_info.json first, then the flags override single fields. Returns 0, or -1
 * after a message on stderr (and the usage text, when a field is missing altogether). */
int demo_load_identity(const char *prog, const char *usage_note, const demo_args *a,
                       device_info *id);

/* True when OTA_DEMO_DEBUG is set to something other than "" or "0". */
int demo_debug_wanted(void);

/* ------------------------------------------------------------------------------------------- */
/* DIR/running_version and the simulated reboot                                                */
/* ------------------------------------------------------------------------------------------- */

typedef struct {
    char running[OTA_VERSION_MAX + 1]; /* what the device runs: the config's running_version */
    char path[POSIX_PATH_MAX];         /* DIR/running_version */
    char tmp[POSIX_PATH_MAX];          /* DIR/running_version.tmp, for the atomic rewrite */

    /* Set by the event callback on OTA_EVENT_IMAGE_READY, acted upon by the main loop (never
     * inside the callback: the library cannot be deinitialised from within its own callback). */
    char next[OTA_VERSION_MAX + 1]; /* the verified image's version */
    int reboot_pending;
} demo_version;

/* Builds the paths under `dir`. Returns -1 when they do not fit. */
int demo_version_paths(demo_version *v, const char *dir);

/* Reads DIR/running_version into out[cap], trailing newline and spaces removed. Returns its length
 * (0 when the file is absent or empty), or -1 when it cannot be read (errno says why). */
int demo_version_read(const demo_version *v, char *out, size_t cap);

/* OTA_EVENT_IMAGE_READY: log it under `tag`, remember the version (`version`, the event's own,
 * never NULL) and let the main loop "reboot". */
void demo_version_image_ready(demo_version *v, posix_platform *p, const char *tag,
                              const char *version, const ota_event *ev);

/* The reboot itself, once the caller has deinitialised its client: the bootloader swaps in the
 * new image, so record it in DIR/running_version, run it from now on, and forget that the slot
 * held a bootable image. Returns -1 (nothing logged) when the file cannot be written; the caller
 * then starts its client again as the fresh boot would. */
int demo_version_reboot(demo_version *v, posix_platform *p, const char *tag);

/* ------------------------------------------------------------------------------------------- */
/* Events (every demo's on_event)                                                              */
/* ------------------------------------------------------------------------------------------- */

/* What the event lines look like for one client, and what the main loop learns from them. */
typedef struct {
    const char *tag;       /* log tag: "event", or a sub-device's name */
    const char *link;      /* OTA_EVENT_CONNECTED's words, e.g. "connected and subscribed" */
    const char *link_down; /* OTA_EVENT_DISCONNECTED's words; NULL: the error, then
                              "reconnecting with backoff" (the library's own MQTT session) */
    int wait_line;         /* after the version report, say "wait for ota upgrade command..." */
    int progress_bar;      /* redraw a progress bar on a TTY (one client per terminal) */
    int done, failed;      /* OTA_EVENT_DONE / OTA_EVENT_FAILED seen: the main loop acts */
    int last_decile;       /* progress logged up to this 10 % step */
} demo_events;

/* The body of every demo's on_event (called from inside ota_poll()): logs the event under
 * e->tag, notes done/failed in `e` and the verified image in `v` (the main loop "reboots"). */
void demo_on_event(demo_events *e, demo_version *v, posix_platform *p, const ota_event *ev);

/* ------------------------------------------------------------------------------------------- */
/* Start-up (ota_demo, ota_byo_demo)                                                           */
/* ------------------------------------------------------------------------------------------- */

/*
 * Everything main() does before the banner: line-buffered stdout (a killed process leaves a
 * complete log), the command line, the identity, the platform on DIR (debug lines with
 * OTA_DEMO_DEBUG), and the running version (DIR/running_version over --version, as a rebooted
 * device would). `file_version` (at least OTA_VERSION_MAX + 2 bytes) receives the file's content.
 * Returns -1 to go on, or the status main() exits with (0 after --help).
 */
int demo_start(const char *prog, const char *usage_note, int argc, char **argv, demo_args *a,
               device_info *id, posix_platform *plat, demo_version *v, char *file_version,
               size_t file_version_cap, int *from_file);

/* The body of every demo's ota_platform.log: the library's line under `tag`, after `prefix`
 * (may be ""), at the library's level (the OTA_LOG_* values equal the POSIX_LOG_* ones). */
void demo_forward_log(posix_platform *p, const char *tag, const char *prefix, int32_t level,
                      const char *msg, size_t len);

/* The first banner line: "qcloud-ota <what>, library <version>". */
void demo_log_title(posix_platform *p, const char *tag, const char *what);

#endif
