/*
 * gateway_subdev_test: the online/offline exchange against a scripted cloud: the requests'
 * exact JSON, the SUBACK before any request, replies matched by type and device, refusals,
 * timeouts, a reconnect (online again), offline, and malformed replies ignored.
 */
#include "gateway_subdev.h"

#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static char pubs[16][256], pub_topic[128], sub_topic[128];
static int n_pubs, n_subs, n_changes, last_index, last_result, block_publish;
static gw_subdev_state last_state;

static int32_t publish(void *user, const char *topic, const uint8_t *payload, size_t len)
{
    (void)user;
    if (block_publish)
        return -1;
    snprintf(pub_topic, sizeof pub_topic, "%s", topic);
    if (n_pubs < 16)
        snprintf(pubs[n_pubs++], sizeof pubs[0], "%.*s", (int)len, (const char *)payload);
    return 0;
}

static int32_t subscribe(void *user, const char *topic)
{
    (void)user;
    snprintf(sub_topic, sizeof sub_topic, "%s", topic);
    n_subs++;
    return 7; /* a token: the SUBACK comes through gw_subdev_acked(7) */
}

static void on_change(void *user, int index, gw_subdev_state state, int result)
{
    (void)user;
    n_changes++;
    last_index = index;
    last_state = state;
    last_result = result;
}

static bool reply(gw_subdev *g, const char *json)
{
    return gw_subdev_input(g, "$gateway/operation/result/GWPRODUCT1/gw-1", (const uint8_t *)json,
                           strlen(json));
}

