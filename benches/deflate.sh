#!/usr/bin/env bash
# permessage-deflate: our criterion bench (benches/deflate.rs) and Node's ws (benches/deflate/node.mjs)
# on the same corpus in one run, then one Markdown table with ratios to ws (benches/deflate/report.py).
#
#   bash benches/deflate.sh                    # 1 s warm-up, 3 s measurement per case
#   WARMUP=0.5 MEASURE=1 bash benches/deflate.sh
#
# Progress goes to stderr; the machine, the load and the table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

WARMUP=${WARMUP:-1}
MEASURE=${MEASURE:-3}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export DEFLATE_CORPUS_DIR=${DEFLATE_CORPUS_DIR:-$TARGET/deflate-corpus}

log() { echo "deflate.sh: $*" >&2; }
load() { cut -d' ' -f1 /proc/loadavg; }

if [[ ! -d benches/deflate/node_modules/ws ]]; then
    log "installing ws from benches/deflate/package-lock.json"
    (cd benches/deflate && npm ci --no-audit --no-fund >&2)
fi

log "building"
cargo bench --quiet --features deflate --bench deflate --no-run >&2

load_start=$(load)
log "criterion (load $load_start)"
# The corpus is written by this run, before any measurement, for the Node side to read.
cargo bench --quiet --features deflate --bench deflate -- \
    --warm-up-time "$WARMUP" --measurement-time "$MEASURE" >&2
load_middle=$(load)
log "ws (load $load_middle)"
WARMUP=$WARMUP MEASURE=$MEASURE node benches/deflate/node.mjs "$DEFLATE_CORPUS_DIR" >&2
load_end=$(load)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "$(date -u +%Y-%m-%d), $cpu, $(nproc) cores, $(rustc --version | cut -d' ' -f1-2), node $(node --version);"
echo "1-minute load $load_start before wscore's cases, $load_middle before ws's, $load_end at the end;" \
    "${WARMUP} s warm-up, ${MEASURE} s per case."
echo
python3 benches/deflate/report.py "$DEFLATE_CORPUS_DIR"
