/*
 * posix_platform: qcloud-ota platform callbacks for POSIX (Linux). See posix_platform.h.
 *
 * Porting notes are marked "PORT:". Everything here is non-blocking except DNS (getaddrinfo) and
 * the file writes, which is acceptable for a Linux demo.
 */
#define _POSIX_C_SOURCE 200809L

#include "posix_platform.h"

#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef POSIX_PLATFORM_OPENSSL
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

/* The library's `user` is either the posix_platform or a struct that starts with one. */
static posix_platform *ctx(void *user) { return (posix_platform *)user; }

static const char *channel_name(int32_t channel)
{
    switch (channel) {
    case OTA_CHANNEL_MQTT: return "mqtt";
    case OTA_CHANNEL_HTTP: return "http";
    default: return "net?";
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Logging                                                                                     */
/* ------------------------------------------------------------------------------------------- */

void posix_end_line(posix_platform *p)
{
    if (p->line_open) {
        fputc('\n', stdout);
        p->line_open = false;
    }
}

void posix_log(posix_platform *p, int level, const char *tag, const char *fmt, ...)
{
    static const char *const names[] = { "?    ", "ERROR", "WARN ", "INFO ", "DEBUG" };
    struct timespec ts;
    struct tm tm;
    char stamp[32] = "";
    va_list ap;

    if (level > p->log_threshold)
        return;
    posix_end_line(p);
    /* Wall-clock time makes the log comparable with the broker's and the server's logs. */
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && localtime_r(&ts.tv_sec, &tm) != NULL) {
        size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(stamp + n, sizeof stamp - n, ".%03ld", ts.tv_nsec / 1000000L);
    }
    printf("%s %s [%s] ", stamp, names[level >= 1 && level <= 4 ? level : 0], tag);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------------- */
/* Clock                                                                                       */
/* ------------------------------------------------------------------------------------------- */

/* PORT: any monotonic millisecond counter (HAL_GetTick(), xTaskGetTickCount() * portTICK_PERIOD_MS,
 * k_uptime_get()). 64 bits so it never wraps; extend a 32-bit tick counter if needed. */
static uint64_t posix_now_ms(void *user)
{
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* PORT: seconds since 1970 UTC from an RTC or SNTP; negative while the clock is not set. The
 * library's built-in TLS checks certificate dates with it. */
static int64_t posix_unix_time_s(void *user)
{
    (void)user;
    return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------------------------------- */
/* Sockets                                                                                     */
/* ------------------------------------------------------------------------------------------- */

static posix_sock *find_sock(posix_platform *p, int32_t handle)
{
    int i;
    for (i = 0; i < POSIX_MAX_SOCKS; i++)
        if (p->socks[i].fd >= 0 && p->socks[i].fd == handle)
            return &p->socks[i];
    return NULL;
}

static int open_sock_count(const posix_platform *p)
{
    int i, n = 0;
    for (i = 0; i < POSIX_MAX_SOCKS; i++)
        n += p->socks[i].fd >= 0;
    return n;
}

/* A connect that failed on its own (refused, unreachable, timed out): try the next address of the
 * host next time, and remember the reason for the log. */
static void connect_failed(posix_platform *p, posix_sock *s, int err)
{
    p->addr_rotation[s->channel == OTA_CHANNEL_HTTP]++;
    s->connecting = false;
    s->dead = true;
    s->error = err;
    posix_log(p, POSIX_LOG_WARN, channel_name(s->channel), "connect to %s failed: %s", s->peer,
              strerror(err));
}

static void became_connected(posix_platform *p, posix_sock *s)
{
    s->connecting = false;
    posix_log(p, POSIX_LOG_INFO, channel_name(s->channel), "connected to %s", s->peer);
}

/* PORT: open a TCP connection without blocking and return a handle >= 0. On lwIP or Zephyr this is
 * the same code with their socket API; with a modem, send the AT open command and return its link
 * id. */
static int32_t tcp_connect(posix_platform *p, int32_t channel, const char *host, uint16_t port)
{
    const char *tag = channel_name(channel);
    struct addrinfo hints, *res = NULL, *ai;
    posix_sock *s = NULL;
    char port_str[8];
    unsigned count = 0, start, i;
    int rc, last_err = 0;

    for (i = 0; i < POSIX_MAX_SOCKS && s == NULL; i++)
        if (p->socks[i].fd < 0)
            s = &p->socks[i];
    if (s == NULL) {
        posix_log(p, POSIX_LOG_ERROR, tag, "no free socket entry (%d open)", open_sock_count(p));
        return OTA_NET_ERROR;
    }

    /* PORT: DNS blocks here. On a device use the stack's resolver (lwIP dns_gethostbyname()) or
     * resolve once at start-up; numeric addresses skip the lookup. */
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC; /* IPv4 and IPv6 */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port_str, sizeof port_str, "%u", (unsigned)port);
    rc = getaddrinfo(host, port_str, &hints, &res);
    if (rc != 0) {
        posix_log(p, POSIX_LOG_WARN, tag, "cannot resolve %s: %s", host, gai_strerror(rc));
        return OTA_NET_ERROR;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next)
        count++;
    /* Start at the rotation index so a refused first address does not win every retry. */
    start = count ? p->addr_rotation[channel == OTA_CHANNEL_HTTP] % count : 0;

    for (i = 0; i < count; i++) {
        char addr[64] = "?";
        unsigned k;
        int fd, one = 1;

        ai = res;
        for (k = 0; k < (start + i) % count; k++)
            ai = ai->ai_next;
        getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0, NI_NUMERICHOST);

        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            last_err = errno;
            continue;
        }
        /* Non-blocking: connect() returns at once and send/recv never stall ota_poll(). */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK) != 0
            || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            last_err = errno;
            close(fd);
            continue;
        }
        /* MQTT packets and HTTP requests are small and latency-bound: no Nagle delay. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

        memset(s, 0, sizeof *s);
        s->fd = fd;
        s->channel = channel;
        if (ai->ai_family == AF_INET6)
            snprintf(s->peer, sizeof s->peer, "%s:%u ([%s])", host, (unsigned)port, addr);
        else
            snprintf(s->peer, sizeof s->peer, "%s:%u (%s)", host, (unsigned)port, addr);

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            freeaddrinfo(res);
            became_connected(p, s);
            return fd;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            freeaddrinfo(res);
            s->connecting = true;
            posix_log(p, POSIX_LOG_INFO, tag, "connecting to %s, fd %d", s->peer, fd);
            if (open_sock_count(p) > 2)
                posix_log(p, POSIX_LOG_WARN, tag, "%d connections open at once",
                          open_sock_count(p));
            return fd;
        }
        last_err = errno;
        posix_log(p, POSIX_LOG_WARN, tag, "connect to %s failed: %s", s->peer, strerror(errno));
        close(fd);
        s->fd = -1;
    }
    freeaddrinfo(res);
    p->addr_rotation[channel == OTA_CHANNEL_HTTP]++;
    posix_log(p, POSIX_LOG_WARN, tag, "cannot connect to %s:%u: %s", host, (unsigned)port,
              last_err ? strerror(last_err) : "no address");
    return OTA_NET_ERROR;
}

/* ------------------------------------------------------------------------------------------- */
/* Host TLS (OpenSSL): what an mbedTLS port does with mbedtls_ssl_* on the same socket          */
/* ------------------------------------------------------------------------------------------- */

#ifdef POSIX_PLATFORM_OPENSSL
bool posix_platform_has_tls(void) { return true; }

static SSL_CTX *tls_ctx(posix_platform *p)
{
    SSL_CTX *c = p->ssl_ctx;
    if (c != NULL)
        return c;
    c = SSL_CTX_new(TLS_client_method());
    if (c == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(c) != 1
        || (p->tls_ca_file != NULL && SSL_CTX_load_verify_locations(c, p->tls_ca_file, NULL) != 1)) {
        posix_log(p, POSIX_LOG_ERROR, "tls", "cannot load the trust anchors%s%s",
                  p->tls_ca_file ? " from " : "", p->tls_ca_file ? p->tls_ca_file : "");
        SSL_CTX_free(c);
        return NULL;
    }
    p->ssl_ctx = c;
    return c;
}

/* A TLS session on the fresh socket: certificate chain, dates and `host` are verified (an IP
 * literal against the certificate's IP addresses, a name against its DNS names, with SNI). */
static int tls_attach(posix_platform *p, posix_sock *s, const char *host, bool client_cert)
{
    SSL_CTX *c = tls_ctx(p);
    SSL *ssl = c ? SSL_new(c) : NULL;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    X509_VERIFY_PARAM *vp;

    if (ssl == NULL)
        return -1;
    vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_fd(ssl, s->fd) != 1
        || (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1
                  : (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1))) {
        SSL_free(ssl);
        return -1;
    }
    /* Certificate authentication: this session (the broker's, not the firmware server's) presents
     * the device certificate; OpenSSL checks the key matches it. TLS 1.2 at most: Tencent's
     * brokers speak up to 1.2 anyway, and there the broker judges the certificate inside the
     * handshake, so a refusal arrives as its alert; under 1.3 it comes after the client's first
     * record, and the broker's reset often swallows it. */
    if (client_cert
        && (p->tls_cert_file == NULL || p->tls_key_file == NULL
            || SSL_set_max_proto_version(ssl, TLS1_2_VERSION) != 1
            || SSL_use_certificate_chain_file(ssl, p->tls_cert_file) != 1
            || SSL_use_PrivateKey_file(ssl, p->tls_key_file, SSL_FILETYPE_PEM) != 1
            || SSL_check_private_key(ssl) != 1)) {
        posix_log(p, POSIX_LOG_ERROR, "tls", "cannot load the client certificate %s and key %s",
                  p->tls_cert_file ? p->tls_cert_file : "(none: --cert)",
                  p->tls_key_file ? p->tls_key_file : "(none: --key)");
        ERR_clear_error();
        SSL_free(ssl);
        return -1;
    }
    SSL_set_connect_state(ssl);
    s->ssl = ssl;
    s->tls_up = false;
    return 0;
}

