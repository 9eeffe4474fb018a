/*
 * ota_over_mbedtls: the library in host-TLS mode (OTA_FLAG_MQTT_TLS | OTA_FLAG_HOST_TLS) with
 * c_examples/freertos/tls_mbedtls.c as its TLS, against the stand-in (tests/tls_mbedtls.rs):
 * MQTT/TLS to mosquitto, the offer, the https download, until the image is verified in the
 * slot (OTA_EVENT_IMAGE_READY). The net callbacks are what a firmware port writes over lwIP
 * (here POSIX sockets, the same BSD calls); posix_platform.c gives the clock, slot and store.
 *
 *   ota_over_mbedtls DIR PRODUCT_ID DEVICE_NAME SECRET BROKER_PORT CA_PEM
 *
 * Prints key=value lines; exits 0 once the image is ready, 1 on a failure or after 60 s.
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
#include "posix_platform.h"
#include "qcloud_ota.h"
#include "tls_mbedtls.h"

/* ---- the port: sockets with tls_mbedtls --------------------------------------------------------- */

typedef struct {
    posix_platform plat; /* first: posix_platform's callbacks get this struct as their user */
    int image_ready, failed, tls_connections, plain_connections;
    const unsigned char *ca;
    size_t ca_len;
    struct {
        int fd; /* -1: free */
        tls_mbedtls_conn conn;
    } socks[2];
} port;

static int32_t net_connect(void *user, int32_t channel, const char *host, uint16_t port_no,
                           uint32_t flags)
{
    port *p = user;
    struct sockaddr_in a;
    int i, fd;
    (void)channel;
    if (!(flags & OTA_NET_TLS)) { /* every connection of this configuration must be TLS */
        p->plain_connections++;
        return OTA_NET_ERROR;
    }
    for (i = 0; i < 2 && p->socks[i].fd >= 0; i++)
        ;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port_no);
    if (i == 2 || inet_pton(AF_INET, host, &a.sin_addr) != 1) /* DNS: not on this bench */
        return OTA_NET_ERROR;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0
        || (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        return OTA_NET_ERROR;
    }
    {
        tls_mbedtls_params tp = {fd, host, p->ca, p->ca_len, host_hooks_entropy,
                                host_hooks_unix_time, NULL};
        if (tls_mbedtls_open(&p->socks[i].conn, &tp) != 0) {
            tls_mbedtls_close(&p->socks[i].conn);
            close(fd);
            return OTA_NET_ERROR;
        }
    }
    p->socks[i].fd = fd;
    p->tls_connections++;
    printf("connect=%s:%u\n", host, (unsigned)port_no);
    return i;
}

/* tls_mbedtls's results as net_send/net_recv return them. */
static int32_t net_result(port *p, int i, int32_t r, const char *what)
{
    if (r >= 0)
        return r;
    if (r == TLS_MBEDTLS_WOULD_BLOCK)
        return OTA_NET_WOULD_BLOCK;
    printf("tls_failure=%s %s mbedtls=-0x%04x\n", what,
           tls_mbedtls_failure_name(tls_mbedtls_error(&p->socks[i].conn)),
           (unsigned)-tls_mbedtls_mbedtls_error(&p->socks[i].conn));
    return OTA_NET_ERROR;
}

static int32_t net_send(void *user, int32_t sock, const uint8_t *buf, size_t len)
{
    port *p = user;
    if (sock < 0 || sock >= 2 || p->socks[sock].fd < 0)
        return OTA_NET_ERROR;
    return net_result(p, sock, tls_mbedtls_send(&p->socks[sock].conn, buf, len), "send");
}

static int32_t net_recv(void *user, int32_t sock, uint8_t *buf, size_t len)
{
    port *p = user;
    if (sock < 0 || sock >= 2 || p->socks[sock].fd < 0)
        return OTA_NET_ERROR;
    return net_result(p, sock, tls_mbedtls_recv(&p->socks[sock].conn, buf, len), "recv");
}

