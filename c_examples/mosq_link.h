/*
 * mosq_link: the host's own MQTT connection (libmosquitto, non-threaded API) shared by one or more
 * qcloud-ota clients in bring-your-own-MQTT mode (OTA_FLAG_HOST_MQTT). Used by ota_byo_demo (one
 * client) and ota_gateway_demo (one client per sub-device on the gateway's connection).
 *
 * What it does for the library, in the terms of qcloud_ota.h:
 *   - signs in as Tencent expects (tencent_sign.h) and reconnects after a loss, attempts at least
 *     MOSQ_LINK_BACKOFF_MIN_MS apart, doubling up to MOSQ_LINK_BACKOFF_MAX_MS;
 *   - CONNACK accepted -> ota_mqtt_connected() on every attached client (with hooks: when the
 *     host says, mosq_link_client_ready()); connection lost -> ota_mqtt_disconnected();
 *   - every PUBLISH received -> ota_mqtt_input() of each attached client (a client takes only its
 *     own ota_update_topic(); the others answer OTA_ERR_INVALID_ARGUMENT);
 *   - mqtt_publish (mosq_link_publish) -> mosquitto_publish(); for QoS1 the message id (mid) is
 *     the library's token and the link remembers which client published it; PUBACK (libmosquitto's
 *     on_publish(mid)) -> ota_mqtt_acked(that client, mid). QoS0 returns 0 (no acknowledgement).
 *   - mqtt_subscribe (mosq_link_subscribe) -> mosquitto_subscribe().
 *
 * Threading: like the library, single-threaded. mosq_link_service() runs libmosquitto's read/write/
 * misc steps and delivers what they produced to the clients; call it from the main loop, never
 * from inside ota_poll(). mosq_link_publish/subscribe are what the clients' ota_platform callbacks
 * call (from inside ota_poll()); they never call back into the library: acknowledgements that
 * libmosquitto reports during a publish are queued and delivered by the next mosq_link_service().
 *
 * A new libmosquitto handle is made for every connection attempt, so QoS1 messages libmosquitto
 * still held from a lost connection are dropped rather than re-sent beside the library's own
 * re-send (the library repeats its unacknowledged reports after ota_mqtt_connected()).
 */
#ifndef MOSQ_LINK_H
#define MOSQ_LINK_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "posix_platform.h"
#include "qcloud_ota.h"
#include "tencent_sign.h"

#define MOSQ_LINK_MAX_CLIENTS 8
/* QoS1 publishes awaiting their PUBACK, over all clients (the library has a few at most each). */
#define MOSQ_LINK_MAX_INFLIGHT 64
#define MOSQ_LINK_BACKOFF_MIN_MS 5000u
#define MOSQ_LINK_BACKOFF_MAX_MS 60000u
/* No CONNACK this long after the TCP connect: give the attempt up. */
#define MOSQ_LINK_CONNACK_TIMEOUT_MS 15000u
#define MOSQ_LINK_KEEPALIVE_S 60
/* mosq_link_close(): the longest wait for the broker to close after DISCONNECT. */
#define MOSQ_LINK_DRAIN_MS 1000u

struct mosquitto;

typedef struct {
    int mid;    /* libmosquitto's message id, the library's token */
    int client; /* index of the client that published it */
} mosq_link_token;

/*
 * Optional hooks for a host that uses the connection itself (the gateway demo: gateway_subdev.h).
 * With `connected` set, the link no longer tells the clients about a new connection: the host
 * calls mosq_link_client_ready() for each client when its topics may be used (a gateway's
 * sub-device once it is online); until then that client's publishes and subscriptions wait.
 * Each runs from mosq_link_service() (libmosquitto's callbacks), never inside ota_poll().
 */
typedef struct {
    void *user;
    void (*connected)(void *user);    /* CONNACK accepted */
    void (*disconnected)(void *user); /* the connection (once accepted) is lost */
    /* A message that no client took. */
    void (*message)(void *user, const char *topic, const uint8_t *payload, size_t len);
    /* The SUBACK of a mosq_link_subscribe_host() token; granted >= 0x80 is a refusal. */
    void (*subacked)(void *user, int token, int granted);
} mosq_link_hooks;