int main(void)
{
    static gw_subdev g;
    const char *online_a = "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":"
                           "\"SUBPRODUCT\",\"device_name\":\"sub-a\"}]}}";

    CHECK(gw_subdev_init(&g, "GWPRODUCT1", "gw-1", publish, subscribe, on_change, NULL) == 0);
    CHECK(strcmp(g.op_topic, "$gateway/operation/GWPRODUCT1/gw-1") == 0);
    CHECK(gw_subdev_add(&g, "SUBPRODUCT", "sub-a") == 0);
    CHECK(gw_subdev_add(&g, "SUBPRODUCT", "sub-b") == 1);
    CHECK(gw_subdev_add(&g, "SUBPRODUCT", "sub-a") == -1);                  /* twice */
    CHECK(gw_subdev_add(&g, "SUBPRODUCT_FAR_TOO_LONG_0123456789", "x") == -1); /* 33 */

    /* Not connected: nothing goes out. */
    gw_subdev_poll(&g, 0);
    CHECK(n_pubs == 0 && n_subs == 0);

    /* Connected: the result topic first, and no request before its SUBACK. */
    gw_subdev_connected(&g);
    gw_subdev_poll(&g, 10);
    CHECK(n_subs == 1 && strcmp(sub_topic, "$gateway/operation/result/GWPRODUCT1/gw-1") == 0);
    CHECK(n_pubs == 0);
    gw_subdev_acked(&g, 8); /* another SUBACK */
    gw_subdev_poll(&g, 20);
    CHECK(n_pubs == 0);
    gw_subdev_acked(&g, 7);
    gw_subdev_poll(&g, 30);
    CHECK(n_pubs == 2 && strcmp(pub_topic, "$gateway/operation/GWPRODUCT1/gw-1") == 0);
    CHECK(strcmp(pubs[0], online_a) == 0);
    CHECK(gw_subdev_get_state(&g, 0) == GW_SUBDEV_PENDING);
    gw_subdev_poll(&g, 40);
    CHECK(n_pubs == 2); /* one request per device */

    /* Other topics are not taken; malformed or foreign replies change nothing. */
    CHECK(!gw_subdev_input(&g, "$ota/update/SUBPRODUCT/sub-a", (const uint8_t *)"{}", 2));
    CHECK(reply(&g, "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\","
                    "\"device_name\":\"sub-a\",\"result\":}]}}"));
    CHECK(reply(&g, "{\"type\":\"offline\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\","
                    "\"device_name\":\"sub-a\",\"result\":0}]}}"));
    CHECK(reply(&g, "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\","
                    "\"device_name\":\"sub-z\",\"result\":0}]}}"));
    CHECK(reply(&g, "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\","
                    "\"device_name\":\"sub-a"));
    CHECK(n_changes == 0);

    /* sub-a online (whitespace allowed), sub-b refused: not bound. */
    CHECK(reply(&g, "{\"type\": \"online\", \"payload\": {\"devices\": [{\"product_id\": "
                    "\"SUBPRODUCT\", \"device_name\": \"sub-a\", \"result\": 0}]}}"));
    CHECK(n_changes == 1 && last_index == 0 && last_state == GW_SUBDEV_ONLINE && last_result == 0);
    CHECK(reply(&g, "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\","
                    "\"device_name\":\"sub-b\",\"result\":-1}]}}"));
    CHECK(n_changes == 2 && last_index == 1 && last_state == GW_SUBDEV_REFUSED && last_result == -1);
    CHECK(strcmp(gw_subdev_result_text(-1), "the gateway is not bound to this sub-device") == 0);

    /* A reconnect: sub-a goes offline, and online again on the new connection (after its
     * SUBACK); refused sub-b stays skipped. */
    gw_subdev_disconnected(&g);
    CHECK(n_changes == 3 && last_index == 0 && last_state == GW_SUBDEV_OFFLINE);
    gw_subdev_connected(&g);
    gw_subdev_poll(&g, 1000);
    CHECK(n_subs == 2 && n_pubs == 2);
    gw_subdev_acked(&g, 7);
    gw_subdev_poll(&g, 1010);
    CHECK(n_pubs == 3 && strcmp(pubs[2], online_a) == 0);
    CHECK(gw_subdev_get_state(&g, 1) == GW_SUBDEV_REFUSED);

    /* No reply: refused after the timeout, reported as such. */
    gw_subdev_poll(&g, 1010 + GW_SUBDEV_REPLY_TIMEOUT_MS - 1);
    CHECK(gw_subdev_get_state(&g, 0) == GW_SUBDEV_PENDING);
    gw_subdev_poll(&g, 1010 + GW_SUBDEV_REPLY_TIMEOUT_MS);
    CHECK(last_index == 0 && last_state == GW_SUBDEV_REFUSED
          && last_result == GW_SUBDEV_RESULT_TIMEOUT);

    /* Retry: a refused publish is asked again at the next poll. */
    gw_subdev_retry(&g, 0);
    block_publish = 1;
    gw_subdev_poll(&g, 30000);
    CHECK(gw_subdev_get_state(&g, 0) == GW_SUBDEV_WANTED);
    block_publish = 0;
    gw_subdev_poll(&g, 30010);
    CHECK(n_pubs == 4 && gw_subdev_get_state(&g, 0) == GW_SUBDEV_PENDING);
    CHECK(reply(&g, "{\"type\":\"online\",\"payload\":{\"devices\":[{\"product_id\":\"SUBPRODUCT\","
                    "\"device_name\":\"sub-a\",\"result\":0}]}}"));
    CHECK(gw_subdev_get_state(&g, 0) == GW_SUBDEV_ONLINE);

    /* Offline: sent once, and never online again (not even after a reconnect). */
    gw_subdev_offline(&g, 0);
    CHECK(n_pubs == 5
          && strcmp(pubs[4], "{\"type\":\"offline\",\"payload\":{\"devices\":[{\"product_id\":"
                             "\"SUBPRODUCT\",\"device_name\":\"sub-a\"}]}}")
                 == 0);
    gw_subdev_offline(&g, 1); /* refused: nothing to tell the cloud */
    CHECK(n_pubs == 5);
    gw_subdev_disconnected(&g);
    gw_subdev_connected(&g);
    gw_subdev_poll(&g, 40000);
    gw_subdev_acked(&g, 7);
    gw_subdev_poll(&g, 40010);
    CHECK(n_pubs == 5 && gw_subdev_get_state(&g, 0) == GW_SUBDEV_STOPPED);

    if (failures) {
        fprintf(stderr, "gateway_subdev_test: %d failure(s)\n", failures);
        return 1;
    }
    printf("gateway_subdev_test: ok\n");
    return 0;
}