static int32_t tls_failed(posix_platform *p, posix_sock *s, const char *what)
{
    long v = SSL_get_verify_result(s->ssl);
    char err[160] = "";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, err, sizeof err);
    ERR_clear_error();
    posix_log(p, POSIX_LOG_WARN, channel_name(s->channel), "TLS %s with %s failed: %s%s%s", what,
              s->peer, v != X509_V_OK ? X509_verify_cert_error_string(v) : "",
              v != X509_V_OK && err[0] ? "; " : "", err);
    s->dead = true;
    return OTA_NET_ERROR;
}

/* The result of an SSL_* call that did not move data: would block, closed (0) or failed. */
static int32_t tls_result(posix_platform *p, posix_sock *s, int r, const char *what)
{
    switch (SSL_get_error(s->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return OTA_NET_WOULD_BLOCK;
    case SSL_ERROR_WANT_WRITE:
        s->want_write = true;
        return OTA_NET_WOULD_BLOCK;
    case SSL_ERROR_ZERO_RETURN:
        s->dead = true;
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
            s->dead = true; /* end of stream without close_notify */
            return 0;
        }
        return tls_failed(p, s, what);
    default:
        return tls_failed(p, s, what);
    }
}

/* Drive the handshake; 1 when it is done, else what net_send/net_recv return. */
static int32_t tls_handshake(posix_platform *p, posix_sock *s)
{
    int r;
    if (s->tls_up)
        return 1;
    if (s->connecting)
        return OTA_NET_WOULD_BLOCK;
    r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        s->tls_up = true;
        posix_log(p, POSIX_LOG_INFO, channel_name(s->channel), "TLS with %s: %s, %s (OpenSSL)",
                  s->peer, SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
        return 1;
    }
    r = tls_result(p, s, r, "handshake");
    return r == 0 ? tls_failed(p, s, "handshake") : r;
}

