#!/usr/bin/env python3
"""Strict check of Autobahn reports: every case's behavior must be OK or INFORMATIONAL and its close
behavior OK, except 12.* and 13.* (permessage-deflate, not implemented yet), which may be UNIMPLEMENTED.
Prints the counts per role; exits 1 if any case fails the check or no case ran."""
import collections
import json
import sys

ALLOWED = {"OK", "INFORMATIONAL"}


def check(role, path):
    with open(path) as f:
        agents = json.load(f)
    bad = []
    counts = collections.Counter()
    total = 0
    for agent, cases in agents.items():
        for case, result in sorted(cases.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
            total += 1
            behavior, close = result["behavior"], result["behaviorClose"]
            counts[behavior] += 1
            deflate = case.split(".")[0] in ("12", "13")
            if deflate and behavior == "UNIMPLEMENTED":
                continue
            # An INFORMATIONAL case (7.1.6, 7.13.x) reports its close behavior as INFORMATIONAL too.
            close_ok = close == "OK" or (behavior == "INFORMATIONAL" and close == "INFORMATIONAL")
            if behavior not in ALLOWED or not close_ok:
                bad.append("%s %s: behavior %s, close %s" % (agent, case, behavior, close))
    summary = ", ".join("%d %s" % (n, b) for b, n in sorted(counts.items()))
    print("%s: %d cases: %s" % (role, total, summary))
    for line in bad:
        print("  FAILED CHECK %s" % line)
    return total > 0 and not bad


def main():
    ok = True
    for arg in sys.argv[1:]:
        role, path = arg.split("=", 1)
        ok = check(role, path) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
