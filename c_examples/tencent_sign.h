/*
 * tencent_sign: the MQTT credentials Tencent Cloud IoT Explorer expects from a device that signs
 * in with its device secret ("key authentication"), for hosts that own their MQTT connection
 * (OTA_FLAG_HOST_MQTT) and so must sign the CONNECT themselves:
 *
 *   client id  {productId}{deviceName}
 *   username   {productId}{deviceName};12010126;{connid};{expiry}
 *   password   hex_lower(HMAC-SHA256(base64_decode(deviceSecret), username));hmacsha256
 *
 * connid is 5 random alphanumerics, expiry a Unix time in seconds (Tencent's SDKs and qcloud-ota
 * use 2147483647). Self-contained C99: SHA-256 (FIPS 180-4), HMAC (RFC 2104) and base64
 * (RFC 4648, padding required) in tencent_sign.c. tencent_sign_test.c checks them.
 */
#ifndef TENCENT_SIGN_H
#define TENCENT_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define TENCENT_SHA256_LEN 32
/* Tencent's SDKs refuse keys longer than one HMAC block. */
#define TENCENT_KEY_MAX 64
/* The SDK application id the console's credentials use. */
#define TENCENT_SDKAPPID "12010126"
/* Room for the username and the password: 32 + 64 + ";12010126;" + 5 + ";" + 10, and
 * 64 hex digits + ";hmacsha256". */
#define TENCENT_CLIENT_ID_MAX 97
#define TENCENT_USERNAME_MAX 128
#define TENCENT_PASSWORD_MAX 80

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t used;    /* bytes waiting in block */
} tencent_sha256;

void tencent_sha256_init(tencent_sha256 *s);
void tencent_sha256_update(tencent_sha256 *s, const void *data, size_t len);
void tencent_sha256_final(tencent_sha256 *s, uint8_t out[TENCENT_SHA256_LEN]);

void tencent_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
                         uint8_t out[TENCENT_SHA256_LEN]);

/* Decode padded standard base64 into out (at most cap bytes). Returns the length, or -1 when the
 * text is not valid padded base64 or does not fit. */
int tencent_base64_decode(const char *b64, uint8_t *out, size_t cap);

typedef struct {
    char client_id[TENCENT_CLIENT_ID_MAX + 1];
    char username[TENCENT_USERNAME_MAX + 1];
    char password[TENCENT_PASSWORD_MAX + 1];
} tencent_credentials;

/* Fill `out` for one CONNECT. connid: 5 characters (see tencent_make_connid); expiry: Unix
 * seconds. Returns 0, or -1 when the secret is not base64 (or too long) or a field does not fit. */
int tencent_sign_credentials(const char *product_id, const char *device_name,
                             const char *device_secret_b64, const char *connid, uint32_t expiry,
                             tencent_credentials *out);

/* 5 alphanumerics from `seed` (anything that differs between connections). */
void tencent_make_connid(uint64_t seed, char out[6]);

#endif /* TENCENT_SIGN_H */
