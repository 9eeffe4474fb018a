#!/usr/bin/env python3
"""Makes a delta update file: OUT = our 96-byte header + a detools sequential patch (heatshrink,
window 8 / lookahead 7) that turns OLD (the image the device runs) into NEW.

    scripts/mkdelta.py OLD NEW OUT [--base-version V]

Upload OUT as the firmware of NEW's version; the device applies it to its running image and
checks the result against NEW's MD5 (docs/delta.md). The patch is applied back with detools
before OUT is written. Needs detools 0.53.0 (installed with pip when missing).
"""
import argparse
import hashlib
import io
import struct
import subprocess
import sys
import zlib

DETOOLS_VERSION = "0.53.0"
MAGIC = b"QDLT"
HEADER_LEN = 96
HEADER_FORMAT = 1
PATCH_DETOOLS_SEQUENTIAL = 1
COMPRESSION_HEATSHRINK_8_7 = 4
VERSION_MAX = 32


def detools():
    try:
        import detools as d
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                               "detools==" + DETOOLS_VERSION])
        import detools as d
    if d.__version__ != DETOOLS_VERSION:
        sys.exit("mkdelta: detools %s found, %s needed" % (d.__version__, DETOOLS_VERSION))
    return d


def header(old, new, base_version):
    """The header's layout is documented once, in docs/delta.md (and src/delta/header.rs)."""
    v = base_version.encode()
    if not 1 <= len(v) <= VERSION_MAX:
        sys.exit("mkdelta: --base-version must be 1..%d bytes" % VERSION_MAX)
    h = struct.pack("<4sBBBBI16sI16sB32s11x", MAGIC, HEADER_FORMAT, PATCH_DETOOLS_SEQUENTIAL,
                    COMPRESSION_HEATSHRINK_8_7, HEADER_LEN, len(old), hashlib.md5(old).digest(),
                    len(new), hashlib.md5(new).digest(), len(v), v)
    return h + struct.pack("<I", zlib.crc32(h))


def make(old, new, base_version):
    d = detools()
    patch = io.BytesIO()
    d.create_patch(io.BytesIO(old), io.BytesIO(new), patch, compression="heatshrink",
                   patch_type="sequential", heatshrink_window_sz2=8, heatshrink_lookahead_sz2=7)
    patch = patch.getvalue()
    back = io.BytesIO()
    d.apply_patch(io.BytesIO(old), io.BytesIO(patch), back)
    if back.getvalue() != new:
        sys.exit("mkdelta: detools' patch does not reproduce NEW")
    return header(old, new, base_version) + patch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("out")
    p.add_argument("--base-version", default="0.0.0",
                   help="the version the device runs OLD as (checked before applying)")
    a = p.parse_args()
    with open(a.old, "rb") as f:
        old = f.read()
    with open(a.new, "rb") as f:
        new = f.read()
    if len(old) >= 1 << 32 or len(new) >= 1 << 32:
        sys.exit("mkdelta: images must be smaller than 4 GiB")
    out = make(old, new, a.base_version)
    with open(a.out, "wb") as f:
        f.write(out)
    print("mkdelta: %s: %d bytes (%.1f %% of %d)" % (a.out, len(out), 100.0 * len(out) / max(len(new), 1),
                                                     len(new)))


if __name__ == "__main__":
    main()