static int32_t tls_send(posix_platform *p, posix_sock *s, const uint8_t *buf, size_t len)
{
    int32_t h = tls_handshake(p, s);
    int r;
    if (h != 1)
        return h;
    r = SSL_write(s->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
    if (r > 0)
        return r;
    r = tls_result(p, s, r, "write");
    return r == 0 ? OTA_NET_ERROR : r;
}

static int32_t tls_recv(posix_platform *p, posix_sock *s, uint8_t *buf, size_t len)
{
    int32_t h = tls_handshake(p, s);
    int r;
    if (h != 1)
        return h;
    r = SSL_read(s->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
    return r > 0 ? r : tls_result(p, s, r, "read");
}

static void tls_close(posix_sock *s)
{
    if (s->ssl == NULL)
        return;
    if (s->tls_up)
        SSL_shutdown(s->ssl); /* sends close_notify; the answer is not awaited */
    SSL_free(s->ssl);
    s->ssl = NULL;
}

void posix_platform_deinit(posix_platform *p)
{
    SSL_CTX_free(p->ssl_ctx);
    p->ssl_ctx = NULL;
}

bool posix_platform_pending(posix_platform *p)
{
    int i;
    for (i = 0; i < POSIX_MAX_SOCKS; i++)
        if (p->socks[i].fd >= 0 && p->socks[i].ssl != NULL && SSL_pending(p->socks[i].ssl) > 0)
            return true;
    return false;
}
#else
bool posix_platform_has_tls(void) { return false; }
void posix_platform_deinit(posix_platform *p) { (void)p; }
bool posix_platform_pending(posix_platform *p)
{
    (void)p;
    return false;
}
#endif

/* PORT: with OTA_NET_TLS open a TLS connection that verifies `host` (mbedTLS, the modem's TLS, or
 * Zephyr's TLS sockets); here OpenSSL on the plain socket, handshaking inside net_send/net_recv. */
static int32_t posix_net_connect(void *user, int32_t channel, const char *host, uint16_t port,
                                 uint32_t flags)
{
    posix_platform *p = ctx(user);
    int32_t fd;

#ifndef POSIX_PLATFORM_OPENSSL
    if (flags & OTA_NET_TLS) {
        posix_log(p, POSIX_LOG_ERROR, channel_name(channel),
                  "TLS requested for %s:%u, but this build has no OpenSSL (install libssl-dev)",
                  host, (unsigned)port);
        return OTA_NET_ERROR;
    }
#endif
    fd = tcp_connect(p, channel, host, port);
#ifdef POSIX_PLATFORM_OPENSSL
    if (fd >= 0 && (flags & OTA_NET_TLS)) {
        posix_sock *s = find_sock(p, fd);
        if (s == NULL || tls_attach(p, s, host, (flags & OTA_NET_CLIENT_CERT) != 0) != 0) {
            posix_log(p, POSIX_LOG_ERROR, channel_name(channel), "cannot set up TLS for %s", host);
            if (s != NULL)
                s->fd = -1;
            close(fd);
            return OTA_NET_ERROR;
        }
    }
#endif
    return fd;
}

/* errno values that mean "nothing can move now" on a non-blocking socket. ENOTCONN shows up on
 * some systems while a connect is still in progress. */
static bool would_block(const posix_sock *s, int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR
           || (err == ENOTCONN && s->connecting);
}

/* PORT: lwip_send()/zsock_send() with MSG_DONTWAIT, or the modem's send command. */
static int32_t posix_net_send(void *user, int32_t sock, const uint8_t *buf, size_t len)
{
    posix_platform *p = ctx(user);
    posix_sock *s = find_sock(p, sock);
    ssize_t n;

    if (s == NULL) {
        posix_log(p, POSIX_LOG_ERROR, "net", "send on unknown handle %d", (int)sock);
        return OTA_NET_ERROR;
    }
    if (s->error != 0)
        return OTA_NET_ERROR; /* the failed connect, already logged */
#ifdef POSIX_PLATFORM_OPENSSL
    if (s->ssl != NULL)
        return tls_send(p, s, buf, len);
#endif
    if (len > INT32_MAX)
        len = INT32_MAX; /* the return value is an int32_t */
    /* MSG_NOSIGNAL: a peer that closed must give EPIPE, not kill the process with SIGPIPE. */
    n = send(s->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) {
        if (s->connecting)
            became_connected(p, s);
        s->want_write = false;
        return (int32_t)n;
    }
    if (would_block(s, errno)) {
        s->want_write = true;
        return OTA_NET_WOULD_BLOCK;
    }
    if (s->connecting)
        connect_failed(p, s, errno);
    else {
        s->dead = true;
        posix_log(p, POSIX_LOG_WARN, channel_name(s->channel), "send to %s failed: %s", s->peer,
                  strerror(errno));
    }
    return OTA_NET_ERROR;
}

/* PORT: lwip_recv()/zsock_recv() with MSG_DONTWAIT, or read from the modem's receive buffer. */
static int32_t posix_net_recv(void *user, int32_t sock, uint8_t *buf, size_t len)
{
    posix_platform *p = ctx(user);
    posix_sock *s = find_sock(p, sock);
    ssize_t n;

    if (s == NULL) {
        posix_log(p, POSIX_LOG_ERROR, "net", "recv on unknown handle %d", (int)sock);
        return OTA_NET_ERROR;
    }
    if (s->error != 0)
        return OTA_NET_ERROR;
#ifdef POSIX_PLATFORM_OPENSSL
    if (s->ssl != NULL)
        return tls_recv(p, s, buf, len);
#endif
    if (len > INT32_MAX)
        len = INT32_MAX;
    n = recv(s->fd, buf, len, 0);
    if (n > 0) {
        if (s->connecting)
            became_connected(p, s);
        return (int32_t)n;
    }
    if (n == 0) {
        if (!s->dead)
            posix_log(p, POSIX_LOG_INFO, channel_name(s->channel), "%s closed the connection",
                      s->peer);
        s->dead = true; /* EOF stays readable: polling it again would spin */
        return 0;
    }
    if (would_block(s, errno))
        return OTA_NET_WOULD_BLOCK;
    if (s->connecting)
        connect_failed(p, s, errno);
    else {
        s->dead = true;
        posix_log(p, POSIX_LOG_WARN, channel_name(s->channel), "recv from %s failed: %s", s->peer,
                  strerror(errno));
    }
    return OTA_NET_ERROR;
}

static void posix_net_close(void *user, int32_t sock)
{
    posix_platform *p = ctx(user);
    posix_sock *s = find_sock(p, sock);

    if (s == NULL) {
        /* Never close() a descriptor we did not open: it could be anybody's. */
        posix_log(p, POSIX_LOG_ERROR, "net", "close of unknown handle %d ignored", (int)sock);
        return;
    }
    posix_log(p, POSIX_LOG_DEBUG, channel_name(s->channel), "closing %s (fd %d)", s->peer, s->fd);
#ifdef POSIX_PLATFORM_OPENSSL
    tls_close(s);
#endif
    close(s->fd);
    s->fd = -1;
}

int posix_platform_pollfds(posix_platform *p, struct pollfd *fds, int max)
{
    int i, n = 0;
    for (i = 0; i < POSIX_MAX_SOCKS && n < max; i++) {
        const posix_sock *s = &p->socks[i];
        if (s->fd < 0 || s->dead)
            continue;
        fds[n].fd = s->fd;
        /* POLLOUT only while connecting or after a send would block; otherwise a writable socket
         * would wake the loop all the time. */
        fds[n].events = (short)(POLLIN | (s->connecting || s->want_write ? POLLOUT : 0));
        fds[n].revents = 0;
        n++;
    }
    return n;
}

void posix_platform_poll_done(posix_platform *p, const struct pollfd *fds, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        posix_sock *s = find_sock(p, fds[i].fd);
        if (s == NULL || fds[i].revents == 0)
            continue;
        if (s->connecting && (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
            /* The connect finished: SO_ERROR says how. Reading it clears it, so keep it for the
             * next send/recv, which then fails with the real reason rather than EPIPE. */
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            if (err == 0)
                became_connected(p, s);
            else
                connect_failed(p, s, err);
        }
        if (fds[i].revents & POLLOUT)
            s->want_write = false;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Firmware slot: DIR/firmware.bin                                                             */
/* ------------------------------------------------------------------------------------------- */

/* PORT: on a device the slot is the inactive flash bank. slot_open erases it (offset 0) or checks it
 * can continue (offset > 0: the library resumes after a reset; the bytes below offset are already
 * in flash), slot_write programs, slot_close(true) marks the image for the bootloader (MCUboot:
 * boot_request_upgrade()), slot_close(false) leaves it unbootable. */
static int32_t posix_slot_open(void *user, uint32_t image_size, uint32_t offset)
{
    posix_platform *p = ctx(user);
    struct stat st;
    int fd;

    if (p->slot_fd >= 0) {
        posix_log(p, POSIX_LOG_WARN, "slot", "slot_open while open: closing the old handle");
        close(p->slot_fd);
        p->slot_fd = -1;
    }
    fd = open(p->slot_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "open %s: %s", p->slot_path, strerror(errno));
        return -1;
    }
    if (offset > image_size) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "resume offset %lu beyond image size %lu",
                  (unsigned long)offset, (unsigned long)image_size);
        close(fd);
        return -1;
    }
    if (offset > 0) {
        /* Resuming: the file must already hold the first `offset` bytes. */
        if (fstat(fd, &st) != 0)
            st.st_size = 0;
        if ((uint64_t)st.st_size < offset) {
            posix_log(p, POSIX_LOG_ERROR, "slot", "cannot resume at %lu: %s holds %lld bytes",
                      (unsigned long)offset, p->slot_path, (long long)st.st_size);
            close(fd);
            return -1;
        }
    }
    /* Drop whatever lies beyond the resume point (everything, for a fresh start). */
    if (ftruncate(fd, (off_t)offset) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "truncate %s: %s", p->slot_path, strerror(errno));
        close(fd);
        return -1;
    }
    p->slot_fd = fd;
    p->slot_image_size = image_size;
    p->image_bootable = false;
    if (offset == 0)
        posix_log(p, POSIX_LOG_INFO, "slot", "%s opened for %lu bytes", p->slot_path,
                  (unsigned long)image_size);
    else
        posix_log(p, POSIX_LOG_INFO, "slot", "%s reopened for %lu bytes, resuming at %lu",
                  p->slot_path, (unsigned long)image_size, (unsigned long)offset);
    return 0;
}