typedef struct {
    struct mosquitto *mosq;     /* the current attempt's handle, NULL before the first */
    bool dead;                  /* the handle's connection is gone: only destroy it */
    bool connected;             /* CONNACK accepted, not lost since */
    posix_platform *log;        /* where log lines go (only its log settings are used) */

    char host[OTA_HOST_MAX + 1];
    uint16_t port;
    char product_id[OTA_PRODUCT_ID_MAX + 1];
    char device_name[OTA_DEVICE_NAME_MAX + 1];
    char secret[129];

    uint64_t attempt_ms;        /* start of the last attempt */
    uint64_t next_attempt_ms;   /* no new attempt before this */
    uint32_t backoff_ms;        /* spacing after the next attempt */
    uint64_t seed;              /* for connection ids */

    ota_client *clients[MOSQ_LINK_MAX_CLIENTS]; /* NULL: no client at that index (yet, or rebooting) */
    const char *names[MOSQ_LINK_MAX_CLIENTS];   /* for log lines */
    bool ready[MOSQ_LINK_MAX_CLIENTS];          /* told about this connection (ota_mqtt_connected) */
    mosq_link_hooks hooks;

    mosq_link_token inflight[MOSQ_LINK_MAX_INFLIGHT]; /* QoS1 mids awaiting PUBACK */
    int n_inflight;
    mosq_link_token acked[MOSQ_LINK_MAX_INFLIGHT];    /* PUBACKs to deliver */
    int n_acked;

    /* Counters for the exit summary. */
    unsigned long connects, published, acks, messages, unrouted;
} mosq_link;

/* Set up (no network yet): the identity the connection signs in with. Returns 0, or -1 after
 * printing why (secret not base64, fields too long, libmosquitto failed). */
int mosq_link_init(mosq_link *l, posix_platform *log, const char *host, uint16_t port,
                   const char *product_id, const char *device_name, const char *device_secret);

/* Attach `c` (initialised with OTA_FLAG_HOST_MQTT) at `index`, or detach with c = NULL (before
 * ota_deinit(); drops its pending acknowledgements). Attaching while connected calls
 * ota_mqtt_connected(c). Not from inside ota_poll(). */
void mosq_link_set_client(mosq_link *l, int index, ota_client *c, const char *name);

/* Install hooks (before the first mosq_link_service()). */
void mosq_link_set_hooks(mosq_link *l, const mosq_link_hooks *hooks);

/* With hooks.connected: the client at `index` may use its topics on this connection now
 * (ota_mqtt_connected()). No-op when not connected or already told. */
void mosq_link_client_ready(mosq_link *l, int index);

/* The host's own QoS0 publish and subscription (not a client's). publish: 0, or < 0 when not
 * connected or refused; subscribe: a positive token for hooks.subacked, or < 0. */
int32_t mosq_link_publish_host(mosq_link *l, const char *topic, const uint8_t *payload,
                               size_t len);
int32_t mosq_link_subscribe_host(mosq_link *l, const char *topic, uint8_t qos);

/* ota_platform.mqtt_publish / mqtt_subscribe for the client at `index` (OTA_NET_WOULD_BLOCK
 * while the client is not ready on the current connection). */
int32_t mosq_link_publish(mosq_link *l, int index, const char *topic, const uint8_t *payload,
                          size_t len, uint8_t qos);
int32_t mosq_link_subscribe(mosq_link *l, int index, const char *topic, uint8_t qos);

/* The connection's socket for poll() in *pfd: returns 1, or 0 when there is none. */
int mosq_link_pollfd(mosq_link *l, struct pollfd *pfd);

/* After poll() (pfd as filled by mosq_link_pollfd with revents set, or NULL): read, write, keep
 * alive, reconnect when due, deliver acknowledgements. */
void mosq_link_service(mosq_link *l, const struct pollfd *pfd);

/* Longest sleep before mosq_link_service() is due again, ms. */
uint32_t mosq_link_wait_ms(const mosq_link *l);

/* Send DISCONNECT (if connected) and release everything. */
void mosq_link_close(mosq_link *l);

#endif /* MOSQ_LINK_H */
