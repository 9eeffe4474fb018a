/* Tests for device_info.c, the device_info.json reader of the demo (no library needed). */
#include "device_info.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void ok(const char *json, const char *pid, const char *dn, const char *secret)
{
    device_info d;
    char err[256] = "";
    if (device_info_parse(json, strlen(json), &d, err, sizeof err) != 0) {
        printf("FAIL: rejected (%s): %s\n", err, json);
        failures++;
        return;
    }
    if (strcmp(d.product_id, pid) != 0 || strcmp(d.device_name, dn) != 0
        || strcmp(d.device_secret, secret) != 0) {
        printf("FAIL: got %s/%s/%s from %s\n", d.product_id, d.device_name, d.device_secret, json);
        failures++;
    }
}

static void bad(const char *json, const char *reason_part)
{
    device_info d;
    char err[256] = "";
    if (device_info_parse(json, strlen(json), &d, err, sizeof err) == 0) {
        printf("FAIL: accepted: %s\n", json);
        failures++;
    } else if (strstr(err, reason_part) == NULL) {
        printf("FAIL: reason '%s' lacks '%s' for %s\n", err, reason_part, json);
        failures++;
    }
}

int main(void)
{
    /* The shape Tencent's console and SDKs use, including the nested objects to skip. */
    ok("{\n"
       "  \"auth_mode\":\"KEY\",\n"
       "  \"productId\":\"NCUL2VSYG6\",\n"
       "  \"productSecret\":\"YOUR_PRODUCT_SECRET\",\n"
       "  \"deviceName\":\"test02\",\n"
       "  \"key_deviceinfo\":{\n"
       "      \"deviceSecret\":\"aGVsbG8gd29ybGQ=\"\n"
       "  },\n"
       "  \"cert_deviceinfo\":{\n"
       "      \"devCaFile\":\"ca.crt\", \"devCertFile\":\"dev.crt\", \"devPrivateKeyFile\":\"dev.key\"\n"
       "  },\n"
       "  \"subDev\":{\n"
       "      \"subdev_num\":1,\n"
       "      \"subdev_list\":[{\"productId\":\"OTHER\", \"deviceName\":\"sub\"}]\n"
       "  },\n"
       "  \"region\":\"china\"\n"
       "}\n",
       "NCUL2VSYG6", "test02", "aGVsbG8gd29ybGQ=");
    /* Order, whitespace, escapes, no auth_mode. */
    ok(" { \"key_deviceinfo\" : { \"x\": [1, {\"deviceSecret\": \"no\"}], \"deviceSecret\" : "
       "\"ab\\/c+=\" } , \"deviceName\"\t:\r\n\"d\\u0031\", \"productId\":\"P\" } ",
       "P", "d1", "ab/c+=");
    /* A value that looks like a key, and keys inside string values, are not matched. */
    ok("{\"note\":\"\\\"productId\\\":\\\"WRONG\\\"\", \"x\":\"productId\", "
       "\"productId\":\"RIGHT\",\"deviceName\":\"n\",\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}",
       "RIGHT", "n", "s");

    bad("", "not a JSON object");
    bad("[]", "not a JSON object");
    bad("{\"deviceName\":\"n\",\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}", "\"productId\" is missing");
    bad("{\"productId\":\"p\",\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}", "\"deviceName\" is missing");
    bad("{\"productId\":\"p\",\"deviceName\":\"n\"}", "key_deviceinfo");
    bad("{\"productId\":\"p\",\"deviceName\":\"n\",\"deviceSecret\":\"s\",\"key_deviceinfo\":{}}",
        "\"deviceSecret\" is missing in key_deviceinfo");
    bad("{\"productId\":\"\",\"deviceName\":\"n\",\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}", "empty");
    bad("{\"productId\":42,\"deviceName\":\"n\",\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}", "not a string");
    bad("{\"auth_mode\":\"CERT\",\"productId\":\"p\",\"deviceName\":\"n\"}", "not supported");
    bad("{\"productId\":\"p\",\"deviceName\":\"n\",\"key_deviceinfo\":{\"deviceSecret\":\"s", "unterminated");
    bad("{\"productId\":\"123456789012345678901234567890123\",\"deviceName\":\"n\","
        "\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}", "too long");
    bad("{\"productId\":\"p\\u00e9\",\"deviceName\":\"n\",\"key_deviceinfo\":{\"deviceSecret\":\"s\"}}",
        "non-ASCII");

    if (failures) {
        printf("device_info_test: %d failure(s)\n", failures);
        return 1;
    }
    printf("device_info_test: ok\n");
    return 0;
}