static int32_t posix_slot_write(void *user, uint32_t offset, const uint8_t *data, size_t len)
{
    posix_platform *p = ctx(user);
    off_t at = (off_t)offset;

    if (p->slot_fd < 0) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "write while closed");
        return -1;
    }
    /* A flash driver must refuse writes outside the slot; so does the demo. */
    if ((uint64_t)offset + len > p->slot_image_size) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "write of %lu bytes at %lu exceeds image size %lu",
                  (unsigned long)len, (unsigned long)offset, (unsigned long)p->slot_image_size);
        return -1;
    }
    while (len > 0) {
        ssize_t n = pwrite(p->slot_fd, data, len, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            posix_log(p, POSIX_LOG_ERROR, "slot", "write at %lld: %s", (long long)at,
                      strerror(errno));
            return -1;
        }
        data += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

static int32_t posix_slot_read(void *user, uint32_t offset, uint8_t *buf, size_t len)
{
    posix_platform *p = ctx(user);
    off_t at = (off_t)offset;
    int fd = p->slot_fd;
    bool own = false;

    /* The library may read back with the slot closed (verifying after a reset): open it then. */
    if (fd < 0) {
        fd = open(p->slot_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            posix_log(p, POSIX_LOG_ERROR, "slot", "open %s: %s", p->slot_path, strerror(errno));
            return -1;
        }
        own = true;
    }
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            posix_log(p, POSIX_LOG_ERROR, "slot", "read at %lld: %s", (long long)at,
                      n == 0 ? "end of file" : strerror(errno));
            if (own)
                close(fd);
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        at += n;
    }
    if (own)
        close(fd);
    return 0;
}

