/*
 * header_check: include/qcloud_ota.h must compile cleanly as strict C99
 * (-std=c99 -pedantic -Wall -Wextra -Werror), every type and constant must be usable, and every
 * declared function must exist in the static library (this program links all of them).
 *
 * Run as a test, it also checks the parts of the contract that need no network: argument
 * validation, that ota_init() touches nothing but the record store, status after init, and that a
 * deinitialised client is refused.
 */
#include "qcloud_ota.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* C99 has no _Static_assert: a negative array size fails the build instead. */
#define CHECK_STATIC(name, cond) typedef char check_##name[(cond) ? 1 : -1]

CHECK_STATIC(client_size, sizeof(ota_client) == OTA_CLIENT_SIZE);
CHECK_STATIC(client_words, OTA_CLIENT_WORDS * 8 == OTA_CLIENT_SIZE);
CHECK_STATIC(version_fits_status, sizeof(((ota_status *)0)->target_version) == OTA_VERSION_MAX + 1);
CHECK_STATIC(running_fits_status,
             sizeof(((ota_status *)0)->running_version) == OTA_VERSION_MAX + 1);
CHECK_STATIC(minimums, OTA_MIN_MQTT_RX > 0 && OTA_MIN_MQTT_TX > 0 && OTA_MIN_HTTP > 0);
CHECK_STATIC(record_size, OTA_RECORD_SIZE > 0);
CHECK_STATIC(name_limits, OTA_PRODUCT_ID_MAX > 0 && OTA_DEVICE_NAME_MAX > 0 && OTA_HOST_MAX > 0
                              && OTA_URL_MAX > 0);
CHECK_STATIC(defaults, OTA_DEFAULT_KEEPALIVE_S > 0 && OTA_DEFAULT_ACK_TIMEOUT_MS > 0
                           && OTA_DEFAULT_PROGRESS_INTERVAL_MS > 0
                           && OTA_DEFAULT_STALL_TIMEOUT_MS > 0 && OTA_DEFAULT_MAX_ATTEMPTS > 0
                           && OTA_DEFAULT_NET_POLL_MS > 0);
CHECK_STATIC(flags_distinct, (OTA_FLAG_MANUAL_ACCEPT & OTA_FLAG_MQTT_TLS) == 0
                                 && (OTA_FLAG_MQTT_TLS & OTA_FLAG_HMAC_SHA1) == 0
                                 && (OTA_FLAG_MANUAL_ACCEPT & OTA_FLAG_HMAC_SHA1) == 0);
CHECK_STATIC(net_results, OTA_NET_WOULD_BLOCK < 0 && OTA_NET_ERROR < 0
                              && OTA_NET_WOULD_BLOCK != OTA_NET_ERROR && OTA_NET_TLS != 0);
CHECK_STATIC(channels, OTA_CHANNEL_MQTT != OTA_CHANNEL_HTTP);
CHECK_STATIC(log_levels, OTA_LOG_ERROR < OTA_LOG_WARN && OTA_LOG_WARN < OTA_LOG_INFO
                             && OTA_LOG_INFO < OTA_LOG_DEBUG);
CHECK_STATIC(states, OTA_STATE_IDLE == 0 && OTA_STATE_OFFERED > 0 && OTA_STATE_DOWNLOADING > 0
                         && OTA_STATE_READY > 0 && OTA_STATE_CONFIRMING > 0);
CHECK_STATIC(version_macros, QCLOUD_OTA_VERSION_MAJOR >= 0 && QCLOUD_OTA_VERSION_MINOR >= 0);
/* Negative defines must be parenthesised to be usable in any expression. */
CHECK_STATIC(negative_defines, 1 - OTA_ERR_NULL_POINTER == 2 && 1 - OTA_NET_ERROR == 2);

static const int32_t all_errors[] = {
    OTA_OK,
    OTA_ERR_NULL_POINTER,
    OTA_ERR_INVALID_ARGUMENT,
    OTA_ERR_BUFFER_TOO_SMALL,
    OTA_ERR_WRONG_STATE,
    OTA_ERR_NOT_INITIALIZED,
    OTA_ERR_BUSY,
    OTA_ERR_NET_CONNECT,
    OTA_ERR_NET_IO,
    OTA_ERR_MQTT_REFUSED,
    OTA_ERR_MQTT_TIMEOUT,
    OTA_ERR_MQTT_PROTOCOL,
    OTA_ERR_MQTT_OVERSIZE,
    OTA_ERR_SUBSCRIBE_REJECTED,
    OTA_ERR_BAD_MESSAGE,
    OTA_ERR_IMAGE_TOO_LARGE,
    OTA_ERR_BAD_URL,
    OTA_ERR_VERSION_REJECTED,
    OTA_ERR_HTTP_STATUS,
    OTA_ERR_HTTP_NOT_FOUND,
    OTA_ERR_HTTP_FORBIDDEN,
    OTA_ERR_HTTP_PROTOCOL,
    OTA_ERR_DOWNLOAD_TIMEOUT,
    OTA_ERR_MD5_MISMATCH,
    OTA_ERR_SLOT,
    OTA_ERR_STORE,
    OTA_ERR_ROLLED_BACK,
    OTA_ERR_DECLINED,
    OTA_ERR_TLS_UNTRUSTED,
    OTA_ERR_TLS_NAME_MISMATCH,
    OTA_ERR_TLS_EXPIRED,
    OTA_ERR_TLS_ALERT,
    OTA_ERR_TLS_HANDSHAKE,
    OTA_ERR_TLS_CONFIG,
    OTA_ERR_TLS_DOWNGRADE,
};

