#!/usr/bin/env bash
# Fan-out (issue 17): one publisher, many subscribers, one server on one core. Each server is pinned to
# core SERVER_CORE (0), the load generator (tools/loadgen --fanout, our own client framing on mio) to
# LOAD_CORE (1). Servers: examples/broadcast.rs publishing to a topic (wscore-topic: encoded once) and
# sending to each connection (wscore-per-connection: encoded, and compressed, once per subscriber), and
# Node's ws 8 with the broadcast loop of its README (node-ws, benches/fanout/ws_broadcast.mjs); each
# plain and with permessage-deflate. Then the Redis lane: the latency one hop through Redis adds, chat
# to chat (examples/chat). See benches/FANOUT.md for what each column means and the targets.
#
#   bash benches/fanout.sh                       # 5 s per workload after a 1 s warm-up
#   QUICK=1 bash benches/fanout.sh               # 1 s per workload: a smoke run
#   SUBSCRIBERS=1000 SIZES=1024 LANES=deflate SERVERS="wscore-topic node-ws" REDIS=0 bash benches/fanout.sh
#
# Progress goes to stderr, the tables to stdout. Every workload runs against a freshly started server.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if [[ "${QUICK:-0}" == 1 ]]; then
    DURATION=${DURATION:-1}
    WARMUP=${WARMUP:-0.5}
fi
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"wscore-topic wscore-per-connection node-ws"}
SUBSCRIBERS=${SUBSCRIBERS:-"1000 10000"}
SIZES=${SIZES:-"32 1024"}
LANES=${LANES:-"plain deflate"}
# Messages the publisher keeps ahead of the slowest subscriber: enough that the server always has work,
# few enough that no subscriber's output nears the server's bound (4 MiB in wscore), so none is dropped.
IN_FLIGHT=${IN_FLIGHT:-16}
# Bound on each phase that waits for a server (connecting, warm-up, draining, closing): Node compressing
# for 10,000 subscribers one at a time takes seconds per message.
TIMEOUT=${TIMEOUT:-120}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
# The Redis lane: subscribers, message size, and 1 message in flight, so latency is not queueing.
REDIS=${REDIS:-1}
REDIS_SUBSCRIBERS=${REDIS_SUBSCRIBERS:-100}
REDIS_SIZE=${REDIS_SIZE:-128}

LOADGEN=tools/loadgen/target/release/loadgen
BROADCAST=target/release/examples/broadcast
CHAT=target/release/examples/chat
NODE_SERVER=benches/fanout/ws_broadcast.mjs

log() { echo "fanout.sh: $*" >&2; }
NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }
ERRORS=()

work=$(mktemp -d)
PIDS=()        # every server and redis-server this script started, stopped on exit
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ------------------------------------------------------------------------------------------
log "building tools/loadgen, and the broadcast and chat examples (release, --features mio,deflate)"
cargo build --quiet --release --manifest-path tools/loadgen/Cargo.toml
cargo build --quiet --release --features mio,deflate --example broadcast --example chat
have_node=1
if [[ " $SERVERS " == *" node-ws "* ]]; then
    if ! command -v node >/dev/null; then
        note "node is not installed: node-ws skipped"
        have_node=0
    elif [[ ! -d benches/fanout/node_modules/ws ]]; then
        log "installing ws from benches/fanout/package-lock.json"
        (cd benches/fanout && npm ci --no-audit --no-fund >&2) || { note "npm ci failed: node-ws skipped"; have_node=0; }
    fi
fi

# ---- limits -----------------------------------------------------------------------------------------
# 10,000 subscribers need that many descriptors in the server and in the load generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds=$(ulimit -n)
for n in $SUBSCRIBERS; do
    if [[ "$fds" != unlimited ]] && (( n + 256 > fds )); then
        log "ulimit -n is $fds: too few descriptors for $n subscribers"
        exit 1
    fi
done

# ---- servers ----------------------------------------------------------------------------------------
# start NAME LANE: starts the server pinned to SERVER_CORE on a free port; sets SERVER_PID and ADDR.
start() {
    local name=$1 lane=$2 cmd
    case $name in
        wscore-topic | wscore-per-connection)
            cmd=("$BROADCAST" --addr 127.0.0.1:0 --mode "${name#wscore-}" --max-connections 20000)
            [[ $lane == deflate ]] && cmd+=(--deflate) ;;
        node-ws)
            cmd=(node "$NODE_SERVER" --port 0)
            [[ $lane == deflate ]] && cmd+=(--deflate on) ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    launch "$name" "${cmd[@]}"
}

