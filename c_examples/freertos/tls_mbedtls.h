/*
 * tls_mbedtls.h: a TLS 1.2 client over one connected, non-blocking socket, with mbedTLS 2.28.
 *
 * The host-TLS half of an ota_platform (OTA_NET_TLS in net_connect's flags): net_connect opens
 * the TCP socket (non-blocking) and calls tls_mbedtls_open(); net_send/net_recv call
 * tls_mbedtls_send()/tls_mbedtls_recv(), which run the handshake first, and map
 * TLS_MBEDTLS_WOULD_BLOCK to OTA_NET_WOULD_BLOCK and TLS_MBEDTLS_ERROR to OTA_NET_ERROR;
 * net_close calls tls_mbedtls_close() and then closes the socket. net_connect picks the CA by
 * channel: Tencent's IoT CA (certs/tencent_iot_ca.pem) for OTA_CHANNEL_MQTT, the roots the
 * firmware URLs' server (COS) chains to for OTA_CHANNEL_HTTP; the server name is net_connect's
 * `host`. Copy tls_mbedtls.h, tls_mbedtls.c and mbedtls_config_ota.h into an STM32Cube,
 * ESP-IDF or plain FreeRTOS project.
 *
 * Security: the server's chain is verified against the CA given to tls_mbedtls_open() (and only
 * that CA), the server name is checked against the certificate (a host name against its
 * dNSName entries, by mbedTLS; an IPv4 literal against its iPAddress entries, by this module,
 * since mbedTLS 2.28 cannot; an IPv6 literal is compared as a name and so never matches),
 * certificate dates are checked when the time hook knows the time, and no application data is
 * sent before the handshake is done.
 * A failed verification is never overridden.
 *
 * Build: tls_mbedtls.c and mbedTLS itself must be compiled with the same configuration
 * (MBEDTLS_CONFIG_FILE="mbedtls_config_ota.h", see mbedtls.cmake), since the structures below
 * embed mbedTLS's and their layout depends on it. The socket calls are the BSD names send, recv
 * (lwIP with LWIP_COMPAT_SOCKETS, or POSIX) and errno; define TLS_MBEDTLS_SOCKETS_HEADER to the
 * header that declares them if it is not <sys/socket.h> (e.g. "lwip/sockets.h").
 *
 * Memory per connection, with mbedtls_config_ota.h: sizeof(tls_mbedtls_conn) in storage you own
 * (static, or on a stack that outlives the connection): 992 bytes on Cortex-M4, 1568 on x86-64.
 * Plus mbedTLS's calloc while the connection is open, measured on the host (tests/tls_mbedtls.rs):
 * peak 25.8 KB with an ECDSA P-256 server (the stand-in, mosquitto), 29.6 KB with an RSA 2048
 * one (Tencent's brokers are RSA), ~23-24 KB held after the handshake (the 16 KiB + 4 KiB record
 * buffers, the parsed CA); 48.9 KB at the peak for the library's two connections (MQTT and the
 * download, one handshaking while the other is open); every byte is given back by
 * tls_mbedtls_close(). mbedTLS's calloc/free
 * are set with mbedtls_platform_set_calloc_free() (e.g. over pvPortMalloc/vPortFree plus a
 * memset), once, before the first tls_mbedtls_open(). The heap figures are the bytes mbedTLS
 * asked for on a 64-bit host (a 32-bit target asks a little less: pointers in its structures;
 * add the allocator's overhead per block: 51 blocks live at the peak). The stack the handshake
 * needs is not measured here: check the calling task's high-water mark on the target.
 *
 * Threads: a connection is used by one task at a time; different connections may be used by
 * different tasks if mbedTLS's calloc/free are thread-safe (pvPortMalloc is). No globals are
 * used beyond mbedTLS's own (its calloc/free pointers).
 */
#ifndef TLS_MBEDTLS_H
#define TLS_MBEDTLS_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Result of tls_mbedtls_handshake/send/recv: nothing can move now; call again later (when the
 *  socket is readable or writable). net_send/net_recv return OTA_NET_WOULD_BLOCK for it. */
