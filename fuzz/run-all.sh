#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) with the seed corpora and the protocol dictionary,
# prints each target's executions and coverage, and fails if any target finds a crash (its input is then
# in fuzz/artifacts/TARGET/). New inputs go to fuzz/corpus/ (not committed); seeds stay in fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo +nightly fuzz build >/dev/null
mkdir -p logs
status=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target" "seeds/$target"
  if cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -dict=dict/websocket.dict -print_final_stats=1 >"logs/$target.log" 2>&1; then
    verdict=ok
  else
    verdict=CRASH
    status=1
  fi
  coverage=$(grep -E '^#[0-9]+[[:space:]]+DONE' "logs/$target.log" | tail -n 1 | sed -E 's/.*DONE +//; s/ exec\/s.*//' || true)
  execs=$(grep -E '^stat::number_of_executed_units' "logs/$target.log" | awk '{print $2}' || true)
  printf '%-20s %-6s %9s execs in %ss  %s\n' "$target" "$verdict" "${execs:-?}" "$seconds" "$coverage"
  if [ "$verdict" = CRASH ]; then
    grep -E 'panicked|SUMMARY|ERROR' "logs/$target.log" | head -n 5 || true
  fi
done
exit $status
