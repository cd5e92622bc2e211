#!/usr/bin/env bash
# Soak and chaos (issue 18): `echo_server` under many connections with mixed traffic and faults, every
# message counted, the server's memory and descriptors watched (tools/loadgen/src/soak/).
#
#   bash tools/soak.sh --ci     # .ci/run: 2,000 connections, 60 s, lanes mio, tokio-tls, tokio-deflate
#   bash tools/soak.sh --full   # the report's run: 10,000 connections, 10 minutes, lane mio
#   LANES="mio tokio" CONNECTIONS=500 DURATION=20 bash tools/soak.sh   # anything in between
#
# A lane is DRIVER[-tls][-deflate]: the echo server on that driver, over wss:// with a fresh self-signed
# certificate, and/or with permessage-deflate offered by every client (which then compresses half its
# messages). Per lane, OUT (target/soak) gets LANE.json (the report), LANE.jsonl (a sample a second),
# LANE.svg (RSS and latency over time), LANE.server.log and LANE.soak.log; REPORT.md sums them up.
# Exit 1 if any lane lost, duplicated or corrupted a message, left a fault unanswered, or ended with
# the server's descriptors or RSS not back to the baseline.
#
# The baseline is read after a priming round of the same workload (PRIME seconds, faults included),
# and the server runs with glibc's malloc tuned as a server with large messages should be
# (SERVER_ENV): MALLOC_MMAP_THRESHOLD_ fixed at 32 KiB, so message buffers and zlib's windows are
# mapped and given back when freed, and one arena, so threads do not each keep a fragmented heap.
# Without them glibc keeps what it freed (measured on the mio lane: 19 MiB kept of a 3 MiB server after
# 200 connections; its mmap threshold slides up to the largest buffer freed, 1 MiB here, and such
# buffers then come from the heap and stay). The cold RSS (before anything connected) is in the report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

preset=${1:-}
case "$preset" in
  --ci)
    : "${LANES:=mio tokio-tls tokio-deflate}" "${CONNECTIONS:=2000}" "${DURATION:=60}" "${PRIME:=20}"
    # Short server timers, so a peer that stops reading is ended (keepalive, then close timeout)
    # well within the minute.
    : "${TIMER_MS:=5000}"
    ;;
  --full)
    : "${LANES:=mio}" "${CONNECTIONS:=10000}" "${DURATION:=600}" "${PRIME:=60}" "${TIMER_MS:=default}"
    # A fiftieth of 10,000 slots misbehaving keeps about 30 bursts of 12 MiB under way at once.
    : "${FAULT_SHARE:=0.02}"
    ;;
  "") ;;
  *) echo "usage: bash tools/soak.sh [--ci|--full]  (or LANES=... CONNECTIONS=... DURATION=...)" >&2; exit 2 ;;
esac
: "${LANES:=mio}" "${CONNECTIONS:=1000}" "${DURATION:=60}" "${PRIME:=10}" "${WARMUP:=3}"
: "${TIMER_MS:=3000}" "${FAULT_SHARE:=0.05}" "${OUT:=target/soak}"
: "${SERVER_ENV:=MALLOC_MMAP_THRESHOLD_=32768 MALLOC_ARENA_MAX=1}" "${THREADS:=$(nproc)}"

note() { echo "soak.sh: $*" >&2; }
die() { note "$*"; exit 1; }

command -v python3 >/dev/null || die "python3 is needed for the plots"
if [[ " $LANES " == *-tls* ]] && ! command -v openssl >/dev/null; then
  note "installing openssl"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq openssl >/dev/null; else sudo apt-get install -y -qq openssl >/dev/null; fi
fi

note "building echo_server (release, every feature) and loadgen (release)"
cargo build --release --all-features --example echo_server 2>&1 | tail -n 1 >&2
cargo build --release --manifest-path tools/loadgen/Cargo.toml 2>&1 | tail -n 1 >&2
server_bin="$root/target/release/examples/echo_server"
loadgen_bin="$root/tools/loadgen/target/release/loadgen"

