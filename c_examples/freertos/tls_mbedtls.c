/*
 * tls_mbedtls.c: the TLS 1.2 client of tls_mbedtls.h over mbedTLS 2.28 and a BSD socket.
 */
#include "tls_mbedtls.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#ifdef TLS_MBEDTLS_SOCKETS_HEADER
#include TLS_MBEDTLS_SOCKETS_HEADER
#else
#include <sys/socket.h>
#include <sys/types.h>
#endif

#include "mbedtls/net_sockets.h" /* only the MBEDTLS_ERR_NET_* codes */

#if !defined(MBEDTLS_SSL_CLI_C) || !defined(MBEDTLS_SSL_PROTO_TLS1_2) \
    || !defined(MBEDTLS_X509_CRT_PARSE_C) || !defined(MBEDTLS_CTR_DRBG_C)
#error "tls_mbedtls.c needs a TLS 1.2 client, X.509 and CTR_DRBG in mbedTLS (mbedtls_config_ota.h)"
#endif

#ifndef TLS_MBEDTLS_TIME_FLOOR
#define TLS_MBEDTLS_TIME_FLOOR 0
#endif

/* Non-blocking even when the integrator left the socket blocking; no SIGPIPE on POSIX. */
#ifdef MSG_DONTWAIT
#define TLS_DONTWAIT MSG_DONTWAIT
#else
#define TLS_DONTWAIT 0
#endif
#ifdef MSG_NOSIGNAL
#define TLS_SEND_FLAGS (TLS_DONTWAIT | MSG_NOSIGNAL)
#else
#define TLS_SEND_FLAGS TLS_DONTWAIT
#endif

enum { ST_OPEN = 1, ST_UP, ST_FAILED, ST_CLOSED };

static const char personalization[] = "qcloud-ota tls_mbedtls";

/* errno values that mean "nothing can move now". ENOTCONN (and lwIP's EINPROGRESS/EALREADY)
 * show up while the TCP connect is still in progress, i.e. before any byte went out. */
