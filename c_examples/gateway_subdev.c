/*
 * gateway_subdev: the online/offline exchange of a Tencent IoT gateway. See gateway_subdev.h.
 */
#include "gateway_subdev.h"

#include <stdio.h>
#include <string.h>

static int copy(char *out, size_t cap, const char *in)
{
    size_t n = in != NULL ? strlen(in) : 0;
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, in, n + 1);
    return 0;
}

static void set_state(gw_subdev *g, int i, gw_subdev_state s, int result)
{
    if (g->subs[i].state == s)
        return;
    g->subs[i].state = s;
    if (g->on_change != NULL)
        g->on_change(g->user, i, s, result);
}

int gw_subdev_init(gw_subdev *g, const char *gw_product_id, const char *gw_device_name,
                   gw_subdev_publish_fn publish, gw_subdev_subscribe_fn subscribe,
                   gw_subdev_change_fn on_change, void *user)
{
    int a, b;

    memset(g, 0, sizeof *g);
    if (gw_product_id == NULL || gw_device_name == NULL || !gw_product_id[0]
        || !gw_device_name[0] || publish == NULL || subscribe == NULL)
        return -1;
    a = snprintf(g->op_topic, sizeof g->op_topic, "$gateway/operation/%s/%s", gw_product_id,
                 gw_device_name);
    b = snprintf(g->result_topic, sizeof g->result_topic, "$gateway/operation/result/%s/%s",
                 gw_product_id, gw_device_name);
    if (a < 0 || b < 0 || (size_t)a >= sizeof g->op_topic || (size_t)b >= sizeof g->result_topic)
        return -1;
    g->publish = publish;
    g->subscribe = subscribe;
    g->on_change = on_change;
    g->user = user;
    return 0;
}

int gw_subdev_add(gw_subdev *g, const char *product_id, const char *device_name)
{
    gw_subdev_entry *e;
    int i;

    if (g->n == GW_SUBDEV_MAX)
        return -1;
    for (i = 0; i < g->n; i++)
        if (strcmp(g->subs[i].product_id, product_id) == 0
            && strcmp(g->subs[i].device_name, device_name) == 0)
            return -1;
    e = &g->subs[g->n];
    memset(e, 0, sizeof *e);
    if (copy(e->product_id, sizeof e->product_id, product_id)
        || copy(e->device_name, sizeof e->device_name, device_name))
        return -1;
    e->state = g->connected ? GW_SUBDEV_WANTED : GW_SUBDEV_OFFLINE;
    return g->n++;
}

void gw_subdev_connected(gw_subdev *g)
{
    int i;

    g->connected = true;
    g->subscribe_due = true; /* a new connection has no subscriptions (clean session) */
    g->subscribed = false;
    g->sub_token = 0;
    for (i = 0; i < g->n; i++)
        if (g->subs[i].state == GW_SUBDEV_OFFLINE)
            g->subs[i].state = GW_SUBDEV_WANTED;
}

void gw_subdev_disconnected(gw_subdev *g)
{
    int i;

    g->connected = false;
    g->subscribe_due = false;
    g->subscribed = false;
    g->sub_token = 0;
    /* The cloud's online state belongs to the connection: `online` again on the next one. */
    for (i = 0; i < g->n; i++) {
        gw_subdev_state s = g->subs[i].state;
        if (s == GW_SUBDEV_WANTED || s == GW_SUBDEV_PENDING)
            g->subs[i].state = GW_SUBDEV_OFFLINE;
        else if (s == GW_SUBDEV_ONLINE)
            set_state(g, i, GW_SUBDEV_OFFLINE, 0);
    }
}

