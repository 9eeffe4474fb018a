#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run from anywhere: `python3 fuzz/seeds.py`).

Real-looking inputs only: Tencent's documented OTA messages (reference §3), the MQTT packets a
broker sends, COS-style HTTP responses, signed URLs, and journal records. The header bytes of the
stateful targets are documented in fuzz/src/lib.rs. Existing files with the same names are
overwritten; other files in the corpus directories are left alone.
"""
import os
import random
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rnd = random.Random(20240516)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- OTA JSON (reference §3)

MD5 = "a15d5deaf37bf6698cf9a21ec672166d"
COS = ("https://ota-1255858890.cos.ap-guangzhou.myqcloud.com/100012345678_ABCDEFGHIJ_1.3.0"
       "?sign=q-sign-algorithm%3Dsha1%26q-ak%3DAKIDxxxxxxxx%26q-sign-time%3D1700000000%3B1700086400"
       "%26q-key-time%3D1700000000%3B1700086400%26q-header-list%3D%26q-url-param-list%3D"
       "%26q-signature%3D0123456789abcdef0123456789abcdef01234567")
JSON = {
    "rsp_doc": b'{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}',
    "rsp_2025": b'{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0","fw_type":"mcu"}',
    "update_2025_doc_masked": b'{"file_size":708482,"md5sum":"36eb5951179db14a63****a37a9322a2","type":"update_firmware",'
                              b'"url":"https://ota-1255858890.cos.ap-guangzhou.myqcloud.com","version":"0.2",'
                              b'"task_id":123456,"fw_type":"mcu"}',
    "rsp_string_code": b'{"type":"report_version_rsp","result_code":"-11","result_msg":"fail"}',
    "update_2024_doc": b'''{
    "file_size": 1501696,
    "md5sum": "a15d5deaf37bf6698cf9a21ec672166d",
    "type": "update_firmware",
    "url": "http://download_url.com",
    "user_defined": "{\\"time\\":\\"2024-05-16\\",\\"info\\":\\"ota test\\"}",
    "version": "v1.0.1"
}''',
    "update_2025_doc": b'{"file_size":708482,"md5sum":"36eb5951179db14a63a0b1a37a9322a2","type":"update_firmware",'
                       b'"url":"https://ota-1255858890.cos.ap-guangzhou.myqcloud.com","version":"0.2",'
                       b'"task_id":123456,"fw_type":"mcu"}',
    "update_real": ('{"file_size":175436,"md5sum":"ad4615a0b1c2d3e4f5a6b7c8d9e0f1a2","type":"update_firmware",'
                    '"url":"%s","version":"1.3.0"}' % COS).encode(),
    "update_escaped": ('{"type":"update_firmware","url":"%s","md5sum":"%s","file_size":8388608,'
                       '"version":"2.0.0","task_id":"987654321","fw_type":null,'
                       '"user_defined":{"k":[1,2.5e3,-0,true,false,null,"\\u652f\\u6301\\ud83d\\ude00"]}}'
                       % (COS.replace("/", "\\/"), MD5.upper())).encode(),
    "other_type": b'{"type":"report_version","report":{"version":"1.0.0"}}',
    "progress": b'{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"10",'
                b'"result_code":"0","result_msg":""},"version":"2.0.0","task_id":123456,"fw_type":"mcu"}}',
    "fail_sdk": b'{"type": "report_progress", "report": {"progress": {"state":"fail", "result_code":"-4", '
                b'"result_msg":"time_out"}, "version": "1.0.1"}}',
    "writer_strings": b'1.0.0-rc.1|mcu|md5 "mismatch"\\\n\t\x01',
}
for name, body in JSON.items():
    write("ota_json", name, body)


# ---------------------------------------------------------------- MQTT

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def lstr(b):
    return struct.pack(">H", len(b)) + b


def publish(topic, payload, qos=0, pid=None, dup=False, retain=False):
    body = lstr(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    first = 0x30 | (8 if dup else 0) | (qos << 1) | (1 if retain else 0)
    return bytes([first]) + varint(len(body)) + body


UPDATE = b"$ota/update/ABCDEFGHIJ/dev1"
CONNACK = b"\x20\x02\x00\x00"
SUBACK = b"\x90\x03\x00\x01\x01"
PINGRESP = b"\xd0\x00"
PUB_UF_Q0 = publish(UPDATE, JSON["update_real"])
PUB_RSP_Q1 = publish(UPDATE, JSON["rsp_doc"], qos=1, pid=7)
client = b"ABCDEFGHIJdev1"
user = b"ABCDEFGHIJdev1;12010126;4VX2Q;4102444800"
pw = b"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c;hmacsha1"
conn_body = lstr(b"MQTT") + b"\x04\xc2\x00\xf0" + lstr(client) + lstr(user) + lstr(pw)
CONNECT = b"\x10" + varint(len(conn_body)) + conn_body
sub_body = b"\x00\x01" + lstr(UPDATE) + b"\x01"
SUBSCRIBE = b"\x82" + varint(len(sub_body)) + sub_body

MQTT = {
    "connack": CONNACK,
    "connack_refused": b"\x20\x02\x00\x05",
    "suback": SUBACK,
    "suback_fail": b"\x90\x03\x00\x01\x80",
    "publish_q0_update_firmware": PUB_UF_Q0,
    "publish_q1_rsp": PUB_RSP_Q1,
    "publish_q1_dup_retain": publish(UPDATE, JSON["update_2025_doc"], qos=1, pid=0xBEEF, dup=True, retain=True),
    "puback": b"\x40\x02\x00\x02",
    "pingresp": PINGRESP,
    "unsuback": b"\xb0\x02\x00\x03",
    "connect": CONNECT,
    "subscribe": SUBSCRIBE,
    "pingreq_disconnect": b"\xc0\x00\xe0\x00",
    "stream": CONNACK + SUBACK + PUB_RSP_Q1 + b"\x40\x02\x00\x02" + PINGRESP + PUB_UF_Q0,
}
for name, body in MQTT.items():
    write("mqtt_decode", name, body)

# mqtt_session header: [rx size, tx size, timing flags, rng seed]
# rx: h0 < 32 -> h0 + 1, else 64 + (h0 - 32) * 4; tx: 128 + 2 * h1;
# h2: keepalive [0,1,60,240][h2&3], ack timeout [0,1,1000,5000][(h2>>2)&3], 0x10 = clock near u64::MAX.
SESSION = {
    "update_q0": (b"\xff\xff\x0a\x01", CONNACK + SUBACK + PUB_UF_Q0),
    "rsp_q1_acks_pings": (b"\xff\x40\x0a\x02",
                          CONNACK + SUBACK + PUB_RSP_Q1 + b"\x40\x02\x00\x02" + PINGRESP
                          + publish(UPDATE, b"{}", qos=1, pid=8) + b"\x40\x02\x00\x03" + PINGRESP),
    "refused": (b"\xff\xff\x0a\x03", b"\x20\x02\x00\x04"),
    "oversize_small_rx": (b"\x40\x80\x0e\x04", CONNACK + SUBACK + PUB_UF_Q0 + PINGRESP + PUB_RSP_Q1),
    "clock_near_max": (b"\xc0\xc0\x1f\x05", CONNACK + SUBACK + PUB_RSP_Q1 + PINGRESP),
    "many_q1_tiny_tx": (b"\xff\x00\x06\x06",
                        CONNACK + SUBACK + b"".join(publish(UPDATE, b'{"type":"x"}', 1, pid=i) for i in range(1, 9))),
    "publish_before_connack": (b"\xff\xff\x0a\x07", PUB_UF_Q0 + CONNACK),
}
for name, (h, body) in SESSION.items():
    write("mqtt_session", name, h + body)


# ---------------------------------------------------------------- HTTP

def firmware(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))


ETAG = b'"5d41402abc4b2a76b9719d911017c592"'
COS_HEADERS = (b"Content-Type: application/octet-stream\r\nConnection: keep-alive\r\n"
               b"Date: Thu, 16 May 2024 08:00:00 GMT\r\nETag: " + ETAG + b"\r\n"
               b"Last-Modified: Thu, 16 May 2024 07:59:00 GMT\r\nServer: tencent-cos\r\n"
               b"x-cos-request-id: NjY0NWJjYzBfMWU5YjJhMDlfMjRlN18xYjM4ZjA=\r\n")


def r206(first, last, total, body):
    return (b"HTTP/1.1 206 Partial Content\r\nAccept-Ranges: bytes\r\n"
            + b"Content-Length: %d\r\nContent-Range: bytes %d-%d/%d\r\n" % (last - first + 1, first, last, total)
            + COS_HEADERS + b"\r\n" + body)


def chunked(body, sizes, trailer=b""):
    out, i, k = b"", 0, 0
    while i < len(body):
        n = min(sizes[k % len(sizes)], len(body) - i)
        ext = b";name=v" if k == 1 else b""
        out += b"%x%s\r\n" % (n, ext) + body[i:i + n] + b"\r\n"
        i, k = i + n, k + 1
    return out + b"0\r\n" + trailer + b"\r\n"


FW = firmware(1024)
XML403 = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n<Code>AccessDenied</Code>\n'
          b'<Message>Request has expired</Message>\n<RequestId>NjY0NWJj</RequestId>\n</Error>')
RESP = {
    "206": r206(0, 1023, 8388608, FW),
    "200": b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n" + COS_HEADERS + b"\r\n" + FW,
    "403": (b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
            b"Connection: close\r\nServer: tencent-cos\r\n\r\n" % len(XML403)) + XML403,
    "404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nServer: tencent-cos\r\n\r\n",
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: " + ETAG + b"\r\n\r\n"
                + chunked(FW[:600], [256, 1, 100], b"X-Checksum: 1\r\n")),
    "continue_then_206": b"HTTP/1.1 100 Continue\r\n\r\n" + r206(0, 1023, 1024, FW),
    "302": (b"HTTP/1.1 302 Found\r\nLocation: https://cdn.example.com/fw/1.3.0.bin?sign=abc\r\n"
            b"Content-Length: 5\r\n\r\nmoved"),
    "416": b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */8388608\r\nContent-Length: 0\r\n\r\n",
    "http10_until_close": b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + FW[:300],
}
for name, body in RESP.items():
    write("http_head", name, body)
write("http_head", "te_and_cl", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n"
      b"content-length: 10, 10\r\n\r\n")

# http_body header: [framing, len hi, len lo, split seed]; framing < 0xa0 chunked,
# 0xa0..0xdd Length(len), 0xde Length(u64::MAX - len), >= 0xdf until close.
BODY = {
    "chunked": b"\x00\x00\x00\x01" + chunked(FW[:500], [200, 1, 0x1a, 17], b"X-Trailer: 1\r\nMD5: x\r\n"),
    "chunked_ext_ws": b"\x10\x00\x00\x02" + b"5\r\nhello\r\n1A;name=\"v;x\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                      b"00a \t;e\r\n0123456789\r\n0\r\n\r\n",
    "length": b"\xa0\x01\x00\x03" + FW[:300],
    "length_huge": b"\xde\x00\x00\x04" + FW[:64],
    "until_close": b"\xe0\x00\x00\x05" + FW[:200],
}
for name, body in BODY.items():
    write("http_body", name, body)

# http_download header: [buffer size, range start, range length, rng seed];
# buffer 160 + 8 * h0; h1 = 0: no Range, else bytes=(h1-1)*1024 .. +(h2+1)*64-1.
DL = {
    "206_keepalive_twice": b"\x80\x01\x0f\x01" + r206(0, 1023, 4096, FW) + r206(1024, 2047, 4096, FW[::-1]),
    "206_clamped_end": b"\x40\x01\x3f\x02" + r206(0, 1023, 1024, FW),
    "200_no_range": b"\x60\x00\x00\x03" + RESP["200"],
    "200_ignoring_range": b"\x60\x01\x0f\x04" + RESP["200"],
    "403": b"\x20\x01\x0f\x05" + RESP["403"],
    "chunked": b"\x10\x00\x00\x06" + RESP["chunked"],
    "continue_then_206": b"\xff\x01\x0f\x07" + RESP["continue_then_206"],
    "302": b"\x20\x00\x00\x08" + RESP["302"],
    "until_close": b"\x30\x00\x00\x09" + RESP["http10_until_close"],
    "416": b"\x30\x02\x00\x0a" + RESP["416"],
}
for name, body in DL.items():
    write("http_download", name, body)

URLS = {
    "cos_signed": COS.encode(),
    "doc_http": b"http://download_url.com",
    "example_bucket": b"https://examplebucket-12500000000.cos.ap-guangzhou.myqcloud.com/path/to/firmware?sign=***",
    "port_ipv4": b"http://127.0.0.1:8080/fw.bin?x=1#frag",
    "ipv6": b"https://[2001:db8::1]:8443/a%20b/c?d=e",
    "query_no_path": b"HTTP://Host.Example?x=1",
    "utf8_path": "http://h/固件/v1.bin".encode(),
    "redirect_abs": b"https://a.example/fw\nhttps://cdn.example.com:444/fw?sig=1",
    "redirect_path": b"http://a.example:81/fw\n/other/fw.bin?x",
    "redirect_scheme_rel": b"https://a.example/fw\n//b.example/fw",
    "redirect_downgrade": b"https://a.example/fw\nhttp://b.example/fw",
}
for name, body in URLS.items():
    write("url", name, body)


# ---------------------------------------------------------------- journal (src/journal.rs layout)
# magic "QOTA" | format u8 | seq u32 | phase u8 | version_len u8 | version [32] | md5 [16] |
# file_size u32 | offset u32 | has_task u8 | task_id u64 | fw_type_len u8 | fw_type [16] |
# etag_len u8 | etag [48] | md5_state [24] | crc32 u32

def text(s, n):
    return bytes([len(s)]) + s.ljust(n, b"\0")


def record(seq, phase, version, size, offset, task, fw_type, etag, state):
    b = (b"QOTA" + bytes([2]) + struct.pack("<I", seq) + bytes([phase]) + text(version, 32)
         + bytes.fromhex(MD5) + struct.pack("<II", size, offset)
         + bytes([task is not None]) + struct.pack("<Q", task or 0)
         + text(fw_type, 16) + text(etag, 48) + state)
    return b + struct.pack("<I", zlib.crc32(b))


STATE = struct.pack("<IIIIQ", 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 4096 // 64)
JOURNAL = {
    "downloading": record(7, 1, b"2.0.0", 8388608, 4096, 123456, b"mcu", ETAG, STATE),
    "installed": record(8, 2, b"v1.0.1", 1501696, 1501696, None, b"", b"", bytes(24)),
    "max_fields": record(0xFFFFFFFF, 1, b"V" * 32, 0xFFFFFFFF, 0, 0xFFFFFFFFFFFFFFFF, b"m" * 16, b'"' + b"e" * 46 + b'"', b"\xff" * 24),
}
for name, body in JOURNAL.items():
    write("journal", name, body)
write("journal", "torn", JOURNAL["downloading"][:100] + b"\xff" * (len(JOURNAL["downloading"]) - 100))


# ---------------------------------------------------------------- delta (fuzz/src/lib.rs `delta`)
# Header: mode (bit 0: 1 = a delta file header, 0 = a bare patch), base seed, base length,
# target length, rng seed (u16 BE each). The base is SplitMix64(base seed)'s low bytes, as the
# Rust body makes it; the patches are real detools heatshrink 8/7 patches against that base.

M64 = (1 << 64) - 1


def splitmix_bytes(seed, n):
    state, out = seed, bytearray()
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append((z ^ (z >> 31)) & 0xFF)
    return bytes(out)


def delta_seeds():
    import hashlib
    import io
    import detools
    for name, base_seed, base_len, edits, rng_seed in [
            ("patch_small", 1, 1500, 3, 3), ("patch_edits", 2, 6000, 12, 7),
            ("patch_grow", 3, 300, 0, 5)]:
        base = splitmix_bytes(base_seed, base_len)
        new = bytearray(base)
        for k in range(edits):
            at = rnd.randrange(len(new))
            choice = k % 3
            if choice == 0:
                new[at:at + 20] = bytes(rnd.randrange(256) for _ in range(20))
            elif choice == 1:
                new[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
            else:
                del new[at:at + rnd.randrange(1, 300)]
        if name == "patch_grow":
            new += bytes(rnd.randrange(4) for _ in range(2000))
        new = bytes(new)
        patch = io.BytesIO()
        detools.create_patch(io.BytesIO(base), io.BytesIO(new), patch, compression="heatshrink",
                             heatshrink_window_sz2=8, heatshrink_lookahead_sz2=7)
        head = struct.pack(">BBHHH", 0, base_seed, base_len, len(new), rng_seed)
        write("delta", name, head + patch.getvalue())
    # Mode 3: a checkpoint (src/delta/checkpoint.rs layout, in a diff run) and patch bytes after it.
    cp = struct.pack("<IIqIIBBBBB", 200, 3000, 2800, 40, 300, 0, 0, 0, 0, 0)
    write("delta", "resume", struct.pack(">BBHHH", 3, 2, 6000, 6500, 9) + cp + bytes(range(200)))
    # A delta file header (scripts/mkdelta.py's layout, docs/delta.md).
    h = struct.pack("<4sBBBBI16sI16sB32s11x", b"QDLT", 1, 1, 4, 96, 1500,
                    hashlib.md5(b"old").digest(), 1520, hashlib.md5(b"new").digest(), 5, b"1.0.0")
    write("delta", "header", struct.pack(">BBHHH", 1, 0, 0, 0, 0) + h + struct.pack("<I", zlib.crc32(h)))


delta_seeds()