# launch LABEL COMMAND...: runs it pinned to SERVER_CORE and waits for its first stdout line, which
# names its address (ours: "... on ws://ADDR/ ...", Node's: "listening on PORT"); sets SERVER_PID, ADDR.
launch() {
    local label=$1 line=""
    shift
    : >"$work/$label.out"
    taskset -c "$SERVER_CORE" "$@" >"$work/$label.out" 2>>"$work/$label.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 200); do
        line=$(head -n 1 "$work/$label.out")
        if [[ -n "$line" ]]; then
            if [[ $line =~ ws://([^/ ]+)/ ]]; then
                ADDR=${BASH_REMATCH[1]}
            else
                ADDR=127.0.0.1:${line##* }
            fi
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "$label did not start: $(tail -n 2 "$work/$label.err" 2>/dev/null)"
    stop "$SERVER_PID"
    return 1
}

# stop PID: ends one process this script started, and forgets its id before the system can reuse it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local kept=() pid
    for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
    PIDS=("${kept[@]}")
}

field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'; }

# ---- fan-out workloads ------------------------------------------------------------------------------
declare -A R=()   # R[server|workload|metric] = value, or "error"
WORKLOADS=()
for lane in $LANES; do
    for n in $SUBSCRIBERS; do
        for size in $SIZES; do WORKLOADS+=("$lane:$n:$size"); done
    done
done

# run SERVER WORKLOAD: one server, fresh, under one loadgen run.
run() {
    local server=$1 w=$2 lane n size out flags=()
    IFS=: read -r lane n size <<<"$w"
    # The deflate lane publishes compressible text (words); the plain one random bytes.
    [[ $lane == deflate ]] && flags=(--text --deflate)
    if ! start "$server" "$lane"; then
        R[$server|$w|rate]=error
        ERRORS+=("$server, $w: the server did not start")
        return
    fi
    : >"$work/loadgen.err"
    out=$(taskset -c "$LOAD_CORE" "$LOADGEN" --fanout --url "ws://$ADDR/" --publish-url "ws://$ADDR/publish" \
        --connections "$n" --size "$size" --in-flight "$IN_FLIGHT" --duration "$DURATION" --warmup "$WARMUP" \
        --server-pid "$SERVER_PID" --timeout "$TIMEOUT" "${flags[@]}" 2>"$work/loadgen.err") || true
    stop "$SERVER_PID"
    log "  $w: ${out:-no output}"
    if [[ -z "$out" || "$(field "$out" errors)" != 0 ]]; then
        R[$server|$w|rate]=error
        ERRORS+=("$server, $w: $(field "$out" error)$(tail -n 1 "$work/loadgen.err")")
        return
    fi
    R[$server|$w|rate]=$(field "$out" deliveries_per_s)
    R[$server|$w|us]=$(field "$out" server_cpu_us_per_delivery)
    R[$server|$w|per_cpu_s]=$(field "$out" deliveries_per_server_cpu_s)
    R[$server|$w|busy]=$(field "$out" loadgen_cpu)
    local total compressed
    total=$(field "$out" deliveries_total)
    compressed=$(field "$out" compressed)
    if [[ $lane == deflate && "$compressed" != "$total" ]]; then
        note "$server, $w: $((total - compressed)) of $total deliveries came uncompressed (wscore leaves messages under 64 B uncompressed by default)"
    fi
}

ran=()
for server in $SERVERS; do
    if [[ $server == node-ws ]] && (( ! have_node )); then continue; fi
    ran+=("$server")
    log "$server"
    for w in "${WORKLOADS[@]}"; do run "$server" "$w"; done
done

# ---- the Redis lane ---------------------------------------------------------------------------------
# Latency from the publisher queueing a message to a subscriber parsing it, at 1 message in flight:
# publisher and subscribers on one chat without Redis, then publisher on chat A and subscribers on chat B
# joined by Redis. The difference is what one hop through Redis adds.
declare -A L=()   # L[path|p50|p99|samples]
redis_lane() {
    if ! command -v redis-server >/dev/null; then
        log "installing redis-server (Debian's package)"
        { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; } >&2 ||
            { note "redis-server could not be installed: Redis lane skipped"; return; }
    fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    taskset -c "$SERVER_CORE" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        >"$work/redis.out" 2>&1 &
    local redis_pid=$!
    PIDS+=("$redis_pid")
    local up=0
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
        sleep 0.05
    done
    if (( ! up )); then
        note "redis-server did not start: Redis lane skipped ($(tail -n 1 "$work/redis.out"))"
        return
    fi
    local flags=(--fanout --text --latency --connections "$REDIS_SUBSCRIBERS" --size "$REDIS_SIZE" --in-flight 1
        --duration "$DURATION" --warmup "$WARMUP" --timeout "$TIMEOUT")
    local room="?room=fanout" out

    launch chat-local "$CHAT" --addr 127.0.0.1:0 --loops 1 || { ERRORS+=("chat did not start"); return; }
    local local_pid=$SERVER_PID local_addr=$ADDR
    out=$(taskset -c "$LOAD_CORE" "$LOADGEN" "${flags[@]}" --url "ws://$local_addr/$room" \
        --publish-url "ws://$local_addr/$room" 2>>"$work/loadgen.err") || true
    stop "$local_pid"
    latency_row local "$out"

    launch chat-a "$CHAT" --addr 127.0.0.1:0 --loops 1 --redis "redis://127.0.0.1:$port" ||
        { ERRORS+=("chat A did not start"); return; }
    local a_pid=$SERVER_PID a_addr=$ADDR
    launch chat-b "$CHAT" --addr 127.0.0.1:0 --loops 1 --redis "redis://127.0.0.1:$port" ||
        { ERRORS+=("chat B did not start"); stop "$a_pid"; return; }
    local b_pid=$SERVER_PID b_addr=$ADDR
    # Until its subscription is up, a chat delivers locally only (redis_bridge.rs): wait for both.
    for _ in $(seq 100); do
        if grep -q 'subscription up' "$work/chat-a.err" && grep -q 'subscription up' "$work/chat-b.err"; then
            break
        fi
        sleep 0.05
    done
    out=$(taskset -c "$LOAD_CORE" "$LOADGEN" "${flags[@]}" --url "ws://$b_addr/$room" \
        --publish-url "ws://$a_addr/$room" 2>>"$work/loadgen.err") || true
    stop "$a_pid"
    stop "$b_pid"
    stop "$redis_pid"
    latency_row redis "$out"
}

latency_row() {
    local path=$1 out=$2
    log "  redis lane, $path: ${out:-no output}"
    if [[ -z "$out" || "$(field "$out" errors)" != 0 ]]; then
        L[$path|p50]=error
        ERRORS+=("Redis lane, $path: $(field "$out" error)$(tail -n 1 "$work/loadgen.err")")
        return
    fi
    L[$path|p50]=$(field "$out" p50_us)
    L[$path|p99]=$(field "$out" p99_us)
    L[$path|samples]=$(field "$out" latency_samples)
}

if [[ "$REDIS" == 1 ]]; then
    log "Redis lane ($REDIS_SUBSCRIBERS subscribers, $REDIS_SIZE B text, 1 in flight)"
    redis_lane
fi

# ---- tables -----------------------------------------------------------------------------------------
label() {
    local lane n size
    IFS=: read -r lane n size <<<"$1"
    printf "%s subscribers × %s B%s" "$(sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$n")" "$size" \
        "$([[ $lane == deflate ]] && echo ", deflate (text)")"
}

# busy SERVER WORKLOAD: the load generator was ≥ 90 % busy, so the client may have been the limit.
busy() {
    local c=${R[$1|$2|busy]:-}
    [[ -n "$c" ]] && awk -v c="$c" 'BEGIN { exit !(c >= 0.9) }'
}

# cell SERVER WORKLOAD METRIC
cell() {
    local v=${R[$1|$2|$3]:-} mark=""
    [[ -z "$v" ]] && { echo "—"; return; }
    [[ "$v" == error || "${R[$1|$2|rate]:-}" == error ]] && { echo "error"; return; }
    if [[ $3 == rate ]] && busy "$1" "$2"; then mark=" †"; fi
    awk -v v="$v" -v m="$3" -v mark="$mark" 'BEGIN {
        if (m == "us") s = sprintf("%.3f", v)
        else if (v >= 1e6) s = sprintf("%.2fM", v / 1e6)
        else if (v >= 1e3) s = sprintf("%.1fk", v / 1e3)
        else s = sprintf("%.1f", v)
        print s mark
    }'
}

