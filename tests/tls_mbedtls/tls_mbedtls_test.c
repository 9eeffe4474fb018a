/*
 * tls_mbedtls_test: drives c_examples/freertos/tls_mbedtls.c over a real non-blocking POSIX
 * socket against a TLS server on the loopback (tests/tls_mbedtls.rs starts the servers and
 * checks what this prints). mbedTLS's calloc/free are counted (host_hooks.c) to measure the
 * heap a connection takes.
 *
 *   tls_mbedtls_test https  HOST PORT NAME CA PATH OUT   GET PATH, the body into OUT
 *   tls_mbedtls_test mqtt   HOST PORT NAME CA            MQTT CONNECT, expects CONNACK accepted
 *   tls_mbedtls_test refuse HOST PORT NAME CA            the handshake must fail
 *   tls_mbedtls_test fill   HOST PORT NAME CA            send until the socket would block
 *   tls_mbedtls_test silent HOST PORT NAME CA            the server never answers: every
 *                                                        handshake step must would-block at once
 *   tls_mbedtls_test stream HOST PORT NAME CA BYTES      sends BYTES of stream_byte() to a slow
 *                                                        reader, offering more after would-block
 *
 * Prints key=value lines; exits 0 when the mode's exchange went as described, 1 otherwise.
 * TLS_TEST_NO_CLOCK=1 gives the connection no time hook.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "host_hooks.h"
#include "tls_mbedtls.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define DEADLINE_S 10.0

/* A non-blocking TCP connection to HOST:PORT, still in progress when it returns. */
static int tcp_connect(const char *host, const char *port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(port));
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1
        || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        return -1;
    return fd;
}

static void wait_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    (void)poll(&p, 1, 10);
}

static void wait_writable(int fd)
{
    struct pollfd p = {fd, POLLOUT, 0};
    (void)poll(&p, 1, 10);
}

static int failed(const tls_mbedtls_conn *c, const char *what)
{
    printf("failed_at=%s\nfailure=%s\nfailure_code=%d\nmbedtls=-0x%04x\nverify=0x%08x\n", what,
           tls_mbedtls_failure_name(tls_mbedtls_error(c)), (int)tls_mbedtls_error(c),
           (unsigned)-tls_mbedtls_mbedtls_error(c), (unsigned)tls_mbedtls_verify_flags(c));
    return 1;
}

/* The handshake, stepping while it would block; counts the would-block results. */
static int handshake(tls_mbedtls_conn *c, int fd)
{
    int r, blocked = 0;
    double end = now_s() + DEADLINE_S;
    while ((r = tls_mbedtls_handshake(c)) == TLS_MBEDTLS_WOULD_BLOCK && now_s() < end) {
        blocked++;
        wait_readable(fd);
    }
    printf("handshake_would_block=%d\nhandshake_heap_peak=%zu\n", blocked,
           host_hooks_heap_peak());
    if (r == 0)
        printf("suite=%s\n", mbedtls_ssl_get_ciphersuite(&c->ssl));
    return r;
}

static int send_all(tls_mbedtls_conn *c, int fd, const uint8_t *buf, size_t len)
{
    double end = now_s() + DEADLINE_S;
    while (len > 0 && now_s() < end) {
        int32_t n = tls_mbedtls_send(c, buf, len);
        if (n == TLS_MBEDTLS_ERROR)
            return -1;
        if (n == TLS_MBEDTLS_WOULD_BLOCK) {
            wait_writable(fd);
            continue;
        }
        buf += n;
        len -= (size_t)n;
    }
    return len == 0 ? 0 : -1;
}

/* recv before the server has anything to say must come back at once with would-block. */
static int recv_would_block(tls_mbedtls_conn *c)
{
    uint8_t b[16];
    double t0 = now_s();
    int32_t r = tls_mbedtls_recv(c, b, sizeof b);
    printf("recv_idle=%d\nrecv_idle_us=%.0f\n", (int)r, (now_s() - t0) * 1e6);
    return r == TLS_MBEDTLS_WOULD_BLOCK ? 0 : -1;
}

/* ---- modes ----------------------------------------------------------------------------------- */

static uint8_t response[1 << 20];

