#!/usr/bin/env python3
"""Prints the latest criterion results (target/criterion) as markdown tables with ratios, one table per
group: each row a size, each column an implementation, then wscore's ratio to the others.

    cargo bench --bench receive --bench send --bench mask && python3 benches/report.py

With --peers, the in-memory receive and echo benches beside fastwebsockets and tokio-websockets
(benches/peers/benches/receive.rs, run by benches/receive.sh) instead: one table per size.
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
SIZE_ORDER = ["16B", "125B", "512B", "1KiB", "4KiB", "64KiB", "1MiB"]


def load(group):
    results = {}
    base = os.path.join(ROOT, group)
    if not os.path.isdir(base):
        return results
    for function in sorted(os.listdir(base)):
        fdir = os.path.join(base, function)
        if function == "report" or not os.path.isdir(fdir):
            continue
        for size in os.listdir(fdir):
            path = os.path.join(fdir, size, "new")
            if not os.path.exists(os.path.join(path, "estimates.json")):
                continue
            with open(os.path.join(path, "estimates.json")) as f:
                ns = json.load(f)["mean"]["point_estimate"]
            with open(os.path.join(path, "benchmark.json")) as f:
                throughput = json.load(f).get("throughput") or {}
            results.setdefault(size, {})[function] = (ns, throughput)
    return results


def rate(ns, throughput):
    if "Bytes" in throughput:
        return "%.1f GiB/s" % (throughput["Bytes"] / ns * 1e9 / 2**30)
    if "Elements" in throughput:
        return "%.1f M/s" % (throughput["Elements"] / ns * 1e3)
    return "%.1f ns" % ns


def flat_table(group):
    """Groups whose benchmarks have no size (frame_parse, handshake): one row each."""
    base = os.path.join(ROOT, group)
    rows = []
    for function in sorted(os.listdir(base)):
        path = os.path.join(base, function, "new", "estimates.json")
        if os.path.exists(path):
            with open(path) as f:
                rows.append((function, json.load(f)["mean"]["point_estimate"]))
    if rows:
        print("\n### %s\n" % group)
        print("| benchmark | time |")
        print("|---|---|")
        for function, ns in rows:
            print("| %s | %.1f ns |" % (function, ns))


def table(group):
    base = os.path.join(ROOT, group)
    if os.path.isdir(base) and any(
        os.path.exists(os.path.join(base, f, "new", "estimates.json")) for f in os.listdir(base)
    ):
        return flat_table(group)
    results = load(group)
    if not results:
        return
    functions = sorted({f for row in results.values() for f in row}, key=lambda f: (not f.startswith("wscore"), f))
    ours = [f for f in functions if f.startswith("wscore") or f in ("apply_mask", "mask_copy")]
    others = [f for f in functions if f not in ours]
    print("\n### %s\n" % group)
    ratio_cols = ["%s / %s" % (o, t) for o in ours for t in others]
    print("| size | " + " | ".join(functions + ratio_cols) + " |")
    print("|" + "---|" * (1 + len(functions) + len(ratio_cols)))
    for size in sorted(results, key=lambda s: SIZE_ORDER.index(s) if s in SIZE_ORDER else 99):
        row = results[size]
        cells = [rate(*row[f]) if f in row else "" for f in functions]
        # Speed ratio: how many times faster ours is (time of theirs over time of ours).
        for o in ours:
            for t in others:
                cells.append("%.2f×" % (row[t][0] / row[o][0]) if o in row and t in row else "")
        print("| %s | %s |" % (size, " | ".join(cells)))


PEERS_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "target", "criterion")
SIZE_BYTES = {"16B": 16, "1KiB": 1 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20}
# Rows in this order; the first is the reference of the speed ratios, the second the floor.
PEERS_ORDER = ["wscore_read_buffer", "wscore_mio", "tungstenite", "fastwebsockets", "tokio_websockets",
               "copy_unmask", "memcpy"]
PEERS_LABEL = {"copy_unmask": "copy + unmask (floor)", "memcpy": "memcpy (64 KiB reads)"}


def peers_tables(group, floor):
    """benches/peers' receive and echo groups: one table per size, ns per message and MB/s of payload,
    and each row's speed against tungstenite (and the copy + unmask floor) from the same run."""
    global ROOT
    ROOT, saved = PEERS_ROOT, ROOT
    try:
        results = load(group)
    finally:
        ROOT = saved
    for size in sorted(results, key=lambda s: SIZE_ORDER.index(s) if s in SIZE_ORDER else 99):
        row = results[size]
        payload_bytes = row[next(iter(row))][1]["Bytes"]
        count = payload_bytes // SIZE_BYTES[size]
        print("\n### %s: %s × %d per iteration\n" % (group, size, count))
        columns = ["ns/msg", "MB/s", "× tungstenite"] + (["% of copy + unmask"] if floor else [])
        print("| | " + " | ".join(columns) + " |")
        print("|---" * (1 + len(columns)) + "|")
        names = [f for f in PEERS_ORDER if f in row] + sorted(f for f in row if f not in PEERS_ORDER)
        for name in names:
            ns = row[name][0]
            cells = ["%.1f" % (ns / count), "{:,.0f}".format(payload_bytes / ns * 1e3)]
            cells.append("%.2f×" % (row["tungstenite"][0] / ns) if "tungstenite" in row else "")
            if floor:
                cells.append("%.0f%%" % (100 * row["copy_unmask"][0] / ns) if "copy_unmask" in row else "")
            print("| %s | %s |" % (PEERS_LABEL.get(name, name), " | ".join(cells)))


def main():
    if sys.argv[1:] == ["--peers"]:
        peers_tables("receive", floor=True)
        peers_tables("echo", floor=False)
        return
    groups = sys.argv[1:] or [
        "receive_bytes", "receive_msgs", "send", "mask_aligned", "mask_unaligned", "mask_copy_aligned",
        "mask_copy_unaligned", "utf8",
        "frame_parse", "frame_encode", "handshake",
    ]
    for group in groups:
        table(group)


if __name__ == "__main__":
    main()
