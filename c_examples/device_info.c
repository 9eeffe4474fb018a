/*
 * device_info: a small, tolerant reader for Tencent's device_info.json. See device_info.h.
 *
 * Not a general JSON parser: it walks the text once, skipping strings correctly, and finds members
 * of one object by name at that object's own level (so a "productId" inside "subDev" or any other
 * nested object is never mistaken for the device's own). Values must be strings.
 */
#define _POSIX_C_SOURCE 200809L

#include "device_info.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file is a few hundred bytes; refuse anything absurd rather than read it all. */
#define DEVICE_INFO_FILE_MAX (256u * 1024u)

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p points at an opening quote; returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++; /* skip the escaped character, whatever it is */
            continue;
        }
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/*
 * obj points at '{'. Returns the start of the value of member `key` at this object's own level
 * (whitespace skipped), or NULL when there is no such member.
 */
static const char *json_member(const char *obj, const char *end, const char *key)
{
    size_t key_len = strlen(key);
    int depth = 0;
    const char *p = obj;

    while (p < end) {
        char c = *p;
        if (c == '"') {
            const char *s = p + 1, *after = skip_string(p, end), *q;
            if (after == NULL)
                return NULL;
            if (depth == 1) {
                /* A string followed by ':' is a member name. */
                q = skip_ws(after, end);
                if (q < end && *q == ':') {
                    if ((size_t)(after - 1 - s) == key_len && memcmp(s, key, key_len) == 0)
                        return skip_ws(q + 1, end);
                    after = q + 1;
                }
            }
            p = after;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth <= 0)
                return NULL; /* end of the object */
        }
        p++;
    }
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode the JSON string at p (which must point at '"') into out (cap bytes with the NUL).
 * Identifiers and base64 secrets are ASCII, so \uXXXX is accepted only below 0x80.
 * Returns 0, or -1 with a reason.
 */
static int json_string(const char *p, const char *end, char *out, size_t cap, const char **why)
{
    size_t n = 0;

    if (p >= end || *p != '"') {
        *why = "is not a string";
        return -1;
    }
    for (p++; p < end; p++) {
        char c = *p;
        if (c == '"') {
            if (n == 0) {
                *why = "is empty";
                return -1;
            }
            out[n] = '\0';
            return 0;
        }
        if ((unsigned char)c < 0x20) {
            *why = "contains a control character";
            return -1;
        }
        if (c == '\\') {
            if (++p >= end)
                break;
            switch (*p) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int v = 0, i;
                if (end - p < 5) {
                    *why = "has a truncated \\u escape";
                    return -1;
                }
                for (i = 1; i <= 4; i++) {
                    int d = hex_digit(p[i]);
                    if (d < 0) {
                        *why = "has a bad \\u escape";
                        return -1;
                    }
                    v = v * 16 + d;
                }
                if (v == 0 || v >= 0x80) {
                    *why = "has a non-ASCII \\u escape";
                    return -1;
                }
                c = (char)v;
                p += 4;
                break;
            }
            default:
                *why = "has a bad escape";
                return -1;
            }
        }
        if (n + 1 >= cap) {
            *why = "is too long";
            return -1;
        }
        out[n++] = c;
    }
    *why = "is an unterminated string";
    return -1;
}

/* Extract string member `key` of the object at obj into out. */
static int get_string(const char *obj, const char *end, const char *key, const char *where,
                      char *out, size_t cap, char *err, size_t err_len)
{
    const char *why = NULL;
    const char *v = json_member(obj, end, key);

    if (v == NULL) {
        set_err(err, err_len, "\"%s\" is missing%s", key, where);
        return -1;
    }
    if (json_string(v, end, out, cap, &why) != 0) {
        if (strcmp(why, "is too long") == 0)
            set_err(err, err_len, "\"%s\"%s is too long (at most %lu bytes)", key, where,
                    (unsigned long)(cap - 1));
        else
            set_err(err, err_len, "\"%s\"%s %s", key, where, why);
        return -1;
    }
    return 0;
}

int device_info_parse(const char *json, size_t len, device_info *out, char *err, size_t err_len)
{
    const char *end = json + len, *root, *keyinfo;
    char auth_mode[16];
    const char *why = NULL;
    const char *mode;

    memset(out, 0, sizeof *out);
    root = skip_ws(json, end);
    if (root >= end || *root != '{') {
        set_err(err, err_len, "not a JSON object");
        return -1;
    }
    /* auth_mode is optional; when given it must be KEY: CERT needs client certificates over TLS. */
    mode = json_member(root, end, "auth_mode");
    if (mode != NULL) {
        if (json_string(mode, end, auth_mode, sizeof auth_mode, &why) != 0) {
            set_err(err, err_len, "\"auth_mode\" %s", why);
            return -1;
        }
        if (strcmp(auth_mode, "KEY") != 0) {
            set_err(err, err_len, "auth_mode \"%s\" is not supported (only KEY: device secret)",
                    auth_mode);
            return -1;
        }
    }
    if (get_string(root, end, "productId", "", out->product_id, sizeof out->product_id, err,
                   err_len) != 0
        || get_string(root, end, "deviceName", "", out->device_name, sizeof out->device_name, err,
                      err_len) != 0)
        return -1;
    keyinfo = json_member(root, end, "key_deviceinfo");
    if (keyinfo == NULL || *keyinfo != '{') {
        set_err(err, err_len, "\"key_deviceinfo\" object is missing");
        return -1;
    }
    return get_string(keyinfo, end, "deviceSecret", " in key_deviceinfo", out->device_secret,
                      sizeof out->device_secret, err, err_len);
}

int device_info_load(const char *path, device_info *out, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc;

    if (f == NULL) {
        set_err(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(DEVICE_INFO_FILE_MAX);
    if (buf == NULL) {
        fclose(f);
        set_err(err, err_len, "out of memory");
        return -1;
    }
    n = fread(buf, 1, DEVICE_INFO_FILE_MAX, f);
    if (ferror(f) || n == DEVICE_INFO_FILE_MAX) {
        set_err(err, err_len, "%s: %s", path, ferror(f) ? "read error" : "file too large");
        rc = -1;
    } else {
        rc = device_info_parse(buf, n, out, err, err_len);
        if (rc != 0 && err != NULL) {
            /* Prefix the file name: "device_info.json: "productId" is missing". */
            char reason[256];
            snprintf(reason, sizeof reason, "%s", err);
            set_err(err, err_len, "%s: %s", path, reason);
        }
    }
    free(buf);
    fclose(f);
    return rc;
}
