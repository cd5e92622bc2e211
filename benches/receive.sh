#!/usr/bin/env bash
# The in-memory receive bench with every peer (benches/peers/benches/receive.rs: wscore's two driver
# paths, tungstenite, fastwebsockets, tokio-websockets, copy + unmask, memcpy; then the echo path), and
# its tables from that same run: one per size, ns per message, MB/s of payload, ratios to tungstenite and
# to copy + unmask. See benches/README.md.
#
#   bash benches/receive.sh                              # 1 s warm-up, 3 s per case: about 3 minutes
#   WARMUP=0.5 MEASURE=1 bash benches/receive.sh         # a quicker look
#   bash benches/receive.sh receive/.*/64KiB             # extra arguments go to criterion (a filter: the
#                                                        # tables then mix in earlier runs' other rows)
#
# The 1-minute load before and after goes to stderr: these machines are shared, so read the ratios of
# one run, and a run under load as such.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
WARMUP=${WARMUP:-1}
MEASURE=${MEASURE:-3}

load() { echo "receive.sh: 1-minute load $1: $(cut -d' ' -f1 /proc/loadavg)" >&2; }

cargo bench --quiet --manifest-path benches/peers/Cargo.toml --bench receive --no-run
load before
cargo bench --quiet --manifest-path benches/peers/Cargo.toml --bench receive -- \
    --warm-up-time "$WARMUP" --measurement-time "$MEASURE" "$@" >&2
load after
python3 benches/report.py --peers