static const int32_t all_events[] = {
    OTA_EVENT_CONNECTED,   OTA_EVENT_DISCONNECTED, OTA_EVENT_VERSION_REPORTED,
    OTA_EVENT_OFFERED,     OTA_EVENT_DOWNLOAD_STARTED, OTA_EVENT_PROGRESS,
    OTA_EVENT_IMAGE_READY, OTA_EVENT_DONE,         OTA_EVENT_FAILED,
    OTA_EVENT_ERROR,
};

/* ---- callbacks with exactly the typedef'd signatures ---------------------------------------- */

typedef struct {
    int store_loads;
    int other_calls; /* anything but store_load/now_ms/log during ota_init() */
} probe;

static uint64_t t_now(void *user) { (void)user; return 1; }
static int32_t t_connect(void *user, int32_t channel, const char *host, uint16_t port,
                         uint32_t flags)
{
    (void)channel; (void)host; (void)port; (void)flags;
    ((probe *)user)->other_calls++;
    return OTA_NET_ERROR;
}
static int32_t t_send(void *user, int32_t sock, const uint8_t *buf, size_t len)
{
    (void)sock; (void)buf; (void)len;
    ((probe *)user)->other_calls++;
    return OTA_NET_ERROR;
}
static int32_t t_recv(void *user, int32_t sock, uint8_t *buf, size_t len)
{
    (void)sock; (void)buf; (void)len;
    ((probe *)user)->other_calls++;
    return OTA_NET_ERROR;
}
static void t_close(void *user, int32_t sock) { (void)sock; ((probe *)user)->other_calls++; }
static int32_t t_slot_open(void *user, uint32_t size, uint32_t offset)
{
    (void)size; (void)offset;
    ((probe *)user)->other_calls++;
    return -1;
}
static int32_t t_slot_write(void *user, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)offset; (void)data; (void)len;
    ((probe *)user)->other_calls++;
    return -1;
}
static int32_t t_slot_read(void *user, uint32_t offset, uint8_t *buf, size_t len)
{
    (void)offset; (void)buf; (void)len;
    ((probe *)user)->other_calls++;
    return -1;
}
static int32_t t_slot_close(void *user, bool bootable)
{
    (void)bootable;
    ((probe *)user)->other_calls++;
    return -1;
}
static int32_t t_store_load(void *user, uint8_t copy, uint8_t *buf, size_t cap)
{
    (void)buf;
    if (copy > 1)
        ((probe *)user)->other_calls++;
    ((probe *)user)->store_loads++;
    return cap >= OTA_RECORD_SIZE ? 0 : -1;
}
static int32_t t_store_save(void *user, uint8_t copy, const uint8_t *data, size_t len)
{
    (void)copy; (void)data; (void)len;
    ((probe *)user)->other_calls++;
    return -1;
}
static void t_event(void *user, const ota_event *ev)
{
    (void)ev;
    ((probe *)user)->other_calls++;
}
static void t_log(void *user, int32_t level, const char *msg, size_t len)
{
    (void)user;
    printf("  lib log %d: %.*s\n", (int)level, (int)len, msg);
}

static int failures;

#define EXPECT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("FAIL line %d: %s\n", __LINE__, #cond);                             \
            failures++;                                                                \
        }                                                                              \
    } while (0)

