#!/usr/bin/env python3
"""Turn the raw lines scripts/bench.sh collected (OUT/runs.txt, OUT/cpu.txt) into Markdown tables.

runs.txt: one line per device run, `RUN size=.. variant=.. rep=.. curl_ms=.. served=.. maxrss_kb=..
          <the RESULT fields of bench/ota_bench>`; `STACK size=.. <RESULT fields>` for --stack runs.
cpu.txt:  `CPU what=update|update_rb|md5_s|md5_o3 size=.. ir=..`
"""
import statistics
import sys
from collections import defaultdict

GOAL_THROUGHPUT = 0.9
GOAL_CPU = 1.2
MIB = 1024 * 1024


def kv(line):
    d = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def mbps(size, ms):
    return size / MIB / (ms / 1000.0) if ms > 0 else float("nan")


def main(out):
    runs, stacks = [], {}
    try:
        lines = open(out + "/runs.txt").readlines()
    except FileNotFoundError:
        lines = []
    if True:
        for line in lines:
            if line.startswith("RUN "):
                runs.append(kv(line))
            elif line.startswith("STACK "):
                d = kv(line)
                stacks[int(d["size"])] = d
    cpu = defaultdict(dict)
    try:
        with open(out + "/cpu.txt") as f:
            for line in f:
                if line.startswith("CPU "):
                    d = kv(line)
                    cpu[d["what"]][int(d["size"])] = d["ir"]
    except FileNotFoundError:
        pass

    by = defaultdict(list)
    for r in runs:
        by[(int(r["size"]), r["variant"])].append(r)

    sizes = sorted({s for s, _ in by})
    big = max(sizes) if sizes else 0
    if sizes:
        throughput(by, sizes, big, stacks)
    if cpu:
        cpu_table(cpu)