# ratio SERVER BASELINE WORKLOAD: deliveries per server CPU-second, SERVER ÷ BASELINE.
ratio() {
    local v=${R[$1|$3|per_cpu_s]:-} b=${R[$2|$3|per_cpu_s]:-}
    [[ -z "$v" || -z "$b" ]] && { echo "—"; return; }
    [[ "$v" == error || "$b" == error ]] && { echo "error"; return; }
    awk -v v="$v" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.2f×\n", v / b; else print "—" }'
}

# target BASELINE WORKLOAD: the issue's target for wscore-topic against this baseline.
target() {
    case "$1,${2%%:*}" in
        node-ws,*) echo 5 ;;
        wscore-per-connection,deflate) echo 20 ;;
        wscore-per-connection,*) echo 2 ;;
    esac
}

# heading TITLE COLUMN...: a table's title and header rows, its first column the workload.
heading() {
    local title=$1 header="| workload |" rule="|---|" column
    shift
    for column in "$@"; do header+=" $column |"; rule+="---|"; done
    printf '\n### %s\n\n%s\n%s\n' "$title" "$header" "$rule"
}

table() {
    local title=$1 metric=$2
    heading "$title" "${ran[@]}"
    for w in "${WORKLOADS[@]}"; do
        local line="| $(label "$w") |"
        for s in "${ran[@]}"; do line+=" $(cell "$s" "$w" "$metric") |"; done
        echo "$line"
    done
}

