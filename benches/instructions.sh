#!/usr/bin/env bash
# Instructions per received message (benches/instructions.rs) under callgrind, for each size and both
# ways in: (Ir(12000 messages) - Ir(2000)) / 10000, counting only the receive loop. Needs valgrind.
#
#   bash benches/instructions.sh            # 16 B and 1 KiB, read and copy
#   bash benches/instructions.sh 64 read    # one size, one way
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench instructions --no-run 2>&1 | grep -o 'target/[^ )]*/instructions-[0-9a-f]*' | tail -1)
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='instructions::receive_*' \
        "$bin" "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
run() {
    local small large
    small=$(ir "$1" 2000 "$2")
    large=$(ir "$1" 12000 "$2")
    echo "$1 B, $2: $(((large - small) / 10000)) instructions per message"
}
if [ $# -gt 0 ]; then
    run "$1" "${2:-read}"
else
    for size in 16 1024; do
        for way in read copy; do run "$size" "$way"; done
    done
fi
