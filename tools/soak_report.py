#!/usr/bin/env python3
"""Sums up `loadgen soak` reports (tools/soak.sh writes one JSON line per lane).

    python3 tools/soak_report.py LANE.json            # one lane, a few lines of text
    python3 tools/soak_report.py --markdown A.json B.json > REPORT.md
"""
import json
import sys


def load(path):
    with open(path) as f:
        lines = [l for l in f if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else None


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def faults(report):
    f = report.get("faults", {})
    started = sum(v["started"] for v in f.values())
    answered = sum(v["answered"] for v in f.values())
    return started, answered


def text(path, r):
    if r is None:
        return f"{path}: no report"
    started, answered = faults(r)
    verdict = "ok" if r.get("errors") == 0 else f"FAILED: {r.get('error')}"
    return (
        f"{r['label']}: {verdict}\n"
        f"  echoes checked {r['checked']:,}: lost {r['lost']}, duplicated {r['duplicated']}, "
        f"corrupted {r['corrupted']}; well-behaved connections ended badly: {r['unexpected_ends']}\n"
        f"  faults {started:,} started, {answered:,} answered as they must be\n"
        f"  latency under faults p50 {r.get('p50_us', 'n/a')} us, p99 {r.get('p99_us', 'n/a')} us, "
        f"p999 {r.get('p999_us', 'n/a')} us ({r.get('latency_samples', 0):,} samples)\n"
        f"  server RSS cold {mib(r.get('rss_kib_cold'))}, baseline {mib(r.get('rss_kib_baseline'))}, "
        f"end {mib(r.get('rss_kib_end'))}; descriptors baseline {r.get('fds_baseline')}, end {r.get('fds_end')}"
    )


def markdown(paths):
    rows = [
        "| lane | verdict | echoes checked | lost / dup / corrupt | faults answered | p50 / p99 / p999 (ms) "
        "| RSS cold / baseline / end | fds baseline / end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details = []
    for path in paths:
        r = load(path)
        if r is None:
            rows.append(f"| {path} | no report | | | | | | |")
            continue
        started, answered = faults(r)
        ms = lambda k: "n/a" if r.get(k) is None else f"{r[k] / 1000:.2f}"
        verdict = "pass" if r.get("errors") == 0 else "**FAIL**"
        rows.append(
            f"| {r['label']} | {verdict} | {r['checked']:,} | {r['lost']} / {r['duplicated']} / {r['corrupted']} "
            f"| {answered:,} of {started:,} | {ms('p50_us')} / {ms('p99_us')} / {ms('p999_us')} "
            f"| {mib(r.get('rss_kib_cold'))} / {mib(r.get('rss_kib_baseline'))} / {mib(r.get('rss_kib_end'))} "
            f"| {r.get('fds_baseline')} / {r.get('fds_end')} |"
        )
        per_fault = ", ".join(
            f"{name} {v['answered']}/{v['started']}" for name, v in r.get("faults", {}).items()
        )
        details.append(f"- {r['label']}: {per_fault}; half-closed connections' unanswered echoes: "
                       f"{r.get('half_close_unanswered', 0)}")
    return "\n".join(rows + ["", "Faults answered, by kind:", ""] + details) + "\n"


def main(argv):
    if not argv or argv == ["--markdown"]:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[0] == "--markdown":
        sys.stdout.write(markdown(argv[1:]))
        return 0
    for path in argv:
        print(text(path, load(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