echo
echo "## Fan-out, $(date -u +%Y-%m-%d) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src examples Cargo.toml 2>/dev/null || echo ' + uncommitted changes'))"
echo
echo "One publisher, N subscribers, one server pinned to core $SERVER_CORE, tools/loadgen on core $LOAD_CORE;" \
    "$IN_FLIGHT messages in flight ahead of the slowest subscriber; ${DURATION} s per workload after ${WARMUP} s of warm-up."
echo "Server CPU is its utime + stime (every thread) read by the load generator at the two ends of the measured window."
echo "node $(node --version 2>/dev/null || echo '?'), ws $(sed -n 's/.*"version": "\(.*\)".*/\1/p' benches/fanout/node_modules/ws/package.json 2>/dev/null | head -n 1)."
echo "† = the load generator was ≥ 90 % busy (the client may be the limit of deliveries/s; CPU per delivery still holds)."
table "Deliveries per second" rate
table "Server CPU per delivery (µs, lower is better)" us
table "Deliveries per server CPU-second" per_cpu_s

for b in node-ws wscore-per-connection; do
    [[ " ${ran[*]} " == *" $b "* ]] || continue
    others=()
    for s in "${ran[@]}"; do [[ $s == "$b" ]] || others+=("$s"); done
    (( ${#others[@]} )) || continue
    heading "Deliveries per server CPU-second ÷ $b (this run)" "${others[@]}" "target for wscore-topic"
    for w in "${WORKLOADS[@]}"; do
        line="| $(label "$w") |"
        for s in "${others[@]}"; do line+=" $(ratio "$s" "$b" "$w") |"; done
        echo "$line ≥ $(target "$b" "$w")× |"
    done
done

if [[ "$REDIS" == 1 ]]; then
    echo
    echo "### One hop through Redis (examples/chat, $REDIS_SUBSCRIBERS subscribers, $REDIS_SIZE B text, 1 in flight)"
    echo
    echo "| path | p50 (µs) | p99 (µs) | deliveries timed |"
    echo "|---|---|---|---|"
    echo "| one chat, no Redis | ${L[local|p50]:-—} | ${L[local|p99]:-—} | ${L[local|samples]:-—} |"
    echo "| chat A → Redis → chat B | ${L[redis|p50]:-—} | ${L[redis|p99]:-—} | ${L[redis|samples]:-—} |"
    added() {
        local a=${L[redis|$1]:-} b=${L[local|$1]:-}
        if [[ -z "$a" || -z "$b" || "$a" == error || "$b" == error ]]; then echo "—"; return; fi
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f\n", a - b }'
    }
    echo "| **added by the hop** | **$(added p50)** | **$(added p99)** | |"
fi

if (( ${#NOTES[@]} )); then
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
fi
if (( ${#ERRORS[@]} )); then
    echo
    echo "Errors:"
    for e in "${ERRORS[@]}"; do echo "- $e"; done
    exit 1
fi