static void net_close(void *user, int32_t sock)
{
    port *p = user;
    if (sock < 0 || sock >= 2 || p->socks[sock].fd < 0)
        return;
    tls_mbedtls_close(&p->socks[sock].conn); /* close_notify */
    close(p->socks[sock].fd);
    p->socks[sock].fd = -1;
}

static void on_event(void *user, const ota_event *ev)
{
    port *p = user;
    if (ev->kind == OTA_EVENT_IMAGE_READY) {
        printf("image_ready=%s %u\n", ev->version, (unsigned)ev->file_size);
        p->image_ready = 1;
    } else if (ev->kind == OTA_EVENT_FAILED) {
        printf("failed=%d %s\n", (int)ev->result_code, ota_strerror(ev->error));
        p->failed = 1;
    } else if (ev->kind == OTA_EVENT_CONNECTED) {
        printf("connected=1\n");
    }
}

int main(int argc, char **argv)
{
    static port p;
    static ota_client client;
    static uint8_t mqtt_rx[2048], mqtt_tx[1024], http_buf[4096];
    static unsigned char ca[64 * 1024];
    ota_config cfg;
    ota_platform plat;
    FILE *f;
    double end;
    struct timespec now;
    int rc;

    if (argc != 7) {
        fprintf(stderr, "usage: %s DIR PRODUCT_ID DEVICE_NAME SECRET BROKER_PORT CA_PEM\n",
                argv[0]);
        return 2;
    }
    f = fopen(argv[6], "rb");
    p.ca_len = f != NULL ? fread(ca, 1, sizeof ca - 1, f) : 0;
    if (f == NULL || p.ca_len == 0)
        return 2;
    fclose(f);
    ca[p.ca_len++] = '\0';
    p.ca = ca;
    p.socks[0].fd = p.socks[1].fd = -1;
    host_hooks_count_heap();
    if (posix_platform_init(&p.plat, argv[1]) != 0)
        return 2;

    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = argv[2];
    cfg.device_name = argv[3];
    cfg.device_secret = argv[4];
    cfg.broker_host = "127.0.0.1";
    cfg.broker_port = (uint16_t)atoi(argv[5]);
    cfg.running_version = "1.0.0";
    cfg.mqtt_rx_buf = mqtt_rx;
    cfg.mqtt_rx_len = sizeof mqtt_rx;
    cfg.mqtt_tx_buf = mqtt_tx;
    cfg.mqtt_tx_len = sizeof mqtt_tx;
    cfg.http_buf = http_buf;
    cfg.http_len = sizeof http_buf;
    cfg.flags = OTA_FLAG_MQTT_TLS | OTA_FLAG_HOST_TLS; /* every connection: tls_mbedtls */
    posix_platform_bind(&p.plat, &p, &plat);
    plat.net_connect = net_connect;
    plat.net_send = net_send;
    plat.net_recv = net_recv;
    plat.net_close = net_close;
    plat.on_event = on_event;
    rc = ota_init(&client, &cfg, &plat);
    if (rc != OTA_OK) {
        printf("ota_init=%s\n", ota_strerror(rc));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    end = (double)now.tv_sec + 60.0;
    while (!p.image_ready && !p.failed) {
        uint32_t ms = ota_poll(&client);
        struct pollfd fds[2];
        int n = 0, pending = 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)now.tv_sec > end)
            break;
        for (int i = 0; i < 2; i++) {
            if (p.socks[i].fd < 0)
                continue;
            pending |= tls_mbedtls_pending(&p.socks[i].conn) > 0;
            fds[n].fd = p.socks[i].fd;
            fds[n].events = POLLIN;
            fds[n++].revents = 0;
        }
        if (ms > 0 && !pending)
            (void)poll(fds, (nfds_t)n, ms < 10 ? (int)ms : 10);
    }
    printf("tls_connections=%d\nplain_connections=%d\nheap_peak=%zu\n", p.tls_connections,
           p.plain_connections, host_hooks_heap_peak());
    ota_deinit(&client);
    posix_platform_close_all(&p.plat);
    posix_platform_deinit(&p.plat);
    printf("heap_live_after_close=%zu\n", host_hooks_heap_live());
    return p.image_ready && host_hooks_heap_live() == 0 ? 0 : 1;
}
