/*
 * device_info: read the identity out of Tencent's device_info.json (the file the console and the
 * Tencent SDKs use), e.g.
 *
 *   { "auth_mode": "KEY", "productId": "NCUL2VSYG6", "deviceName": "test02",
 *     "key_deviceinfo": { "deviceSecret": "aGVsbG8gd29ybGQ=" }, ... }
 *
 * Only the three fields the library needs are extracted; everything else is skipped.
 */
#ifndef DEVICE_INFO_H
#define DEVICE_INFO_H

#include <stddef.h>

#include "qcloud_ota.h"

/* Device secrets are short base64 strings; this is generous. */
#define DEVICE_SECRET_MAX 128

typedef struct {
    char product_id[OTA_PRODUCT_ID_MAX + 1];
    char device_name[OTA_DEVICE_NAME_MAX + 1];
    char device_secret[DEVICE_SECRET_MAX + 1];
} device_info;

/* Parse JSON text of `len` bytes. Returns 0, or -1 with a reason in `err`. */
int device_info_parse(const char *json, size_t len, device_info *out, char *err, size_t err_len);

/* Read and parse a file. Returns 0, or -1 with a reason in `err`. */
int device_info_load(const char *path, device_info *out, char *err, size_t err_len);

#endif /* DEVICE_INFO_H */