static int32_t posix_slot_close(void *user, bool bootable)
{
    posix_platform *p = ctx(user);
    int32_t rc = 0;

    if (p->slot_fd < 0) {
        posix_log(p, POSIX_LOG_WARN, "slot", "close while closed");
        return bootable ? -1 : 0;
    }
    /* The image must be on disk before anyone is told it is bootable. */
    if (fsync(p->slot_fd) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "fsync %s: %s", p->slot_path, strerror(errno));
        rc = -1;
    }
    if (close(p->slot_fd) != 0 && rc == 0) {
        posix_log(p, POSIX_LOG_ERROR, "slot", "close %s: %s", p->slot_path, strerror(errno));
        rc = -1;
    }
    p->slot_fd = -1;
    if (rc != 0)
        return rc;
    /* PORT: here a device marks the image for the bootloader. The demo only records it; the main
     * loop "reboots" when OTA_EVENT_IMAGE_READY arrives. */
    p->image_bootable = bootable;
    if (bootable)
        posix_log(p, POSIX_LOG_INFO, "slot", "%s complete and verified: marked bootable",
                  p->slot_path);
    else
        posix_log(p, POSIX_LOG_INFO, "slot", "%s closed, not bootable", p->slot_path);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Persistent record: two copies, DIR/ota_record.0 and DIR/ota_record.1                        */