# Each side holds a descriptor per connection, plus the faulty slots' reconnections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < CONNECTIONS + 1024 )); then
  die "ulimit -n is $(ulimit -n): too few descriptors for $CONNECTIONS connections"
fi

mkdir -p "$OUT"
out=$(cd "$OUT" && pwd)
tls_dir="$out/tls"
if [[ " $LANES " == *-tls* ]]; then
  mkdir -p "$tls_dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
    -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>/dev/null \
    || die "openssl could not make the certificate"
fi

server_pid=
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

# Server timers (ms) and the same in seconds for the soak, which must know when a fault is due.
timer_flags=() soak_timers=()
if [ "$TIMER_MS" != default ]; then
  timer_flags=(--handshake-timeout-ms "$TIMER_MS" --ping-interval-ms "$TIMER_MS"
    --ping-timeout-ms "$TIMER_MS" --close-timeout-ms "$TIMER_MS")
  secs=$(python3 -c "print($TIMER_MS/1000)")
  soak_timers=(--handshake-timeout "$secs" --ping-interval "$secs" --ping-timeout "$secs"
    --close-timeout "$secs" --grace 3)
fi

failed=()
for lane in $LANES; do
  driver=${lane%%-*}
  scheme=ws tls_flags=() soak_flags=()
  [[ $lane == *-tls* ]] && scheme=wss tls_flags=(--tls-cert "$tls_dir/cert.pem" --tls-key "$tls_dir/key.pem") \
    soak_flags+=(--ca "$tls_dir/cert.pem")
  # Compressing at zlib's level 6 is the server's heaviest work: its lanes send half the messages
  # and bursts of 4 MiB (their echoes still compress to less than the output limit), which two cores
  # carry with room to spare for the timers.
  rate=$(( CONNECTIONS / 2 ))
  if [[ $lane == *-deflate* ]]; then
    soak_flags+=(--deflate --burst $(( 4 << 20 )))
    rate=$(( CONNECTIONS / 4 ))
  fi
  label="$lane: $CONNECTIONS connections, ${DURATION} s, $(nproc) cores"
  note "lane $label"
  env $SERVER_ENV "$server_bin" --addr 127.0.0.1:0 --driver "$driver" --threads "$THREADS" \
    --max-connections $(( CONNECTIONS * 2 + 1000 )) "${timer_flags[@]}" "${tls_flags[@]}" \
    >"$out/$lane.server.out" 2>"$out/$lane.server.log" &
  server_pid=$!
  addr=
  for _ in $(seq 100); do
    addr=$(grep -o '127.0.0.1:[0-9]*' "$out/$lane.server.out" | head -n 1 || true)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || die "$lane: the server did not start: $(cat "$out/$lane.server.log")"
  [ "$scheme" = wss ] && addr="localhost:${addr#127.0.0.1:}"
  status=0
  "$loadgen_bin" soak --url "$scheme://$addr/" --server-pid "$server_pid" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --prime "$PRIME" \
    --rate "$rate" --fault-share "$FAULT_SHARE" --samples "$out/$lane.jsonl" --label "$label" \
    "${soak_timers[@]}" "${soak_flags[@]}" >"$out/$lane.json" 2>"$out/$lane.soak.log" || status=$?
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  python3 benches/soak_plot.py "$out/$lane.jsonl" "$out/$lane.svg" || note "$lane: no plot"
  if [ "$status" != 0 ]; then
    failed+=("$lane")
    note "$lane FAILED (status $status):"
    grep -v '^soak: *[0-9.]* s ' "$out/$lane.soak.log" | head -n 20 >&2 || true
  fi
  python3 tools/soak_report.py "$out/$lane.json" >&2 || true
done

python3 tools/soak_report.py --markdown $(for lane in $LANES; do echo "$out/$lane.json"; done) >"$out/REPORT.md" || true
note "report: $out/REPORT.md"
if [ ${#failed[@]} != 0 ]; then
  die "failed lanes: ${failed[*]}"
fi
note "every lane passed"