static int would_block(const tls_mbedtls_conn *c, int err)
{
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
        return 1;
    return !c->sent_any && (err == ENOTCONN || err == EINPROGRESS || err == EALREADY);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    tls_mbedtls_conn *c = ctx;
    ssize_t n = send(c->fd, buf, len > INT_MAX ? INT_MAX : len, TLS_SEND_FLAGS);
    if (n > 0) {
        c->sent_any = 1;
        return (int)n;
    }
    if (n == 0)
        return MBEDTLS_ERR_NET_SEND_FAILED; /* nothing taken and no errno to say why */
    if (would_block(c, errno))
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return errno == ECONNRESET || errno == EPIPE ? MBEDTLS_ERR_NET_CONN_RESET
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    tls_mbedtls_conn *c = ctx;
    ssize_t n = recv(c->fd, buf, len > INT_MAX ? INT_MAX : len, TLS_DONTWAIT);
    if (n >= 0)
        return (int)n; /* 0: end of stream; mbedTLS reports MBEDTLS_ERR_SSL_CONN_EOF */
    if (would_block(c, errno))
        return MBEDTLS_ERR_SSL_WANT_READ;
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int drbg_entropy(void *ctx, unsigned char *buf, size_t len)
{
    tls_mbedtls_conn *c = ctx;
    return c->entropy(c->ctx, buf, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

/* A dotted-quad IPv4 literal ("10.0.2.2") into its 4 bytes; 0 if s is not one. */
static int parse_ipv4(const char *s, uint8_t out[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255 || *s != (i < 3 ? '.' : '\0'))
            return 0;
        out[i] = (uint8_t)v;
        s += i < 3;
    }
    return 1;
}

/* The server's certificate must list the IPv4 address the connection was opened for among its
 * iPAddress entries (mbedTLS 2.28 compares dNSName entries only). */
static int has_ip_san(const mbedtls_x509_crt *crt, const uint8_t ip[4])
{
    for (const mbedtls_x509_sequence *n = &crt->subject_alt_names; n != NULL; n = n->next)
        if (n->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && n->buf.len == 4
            && n->buf.p != NULL && memcmp(n->buf.p, ip, 4) == 0)
            return 1;
    return 0;
}

/* Seconds since 1970 (> 0) as an mbedtls_x509_time (UTC): Howard Hinnant's civil_from_days,
 * in 32-bit arithmetic (no 64-bit division helpers on a Cortex-M); valid until 2106. */
static void x509_time_from_unix(int64_t t, mbedtls_x509_time *out)
{
    uint32_t u = t > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
    uint32_t secs = u % 86400u, z = u / 86400u + 719468u;
    uint32_t era = z / 146097u, doe = z - era * 146097u;
    uint32_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint32_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint32_t mp = (5u * doy + 2u) / 153u;
    uint32_t m = mp < 10u ? mp + 3u : mp - 9u;
    out->year = (int)(yoe + era * 400u + (m <= 2u));
    out->mon = (int)m;
    out->day = (int)(doy - (153u * mp + 2u) / 5u + 1u);
    out->hour = (int)(secs / 3600u);
    out->min = (int)(secs / 60u % 60u);
    out->sec = (int)(secs % 60u);
}

static int x509_time_cmp(const mbedtls_x509_time *a, const mbedtls_x509_time *b)
{
    const int x[6] = {a->year, a->mon, a->day, a->hour, a->min, a->sec};
    const int y[6] = {b->year, b->mon, b->day, b->hour, b->min, b->sec};
    for (int i = 0; i < 6; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* Called by mbedTLS for each certificate of the chain: adds the checks mbedTLS 2.28 cannot
 * do here, the dates (it has no clock of its own) and an IPv4 server name against the leaf's
 * iPAddress entries. It only ever adds flags. */
static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    tls_mbedtls_conn *c = ctx;
    int64_t now = c->unix_time_s != NULL ? c->unix_time_s(c->ctx) : -1;
    int clock = now >= 0 && now >= (int64_t)TLS_MBEDTLS_TIME_FLOOR;
    mbedtls_x509_time t;
    if (depth == 0 && c->is_ip && !has_ip_san(crt, c->ip))
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    if (!clock)
        now = (int64_t)TLS_MBEDTLS_TIME_FLOOR;
    if (now <= 0)
        return 0; /* no idea what time it is: dates not checked */
    x509_time_from_unix(now, &t);
    if (x509_time_cmp(&t, &crt->valid_to) > 0)
        *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
    if (clock && x509_time_cmp(&t, &crt->valid_from) < 0)
        *flags |= MBEDTLS_X509_BADCERT_FUTURE; /* the floor only ever proves expiry */
    return 0;
}

/* Records why the connection failed; returns TLS_MBEDTLS_ERROR. */
static int fail(tls_mbedtls_conn *c, int err)
{
    uint32_t v = mbedtls_ssl_get_verify_result(&c->ssl);
    c->state = ST_FAILED;
    c->mbedtls_err = err;
    c->verify = v == (uint32_t)-1 ? 0 : v;
    if (err == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
        && (c->verify & MBEDTLS_X509_BADCERT_NOT_TRUSTED))
        c->failure = TLS_MBEDTLS_UNTRUSTED;
    else if (err == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
             && (c->verify & MBEDTLS_X509_BADCERT_CN_MISMATCH))
        c->failure = TLS_MBEDTLS_NAME_MISMATCH;
    else if (err == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
             && (c->verify & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)))
        c->failure = TLS_MBEDTLS_EXPIRED;
    else if (err == MBEDTLS_ERR_NET_SEND_FAILED || err == MBEDTLS_ERR_NET_RECV_FAILED
             || err == MBEDTLS_ERR_NET_CONN_RESET || err == MBEDTLS_ERR_SSL_CONN_EOF)
        c->failure = TLS_MBEDTLS_SOCKET;
    else
        c->failure = TLS_MBEDTLS_OTHER;
    return TLS_MBEDTLS_ERROR;
}

int tls_mbedtls_open(tls_mbedtls_conn *c, const tls_mbedtls_params *p)
{
    int r;
    if (c == NULL)
        return TLS_MBEDTLS_ERROR;
    memset(c, 0, sizeof *c);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_ctr_drbg_init(&c->drbg);
    c->state = ST_OPEN;
    c->fd = -1;
    if (p == NULL || p->fd < 0 || p->server_name == NULL || p->server_name[0] == '\0'
        || p->ca == NULL || p->ca_len == 0 || p->entropy == NULL)
        return fail(c, MBEDTLS_ERR_SSL_BAD_INPUT_DATA);
    c->fd = p->fd;
    c->entropy = p->entropy;
    c->unix_time_s = p->unix_time_s;
    c->ctx = p->ctx;

    r = mbedtls_ctr_drbg_seed(&c->drbg, drbg_entropy, c, (const unsigned char *)personalization,
                              sizeof personalization - 1);
    if (r != 0)
        return fail(c, r);
    /* > 0: some certificates of a PEM bundle did not parse; a trust store is all or nothing. */
    r = mbedtls_x509_crt_parse(&c->ca, p->ca, p->ca_len);
    if (r != 0)
        return fail(c, r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT);
    r = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0)
        return fail(c, r);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_verify(&c->conf, verify_cb, c);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH) && MBEDTLS_SSL_IN_CONTENT_LEN < 16384
    /* A smaller receive buffer only works if the server agrees to send smaller records. */
#if MBEDTLS_SSL_IN_CONTENT_LEN < 1024
    mbedtls_ssl_conf_max_frag_len(&c->conf, MBEDTLS_SSL_MAX_FRAG_LEN_512);
#elif MBEDTLS_SSL_IN_CONTENT_LEN < 2048
    mbedtls_ssl_conf_max_frag_len(&c->conf, MBEDTLS_SSL_MAX_FRAG_LEN_1024);
#elif MBEDTLS_SSL_IN_CONTENT_LEN < 4096
    mbedtls_ssl_conf_max_frag_len(&c->conf, MBEDTLS_SSL_MAX_FRAG_LEN_2048);
#else
    mbedtls_ssl_conf_max_frag_len(&c->conf, MBEDTLS_SSL_MAX_FRAG_LEN_4096);
#endif
#endif
    r = mbedtls_ssl_setup(&c->ssl, &c->conf);
    if (r != 0)
        return fail(c, r);
    /* A name: SNI and mbedTLS's check of the dNSName entries. An IPv4 literal: no SNI (RFC 6066
     * allows none for addresses) and verify_cb's check of the iPAddress entries instead. */
    c->is_ip = (uint8_t)parse_ipv4(p->server_name, c->ip);
    r = mbedtls_ssl_set_hostname(&c->ssl, c->is_ip ? NULL : p->server_name);
    if (r != 0)
        return fail(c, r);
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    return 0;
}