/* ------------------------------------------------------------------------------------------- */

static void fsync_dir(const char *dir)
{
    /* Makes a rename or unlink durable. Some file systems refuse; nothing to do about it then. */
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int posix_write_file_atomic(posix_platform *p, const char *path, const char *tmp_path,
                            const void *data, size_t len)
{
    const uint8_t *b = data;
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "open %s: %s", tmp_path, strerror(errno));
        return -1;
    }
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            posix_log(p, POSIX_LOG_ERROR, "store", "write %s: %s", tmp_path, strerror(errno));
            close(fd);
            unlink(tmp_path);
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    /* fsync before rename: after a power cut the name points at either the old or the new
     * complete contents, never at a half-written file. */
    if (fsync(fd) != 0 || close(fd) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "sync %s: %s", tmp_path, strerror(errno));
        unlink(tmp_path);
        return -1;
    }
    if (rename(tmp_path, path) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "rename %s: %s", tmp_path, strerror(errno));
        unlink(tmp_path);
        return -1;
    }
    fsync_dir(p->dir);
    return 0;
}

/* PORT: read copy `copy` of the record from its own flash sector / EEPROM area / NVS key. */
static int32_t posix_store_load(void *user, uint8_t copy, uint8_t *buf, size_t cap)
{
    posix_platform *p = ctx(user);
    const char *path = p->store_path[copy & 1];
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT) {
            posix_log(p, POSIX_LOG_DEBUG, "store", "no record in %s", path);
            return 0;
        }
        posix_log(p, POSIX_LOG_ERROR, "store", "open %s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t n;
        if (got == cap) {
            /* Full buffer: one more byte means the file is bigger than any valid record. */
            uint8_t extra;
            n = read(fd, &extra, 1);
            if (n != 0) {
                posix_log(p, POSIX_LOG_ERROR, "store", "%s is larger than %lu bytes", path,
                          (unsigned long)cap);
                close(fd);
                return -1;
            }
            break;
        }
        n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            posix_log(p, POSIX_LOG_ERROR, "store", "read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    posix_log(p, POSIX_LOG_INFO, "store", "loaded record (%lu bytes) from %s", (unsigned long)got,
              path);
    return (int32_t)got;
}

