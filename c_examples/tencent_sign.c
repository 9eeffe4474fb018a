/*
 * tencent_sign: SHA-256, HMAC-SHA256, base64 and Tencent's MQTT credentials. See tencent_sign.h.
 *
 * PORT: a device with mbedTLS (or a crypto accelerator) would call mbedtls_md_hmac() and
 * mbedtls_base64_decode() instead; the credential layout stays the same.
 */
#include "tencent_sign.h"

#include <stdio.h>
#include <string.h>

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------------ */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    unsigned i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16
               | (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i++) {
        t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void tencent_sha256_init(tencent_sha256 *s)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->used = 0;
}

void tencent_sha256_update(tencent_sha256 *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->total += len;
    while (len > 0) {
        size_t take = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        len -= take;
        if (s->used == 64) {
            sha256_block(s->h, s->block);
            s->used = 0;
        }
    }
}

void tencent_sha256_final(tencent_sha256 *s, uint8_t out[TENCENT_SHA256_LEN])
{
    uint64_t bits = s->total * 8;
    uint8_t pad = 0x80, zero = 0, len_be[8];
    unsigned i;

    tencent_sha256_update(s, &pad, 1);
    while (s->used != 56)
        tencent_sha256_update(s, &zero, 1);
    for (i = 0; i < 8; i++)
        len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    tencent_sha256_update(s, len_be, 8);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* ---- HMAC (RFC 2104) ------------------------------------------------------------------------ */

void tencent_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
                         uint8_t out[TENCENT_SHA256_LEN])
{
    uint8_t k[64], pad[64], inner[TENCENT_SHA256_LEN];
    tencent_sha256 s;
    unsigned i;

    memset(k, 0, sizeof k);
    if (key_len > sizeof k) { /* RFC 2104: hash a long key (Tencent's keys never are) */
        tencent_sha256_init(&s);
        tencent_sha256_update(&s, key, key_len);
        tencent_sha256_final(&s, k);
    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    tencent_sha256_init(&s);
    tencent_sha256_update(&s, pad, 64);
    tencent_sha256_update(&s, msg, msg_len);
    tencent_sha256_final(&s, inner);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    tencent_sha256_init(&s);
    tencent_sha256_update(&s, pad, 64);
    tencent_sha256_update(&s, inner, sizeof inner);
    tencent_sha256_final(&s, out);
}

/* ---- base64 (RFC 4648, standard alphabet, padded) ------------------------------------------ */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int tencent_base64_decode(const char *b64, uint8_t *out, size_t cap)
{
    size_t len = strlen(b64), g, n = 0;

    if (len == 0 || len % 4 != 0)
        return -1;
    for (g = 0; g < len; g += 4) {
        uint32_t acc = 0;
        unsigned pad = 0, i;
        for (i = 0; i < 4; i++) {
            char c = b64[g + i];
            int v;
            if (c == '=') {
                pad++;
                v = 0;
            } else if (pad > 0 || (v = b64_value(c)) < 0) {
                return -1; /* data after padding, or not base64 */
            }
            acc = acc << 6 | (uint32_t)v;
        }
        if (pad > 2 || (pad > 0 && g + 4 != len))
            return -1;
        for (i = 0; i < 3 - pad; i++) {
            if (n >= cap)
                return -1;
            out[n++] = (uint8_t)(acc >> (16 - 8 * i));
        }
    }
    return (int)n;
}

/* ---- Tencent's credentials ------------------------------------------------------------------ */

void tencent_make_connid(uint64_t seed, char out[6])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned i;
    seed ^= 0x9e3779b97f4a7c15u;
    for (i = 0; i < 5; i++) {
        seed ^= seed << 13; /* xorshift64: a connection id, not a secret */
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out[i] = alphabet[seed % 62];
    }
    out[5] = '\0';
}

int tencent_sign_credentials(const char *product_id, const char *device_name,
                             const char *device_secret_b64, const char *connid, uint32_t expiry,
                             tencent_credentials *out)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t key[TENCENT_KEY_MAX], mac[TENCENT_SHA256_LEN];
    int key_len, n;
    unsigned i;

    key_len = tencent_base64_decode(device_secret_b64, key, sizeof key);
    if (key_len <= 0)
        return -1;
    n = snprintf(out->client_id, sizeof out->client_id, "%s%s", product_id, device_name);
    if (n < 0 || (size_t)n >= sizeof out->client_id)
        return -1;
    n = snprintf(out->username, sizeof out->username, "%s%s;%s;%s;%lu", product_id, device_name,
                 TENCENT_SDKAPPID, connid, (unsigned long)expiry);
    if (n < 0 || (size_t)n >= sizeof out->username)
        return -1;
    tencent_hmac_sha256(key, (size_t)key_len, out->username, (size_t)n, mac);
    for (i = 0; i < sizeof mac; i++) {
        out->password[2 * i] = hex[mac[i] >> 4];
        out->password[2 * i + 1] = hex[mac[i] & 15];
    }
    strcpy(out->password + 2 * sizeof mac, ";hmacsha256");
    memset(key, 0, sizeof key); /* the key is a secret: do not leave it on the stack */
    return 0;
}