def throughput(by, sizes, big, stacks):
    print("### Download throughput (loopback, slot on tmpfs, %d MiB, median of %d runs)" % (
        big / MIB, len(by.get((big, "plain"), []))))
    print()
    print("| pipeline | median (ms) | best (ms) | MiB/s (median) | ratio to curl, medians | "
          "ratio, best runs | goal (medians) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    # The HTTPS variant has its own curl runs (over HTTPS); the others share the plain ones.
    curl_all = [r["curl_ms"] for (s, v), rs in by.items() if s == big and v != "tls" for r in rs]
    curl_ms, curl_best = med(curl_all), min(curl_all)
    print("| `curl -s URL \\| tee SLOT \\| md5sum` (%d runs) | %.0f | %.0f | %.0f | 1.00 | 1.00 | |" % (
        len(curl_all), curl_ms, curl_best, mbps(big, curl_ms)))
    labels = {
        "plain": "qcloud-ota, http_buf 16 KiB, no read-back",
        "buf4k": "qcloud-ota, http_buf 4 KiB, no read-back",
        "readback": "qcloud-ota, http_buf 16 KiB, OTA_FLAG_READBACK_VERIFY",
    }
    verdicts = {}
    for v in ("plain", "buf4k", "readback"):
        rs = by.get((big, v))
        if not rs:
            continue
        ms = med([r["verified_ms"] for r in rs])
        best = min(r["verified_ms"] for r in rs)
        ratio = curl_ms / ms
        ok = ratio >= GOAL_THROUGHPUT
        verdicts[v] = ok
        print("| %s | %.0f | %.0f | %.0f | **%.2f** | %.2f | >= %.1f: %s |" % (
            labels[v], ms, best, mbps(big, ms), ratio, curl_best / best, GOAL_THROUGHPUT,
            "met" if ok else "MISSED"))
    tls = by.get((big, "tls"))
    if tls:
        # No goal: a benchmark row. Its curl runs fetch the same image over HTTPS from the same
        # stand-in, so the server's TLS cost is on both sides of the ratio.
        c_tls = [r["curl_ms"] for r in tls]
        c_ms, c_best = med(c_tls), min(c_tls)
        ms = med([r["verified_ms"] for r in tls])
        best = min(r["verified_ms"] for r in tls)
        print("| `curl -s --cacert CA https://... \\| tee SLOT \\| md5sum` (%d runs) | %.0f | %.0f | %.0f "
              "| 1.00 (curl HTTPS speed / HTTP: %.2f) | 1.00 | |" % (
                  len(c_tls), c_ms, c_best, mbps(big, c_ms), curl_ms / c_ms))
        print("| qcloud-ota over HTTPS, built-in TLS (rustls), http_buf 16 KiB, no read-back | %.0f "
              "| %.0f | %.0f | **%.2f** (to curl over HTTPS) | %.2f | no goal |" % (
                  ms, best, mbps(big, ms), c_ms / ms, c_best / best))
    print()
    print("Time = OTA_EVENT_DOWNLOAD_STARTED -> slot_close(bootable) (MD5 matched, record "
          "written), taken inside the bench program; the curl pipeline is timed around the whole "
          "pipeline, start-up included. Runs alternate (curl, then a device update, on a fresh "
          "stand-in each time; the HTTPS pair against a stand-in serving HTTPS). Ratio = curl time / device time, of the medians and of the best "
          "runs (the best runs are the least disturbed by other load on a shared machine).")
    print()

    print("### Scaling (http_buf 16 KiB, no read-back; medians)")
    print()
    print("| image | device time (ms) | ms per MiB | curl (ms) | bytes served to device | "
          "over image size | peak RSS (KiB) | ota_poll stack, library (B) | recv / slot_write calls |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        rs = by.get((s, "plain"), [])
        if not rs:
            continue
        ms = med([r["verified_ms"] for r in rs])
        c = med([r["curl_ms"] for r in rs])
        served = med([r["served"] for r in rs])
        rss = med([r["maxrss_kb"] for r in rs])
        st = stacks.get(s, {})
        print("| %d MiB | %.0f | %.2f | %.0f | %d | %+d | %d | %s | %d / %d |" % (
            s / MIB, ms, ms / (s / MIB), c, served, served - s, rss,
            "%d" % st["stack_lib"] if "stack_lib" in st else "-",
            med([r["http_recvs"] for r in rs]), med([r["slot_writes"] for r in rs])))
    print()


def cpu_table(cpu):
    if cpu:
        print("### CPU per image byte (valgrind --tool=callgrind, total Ir, slope between two sizes)")
        print()
        print("| program | Ir at %s | Ir per byte (slope) | ratio to MD5 alone | goal |" %
              " / ".join("%d MiB" % (s / MIB) for s in sorted(cpu.get("update", {}))))
        print("|---|---:|---:|---:|---|")

        def slope(d):
            ks = sorted(d)
            if len(ks) < 2:
                return float("nan")
            return (d[ks[-1]] - d[ks[0]]) / (ks[-1] - ks[0])

        base = slope(cpu.get("md5_s", {}))
        names = {
            "md5_s": "MD5 alone (md-5 0.11, the library's profile: opt-level z, md-5 at 3, LTO)",
            "md5_o3": "MD5 alone (md-5 0.11, everything at opt-level 3)",
            "update": "whole update, no read-back",
            "update_rb": "whole update, OTA_FLAG_READBACK_VERIFY",
        }
        for w in ("md5_s", "md5_o3", "update", "update_rb"):
            d = cpu.get(w)
            if not d:
                continue
            sl = slope(d)
            goal = ""
            if w == "update":
                goal = "<= %.1f: %s" % (GOAL_CPU, "met" if sl / base <= GOAL_CPU else "MISSED")
            print("| %s | %s | %.2f | %.2f | %s |" % (
                names[w], " / ".join("%d" % d[k] for k in sorted(d)), sl, sl / base, goal))
        print()


if __name__ == "__main__":
    main(sys.argv[1])