#define TLS_MBEDTLS_WOULD_BLOCK (-2)

/** Result of any call: the connection failed and is unusable; tls_mbedtls_error() says why.
 *  net_* return OTA_NET_ERROR for it. Only tls_mbedtls_close() is allowed afterwards. */
#define TLS_MBEDTLS_ERROR (-1)

/** What made a connection fail (tls_mbedtls_error()). */
typedef enum {
    /** No failure (yet). */
    TLS_MBEDTLS_OK = 0,
    /** The server's chain does not lead to the configured CA. */
    TLS_MBEDTLS_UNTRUSTED = 1,
    /** The chain is trusted but the certificate is not for the server name given to open. */
    TLS_MBEDTLS_NAME_MISMATCH = 2,
    /** The chain is trusted and for this name, but a certificate is expired or not yet valid
     *  (only checked while the time hook knows the time). */
    TLS_MBEDTLS_EXPIRED = 3,
    /** The TCP connection failed or the peer closed it during the handshake. */
    TLS_MBEDTLS_SOCKET = 4,
    /** Anything else: a TLS alert, no common cipher suite, a bad record, out of memory, a bad
     *  argument, the entropy hook failed (tls_mbedtls_mbedtls_error() has mbedTLS's code). */
    TLS_MBEDTLS_OTHER = 5,
} tls_mbedtls_failure;

/**
 * Fills buf with len bytes from a true random source; 0 on success, nonzero when it cannot
 * (the open then fails). Seeds the connection's CTR_DRBG at open, and reseeds it after 10,000
 * requests (calls of up to 48 bytes).
 * The integrator MUST implement it with real entropy: the session keys are only as secret as
 * these bytes. STM32: the RNG peripheral (HAL_RNG_GenerateRandomNumber); ESP32: esp_fill_random
 * with the RF on or the bootloader's entropy; others: the vendor's TRNG driver. QEMU's mps2-an386
 * has no TRNG: a test image there may take a seed the test harness passes in per run (e.g. over
 * semihosting or the console), marked as test-only. Never a constant, a counter or the clock in
 * a build that ships.
 */
typedef int (*tls_mbedtls_entropy_fn)(void *ctx, unsigned char *buf, size_t len);

/**
 * Wall-clock seconds since 1970 (UTC), or a negative value while unknown (no SNTP/RTC yet).
 * May be NULL. While the time is unknown, TLS_MBEDTLS_TIME_FLOOR (seconds; define it to your
 * build time, default 0) stands in when it is set: a certificate that expired before it is still
 * refused; with neither, dates are not checked.
 */
typedef int64_t (*tls_mbedtls_time_fn)(void *ctx);

/** What tls_mbedtls_open() needs; only for the call (nothing is kept but the hooks and ctx). */
typedef struct {
    /** The connected (or connecting) non-blocking TCP socket; not closed by this module. */
    int fd;
    /** The server name, as net_connect got it: a host name (sent as SNI) or an IPv4 literal,
     *  checked against the certificate. Copied. */
    const char *server_name;
    /** The trust anchor(s): PEM (NUL-terminated, ca_len counting the NUL, one or more
     *  certificates) or DER (one certificate). Parsed (copied) at open. */
    const unsigned char *ca;
    size_t ca_len;
    /** Required: see tls_mbedtls_entropy_fn. */
    tls_mbedtls_entropy_fn entropy;
    /** Optional: see tls_mbedtls_time_fn. */
    tls_mbedtls_time_fn unix_time_s;
    /** Passed to both hooks. */
    void *ctx;
} tls_mbedtls_params;

/** One TLS connection: storage owned by the caller, opaque (use the functions); it must not
 *  move between tls_mbedtls_open() and tls_mbedtls_close() (mbedTLS keeps pointers into it). */
