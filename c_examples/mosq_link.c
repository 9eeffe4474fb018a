/*
 * mosq_link: a host-owned MQTT connection (libmosquitto) shared by qcloud-ota clients. See
 * mosq_link.h.
 *
 * PORT: on a device this is whatever MQTT client the firmware already runs (Tencent's C SDK,
 * Paho Embedded, coreMQTT, a modem's AT+MQTT commands): the same five hand-overs to the library
 * (connected, disconnected, input, publish+acked, subscribe) wrap its API.
 */
#define _POSIX_C_SOURCE 200809L

#include "mosq_link.h"

#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *client_name(const mosq_link *l, int i)
{
    return i >= 0 && i < MOSQ_LINK_MAX_CLIENTS && l->names[i] ? l->names[i] : "?";
}

static int copy(char *out, size_t cap, const char *in)
{
    size_t n = strlen(in);
    if (n >= cap)
        return -1;
    memcpy(out, in, n + 1);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Connection state                                                                            */
/* ------------------------------------------------------------------------------------------- */

/* The connection (or the attempt) is gone. Safe to call twice and from libmosquitto's callbacks:
 * it only marks the handle dead (destroyed at the next attempt) and tells the clients. */
static void link_down(mosq_link *l, const char *why)
{
    int i;
    bool was_up = l->connected;

    if (l->dead)
        return;
    l->dead = true;
    l->connected = false;
    /* Acknowledgements of the lost connection never come: the library re-sends what it still
     * needs after ota_mqtt_connected(). */
    l->n_inflight = 0;
    l->n_acked = 0;
    if (was_up) {
        posix_log(l->log, POSIX_LOG_WARN, "mqtt", "connection lost: %s; reconnecting in %lus", why,
                  (unsigned long)((l->next_attempt_ms > now_ms() ? l->next_attempt_ms - now_ms()
                                                                 : 0) / 1000u));
        for (i = 0; i < MOSQ_LINK_MAX_CLIENTS; i++) {
            if (l->clients[i] != NULL && l->ready[i])
                ota_mqtt_disconnected(l->clients[i]);
            l->ready[i] = false;
        }
        if (l->hooks.disconnected != NULL)
            l->hooks.disconnected(l->hooks.user);
    } else {
        posix_log(l->log, POSIX_LOG_WARN, "mqtt", "connection attempt failed: %s; next in %lus",
                  why,
                  (unsigned long)((l->next_attempt_ms > now_ms() ? l->next_attempt_ms - now_ms()
                                                                 : 0) / 1000u));
    }
}

/* libmosquitto callbacks. They run inside mosquitto_loop_read/write/misc (called from
 * mosq_link_service, outside ota_poll), except on_publish for QoS0, which may run inside
 * mosquitto_publish, i.e. inside ota_poll: so acknowledgements are only queued here. */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mosq_link *l = obj;
    int i;
    (void)mosq;

    if (rc != 0) {
        char why[96];
        snprintf(why, sizeof why, "broker refused: %s (%d)", mosquitto_connack_string(rc), rc);
        link_down(l, why);
        return;
    }
    l->connected = true;
    l->connects++;
    l->backoff_ms = MOSQ_LINK_BACKOFF_MIN_MS;
    posix_log(l->log, POSIX_LOG_INFO, "mqtt", "connected to %s:%u as %s%s", l->host,
              (unsigned)l->port, l->product_id, l->device_name);
    if (l->hooks.connected != NULL) {
        l->hooks.connected(l->hooks.user); /* the host says when each client is ready */
        return;
    }
    for (i = 0; i < MOSQ_LINK_MAX_CLIENTS; i++)
        mosq_link_client_ready(l, i);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    link_down(obj, rc == 0 ? "disconnected" : mosquitto_strerror(rc));
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    mosq_link *l = obj;
    int i, taken = 0;
    (void)mosq;

    l->messages++;
    /* Offer it to each client: each takes only its own update topic. (Comparing m->topic with
     * each client's ota_update_topic() first would do the same.) */
    for (i = 0; i < MOSQ_LINK_MAX_CLIENTS; i++) {
        if (l->clients[i] == NULL)
            continue;
        if (ota_mqtt_input(l->clients[i], m->topic, m->payload, (size_t)m->payloadlen) == OTA_OK)
            taken++;
    }
    if (taken == 0 && l->hooks.message != NULL) {
        l->hooks.message(l->hooks.user, m->topic, m->payload, (size_t)m->payloadlen);
    } else if (taken == 0) {
        l->unrouted++;
        posix_log(l->log, POSIX_LOG_DEBUG, "mqtt", "message on %s (%d bytes) for no client",
                  m->topic, m->payloadlen);
    }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    mosq_link *l = obj;
    int i;
    (void)mosq;

    for (i = 0; i < l->n_inflight; i++) {
        if (l->inflight[i].mid != mid)
            continue;
        if (l->n_acked < MOSQ_LINK_MAX_INFLIGHT)
            l->acked[l->n_acked++] = l->inflight[i];
        l->inflight[i] = l->inflight[--l->n_inflight];
        return;
    }
    /* A QoS0 message went out (mid never given to the library as a token). */
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted)
{
    mosq_link *l = obj;
    (void)mosq;
    if (l->hooks.subacked != NULL && count >= 1)
        l->hooks.subacked(l->hooks.user, mid, granted[0]);
    /* The library has no way to hear a refused subscription: it counts the subscription as made
     * once mqtt_subscribe returned 0. At least say so in the log. */
    if (count >= 1 && granted[0] >= 0x80)
        posix_log(l->log, POSIX_LOG_ERROR, "mqtt", "the broker refused a subscription (0x%02x)",
                  (unsigned)granted[0]);
}