/* Test hook (OTA_DEMO_CRASH_IN_SAVE=N): the Nth record save dies half-way, the way a power cut
 * tears a flash write: half the new record lands over the copy, then the process is killed. */
static void crash_mid_save(posix_platform *p, const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    posix_log(p, POSIX_LOG_WARN, "store", "OTA_DEMO_CRASH_IN_SAVE: tearing %s and dying", path);
    if (fd >= 0) {
        ssize_t n = write(fd, data, len / 2);
        (void)n;
        fsync(fd);
        close(fd);
    }
    raise(SIGKILL);
}

/* Write all of `data` at offset 0 of `fd`. 0 or -1 (errno says why). */
static int write_all_at0(int fd, const uint8_t *data, size_t len)
{
    off_t at = 0;
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

/*
 * PORT: replace copy `copy` of the record. The library alternates between the two copies, so a
 * plain erase+write of one flash sector is fine: a power cut tears only the copy being written,
 * the CRC rejects it and the other copy is the last good record. Here that means writing the file
 * in place and fdatasync()ing it, with no temporary file, rename or directory fsync (those would
 * make one copy atomic, which the second copy already makes unnecessary): two flushes per save,
 * the slot's and the record's. The record must be on disk before the call returns, because the
 * next save overwrites the other copy.
 */
static int32_t posix_store_save(void *user, uint8_t copy, const uint8_t *data, size_t len)
{
    posix_platform *p = ctx(user);
    const char *path = p->store_path[copy & 1];
    struct stat st;
    bool created = false;
    int fd;

    if (len > 0 && p->crash_in_save > 0 && --p->crash_in_save == 0)
        crash_mid_save(p, path, data, len);
    if (len == 0) {
        /* Erase: happens twice per update, so the directory fsync that makes it durable is cheap. */
        if (unlink(path) != 0 && errno != ENOENT) {
            posix_log(p, POSIX_LOG_ERROR, "store", "unlink %s: %s", path, strerror(errno));
            return -1;
        }
        fsync_dir(p->dir);
        posix_log(p, POSIX_LOG_DEBUG, "store", "record copy %u erased", copy);
        return 0;
    }
    /* The record promises that the slot holds the bytes below its offset: flush them first. */
    if (p->slot_fd >= 0 && fdatasync(p->slot_fd) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "fdatasync %s: %s", p->slot_path, strerror(errno));
        return -1;
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        created = true;
    }
    if (fd < 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "open %s: %s", path, strerror(errno));
        return -1;
    }
    /* A longer file left by another record size would fail store_load: cut it to this record. */
    if (write_all_at0(fd, data, len) != 0
        || (fstat(fd, &st) == 0 && st.st_size != (off_t)len && ftruncate(fd, (off_t)len) != 0)
        || fdatasync(fd) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        posix_log(p, POSIX_LOG_ERROR, "store", "close %s: %s", path, strerror(errno));
        return -1;
    }
    /* A new file's name must be durable too; the copies are created once per update. */
    if (created)
        fsync_dir(p->dir);
    posix_log(p, POSIX_LOG_DEBUG, "store", "record copy %u saved (%lu bytes)", copy, (unsigned long)len);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Set-up                                                                                      */
