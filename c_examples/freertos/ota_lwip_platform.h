/*
 * ota_lwip_platform: the network half of an ota_platform over lwIP's BSD socket API, used
 * non-blocking, for one FreeRTOS task that owns the ota_client; TLS (OTA_NET_TLS, host-TLS mode)
 * through tls_mbedtls.c when built with OTA_LWIP_WITH_TLS=1. Copy ota_lwip_platform.c/.h (and
 * tls_mbedtls.c/.h) into an STM32Cube, ESP-IDF or plain FreeRTOS + lwIP project; it needs
 * LWIP_SOCKET and LWIP_COMPAT_SOCKETS in lwipopts.h.
 *
 * Names are turned into addresses by your resolve hook (lwip_getaddrinfo when you run DNS, a
 * fixed table, ...): the host name itself still goes to TLS, which checks it against the
 * server's certificate.
 */
#ifndef OTA_LWIP_PLATFORM_H
#define OTA_LWIP_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/sockets.h"
#include "qcloud_ota.h"

#ifndef OTA_LWIP_WITH_TLS
#define OTA_LWIP_WITH_TLS 0
#endif
#if OTA_LWIP_WITH_TLS
#include "tls_mbedtls.h"
#endif

/* One connection per channel: MQTT and HTTP. */
#define OTA_LWIP_MAX_SOCKS 2

/* The IPv4 address to connect to for host; 0 on success. */
typedef int (*ota_lwip_resolve_fn)(void *ctx, const char *host, struct in_addr *out);

typedef struct {
    ota_lwip_resolve_fn resolve;
    void *resolve_ctx;
#if OTA_LWIP_WITH_TLS
    /* The CA that server chains must lead to (PEM with its NUL counted, or DER); the entropy
     * source (a TRNG) and optional wall clock, as tls_mbedtls.h describes them. */
    const unsigned char *ca;
    size_t ca_len;
    tls_mbedtls_entropy_fn entropy;
    tls_mbedtls_time_fn unix_time_s;
    void *tls_ctx;
    /* Called when a TLS connection fails (tls_mbedtls_error() etc. say why), e.g. to log it:
     * the library only learns that the connection failed. */
    void (*on_tls_failure)(void *ctx, const tls_mbedtls_conn *conn);
#endif
    /* private */
    struct {
        int fd;
        bool used;
        bool tls;
#if OTA_LWIP_WITH_TLS
        tls_mbedtls_conn conn;
#endif
    } sock[OTA_LWIP_MAX_SOCKS];
} ota_lwip_net;

/* Sets p->net_connect/net_send/net_recv/net_close and now_ms; p->user must be net. */
void ota_lwip_platform(ota_platform *p, ota_lwip_net *net);

#endif
