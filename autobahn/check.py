#!/usr/bin/env python3
"""Strict check of Autobahn reports: every case's behavior must be OK or INFORMATIONAL and its close
behavior OK; none may be UNIMPLEMENTED or NON-STRICT, permessage-deflate's 12.* and 13.* included.
Prints the counts per role and agent (driver); exits 1 if any case fails the check or no case ran.

Usage: check.py [--cases N] [--agents A,B] role=path [--agents C] role=path ...: each `--agents` names
the agents the reports after it must hold (until the next `--agents`); with `--cases N` every agent must
have run at least N cases (the suite has 517)."""
import collections
import json
import sys

ALLOWED = {"OK", "INFORMATIONAL"}


def check(role, path, expected, least):
    with open(path) as f:
        agents = json.load(f)
    missing = expected - set(agents)
    for agent in sorted(missing):
        print("%s %s: no report" % (role, agent))
    ok = bool(agents) and not missing
    for agent, cases in sorted(agents.items()):
        ok = check_agent("%s %s" % (role, agent), cases, least) and ok
    return ok


def check_agent(name, cases, least):
    bad = []
    counts = collections.Counter()
    total = 0
    for case, result in sorted(cases.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        total += 1
        behavior, close = result["behavior"], result["behaviorClose"]
        counts[behavior] += 1
        # An INFORMATIONAL case (7.1.6, 7.13.x) reports its close behavior as INFORMATIONAL too.
        close_ok = close == "OK" or (behavior == "INFORMATIONAL" and close == "INFORMATIONAL")
        if behavior not in ALLOWED or not close_ok:
            bad.append("%s: behavior %s, close %s" % (case, behavior, close))
    summary = ", ".join("%d %s" % (n, b) for b, n in sorted(counts.items()))
    print("%s: %d cases: %s" % (name, total, summary))
    for line in bad:
        print("  FAILED CHECK %s" % line)
    if total < least:
        print("  FAILED CHECK only %d cases ran, expected at least %d" % (total, least))
    return total > 0 and total >= least and not bad


def main():
    ok = True
    expected = set()
    least = 1
    args = sys.argv[1:]
    while args:
        if args[0] in ("--agents", "--cases"):
            if args[0] == "--agents":
                expected = set(args[1].split(","))
            else:
                least = int(args[1])
            args = args[2:]
            continue
        role, path = args[0].split("=", 1)
        ok = check(role, path, expected, least) and ok
        args = args[1:]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
