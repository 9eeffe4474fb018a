/* tencent_sign_test: SHA-256 and HMAC-SHA256 against published vectors, base64 edge cases, and
 * the worked example of Tencent's key authentication (the same one src/auth.rs checks). */
#include <stdio.h>
#include <string.h>

#include "tencent_sign.h"

static int fails;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    fails += !ok;
}

static void hexify(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha_is(const char *msg, size_t repeat, const char *want)
{
    tencent_sha256 s;
    uint8_t d[TENCENT_SHA256_LEN];
    char h[65];
    size_t i;
    tencent_sha256_init(&s);
    for (i = 0; i < repeat; i++)
        tencent_sha256_update(&s, msg, strlen(msg));
    tencent_sha256_final(&s, d);
    hexify(d, sizeof d, h);
    return strcmp(h, want) == 0;
}

int main(void)
{
    uint8_t out[64], mac[TENCENT_SHA256_LEN], key[131];
    char h[65], connid[6], connid2[6];
    tencent_credentials c;
    unsigned i;

    check(sha_is("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
          "sha256 empty");
    check(sha_is("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "sha256 abc");
    check(sha_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
          "sha256 two blocks");
    check(sha_is("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
          "sha256 a million a");

    /* RFC 4231 test cases 2 and 6. */
    tencent_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, mac);
    hexify(mac, sizeof mac, h);
    check(strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0,
          "hmac-sha256 RFC 4231 #2");
    memset(key, 0xaa, sizeof key);
    tencent_hmac_sha256(key, sizeof key,
                        "Test Using Larger Than Block-Size Key - Hash Key First", 54, mac);
    hexify(mac, sizeof mac, h);
    check(strcmp(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0,
          "hmac-sha256 RFC 4231 #6 (long key)");

    check(tencent_base64_decode("MTIzNDU2Nzg5MGFiY2RlZg==", out, sizeof out) == 16
              && memcmp(out, "1234567890abcdef", 16) == 0,
          "base64 device secret");
    check(tencent_base64_decode("aGVsbG8gd29ybGQ=", out, sizeof out) == 11
              && memcmp(out, "hello world", 11) == 0,
          "base64 one pad");
    check(tencent_base64_decode("", out, sizeof out) < 0, "base64 empty refused");
    check(tencent_base64_decode("abc", out, sizeof out) < 0, "base64 unpadded refused");
    check(tencent_base64_decode("ab=c", out, sizeof out) < 0, "base64 data after pad refused");
    check(tencent_base64_decode("a!cd", out, sizeof out) < 0, "base64 bad symbol refused");
    check(tencent_base64_decode("MTIzNDU2Nzg5MGFiY2RlZg==", out, 8) < 0, "base64 overflow refused");

    /* Tencent's worked example (reference §8.4; src/auth.rs worked_example_8_4). */
    check(tencent_sign_credentials("ABCDEFGHIJ", "dev001", "MTIzNDU2Nzg5MGFiY2RlZg==", "Ab1Cd",
                                   2147483647u, &c) == 0,
          "credentials signed");
    check(strcmp(c.client_id, "ABCDEFGHIJdev001") == 0, "client id");
    check(strcmp(c.username, "ABCDEFGHIJdev001;12010126;Ab1Cd;2147483647") == 0, "username");
    check(strcmp(c.password,
                 "e66ac1c8d0f75e9842745b3f4525e1805f2afc6d10dbd9618e64e59da4d17362;hmacsha256")
              == 0,
          "password");
    check(tencent_sign_credentials("ABCDEFGHIJ", "dev001", "not base64", "Ab1Cd", 1u, &c) != 0,
          "a bad secret is refused");

    tencent_make_connid(1, connid);
    tencent_make_connid(2, connid2);
    for (i = 0; i < 5 && ((connid[i] >= 'A' && connid[i] <= 'Z') || (connid[i] >= 'a' && connid[i] <= 'z')
                          || (connid[i] >= '0' && connid[i] <= '9'));
         i++)
        ;
    check(i == 5 && strlen(connid) == 5 && strcmp(connid, connid2) != 0, "connid");

    printf("%s\n", fails ? "tencent_sign_test: FAILED" : "tencent_sign_test: all passed");
    return fails ? 1 : 0;
}
