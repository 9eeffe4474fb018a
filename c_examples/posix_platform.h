/*
 * posix_platform: the qcloud-ota platform callbacks (ota_platform) for a POSIX system.
 *
 * This is the part of the demo a firmware port replaces:
 *   clock    -> now_ms                                  (CLOCK_MONOTONIC here; a tick counter on an MCU)
 *   sockets  -> net_connect/net_send/net_recv/net_close (non-blocking BSD sockets here; lwIP, a
 *                                                       modem's AT sockets, Zephyr sockets on a device)
 *               with OTA_NET_TLS: OpenSSL here (the "host TLS" mode), mbedTLS on Zephyr/FreeRTOS
 *   wall clock -> unix_time_s                           (time() here; SNTP or an RTC on a device)
 *   slot     -> slot_open/slot_write/slot_read/slot_close (a file here; the second flash bank on a
 *                                                       device, e.g. MCUboot's secondary slot)
 *   store    -> store_load/store_save                   (two files written in place here; two
 *                                                       flash pages or EEPROM areas on a device)
 *
 * Every callback gets `void *user`, which must point to a posix_platform, or to a struct whose FIRST
 * member is a posix_platform (C guarantees a pointer to a struct converts to a pointer to its first
 * member). The demo uses the latter so its event callback, which shares the same `user`, can reach
 * its own state.
 *
 * The library holds at most two connections at once (the MQTT broker and the firmware server) and
 * calls these functions only from inside ota_init()/ota_poll()/ota_deinit() on one thread, so no
 * locking is needed.
 */
#ifndef POSIX_PLATFORM_H
#define POSIX_PLATFORM_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcloud_ota.h"

/* Sockets tracked at once. The library needs 2; the spare entries only matter if it ever held a
 * new connection open before closing the old one, which the demo reports as a warning. */
#define POSIX_MAX_SOCKS 4

/* Room for "DIR/running_version.tmp" and friends. */
#define POSIX_PATH_MAX 512

/* Log tags the demo prints; the level decides the prefix. */
enum posix_log_level { POSIX_LOG_ERROR = 1, POSIX_LOG_WARN, POSIX_LOG_INFO, POSIX_LOG_DEBUG };

typedef struct {
    int fd;              /* -1: entry free */
    int32_t channel;     /* OTA_CHANNEL_MQTT or OTA_CHANNEL_HTTP */
    bool connecting;     /* connect() still in progress */
    bool want_write;     /* the last send() would block: wake up when writable */
    bool dead;           /* error or EOF seen: stop polling it (POLLHUP would spin the loop) */
    int error;           /* errno of a failed asynchronous connect, reported on the next send/recv */
    char peer[80];       /* "host:port (address)" for log lines */
    void *ssl;           /* host TLS (OpenSSL's SSL *), NULL for plain TCP */
    bool tls_up;         /* the TLS handshake finished */
} posix_sock;

typedef struct {
    /* Files inside the demo directory. */
    char dir[POSIX_PATH_MAX];
    char slot_path[POSIX_PATH_MAX];
    char store_path[2][POSIX_PATH_MAX];     /* the record's two copies: DIR/ota_record.0 and .1 */

    /* Test hook: the Nth record save tears the copy and kills the process (0: off). */
    int crash_in_save;

    /* Slot state. */
    int slot_fd;            /* -1 while closed */
    uint32_t slot_image_size;
    bool image_bootable;    /* slot_close(true) happened: the image in the slot must boot next */

    /* Sockets. */
    posix_sock socks[POSIX_MAX_SOCKS];
    /* Per channel: which resolved address to try first. Bumped when a connect fails, so a host name
     * that resolves to ::1 and 127.0.0.1 still reaches a broker listening on only one of them. */
    unsigned addr_rotation[2];

    /* Host TLS (OTA_NET_TLS at net_connect; needs the demo built with OpenSSL): the extra CA file
     * (PEM) to trust besides the system's roots, NULL for the system's only. */
    const char *tls_ca_file;
    /* Certificate authentication (OTA_NET_CLIENT_CERT at net_connect): the device certificate
     * (PEM, with any intermediates after it) and its private key (PEM) presented to the broker. */
    const char *tls_cert_file;
    const char *tls_key_file;
    void *ssl_ctx;          /* OpenSSL's SSL_CTX *, created at the first TLS connection */

    /* Output. */
    bool stdout_is_tty;
    bool line_open;         /* a carriage-return progress bar is on screen: end it before a log line */
    int log_threshold;      /* lines above this level are dropped */
} posix_platform;

/* Set up the context for files under `dir` (created if missing). Returns 0, or -1 after printing why. */
int posix_platform_init(posix_platform *p, const char *dir);

/* Fill the clock, net, slot and store callbacks of `out` (on_event and log are left alone) and set
 * out->user = user, which must be p itself or a struct starting with p (see the top of this file). */
void posix_platform_bind(posix_platform *p, void *user, ota_platform *out);

/* The open sockets as a pollfd array (at most `max` entries). Returns the count. */
int posix_platform_pollfds(posix_platform *p, struct pollfd *fds, int max);

/* After poll(): notes finished connects and writability so the next round waits correctly. */
void posix_platform_poll_done(posix_platform *p, const struct pollfd *fds, int n);

/* Close sockets and the slot the library left open (after ota_deinit(); should find nothing). */
void posix_platform_close_all(posix_platform *p);

/* Free what the host TLS holds (the OpenSSL context). */
void posix_platform_deinit(posix_platform *p);

/* True when this build can open TLS connections itself (OpenSSL). */
bool posix_platform_has_tls(void);

/* True when a host-TLS socket holds decrypted bytes the library has not read yet: poll() would
 * not wake for them, so call ota_poll() again at once. */
bool posix_platform_pending(posix_platform *p);

/* Replace `path` atomically: write `tmp_path`, fsync, rename, fsync the directory. 0 or -1. */
int posix_write_file_atomic(posix_platform *p, const char *path, const char *tmp_path,
                            const void *data, size_t len);

/* A timestamped log line on stdout ("2026-01-02 03:04:05.678 INFO  [tag] message"). */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void posix_log(posix_platform *p, int level, const char *tag, const char *fmt, ...);

/* End a progress bar line (if one is on screen) so the next output starts on a fresh line. */
void posix_end_line(posix_platform *p);

#endif /* POSIX_PLATFORM_H */