int tls_mbedtls_handshake(tls_mbedtls_conn *c)
{
    int r;
    if (c == NULL)
        return TLS_MBEDTLS_ERROR;
    if (c->state == ST_UP)
        return 0;
    if (c->state == ST_CLOSED && c->failure == TLS_MBEDTLS_OK)
        c->failure = TLS_MBEDTLS_SOCKET; /* used after the peer closed or after close */
    if (c->state != ST_OPEN)
        return TLS_MBEDTLS_ERROR;
    r = mbedtls_ssl_handshake(&c->ssl);
    if (r == 0) {
        c->state = ST_UP;
        return 0;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return TLS_MBEDTLS_WOULD_BLOCK;
    return fail(c, r);
}

int32_t tls_mbedtls_send(tls_mbedtls_conn *c, const uint8_t *buf, size_t len)
{
    int r = tls_mbedtls_handshake(c);
    if (r != 0)
        return r;
    if (buf == NULL || len == 0)
        return buf == NULL ? fail(c, MBEDTLS_ERR_SSL_BAD_INPUT_DATA) : 0;
    if (len > INT_MAX)
        len = INT_MAX;
    /* A record that would block is already encrypted and waits in mbedTLS, which then counts
     * whatever length the next call passes as sent. The caller may offer more by then (the
     * library appends to its queue), so the retry passes exactly the waiting record's length. */
    if (c->write_pending != 0) {
        if (len < c->write_pending)
            return fail(c, MBEDTLS_ERR_SSL_BAD_INPUT_DATA); /* the bytes were taken back */
        len = c->write_pending;
    }
    r = mbedtls_ssl_write(&c->ssl, buf, len);
    if (r > 0) {
        c->write_pending = 0;
        return r;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
        if (c->write_pending == 0) {
            int max = mbedtls_ssl_get_max_out_record_payload(&c->ssl);
            c->write_pending = max > 0 && len > (size_t)max ? (size_t)max : len;
        }
        return TLS_MBEDTLS_WOULD_BLOCK;
    }
    return fail(c, r);
}

int32_t tls_mbedtls_recv(tls_mbedtls_conn *c, uint8_t *buf, size_t len)
{
    int r;
    if (c != NULL && c->state == ST_CLOSED && c->failure == TLS_MBEDTLS_OK)
        return 0; /* the peer closed: it stays closed */
    r = tls_mbedtls_handshake(c);
    if (r != 0)
        return r;
    if (buf == NULL || len == 0)
        return buf == NULL ? fail(c, MBEDTLS_ERR_SSL_BAD_INPUT_DATA) : 0;
    r = mbedtls_ssl_read(&c->ssl, buf, len > INT_MAX ? INT_MAX : len);
    if (r > 0)
        return r;
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return TLS_MBEDTLS_WOULD_BLOCK;
    /* The peer closed: with close_notify, or (as many servers do) just the TCP stream. The
     * library's protocols frame their data, so a truncated body is noticed there. */
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_SSL_CONN_EOF
        || r == MBEDTLS_ERR_NET_CONN_RESET) {
        c->state = ST_CLOSED;
        return 0;
    }
    return fail(c, r);
}