static int https_get(tls_mbedtls_conn *c, int fd, const char *name, const char *path,
                     const char *out)
{
    char req[512];
    size_t got = 0, body_len;
    int pending_seen = 0, n;
    double end = now_s() + DEADLINE_S;
    const uint8_t *body, *eol;
    FILE *f;
    if (recv_would_block(c) != 0)
        return 1;
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 path, name);
    if (n < 0 || (size_t)n >= sizeof req || send_all(c, fd, (const uint8_t *)req, (size_t)n) != 0)
        return failed(c, "send");
    for (;;) {
        /* Small reads: the rest of each 16 KiB record waits inside mbedTLS (pending). */
        size_t room = sizeof response - got;
        int32_t r = tls_mbedtls_recv(c, response + got, room < 1000 ? room : 1000);
        if (r > 0) {
            got += (size_t)r;
            if (tls_mbedtls_pending(c) > 0)
                pending_seen = 1;
            if (got == sizeof response)
                return 1;
        } else if (r == 0) {
            break;
        } else if (r == TLS_MBEDTLS_WOULD_BLOCK && now_s() < end) {
            wait_readable(fd);
        } else {
            return failed(c, "recv");
        }
    }
    {
        uint8_t b[16];
        printf("recv_after_close=%d\n", (int)tls_mbedtls_recv(c, b, sizeof b));
    }
    body = NULL;
    for (size_t i = 0; i + 4 <= got; i++)
        if (memcmp(response + i, "\r\n\r\n", 4) == 0) {
            body = response + i + 4;
            break;
        }
    eol = memchr(response, '\r', got);
    printf("status=%.*s\n", eol != NULL ? (int)(eol - response) : 0, (const char *)response);
    printf("pending_seen=%d\n", pending_seen);
    if (body == NULL)
        return 1;
    body_len = got - (size_t)(body - response);
    printf("body=%zu\n", body_len);
    f = fopen(out, "wb");
    if (f == NULL || fwrite(body, 1, body_len, f) != body_len)
        return 1;
    fclose(f);
    return memcmp(response, "HTTP/1.1 200 ", 13) == 0 ? 0 : 1;
}

static int mqtt_connect(tls_mbedtls_conn *c, int fd)
{
    static const uint8_t connect_pkt[] = {0x10, 28, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60,
                                          0,    16, 't', 'l', 's', '-', 'm', 'b', 'e', 'd',
                                          't',  'l', 's', '-', 't', 'e', 's', 't'};
    static const uint8_t disconnect_pkt[] = {0xe0, 0};
    uint8_t ack[4];
    size_t got = 0;
    double end = now_s() + DEADLINE_S;
    if (recv_would_block(c) != 0)
        return 1;
    if (send_all(c, fd, connect_pkt, sizeof connect_pkt) != 0)
        return failed(c, "send");
    while (got < sizeof ack) {
        int32_t r = tls_mbedtls_recv(c, ack + got, sizeof ack - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == TLS_MBEDTLS_WOULD_BLOCK && now_s() < end)
            wait_readable(fd);
        else
            return r == 0 ? 1 : failed(c, "recv");
    }
    printf("connack=%02x%02x%02x%02x\n", ack[0], ack[1], ack[2], ack[3]);
    if (send_all(c, fd, disconnect_pkt, sizeof disconnect_pkt) != 0)
        return failed(c, "send");
    return memcmp(ack, "\x20\x02\x00\x00", 4) == 0 ? 0 : 1;
}

/* Sends until tls_mbedtls_send says would-block (the server does not read). */
static int fill(tls_mbedtls_conn *c)
{
    static uint8_t chunk[4096];
    size_t sent = 0;
    memset(chunk, 'x', sizeof chunk);
    while (sent < (256u << 20)) {
        int32_t n = tls_mbedtls_send(c, chunk, sizeof chunk);
        if (n == TLS_MBEDTLS_WOULD_BLOCK) {
            printf("fill_sent=%zu\nsend_would_block=1\n", sent);
            return 0;
        }
        if (n < 0)
            return failed(c, "send");
        sent += (size_t)n;
    }
    printf("fill_sent=%zu\nsend_would_block=0\n", sent);
    return 1;
}

/* The stream's byte at offset i (tests/tls_mbedtls.rs computes the same). */
static uint8_t stream_byte(size_t i)
{
    return (uint8_t)(i * 7u + i / 251u);
}

/* Sends `total` bytes the way the OTA library does: after a would-block it offers the same
 * bytes again, plus whatever it queued meanwhile (here: a growing length). */