typedef struct {
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_ctr_drbg_context drbg;
    tls_mbedtls_entropy_fn entropy;
    tls_mbedtls_time_fn unix_time_s;
    void *ctx;
    int fd;
    uint8_t state;      /* open, handshaken, failed, closed */
    uint8_t sent_any;   /* a byte went out: ENOTCONN no longer means "still connecting" */
    uint8_t failure;    /* tls_mbedtls_failure */
    uint8_t is_ip;      /* server_name was an IPv4 literal: ip[] must be in the certificate */
    uint8_t ip[4];
    uint32_t verify;    /* mbedTLS's verification flags (MBEDTLS_X509_BADCERT_*) */
    int mbedtls_err;    /* mbedTLS's last error code (negative), 0 if none */
    size_t write_pending; /* length of the record waiting after a would-block send, or 0 */
} tls_mbedtls_conn;

/**
 * Sets up a TLS client on p->fd in *c. Sends nothing: the handshake starts with the first
 * tls_mbedtls_handshake/send/recv. Returns 0, or TLS_MBEDTLS_ERROR (a bad argument, the CA does
 * not parse, the entropy hook failed, out of memory; tls_mbedtls_error() says which). Call
 * tls_mbedtls_close() afterwards in both cases.
 */
int tls_mbedtls_open(tls_mbedtls_conn *c, const tls_mbedtls_params *p);

/**
 * Advances the handshake as far as the socket allows: 0 once it is complete (also on every
 * later call), TLS_MBEDTLS_WOULD_BLOCK, or TLS_MBEDTLS_ERROR (verification or connection
 * failed; tls_mbedtls_error()).
 */
int tls_mbedtls_handshake(tls_mbedtls_conn *c);

/**
 * Encrypts and sends up to len bytes (running the handshake first): the count taken (> 0, may
 * be less than len: one record at a time), TLS_MBEDTLS_WOULD_BLOCK, or TLS_MBEDTLS_ERROR.
 * After a would-block, call again with the same data at the start of buf (more may follow it:
 * the count returned is then that of the record that was waiting); offering fewer bytes than
 * before is an error.
 */
int32_t tls_mbedtls_send(tls_mbedtls_conn *c, const uint8_t *buf, size_t len);

/**
 * Receives up to len decrypted bytes (running the handshake first): the count (> 0), 0 when
 * the peer closed (close_notify, end of stream or a reset after the handshake; 0 again on
 * every later call), TLS_MBEDTLS_WOULD_BLOCK, or TLS_MBEDTLS_ERROR.
 */
int32_t tls_mbedtls_recv(tls_mbedtls_conn *c, uint8_t *buf, size_t len);

/**
 * Decrypted bytes waiting inside the connection: tls_mbedtls_recv() returns them at once even
 * when the socket is not readable, so a host that waits on readiness (select/poll) must not
 * wait while this is nonzero.
 */
size_t tls_mbedtls_pending(const tls_mbedtls_conn *c);

/**
 * Sends close_notify if the handshake was done (once, without waiting for the peer's), and
 * frees everything the connection holds. Does not close the socket. Safe on a connection whose
 * open failed, and twice.
 */
void tls_mbedtls_close(tls_mbedtls_conn *c);

/** Why the connection failed (TLS_MBEDTLS_OK while it has not). */
tls_mbedtls_failure tls_mbedtls_error(const tls_mbedtls_conn *c);

/** mbedTLS's last error code (negative, see mbedtls_strerror), 0 if none. */
int tls_mbedtls_mbedtls_error(const tls_mbedtls_conn *c);

/** mbedTLS's certificate verification flags (MBEDTLS_X509_BADCERT_*), 0 if none or before the
 *  server's certificate arrived. */
uint32_t tls_mbedtls_verify_flags(const tls_mbedtls_conn *c);

/** A short constant name for a failure ("untrusted CA", "name mismatch", ...), for logs. */
const char *tls_mbedtls_failure_name(tls_mbedtls_failure f);

#ifdef __cplusplus
}
#endif

#endif /* TLS_MBEDTLS_H */
