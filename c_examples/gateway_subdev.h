/*
 * gateway_subdev: brings a gateway's sub-devices online on Tencent Cloud IoT Explorer, so that
 * the gateway may use their topics ($ota/update/{sub pid}/{sub dn}, $ota/report/...) on its own
 * MQTT connection. Protocol (Tencent's gateway docs and SDKs; ../shared/reference/gateway.md):
 *
 *   subscribe  $gateway/operation/result/{gw pid}/{gw dn}   QoS1, before any request
 *   publish    $gateway/operation/{gw pid}/{gw dn}           QoS0, one device per request:
 *              {"type":"online","payload":{"devices":[{"product_id":"P","device_name":"D"}]}}
 *   reply      the same with "result":R in the device entry: 0 online; -1 the gateway is not
 *              bound to this sub-device; -2 system error; 801..810 bind errors
 *   "offline"  the same shape, when the gateway stops serving a sub-device
 *
 * A sub-device's topics may be used only while it is online; on every new MQTT connection the
 * gateway sends `online` again (the cloud's online state belongs to a connection). The helper
 * needs no heap and no JSON library, and knows nothing of libmosquitto or of qcloud-ota: the
 * host hands it the MQTT events and gets told, per sub-device, when it came online (start or
 * resume that sub-device's ota_client: attach it, ota_mqtt_connected()) or why it could not.
 *
 * The host's side, from its MQTT client's callbacks (never from inside gw_subdev_* callbacks):
 *   CONNACK              gw_subdev_connected()     subscribes the result topic
 *   SUBACK               gw_subdev_acked(token)    then the `online` requests go out
 *   connection lost      gw_subdev_disconnected()  every sub-device is offline
 *   any PUBLISH          gw_subdev_input()         takes the result topic's messages
 *   main loop            gw_subdev_poll(now)       sends requests, times out unanswered ones
 *
 * Not done: bind/unbind (the topology is made in the console, as Tencent's sub-device OTA sample
 * assumes), describe_sub_devices, and the messages the cloud sends unasked (change, unbind_all,
 * search_devices), which gw_subdev_input() takes and ignores.
 */
#ifndef GATEWAY_SUBDEV_H
#define GATEWAY_SUBDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SUBDEV_MAX 8
/* As qcloud-ota's OTA_PRODUCT_ID_MAX and OTA_DEVICE_NAME_MAX (Tencent's are 10 and up to 48). */
#define GW_SUBDEV_PID_MAX 32
#define GW_SUBDEV_DN_MAX 64
/* No reply this long after an `online` request: that sub-device failed (Tencent's SDKs wait
 * about 20 s). */
#define GW_SUBDEV_REPLY_TIMEOUT_MS 20000u
#define GW_SUBDEV_TOPIC_MAX (sizeof "$gateway/operation/result//" + GW_SUBDEV_PID_MAX + GW_SUBDEV_DN_MAX)

/* A reply result the cloud never sends: no reply came in time. */
#define GW_SUBDEV_RESULT_TIMEOUT (-1000)

typedef enum {
    GW_SUBDEV_OFFLINE = 0, /* not online (no connection yet, lost, or taken offline) */
    GW_SUBDEV_WANTED,      /* `online` to be sent once the result topic is subscribed */
    GW_SUBDEV_PENDING,     /* `online` sent, waiting for the reply */
    GW_SUBDEV_ONLINE,      /* result 0: its topics may be used on this connection */
    GW_SUBDEV_REFUSED,     /* result != 0 or no reply: skipped until gw_subdev_retry() */
    GW_SUBDEV_STOPPED      /* gw_subdev_offline(): the gateway no longer serves it */
} gw_subdev_state;

/* The host's MQTT client. publish: QoS0, returns >= 0 when accepted, < 0 to be asked again at
 * the next gw_subdev_poll(). subscribe: returns a positive token that the host reports with
 * gw_subdev_acked() on the SUBACK, 0 when it cannot report SUBACKs (taken as subscribed), < 0 to
 * be asked again. `user` is gw_subdev.user. */
typedef int32_t (*gw_subdev_publish_fn)(void *user, const char *topic, const uint8_t *payload,
                                        size_t len);
typedef int32_t (*gw_subdev_subscribe_fn)(void *user, const char *topic);
/* Sub-device `index` changed to `state`; `result` is the cloud's (or GW_SUBDEV_RESULT_TIMEOUT)
 * for ONLINE and REFUSED, 0 otherwise. Called from gw_subdev_input/poll/disconnected/offline. */
typedef void (*gw_subdev_change_fn)(void *user, int index, gw_subdev_state state, int result);

typedef struct {
    char product_id[GW_SUBDEV_PID_MAX + 1];
    char device_name[GW_SUBDEV_DN_MAX + 1];
    gw_subdev_state state;
    uint64_t sent_ms; /* when `online` went out (PENDING) */
} gw_subdev_entry;

typedef struct {
    char op_topic[GW_SUBDEV_TOPIC_MAX];     /* $gateway/operation/{pid}/{dn} */
    char result_topic[GW_SUBDEV_TOPIC_MAX]; /* $gateway/operation/result/{pid}/{dn} */
    gw_subdev_entry subs[GW_SUBDEV_MAX];
    int n;

    bool connected;     /* between gw_subdev_connected and gw_subdev_disconnected */
    bool subscribe_due; /* the result topic still to be subscribed on this connection */
    int32_t sub_token;  /* the SUBSCRIBE awaiting its SUBACK (> 0), 0 none */
    bool subscribed;    /* the result topic is subscribed on this connection */

    gw_subdev_publish_fn publish;
    gw_subdev_subscribe_fn subscribe;
    gw_subdev_change_fn on_change;
    void *user;
} gw_subdev;

/* The gateway's identity and the host's callbacks. Returns 0, or -1 when a field is missing or
 * does not fit. */
int gw_subdev_init(gw_subdev *g, const char *gw_product_id, const char *gw_device_name,
                   gw_subdev_publish_fn publish, gw_subdev_subscribe_fn subscribe,
                   gw_subdev_change_fn on_change, void *user);

/* Add a sub-device to bring online (at the next connection, or now if connected). Returns its
 * index (0, 1, ... in order of adding), or -1 when full, duplicated or too long. */
int gw_subdev_add(gw_subdev *g, const char *product_id, const char *device_name);

/* The host's MQTT events (see the top of this file). */
void gw_subdev_connected(gw_subdev *g);
void gw_subdev_disconnected(gw_subdev *g);
void gw_subdev_acked(gw_subdev *g, int32_t token);
/* Returns true when the message was the result topic's (taken, whatever it said), false for
 * any other topic (hand it to the ota_clients). Malformed replies are ignored. */
bool gw_subdev_input(gw_subdev *g, const char *topic, const uint8_t *payload, size_t len);

/* Send what is due, time out unanswered requests. Returns the ms until it wants to run again. */
uint32_t gw_subdev_poll(gw_subdev *g, uint64_t now_ms);

/* The gateway stops serving sub-device `index` (after its ota_client was stopped): `offline`
 * is sent when connected, and it is not brought online again. */
void gw_subdev_offline(gw_subdev *g, int index);

/* Try a REFUSED sub-device again (e.g. after a console bind). */
void gw_subdev_retry(gw_subdev *g, int index);

gw_subdev_state gw_subdev_get_state(const gw_subdev *g, int index);

/* A short text for a reply's result code ("not bound to this gateway", ...). */
const char *gw_subdev_result_text(int result);

#endif /* GATEWAY_SUBDEV_H */