int main(void)
{
    static ota_client client; /* zeroed: never initialised */
    static uint8_t rx[OTA_MIN_MQTT_RX], tx[OTA_MIN_MQTT_TX], http[OTA_MIN_HTTP];
    static uint8_t tls[2 * OTA_MIN_TLS_LEN];
    ota_config cfg;
    ota_platform plat;
    ota_status st;
    ota_event ev;
    probe pr;
    size_t i;
    const char *v = ota_version();
    char expect_prefix[32];

    /* Every typedef must accept a function with the documented signature. */
    ota_now_ms_fn f_now = t_now;
    ota_net_connect_fn f_connect = t_connect;
    ota_net_send_fn f_send = t_send;
    ota_net_recv_fn f_recv = t_recv;
    ota_net_close_fn f_close = t_close;
    ota_slot_open_fn f_open = t_slot_open;
    ota_slot_write_fn f_write = t_slot_write;
    ota_slot_read_fn f_read = t_slot_read;
    ota_slot_close_fn f_sclose = t_slot_close;
    ota_store_load_fn f_load = t_store_load;
    ota_store_save_fn f_save = t_store_save;
    ota_event_fn f_event = t_event;
    ota_log_fn f_log = t_log;

    memset(&ev, 0, sizeof ev);
    ev.kind = OTA_EVENT_PROGRESS;
    ev.error = OTA_OK;
    ev.result_code = 0;
    ev.version = "1.0.0";
    ev.file_size = 100;
    ev.downloaded = 42;
    ev.percent = 42;
    (void)ev;

    printf("qcloud-ota %s (header %d.%d)\n", v ? v : "(null)", QCLOUD_OTA_VERSION_MAJOR,
           QCLOUD_OTA_VERSION_MINOR);
    snprintf(expect_prefix, sizeof expect_prefix, "%d.%d.", QCLOUD_OTA_VERSION_MAJOR,
             QCLOUD_OTA_VERSION_MINOR);
    EXPECT(v != NULL && strncmp(v, expect_prefix, strlen(expect_prefix)) == 0);

    /* Every status has a text; known ones are not "unknown status". */
    for (i = 0; i < sizeof all_errors / sizeof all_errors[0]; i++) {
        const char *s = ota_strerror(all_errors[i]);
        EXPECT(s != NULL && s[0] != '\0' && strcmp(s, ota_strerror(-9999)) != 0);
    }
    EXPECT(ota_strerror(-9999) != NULL);
    for (i = 0; i < sizeof all_events / sizeof all_events[0]; i++)
        EXPECT(all_events[i] > 0);

    /* An uninitialised (zeroed) client is refused, never crashed on. */
    EXPECT(ota_poll(&client) == UINT32_MAX);
    EXPECT(ota_poll(NULL) == UINT32_MAX);
    EXPECT(ota_accept(&client) == OTA_ERR_NOT_INITIALIZED);
    EXPECT(ota_decline(&client) == OTA_ERR_NOT_INITIALIZED);
    EXPECT(ota_defer(&client, 1000) == OTA_ERR_NOT_INITIALIZED);
    EXPECT(ota_report_version(&client, "1.0.0") == OTA_ERR_NOT_INITIALIZED);
    EXPECT(ota_get_status(&client, &st) == OTA_ERR_NOT_INITIALIZED);
    EXPECT(ota_accept(NULL) == OTA_ERR_NULL_POINTER);

    /* A complete, minimal configuration. */
    memset(&pr, 0, sizeof pr);
    memset(&plat, 0, sizeof plat);
    plat.user = &pr;
    plat.now_ms = f_now;
    plat.net_connect = f_connect;
    plat.net_send = f_send;
    plat.net_recv = f_recv;
    plat.net_close = f_close;
    plat.slot_open = f_open;
    plat.slot_write = f_write;
    plat.slot_read = f_read;
    plat.slot_close = f_sclose;
    plat.store_load = f_load;
    plat.store_save = f_save;
    plat.on_event = f_event;
    plat.log = f_log;
    memset(&cfg, 0, sizeof cfg);
    cfg.product_id = "ABCDEFGHIJ";
    cfg.device_name = "dev1";
    cfg.device_secret = "aGVsbG8gd29ybGQ=";
    cfg.broker_host = NULL;
    cfg.broker_port = 0;
    cfg.running_version = "1.0.0";
    cfg.flags = 0;
    cfg.mqtt_rx_buf = rx;
    cfg.mqtt_rx_len = sizeof rx;
    cfg.mqtt_tx_buf = tx;
    cfg.mqtt_tx_len = sizeof tx;
    cfg.http_buf = http;
    cfg.http_len = sizeof http;
    cfg.slot_size = 0;
    cfg.keepalive_s = 0;
    cfg.ack_timeout_ms = 0;
    cfg.progress_interval_ms = 0;
    cfg.stall_timeout_ms = 0;
    cfg.max_attempts = 0;
    cfg.net_poll_ms = 0;

    EXPECT(ota_init(NULL, &cfg, &plat) == OTA_ERR_NULL_POINTER);
    EXPECT(ota_init(&client, NULL, &plat) == OTA_ERR_NULL_POINTER);
    EXPECT(ota_init(&client, &cfg, NULL) == OTA_ERR_NULL_POINTER);
    /* TLS: extra anchors must be certificates; the built-in TLS needs its buffer for MQTT/TLS,
     * the host's TLS does not. */
    cfg.ca = (const uint8_t *)"not a certificate";
    cfg.ca_len = 17;
    EXPECT(ota_init(&client, &cfg, &plat) == (ota_has_builtin_tls() ? OTA_ERR_TLS_CONFIG : OTA_OK));
    if (!ota_has_builtin_tls())
        EXPECT(ota_deinit(&client) == OTA_OK);
    cfg.ca = NULL;
    cfg.ca_len = 0;
    cfg.flags = OTA_FLAG_MQTT_TLS;
    EXPECT(ota_init(&client, &cfg, &plat)
           == (ota_has_builtin_tls() ? OTA_ERR_BUFFER_TOO_SMALL : OTA_OK));
    if (!ota_has_builtin_tls())
        EXPECT(ota_deinit(&client) == OTA_OK);
    cfg.tls_buf = tls;
    cfg.tls_len = sizeof tls;
    cfg.http_buf = tls + 100; /* overlaps */
    EXPECT(ota_init(&client, &cfg, &plat) == OTA_ERR_INVALID_ARGUMENT);
    cfg.http_buf = http;
    EXPECT(ota_init(&client, &cfg, &plat) == OTA_OK);
    EXPECT(ota_deinit(&client) == OTA_OK);
    cfg.flags = OTA_FLAG_MQTT_TLS | OTA_FLAG_HOST_TLS;
    cfg.tls_buf = NULL;
    cfg.tls_len = 0;
    EXPECT(ota_init(&client, &cfg, &plat) == OTA_OK);
    EXPECT(ota_deinit(&client) == OTA_OK);
    cfg.flags = 0;
    cfg.mqtt_rx_len = OTA_MIN_MQTT_RX - 1;
    EXPECT(ota_init(&client, &cfg, &plat) == OTA_ERR_BUFFER_TOO_SMALL);
    cfg.mqtt_rx_len = sizeof rx;
    cfg.running_version = "123456789012345678901234567890123"; /* 33 bytes */
    EXPECT(ota_init(&client, &cfg, &plat) == OTA_ERR_INVALID_ARGUMENT);
    cfg.running_version = "1.0.0";
    plat.now_ms = NULL;
    EXPECT(ota_init(&client, &cfg, &plat) != OTA_OK);
    plat.now_ms = f_now;
    {
        /* Each required callback, one at a time: NULL is refused; with OTA_FLAG_HOST_MQTT the
         * host's publish and subscribe are required too. */
        static const size_t required[] = {
            offsetof(ota_platform, now_ms),     offsetof(ota_platform, net_connect),
            offsetof(ota_platform, net_send),   offsetof(ota_platform, net_recv),
            offsetof(ota_platform, net_close),  offsetof(ota_platform, slot_open),
            offsetof(ota_platform, slot_write), offsetof(ota_platform, slot_close),
            offsetof(ota_platform, store_load), offsetof(ota_platform, store_save),
        };
        size_t i;
        for (i = 0; i < sizeof required / sizeof required[0]; i++) {
            ota_platform p = plat;
            memset((char *)&p + required[i], 0, sizeof p.now_ms);
            EXPECT(ota_init(&client, &cfg, &p) == OTA_ERR_NULL_POINTER);
        }
        EXPECT(plat.mqtt_publish == NULL && plat.mqtt_subscribe == NULL);
        cfg.flags = OTA_FLAG_HOST_MQTT;
        EXPECT(ota_init(&client, &cfg, &plat) == OTA_ERR_NULL_POINTER);
        cfg.flags = 0;
    }

    memset(&pr, 0, sizeof pr);
    EXPECT(ota_init(&client, &cfg, &plat) == OTA_OK);
    EXPECT(pr.store_loads == 2);  /* "loads the persistent record": both copies */
    EXPECT(pr.other_calls == 0);  /* "and calls nothing else" */
    memset(&st, 0xAA, sizeof st);
    EXPECT(ota_get_status(&client, &st) == OTA_OK);
    EXPECT(st.state == OTA_STATE_IDLE);
    EXPECT(!st.connected);
    EXPECT(st.target_version[0] == '\0');
    EXPECT(strcmp(st.running_version, "1.0.0") == 0);
    EXPECT(ota_accept(&client) == OTA_ERR_WRONG_STATE); /* no offer */
    EXPECT(ota_deinit(&client) == OTA_OK);
    EXPECT(ota_poll(&client) == UINT32_MAX);
    EXPECT(ota_get_status(&client, &st) == OTA_ERR_NOT_INITIALIZED);

    if (failures) {
        printf("header_check: %d failure(s)\n", failures);
        return 1;
    }
    printf("header_check: ok\n");
    return 0;
}