/* A fresh handle and a blocking TCP connect; CONNECT is queued and CONNACK arrives through
 * mosquitto_loop_read. PORT: DNS and connect() block here (a refused port returns at once). */
static void link_connect(mosq_link *l, uint64_t now)
{
    tencent_credentials cred;
    char connid[6];
    int rc;

    if (l->mosq != NULL) {
        mosquitto_destroy(l->mosq);
        l->mosq = NULL;
    }
    l->dead = false;
    l->connected = false;
    l->attempt_ms = now;
    l->next_attempt_ms = now + l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > MOSQ_LINK_BACKOFF_MAX_MS ? MOSQ_LINK_BACKOFF_MAX_MS
                                                                 : l->backoff_ms * 2;

    tencent_make_connid(l->seed ^ now ^ ((uint64_t)l->connects << 32), connid);
    l->seed = l->seed * 6364136223846793005u + 1442695040888963407u;
    if (tencent_sign_credentials(l->product_id, l->device_name, l->secret, connid, 2147483647u,
                                 &cred)
        != 0) {
        l->dead = true;
        posix_log(l->log, POSIX_LOG_ERROR, "mqtt", "cannot sign the credentials");
        return;
    }
    l->mosq = mosquitto_new(cred.client_id, true, l);
    if (l->mosq == NULL) {
        l->dead = true;
        posix_log(l->log, POSIX_LOG_ERROR, "mqtt", "mosquitto_new: %s", strerror(errno));
        return;
    }
    mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_username_pw_set(l->mosq, cred.username, cred.password);
    memset(&cred.password, 0, sizeof cred.password);
    mosquitto_connect_callback_set(l->mosq, on_connect);
    mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
    mosquitto_message_callback_set(l->mosq, on_message);
    mosquitto_publish_callback_set(l->mosq, on_publish);
    mosquitto_subscribe_callback_set(l->mosq, on_subscribe);

    posix_log(l->log, POSIX_LOG_INFO, "mqtt", "connecting to %s:%u (client id %s, connid %s)",
              l->host, (unsigned)l->port, cred.client_id, connid);
    rc = mosquitto_connect(l->mosq, l->host, l->port, MOSQ_LINK_KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS)
        link_down(l, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

/* ------------------------------------------------------------------------------------------- */
/* API                                                                                         */
/* ------------------------------------------------------------------------------------------- */

int mosq_link_init(mosq_link *l, posix_platform *log, const char *host, uint16_t port,
                   const char *product_id, const char *device_name, const char *device_secret)
{
    static bool lib_ready;
    tencent_credentials probe;

    memset(l, 0, sizeof *l);
    l->log = log;
    l->port = port;
    l->backoff_ms = MOSQ_LINK_BACKOFF_MIN_MS;
    l->seed = now_ms() ^ ((uint64_t)getpid() << 20);
    if (copy(l->host, sizeof l->host, host) || copy(l->product_id, sizeof l->product_id, product_id)
        || copy(l->device_name, sizeof l->device_name, device_name)
        || copy(l->secret, sizeof l->secret, device_secret)) {
        fprintf(stderr, "mqtt: host, product id, device name or secret too long\n");
        return -1;
    }
    if (tencent_sign_credentials(product_id, device_name, device_secret, "Ab1Cd", 1u, &probe)
        != 0) {
        fprintf(stderr, "mqtt: the device secret of %s/%s is not valid base64\n", product_id,
                device_name);
        return -1;
    }
    if (!lib_ready) {
        if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mqtt: mosquitto_lib_init failed\n");
            return -1;
        }
        lib_ready = true;
    }
    return 0;
}

void mosq_link_set_client(mosq_link *l, int index, ota_client *c, const char *name)
{
    int i;

    if (index < 0 || index >= MOSQ_LINK_MAX_CLIENTS)
        return;
    if (c == NULL) {
        /* Forget its pending acknowledgements: a re-initialised client does not know them. */
        for (i = 0; i < l->n_inflight;)
            if (l->inflight[i].client == index)
                l->inflight[i] = l->inflight[--l->n_inflight];
            else
                i++;
        for (i = 0; i < l->n_acked;)
            if (l->acked[i].client == index)
                l->acked[i] = l->acked[--l->n_acked];
            else
                i++;
    }
    l->clients[index] = c;
    l->ready[index] = false;
    if (name != NULL)
        l->names[index] = name;
    if (l->hooks.connected == NULL)
        mosq_link_client_ready(l, index);
}

void mosq_link_set_hooks(mosq_link *l, const mosq_link_hooks *hooks)
{
    l->hooks = *hooks;
}

void mosq_link_client_ready(mosq_link *l, int index)
{
    if (index < 0 || index >= MOSQ_LINK_MAX_CLIENTS || l->clients[index] == NULL
        || l->ready[index] || !l->connected)
        return;
    l->ready[index] = true;
    ota_mqtt_connected(l->clients[index]);
}

int32_t mosq_link_publish_host(mosq_link *l, const char *topic, const uint8_t *payload,
                               size_t len)
{
    int rc;

    if (!l->connected || l->mosq == NULL)
        return -1;
    rc = mosquitto_publish(l->mosq, NULL, topic, (int)len, payload, 0, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        posix_log(l->log, POSIX_LOG_WARN, "mqtt", "publish on %s failed: %s", topic,
                  mosquitto_strerror(rc));
        return -1;
    }
    l->published++;
    return 0;
}

int32_t mosq_link_subscribe_host(mosq_link *l, const char *topic, uint8_t qos)
{
    int mid = 0, rc;

    if (!l->connected || l->mosq == NULL)
        return -1;
    rc = mosquitto_subscribe(l->mosq, &mid, topic, qos);
    if (rc != MOSQ_ERR_SUCCESS) {
        posix_log(l->log, POSIX_LOG_WARN, "mqtt", "subscribe %s failed: %s", topic,
                  mosquitto_strerror(rc));
        return -1;
    }
    posix_log(l->log, POSIX_LOG_INFO, "mqtt", "subscribed %s (QoS%u) for the gateway", topic,
              (unsigned)qos);
    return mid > 0 ? mid : 0;
}

int32_t mosq_link_publish(mosq_link *l, int index, const char *topic, const uint8_t *payload,
                          size_t len, uint8_t qos)
{
    int mid = 0, rc;

    if (!l->connected || l->mosq == NULL || index < 0 || index >= MOSQ_LINK_MAX_CLIENTS
        || !l->ready[index])
        return OTA_NET_WOULD_BLOCK;
    if (qos > 0 && l->n_inflight >= MOSQ_LINK_MAX_INFLIGHT)
        return OTA_NET_WOULD_BLOCK; /* too many unacknowledged: the library asks again later */
    rc = mosquitto_publish(l->mosq, &mid, topic, (int)len, payload, qos, false);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
        return OTA_NET_WOULD_BLOCK; /* on_disconnect follows; the library re-sends after reconnecting */
    if (rc != MOSQ_ERR_SUCCESS) {
        posix_log(l->log, POSIX_LOG_WARN, "mqtt", "publish on %s for %s failed: %s", topic,
                  client_name(l, index), mosquitto_strerror(rc));
        return OTA_NET_ERROR;
    }
    l->published++;
    if (qos == 0)
        return 0; /* no acknowledgement will come */
    /* libmosquitto reports this PUBACK as on_publish(mid): mid (1..65535) is the token. */
    l->inflight[l->n_inflight].mid = mid;
    l->inflight[l->n_inflight].client = index;
    l->n_inflight++;
    return mid;
}

int32_t mosq_link_subscribe(mosq_link *l, int index, const char *topic, uint8_t qos)
{
    int rc;

    if (!l->connected || l->mosq == NULL || index < 0 || index >= MOSQ_LINK_MAX_CLIENTS
        || !l->ready[index])
        return OTA_NET_WOULD_BLOCK;
    rc = mosquitto_subscribe(l->mosq, NULL, topic, qos);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
        return OTA_NET_WOULD_BLOCK;
    if (rc != MOSQ_ERR_SUCCESS) {
        posix_log(l->log, POSIX_LOG_WARN, "mqtt", "subscribe %s for %s failed: %s", topic,
                  client_name(l, index), mosquitto_strerror(rc));
        return OTA_NET_ERROR;
    }
    posix_log(l->log, POSIX_LOG_INFO, "mqtt", "subscribed %s (QoS%u) for %s", topic, (unsigned)qos,
              client_name(l, index));
    return 0;
}

int mosq_link_pollfd(mosq_link *l, struct pollfd *pfd)
{
    int fd;

    if (l->mosq == NULL || l->dead)
        return 0;
    fd = mosquitto_socket(l->mosq);
    if (fd < 0)
        return 0;
    pfd->fd = fd;
    pfd->events = (short)(POLLIN | (mosquitto_want_write(l->mosq) ? POLLOUT : 0));
    pfd->revents = 0;
    return 1;
}

void mosq_link_service(mosq_link *l, const struct pollfd *pfd)
{
    uint64_t now = now_ms();
    int rc, i;

    if (l->mosq != NULL && !l->dead) {
        if (pfd != NULL && (pfd->revents & (POLLIN | POLLHUP | POLLERR))) {
            rc = mosquitto_loop_read(l->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS)
                link_down(l, mosquitto_strerror(rc)); /* no-op if on_disconnect said it */
        }
        if (!l->dead && mosquitto_want_write(l->mosq)) {
            rc = mosquitto_loop_write(l->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS)
                link_down(l, mosquitto_strerror(rc));
        }
        if (!l->dead) {
            rc = mosquitto_loop_misc(l->mosq); /* keepalive: PINGREQ, and the PINGRESP deadline */
            if (rc != MOSQ_ERR_SUCCESS)
                link_down(l, mosquitto_strerror(rc));
        }
        if (!l->dead && !l->connected && now - l->attempt_ms > MOSQ_LINK_CONNACK_TIMEOUT_MS)
            link_down(l, "no CONNACK");
    }
    if ((l->mosq == NULL || l->dead) && now >= l->next_attempt_ms)
        link_connect(l, now);

    /* PUBACKs, each to the client that published the message. */
    for (i = 0; i < l->n_acked; i++) {
        mosq_link_token t = l->acked[i];
        if (l->clients[t.client] != NULL) {
            ota_mqtt_acked(l->clients[t.client], t.mid);
            l->acks++;
        }
    }
    l->n_acked = 0;
}

uint32_t mosq_link_wait_ms(const mosq_link *l)
{
    uint64_t now = now_ms();
    if (l->n_acked > 0)
        return 0;
    if (l->mosq == NULL || l->dead)
        return l->next_attempt_ms > now ? (uint32_t)(l->next_attempt_ms - now) : 0;
    return 1000; /* mosquitto_loop_misc keeps the connection alive */
}

/* After DISCONNECT: read (and drop) what the broker still sends until it closes, at most
 * MOSQ_LINK_DRAIN_MS. Closing a socket with unread bytes sends a TCP reset, and the broker may
 * then lose what it had not yet read: the last publishes (a gateway's `offline`) and the
 * DISCONNECT itself. */
static void drain(struct mosquitto *mosq)
{
    uint64_t end = now_ms() + MOSQ_LINK_DRAIN_MS;
    int fd = mosquitto_socket(mosq);
    char buf[512];

    if (fd < 0)
        return;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = now_ms();
        if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
            return;
        if (read(fd, buf, sizeof buf) <= 0)
            return; /* the broker closed (or an error): nothing more to drain */
    }
}

void mosq_link_close(mosq_link *l)
{
    if (l->mosq != NULL) {
        bool up = l->connected && !l->dead;
        l->dead = true; /* the on_disconnect that DISCONNECT causes is no loss */
        if (up) {
            mosquitto_disconnect(l->mosq);
            mosquitto_loop_write(l->mosq, 1);
            drain(l->mosq);
        }
        mosquitto_destroy(l->mosq);
        l->mosq = NULL;
    }
    l->connected = false;
    l->dead = true;
    posix_log(l->log, POSIX_LOG_INFO, "mqtt",
              "closed: %lu connection(s), %lu publishes, %lu acknowledged, %lu messages in (%lu "
              "for no client)",
              l->connects, l->published, l->acks, l->messages, l->unrouted);
}