/* ------------------------------------------------------------------------------------------- */

static int join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, POSIX_PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < POSIX_PATH_MAX ? 0 : -1;
}

int posix_platform_init(posix_platform *p, const char *dir)
{
    int i;
    size_t n = strlen(dir);

    memset(p, 0, sizeof *p);
    p->slot_fd = -1;
    {
        const char *crash = getenv("OTA_DEMO_CRASH_IN_SAVE");
        p->crash_in_save = crash ? atoi(crash) : 0;
    }
    for (i = 0; i < POSIX_MAX_SOCKS; i++)
        p->socks[i].fd = -1;
    p->stdout_is_tty = isatty(STDOUT_FILENO) != 0;
    p->log_threshold = POSIX_LOG_INFO;

    while (n > 1 && dir[n - 1] == '/') /* "dir/" -> "dir" for tidy paths */
        n--;
    if (n == 0 || n >= sizeof p->dir) {
        fprintf(stderr, "directory name is empty or too long\n");
        return -1;
    }
    memcpy(p->dir, dir, n);
    p->dir[n] = '\0';
    if (join(p->slot_path, p->dir, "firmware.bin") != 0
        || join(p->store_path[0], p->dir, "ota_record.0") != 0
        || join(p->store_path[1], p->dir, "ota_record.1") != 0) {
        fprintf(stderr, "directory name too long: %s\n", dir);
        return -1;
    }
    if (mkdir(p->dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", p->dir, strerror(errno));
        return -1;
    }
    if (access(p->dir, R_OK | W_OK | X_OK) != 0) {
        fprintf(stderr, "%s is not a writable directory: %s\n", p->dir, strerror(errno));
        return -1;
    }
    return 0;
}

void posix_platform_bind(posix_platform *p, void *user, ota_platform *out)
{
    (void)p; /* `user` is p or a struct starting with p: the callbacks find p through it */
    out->user = user;
    out->now_ms = posix_now_ms;
    out->unix_time_s = posix_unix_time_s;
    out->net_connect = posix_net_connect;
    out->net_send = posix_net_send;
    out->net_recv = posix_net_recv;
    out->net_close = posix_net_close;
    out->slot_open = posix_slot_open;
    out->slot_write = posix_slot_write;
    out->slot_read = posix_slot_read;
    out->slot_close = posix_slot_close;
    out->store_load = posix_store_load;
    out->store_save = posix_store_save;
}

void posix_platform_close_all(posix_platform *p)
{
    int i;
    for (i = 0; i < POSIX_MAX_SOCKS; i++) {
        posix_sock *s = &p->socks[i];
        if (s->fd >= 0) {
            posix_log(p, POSIX_LOG_WARN, channel_name(s->channel),
                      "%s still open after ota_deinit(): closing it", s->peer);
#ifdef POSIX_PLATFORM_OPENSSL
            tls_close(s);
#endif
            close(s->fd);
            s->fd = -1;
        }
    }
    if (p->slot_fd >= 0) {
        posix_log(p, POSIX_LOG_WARN, "slot", "slot still open after ota_deinit(): closing it");
        close(p->slot_fd);
        p->slot_fd = -1;
    }
}
