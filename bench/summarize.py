#!/usr/bin/env python3
"""Turn the raw lines scripts/bench.sh collected (OUT/runs.txt, OUT/cpu.txt) into Markdown tables.

runs.txt: one line per device run, `RUN size=.. variant=.. rep=.. curl_ms=.. ceiling_ms=.. server=..
          maxrss_kb=.. <the RESULT fields of bench/ota_bench>`; `STACK size=.. <RESULT fields>` for
          --stack runs.
cpu.txt:  `CPU what=update|update_rb|md5_s|md5_o3 size=.. ir=..`
"""
import statistics
import sys
from collections import defaultdict

# DESIGN.md's budgets: library defaults and the demo as shipped, against the curl pipeline.
GOALS = {"defaults": 0.95, "demo": 0.8}
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
    base = [r for (s, v), rs in by.items() if s == big and v != "tls" for r in rs]
    server = base[0]["server"] if base else "?"
    print("### Download throughput (loopback, served by %s, slot on tmpfs, %d MiB, median of %d runs)" % (
        server, big / MIB, len(by.get((big, "defaults"), []))))
    print()
    print("| pipeline | median (ms) | best (ms) | spread (ms) | MiB/s (median) | ratio to curl, medians | "
          "ratio, best runs | goal (medians) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    # The HTTPS variant has its own curl runs (over HTTPS); the others share the plain ones.
    curl_all = [r["curl_ms"] for r in base]
    if not curl_all:
        return
    curl_ms, curl_best = med(curl_all), min(curl_all)
    ceil = [r["ceiling_ms"] for r in base]
    print("| the server's ceiling: `curl -s -o /dev/null URL` (%d runs) | %.0f | %.0f | %.0f-%.0f | %.0f | "
          "(%.2fx the pipeline's speed) | | |" % (len(ceil), med(ceil), min(ceil), min(ceil), max(ceil),
                            mbps(big, med(ceil)), curl_ms / med(ceil)))
    print("| `curl -s URL \\| tee SLOT \\| md5sum` (%d runs) | %.0f | %.0f | %.0f-%.0f | %.0f | 1.00 | 1.00 | |" % (
        len(curl_all), curl_ms, curl_best, min(curl_all), max(curl_all), mbps(big, curl_ms)))
    labels = {
        "defaults": "qcloud-ota, library defaults (record every 64 KiB, no read-back), http_buf 16 KiB",
        "demo": "qcloud-ota as `ota_demo` ships (record every 16 KiB, no read-back, http_buf 16 KiB)",
        "demo_readback": "`ota_demo --readback` (the demo's read-back option)",
        "readback": "library defaults + `OTA_FLAG_READBACK_VERIFY`",
        "buf4k": "library defaults, http_buf 4 KiB",
    }
    for v in ("defaults", "demo", "demo_readback", "readback", "buf4k"):
        rs = by.get((big, v))
        if not rs:
            continue
        times = [r["verified_ms"] for r in rs]
        ms, best = med(times), min(times)
        # Each device run against the curl run just before it, on the same server.
        ratios = [r["curl_ms"] / r["verified_ms"] for r in rs]
        ratio = curl_ms / ms
        goal = ""
        if v in GOALS:
            goal = ">= %.2f: %s" % (GOALS[v], "met" if ratio >= GOALS[v] else "MISSED")
        print("| %s | %.0f | %.0f | %.0f-%.0f | %.0f | **%.2f** (pairs %.2f-%.2f) | %.2f | %s |" % (
            labels[v], ms, best, min(times), max(times), mbps(big, ms), ratio, min(ratios),
            max(ratios), curl_best / best, goal))
    tls = by.get((big, "tls"))
    if tls:
        # No goal: a benchmark row. Its curl runs fetch the same image over HTTPS from the same
        # stand-in, so the server's TLS cost is on both sides of the ratio.
        c_tls = [r["curl_ms"] for r in tls]
        c_ms, c_best = med(c_tls), min(c_tls)
        times = [r["verified_ms"] for r in tls]
        ms, best = med(times), min(times)
        print("| `curl -s --cacert CA https://... \\| tee SLOT \\| md5sum`, the stand-in's HTTPS server "
              "(%d runs) | %.0f | %.0f | %.0f-%.0f | %.0f | 1.00 | 1.00 | |" % (
                  len(c_tls), c_ms, c_best, min(c_tls), max(c_tls), mbps(big, c_ms)))
        print("| qcloud-ota over HTTPS, built-in TLS (rustls), library defaults | %.0f "
              "| %.0f | %.0f-%.0f | %.0f | **%.2f** (to curl over HTTPS) | %.2f | no goal |" % (
                  ms, best, min(times), max(times), mbps(big, ms), c_ms / ms, c_best / best))
    print()
    print("Time = OTA_EVENT_DOWNLOAD_STARTED -> slot_close(bootable) (MD5 matched, record "
          "written), taken inside the bench program; the curl pipeline is timed around the whole "
          "pipeline, start-up included. Each run: the server's ceiling (curl into /dev/null), the "
          "curl pipeline, then a device update (a fresh stand-in for MQTT each time; the HTTPS "
          "pair against a stand-in serving HTTPS). Ratio = curl time / device time, of the medians "
          "(pairs: each run against the curl run just before it, lowest-highest) and of the best "
          "runs (the least disturbed by other load on a shared machine).")
    print()

    print("### Scaling (library defaults, http_buf 16 KiB; medians)")
    print()
    print("| image | device time (ms) | ms per MiB | curl (ms) | bytes received over HTTP (heads "
          "included) | over image size | record saves | peak RSS (KiB) | ota_poll stack, library (B) "
          "| recv / slot_write calls |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        rs = by.get((s, "defaults"), [])
        if not rs:
            continue
        ms = med([r["verified_ms"] for r in rs])
        c = med([r["curl_ms"] for r in rs])
        rx = med([r["http_rx_bytes"] for r in rs])
        rss = med([r["maxrss_kb"] for r in rs])
        st = stacks.get(s, {})
        print("| %d MiB | %.0f | %.2f | %.0f | %d | %+d | %d | %d | %s | %d / %d |" % (
            s / MIB, ms, ms / (s / MIB), c, rx, rx - s, med([r["store_saves"] for r in rs]), rss,
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