size_t tls_mbedtls_pending(const tls_mbedtls_conn *c)
{
    return c != NULL && c->state == ST_UP ? mbedtls_ssl_get_bytes_avail(&c->ssl) : 0;
}

void tls_mbedtls_close(tls_mbedtls_conn *c)
{
    if (c == NULL)
        return;
    if (c->state == ST_UP)
        (void)mbedtls_ssl_close_notify(&c->ssl); /* best effort: a full socket drops it */
    c->state = ST_CLOSED;
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
}

tls_mbedtls_failure tls_mbedtls_error(const tls_mbedtls_conn *c)
{
    return c != NULL ? (tls_mbedtls_failure)c->failure : TLS_MBEDTLS_OTHER;
}

int tls_mbedtls_mbedtls_error(const tls_mbedtls_conn *c)
{
    return c != NULL ? c->mbedtls_err : 0;
}

uint32_t tls_mbedtls_verify_flags(const tls_mbedtls_conn *c)
{
    return c != NULL ? c->verify : 0;
}

const char *tls_mbedtls_failure_name(tls_mbedtls_failure f)
{
    switch (f) {
    case TLS_MBEDTLS_OK:
        return "ok";
    case TLS_MBEDTLS_UNTRUSTED:
        return "untrusted CA";
    case TLS_MBEDTLS_NAME_MISMATCH:
        return "name mismatch";
    case TLS_MBEDTLS_EXPIRED:
        return "certificate expired or not yet valid";
    case TLS_MBEDTLS_SOCKET:
        return "connection failed";
    default:
        return "TLS failure";
    }
}
