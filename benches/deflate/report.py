#!/usr/bin/env python3
"""One Markdown table from a run of benches/deflate.sh: our criterion results (target/criterion/deflate_*)
and wire sizes (CORPUS_DIR/wscore.json) beside Node ws's (CORPUS_DIR/node.json), with ratios.

    python3 benches/deflate/report.py [CORPUS_DIR]     # default target/deflate-corpus

`a / b` is how many times faster a is than b, as in benches/README.md.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(HERE, "..", "..", "target")
CRITERION = os.path.join(TARGET, "criterion")
MODES = [("takeover", "context takeover"), ("no_takeover", "no context takeover")]


def criterion_ns(group, mode, corpus):
    """Mean time of one iteration (the whole corpus), in ns."""
    path = os.path.join(CRITERION, group, mode, corpus, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["mean"]["point_estimate"]


def mib_s(payload, ns):
    return "%.1f MiB/s" % (payload / ns * 1e9 / 2**20)


def us(ns, messages):
    value = ns / messages / 1e3
    if value >= 100:
        return "{:,.0f} µs".format(value)
    return ("%.1f µs" if value >= 10 else "%.2f µs") % value


def times(ours_ns, theirs_ns):
    return "**%.2f×**" % (theirs_ns / ours_ns)


def main():
    corpus_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TARGET, "deflate-corpus")
    with open(os.path.join(corpus_dir, "wscore.json")) as f:
        ours = json.load(f)
    with open(os.path.join(corpus_dir, "node.json")) as f:
        node = json.load(f)

    print(
        "| corpus | context | wire / payload: wscore | ws | compress + inflate, client → server: wscore | ws "
        "| wscore / ws | server receive, CPU per message: wscore | ws | wscore / ws | uncompressed "
        "| server send, CPU per message: wscore | ws | wscore / ws | uncompressed |"
    )
    print("|" + "---|" * 15)
    for corpus, label in [("chat", "chat, %d messages"), ("document", "document, %d message")]:
        info = ours[corpus]
        n, payload = info["messages"], info["payload"]
        theirs = node[corpus]
        assert theirs["payload"] == payload and theirs["messages"] == n, "not the same corpus"
        recv_off = criterion_ns("deflate_server_recv", "off", corpus)
        send_off = criterion_ns("deflate_server_send", "off", corpus)
        for mode, context in MODES:
            c2s = criterion_ns("deflate_c2s", mode, corpus)
            recv = criterion_ns("deflate_server_recv", mode, corpus)
            send = criterion_ns("deflate_server_send", mode, corpus)
            ws = theirs[mode]
            cells = [
                "%s (%s KiB)" % (label % n, "{:,}".format(round(payload / 1024))),
                context,
                "%.3f" % (info[mode]["client_wire"] / payload),
                "%.3f" % (ws["client_wire"] / payload),
                mib_s(payload, c2s),
                mib_s(payload, ws["c2s"]["ns"]),
                times(c2s, ws["c2s"]["ns"]),
                us(recv, n),
                us(ws["server_recv"]["cpu_ns"], n),
                times(recv, ws["server_recv"]["cpu_ns"]),
                us(recv_off, n),
                us(send, n),
                us(ws["server_send"]["cpu_ns"], n),
                times(send, ws["server_send"]["cpu_ns"]),
                us(send_off, n),
            ]
            print("| " + " | ".join(cells) + " |")
    print()
    print(
        "ws %s on Node %s (zlib %s), level 6, memLevel 8, 15-bit windows, as wscore's defaults."
        % (node["ws"], node["node"], node["zlib"])
    )
    print(
        "Times are means over the whole corpus. wscore runs on one thread, so its time is its CPU time; ws "
        "inflates and compresses on libuv's thread pool while the main thread waits, and its column is "
        "the CPU time of all its threads (wall time per message: receive %s, send %s for chat with context "
        "takeover)."
        % (
            us(node["chat"]["takeover"]["server_recv"]["ns"], node["chat"]["messages"]),
            us(node["chat"]["takeover"]["server_send"]["ns"], node["chat"]["messages"]),
        )
    )
    sync = {k: v["ns"] for k, v in node["zlib_sync"].items()}
    chat_n = node["chat"]["messages"]
    print(
        "Node's zlib alone (deflateRawSync, inflateRawSync: no ws, no thread pool): the document in %s "
        "(wscore's server send / that: %s) and inflated in %s (wscore's receive / that: %s); a chat message "
        "with a stream of its own in %s, inflated in %s (wscore without context takeover: %s, %s)."
        % (
            us(sync["document_deflate"], 1),
            times(criterion_ns("deflate_server_send", "takeover", "document"), sync["document_deflate"]),
            us(sync["document_inflate"], 1),
            times(criterion_ns("deflate_server_recv", "takeover", "document"), sync["document_inflate"]),
            us(sync["chat_deflate"], chat_n),
            us(sync["chat_inflate"], chat_n),
            times(criterion_ns("deflate_server_send", "no_takeover", "chat"), sync["chat_deflate"]),
            times(criterion_ns("deflate_server_recv", "no_takeover", "chat"), sync["chat_inflate"]),
        )
    )


if __name__ == "__main__":
    main()