static int stream(tls_mbedtls_conn *c, int fd, size_t total)
{
    static uint8_t data[8u << 20];
    size_t sent = 0, offered = 0;
    unsigned calls = 0, blocked = 0, grown = 0;
    double end = now_s() + DEADLINE_S;
    if (total > sizeof data)
        return 2;
    for (size_t i = 0; i < total; i++)
        data[i] = stream_byte(i);
    while (sent < total && now_s() < end) {
        size_t want = 1 + (size_t)(calls++ * 7919u) % 20000u; /* 1 .. 20000, varying */
        size_t left = total - sent;
        int32_t n;
        if (offered != 0) { /* the last call would block: offer those bytes and more */
            want = offered + want;
            grown++;
        }
        offered = 0;
        if (want > left)
            want = left;
        n = tls_mbedtls_send(c, data + sent, want);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n == TLS_MBEDTLS_WOULD_BLOCK) {
            blocked++;
            offered = want;
            wait_writable(fd);
        } else {
            return failed(c, "send");
        }
    }
    printf("stream_sent=%zu\nstream_would_block=%u\nstream_grown_retries=%u\n", sent, blocked,
           grown);
    return sent == total ? 0 : 1;
}

/* Against a server that accepts and never answers: 300 ms of handshake steps, each of which
 * must return would-block without waiting. */
static int silent(tls_mbedtls_conn *c, int fd)
{
    int steps = 0;
    double slowest = 0, end = now_s() + 0.3;
    while (now_s() < end) {
        double t0 = now_s();
        int r = tls_mbedtls_handshake(c);
        double took = now_s() - t0;
        if (r != TLS_MBEDTLS_WOULD_BLOCK)
            return failed(c, "handshake");
        slowest = took > slowest ? took : slowest;
        steps++;
        wait_readable(fd);
    }
    printf("silent_steps=%d\nsilent_slowest_us=%.0f\n", steps, slowest * 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    static tls_mbedtls_conn conn;
    static uint8_t ca[64 * 1024];
    tls_mbedtls_params p;
    const char *mode;
    FILE *f;
    size_t ca_len;
    int fd, rc;

    if (argc < 6) {
        fprintf(stderr, "usage: %s MODE HOST PORT NAME CA [ARGS]\n", argv[0]);
        return 2;
    }
    mode = argv[1];
    f = fopen(argv[5], "rb");
    ca_len = f != NULL ? fread(ca, 1, sizeof ca - 1, f) : 0;
    if (f == NULL || ca_len == 0)
        return 2;
    fclose(f);
    ca[ca_len++] = '\0'; /* PEM: mbedTLS wants the terminating NUL counted */

    host_hooks_count_heap();
    printf("conn_size=%zu\n", sizeof conn);
    fd = tcp_connect(argv[2], argv[3]);
    if (fd < 0) {
        perror("connect");
        return 2;
    }
    if (strcmp(mode, "fill") == 0 || strcmp(mode, "stream") == 0) {
        int small = 16 * 1024; /* a small send buffer fills sooner */
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    }
    memset(&p, 0, sizeof p);
    p.fd = fd;
    p.server_name = argv[4];
    p.ca = ca;
    p.ca_len = ca_len;
    p.entropy = host_hooks_entropy;
    p.unix_time_s = getenv("TLS_TEST_NO_CLOCK") ? NULL : host_hooks_unix_time;
    if (tls_mbedtls_open(&conn, &p) != 0) {
        rc = failed(&conn, "open");
    } else if (strcmp(mode, "silent") == 0) {
        rc = silent(&conn, fd);
    } else if (handshake(&conn, fd) != 0) {
        rc = failed(&conn, "handshake");
        if (strcmp(mode, "refuse") == 0)
            rc = 0; /* refused, as it must be: the test checks the reason */
    } else if (strcmp(mode, "refuse") == 0) {
        printf("handshake=ok\n");
        rc = 1;
    } else if (strcmp(mode, "https") == 0 && argc >= 8) {
        rc = https_get(&conn, fd, argv[4], argv[6], argv[7]);
    } else if (strcmp(mode, "mqtt") == 0) {
        rc = mqtt_connect(&conn, fd);
    } else if (strcmp(mode, "fill") == 0) {
        rc = fill(&conn);
    } else if (strcmp(mode, "stream") == 0 && argc >= 7) {
        rc = stream(&conn, fd, (size_t)strtoul(argv[6], NULL, 10));
    } else {
        rc = 2;
    }
    printf("heap_live_open=%zu\n", host_hooks_heap_live());
    tls_mbedtls_close(&conn);
    tls_mbedtls_close(&conn); /* twice is allowed */
    close(fd);
    printf("heap_peak=%zu\nheap_blocks_peak=%zu\n", host_hooks_heap_peak(),
           host_hooks_blocks_peak());
    printf("heap_live_after_close=%zu\nblocks_live_after_close=%zu\n", host_hooks_heap_live(),
           host_hooks_blocks_live());
    if (host_hooks_heap_live() != 0 || host_hooks_blocks_live() != 0)
        rc = 1;
    printf("result=%d\n", rc);
    return rc;
}