void gw_subdev_acked(gw_subdev *g, int32_t token)
{
    if (g->connected && g->sub_token > 0 && token == g->sub_token) {
        g->sub_token = 0;
        g->subscribed = true;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* The reply: {"type":"online","payload":{"devices":[{"product_id":"P","device_name":"D",      */
/* "result":0}]}}. A scanner for the three keys of devices[0] (the SDKs read only that entry),  */
/* bounded by len; anything unexpected makes the reply ignored.                                 */
/* ------------------------------------------------------------------------------------------- */

static size_t skip_ws(const uint8_t *p, size_t len, size_t i)
{
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

/* Offset of the value of the first `"key":` (a key, not an equal string value), or len. */
static size_t find_value(const uint8_t *p, size_t len, const char *key)
{
    size_t k = strlen(key), i;

    for (i = 0; i + k + 2 <= len; i++) {
        size_t j;
        if (p[i] != '"' || memcmp(p + i + 1, key, k) != 0 || p[i + k + 1] != '"')
            continue;
        j = skip_ws(p, len, i + k + 2);
        if (j < len && p[j] == ':')
            return skip_ws(p, len, j + 1);
    }
    return len;
}

/* The string value of `key` (no escapes: ids and types have none) into out. */
static bool get_string(const uint8_t *p, size_t len, const char *key, char *out, size_t cap)
{
    size_t i = find_value(p, len, key), n = 0;

    if (i >= len || p[i] != '"')
        return false;
    for (i++; i < len && p[i] != '"'; i++) {
        if (p[i] == '\\' || p[i] < 0x20 || n + 1 >= cap)
            return false;
        out[n++] = (char)p[i];
    }
    if (i >= len)
        return false;
    out[n] = '\0';
    return true;
}

static bool get_int(const uint8_t *p, size_t len, const char *key, int *out)
{
    size_t i = find_value(p, len, key);
    bool neg = false;
    long v = 0;
    int digits = 0;

    if (i < len && p[i] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        if (++digits > 6)
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (digits == 0)
        return false;
    *out = (int)(neg ? -v : v);
    return true;
}

bool gw_subdev_input(gw_subdev *g, const char *topic, const uint8_t *payload, size_t len)
{
    char type[16], pid[GW_SUBDEV_PID_MAX + 1], dn[GW_SUBDEV_DN_MAX + 1];
    int result, i;

    if (topic == NULL || strcmp(topic, g->result_topic) != 0)
        return false;
    if (payload == NULL || !get_string(payload, len, "type", type, sizeof type)
        || strcmp(type, "online") != 0 || !get_string(payload, len, "product_id", pid, sizeof pid)
        || !get_string(payload, len, "device_name", dn, sizeof dn)
        || !get_int(payload, len, "result", &result))
        return true; /* offline replies, the cloud's unasked messages, malformed ones */
    for (i = 0; i < g->n; i++) {
        gw_subdev_entry *e = &g->subs[i];
        if (e->state != GW_SUBDEV_PENDING || strcmp(e->product_id, pid) != 0
            || strcmp(e->device_name, dn) != 0)
            continue;
        set_state(g, i, result == 0 ? GW_SUBDEV_ONLINE : GW_SUBDEV_REFUSED, result);
        break;
    }
    return true;
}

static int32_t send_op(gw_subdev *g, const char *type, const gw_subdev_entry *e)
{
    char payload[sizeof "{\"type\":\"offline\",\"payload\":{\"devices\":[{\"product_id\":\"\","
                      "\"device_name\":\"\"}]}}"
                 + GW_SUBDEV_PID_MAX + GW_SUBDEV_DN_MAX];
    int n = snprintf(payload, sizeof payload,
                     "{\"type\":\"%s\",\"payload\":{\"devices\":[{\"product_id\":\"%s\","
                     "\"device_name\":\"%s\"}]}}",
                     type, e->product_id, e->device_name);
    if (n < 0 || (size_t)n >= sizeof payload)
        return -1;
    return g->publish(g->user, g->op_topic, (const uint8_t *)payload, (size_t)n);
}

uint32_t gw_subdev_poll(gw_subdev *g, uint64_t now_ms)
{
    uint32_t wait = 1000;
    int i;

    if (!g->connected)
        return wait;
    if (g->subscribe_due) {
        int32_t t = g->subscribe(g->user, g->result_topic);
        if (t < 0)
            return 100; /* asked again soon */
        g->subscribe_due = false;
        g->sub_token = t;
        g->subscribed = t == 0;
    }
    if (!g->subscribed)
        return wait; /* the SUBACK first, so that no reply can be missed */
    for (i = 0; i < g->n; i++) {
        gw_subdev_entry *e = &g->subs[i];
        if (e->state == GW_SUBDEV_WANTED) {
            if (send_op(g, "online", e) < 0)
                return 100;
            e->state = GW_SUBDEV_PENDING;
            e->sent_ms = now_ms;
        }
        if (e->state == GW_SUBDEV_PENDING) {
            uint64_t due = e->sent_ms + GW_SUBDEV_REPLY_TIMEOUT_MS;
            if (now_ms >= due)
                set_state(g, i, GW_SUBDEV_REFUSED, GW_SUBDEV_RESULT_TIMEOUT);
            else if (due - now_ms < wait)
                wait = (uint32_t)(due - now_ms);
        }
    }
    return wait;
}

void gw_subdev_offline(gw_subdev *g, int index)
{
    gw_subdev_entry *e;

    if (index < 0 || index >= g->n)
        return;
    e = &g->subs[index];
    /* Only what the cloud may count as online needs telling; best effort (QoS0, no retry). */
    if (g->connected && (e->state == GW_SUBDEV_ONLINE || e->state == GW_SUBDEV_PENDING))
        (void)send_op(g, "offline", e);
    set_state(g, index, GW_SUBDEV_STOPPED, 0);
}

void gw_subdev_retry(gw_subdev *g, int index)
{
    if (index >= 0 && index < g->n && g->subs[index].state == GW_SUBDEV_REFUSED)
        g->subs[index].state = g->connected ? GW_SUBDEV_WANTED : GW_SUBDEV_OFFLINE;
}

gw_subdev_state gw_subdev_get_state(const gw_subdev *g, int index)
{
    return index >= 0 && index < g->n ? g->subs[index].state : GW_SUBDEV_STOPPED;
}

const char *gw_subdev_result_text(int result)
{
    switch (result) {
    case 0:
        return "success";
    case -1:
        return "the gateway is not bound to this sub-device";
    case -2:
        return "system error";
    case GW_SUBDEV_RESULT_TIMEOUT:
        return "no reply";
    case 801:
        return "request parameter error";
    case 802:
        return "device name illegal or no such device";
    case 803:
        return "signature check failed";
    case 804:
        return "signature method not supported";
    case 805:
        return "signature expired";
    case 806:
        return "already bound to another gateway";
    case 807:
        return "not a normal device";
    case 808:
        return "operation not permitted";
    case 809:
        return "already bound to this gateway";
    case 810:
        return "sub-device type not supported";
    default:
        return "unknown result";
    }
}
