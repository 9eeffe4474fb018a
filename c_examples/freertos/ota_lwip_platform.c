/* ota_lwip_platform: see ota_lwip_platform.h. */
#include "ota_lwip_platform.h"

#include <errno.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

/* 64-bit milliseconds from the 32-bit tick count, extended across wraps (one caller: the OTA
 * task). */
static uint64_t now_ms(void *user)
{
    static uint32_t last;
    static uint64_t high;
    uint32_t t = (uint32_t)xTaskGetTickCount();
    (void)user;
    if (t < last)
        high += 1ull << 32;
    last = t;
    return (high + t) * 1000u / configTICK_RATE_HZ;
}

/* errno after a failed non-blocking call: try again later, or give up. */
static int32_t would_block_or_error(void)
{
    return (errno == EWOULDBLOCK || errno == EAGAIN || errno == EINPROGRESS || errno == EALREADY)
               ? OTA_NET_WOULD_BLOCK
               : OTA_NET_ERROR;
}

static int32_t net_connect(void *user, int32_t channel, const char *host, uint16_t port,
                           uint32_t flags)
{
    ota_lwip_net *net = user;
    struct sockaddr_in to;
    int h, fd, one = 1;
    (void)channel;
#if !OTA_LWIP_WITH_TLS
    if (flags & OTA_NET_TLS)
        return OTA_NET_ERROR; /* built without TLS: never fall back to clear text */
#endif
    for (h = 0; h < OTA_LWIP_MAX_SOCKS && net->sock[h].used; h++)
        ;
    if (h == OTA_LWIP_MAX_SOCKS || net->resolve == NULL)
        return OTA_NET_ERROR;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = lwip_htons(port);
    if (net->resolve(net->resolve_ctx, host, &to.sin_addr) != 0)
        return OTA_NET_ERROR;
    fd = lwip_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd < 0)
        return OTA_NET_ERROR;
    (void)lwip_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (lwip_fcntl(fd, F_SETFL, O_NONBLOCK) != 0
        || (lwip_connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)) {
        (void)lwip_close(fd);
        return OTA_NET_ERROR;
    }
    net->sock[h].fd = fd;
    net->sock[h].tls = (flags & OTA_NET_TLS) != 0;
#if OTA_LWIP_WITH_TLS
    if (net->sock[h].tls) {
        tls_mbedtls_params params = {
            .fd = fd,
            .server_name = host,
            .ca = net->ca,
            .ca_len = net->ca_len,
            .entropy = net->entropy,
            .unix_time_s = net->unix_time_s,
            .ctx = net->tls_ctx,
        };
        if (tls_mbedtls_open(&net->sock[h].conn, &params) != 0) {
            if (net->on_tls_failure)
                net->on_tls_failure(net->tls_ctx, &net->sock[h].conn);
            tls_mbedtls_close(&net->sock[h].conn);
            (void)lwip_close(fd);
            return OTA_NET_ERROR;
        }
    }
#endif
    net->sock[h].used = true;
    return h;
}

static bool valid(const ota_lwip_net *net, int32_t h)
{
    return h >= 0 && h < OTA_LWIP_MAX_SOCKS && net->sock[h].used;
}

#if OTA_LWIP_WITH_TLS
static int32_t tls_result(ota_lwip_net *net, int32_t h, int r)
{
    if (r >= 0)
        return r;
    if (r == TLS_MBEDTLS_WOULD_BLOCK)
        return OTA_NET_WOULD_BLOCK;
    if (net->on_tls_failure)
        net->on_tls_failure(net->tls_ctx, &net->sock[h].conn);
    return OTA_NET_ERROR;
}
#endif

static int32_t net_send(void *user, int32_t h, const uint8_t *buf, size_t len)
{
    ota_lwip_net *net = user;
    int n;
    if (!valid(net, h))
        return OTA_NET_ERROR;
#if OTA_LWIP_WITH_TLS
    if (net->sock[h].tls)
        return tls_result(net, h, tls_mbedtls_send(&net->sock[h].conn, buf, len));
#endif
    n = lwip_send(net->sock[h].fd, buf, len, MSG_DONTWAIT);
    if (n > 0)
        return n;
    return n == 0 ? OTA_NET_WOULD_BLOCK : would_block_or_error();
}

static int32_t net_recv(void *user, int32_t h, uint8_t *buf, size_t len)
{
    ota_lwip_net *net = user;
    int n;
    if (!valid(net, h))
        return OTA_NET_ERROR;
#if OTA_LWIP_WITH_TLS
    if (net->sock[h].tls)
        return tls_result(net, h, tls_mbedtls_recv(&net->sock[h].conn, buf, len));
#endif
    n = lwip_recv(net->sock[h].fd, buf, len, MSG_DONTWAIT);
    if (n >= 0)
        return n; /* 0: the peer closed */
    return would_block_or_error();
}

static void net_close(void *user, int32_t h)
{
    ota_lwip_net *net = user;
    if (!valid(net, h))
        return;
#if OTA_LWIP_WITH_TLS
    if (net->sock[h].tls)
        tls_mbedtls_close(&net->sock[h].conn);
#endif
    (void)lwip_close(net->sock[h].fd);
    net->sock[h].used = false;
}

void ota_lwip_platform(ota_platform *p, ota_lwip_net *net)
{
    p->user = net;
    p->now_ms = now_ms;
    p->net_connect = net_connect;
    p->net_send = net_send;
    p->net_recv = net_recv;
    p->net_close = net_close;
}
