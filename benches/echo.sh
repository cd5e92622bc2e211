#!/usr/bin/env bash
# Echo servers under the same load, one core each: each server pinned to core SERVER_CORE (0), the load
# generator (tools/loadgen, our own client framing on mio) pinned to LOAD_CORE (1). Prints a Markdown
# table of every server's numbers, then one table per baseline (tokio-tungstenite, tokio-websockets,
# fastwebsockets) of every other server's ratio to it, all from this same run. See benches/ECHO.md.
#
#   bash benches/echo.sh                 # every server, 5 s per workload after a 1 s warm-up
#   QUICK=1 bash benches/echo.sh         # 1 s per workload: a smoke run
#   LANE=tokio bash benches/echo.sh      # the tokio lane alone: wscore-tokio and the three tokio peers
#   SERVERS="wscore-mio fastwebsockets" DURATION=10 IDLE_CONNECTIONS=10000 HOLD=3 bash benches/echo.sh
#
# Progress goes to stderr, the tables to stdout. Each workload runs against a freshly started server, so
# the idle-memory row is not inflated by buffers an earlier workload left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if [[ "${QUICK:-0}" == 1 ]]; then
    DURATION=${DURATION:-1}
    WARMUP=${WARMUP:-0.5}
    HOLD=${HOLD:-1}
fi
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
HOLD=${HOLD:-2}
# LANE picks the default server list; SERVERS, if set, wins.
case ${LANE:-all} in
    all) lane_servers="wscore-mio wscore-blocking wscore-tokio tokio-tungstenite tokio-websockets fastwebsockets" ;;
    tokio) lane_servers="wscore-tokio tokio-tungstenite tokio-websockets fastwebsockets" ;;
    *) echo "echo.sh: LANE is all or tokio, not ${LANE}" >&2; exit 2 ;;
esac
SERVERS=${SERVERS:-$lane_servers}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
PORT=${PORT:-19300}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
# Each of these that ran gets a table of every other server's ratio to it.
BASELINES=${BASELINES:-"tokio-tungstenite tokio-websockets fastwebsockets"}

LOADGEN=tools/loadgen/target/release/loadgen
PEERS=benches/peers/target/release
ECHO_SERVER=${ECHO_SERVER:-target/release/examples/echo_server}

log() { echo "echo.sh: $*" >&2; }
NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }

work=$(mktemp -d)
SERVER_PID=""
LOAD_PID=""
cleanup() {
    for pid in $LOAD_PID $SERVER_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ------------------------------------------------------------------------------------------
log "building tools/loadgen and benches/peers (release)"
cargo build --quiet --release --manifest-path tools/loadgen/Cargo.toml
cargo build --quiet --release --manifest-path benches/peers/Cargo.toml --bins

# The drivers live behind features of the root crate once they exist: `mio` for the mio driver, `tokio`
# for the tokio one. The root crate is built only if a wscore server is to run.
has_feature() {
    awk -v name="$1" '/^\[features\]/ { in_features = 1; next } /^\[/ { in_features = 0 }
        in_features && $0 ~ "^" name "[ \t]*=" { found = 1 } END { exit !found }' Cargo.toml
}
wanted=()   # tokio last: the fallback build drops it
has_feature mio && wanted+=(mio)
if [[ " $SERVERS " == *" wscore-tokio "* ]] && has_feature tokio; then wanted+=(tokio); fi
wscore_built=0
wscore_tokio_built=0
if [[ " $SERVERS " == *" wscore-"* ]]; then
    build_examples() {
        local list
        list=$(IFS=,; echo "$*")
        log "building the root crate's examples (release${list:+ --features $list})"
        cargo build --quiet --release --examples ${list:+--features "$list"}
    }
    if build_examples "${wanted[@]}"; then
        wscore_built=1
        [[ " ${wanted[*]} " == *" tokio "* ]] && wscore_tokio_built=1
    elif [[ " ${wanted[*]} " == *" tokio "* ]] && build_examples "${wanted[@]:0:${#wanted[@]}-1}"; then
        # The tokio driver is being written: its failing build must not take the other wscore servers.
        wscore_built=1
        note "the root crate did not build with --features tokio (built without it): wscore-tokio skipped"
    else
        note "the root crate did not build: wscore servers skipped"
    fi
    if (( wscore_built )) && [[ " $SERVERS " == *" wscore-tokio "* ]] && ! has_feature tokio; then
        note "Cargo.toml has no tokio feature: wscore-tokio skipped"
    fi
fi

# ---- limits -----------------------------------------------------------------------------------------
# 10,000 idle connections need that many descriptors in the server and in the load generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds=$(ulimit -n)
if [[ "$fds" != unlimited ]] && (( IDLE_CONNECTIONS + 256 > fds )); then
    note "ulimit -n is $fds: idle test reduced from $IDLE_CONNECTIONS to $(( fds - 256 )) connections"
    IDLE_CONNECTIONS=$(( fds - 256 ))
fi

# ---- servers ----------------------------------------------------------------------------------------
# server_command NAME ADDR [fallback]: the command line for a server, into the array `cmd`.
server_command() {
    local name=$1 addr=$2 fallback=${3:-0}
    case $name in
        wscore-mio) cmd=("$ECHO_SERVER" --addr "$addr" --driver mio --max-connections 20000) ;;
        wscore-blocking)
            if (( fallback )); then
                cmd=("$ECHO_SERVER" --addr "$addr" --max-connections 20000)
            else
                cmd=("$ECHO_SERVER" --addr "$addr" --driver blocking --max-connections 20000)
            fi ;;
        wscore-tokio) cmd=("$ECHO_SERVER" --addr "$addr" --driver tokio --max-connections 20000) ;;
        fastwebsockets) cmd=("$PEERS/fastwebsockets-echo" --addr "$addr") ;;
        tokio-tungstenite) cmd=("$PEERS/tokio-tungstenite-echo" --addr "$addr") ;;
        tokio-websockets) cmd=("$PEERS/tokio-websockets-echo" --addr "$addr") ;;
        *) log "unknown server $name"; return 1 ;;
    esac
}

# start_server NAME [fallback]: starts it pinned and waits until its port accepts. Returns 1 if the
# server exits first (it rejected its flags), 2 if it never became ready.
start_server() {
    local name=$1 fallback=${2:-0}
    PORT=$(( PORT + 1 ))
    local addr="127.0.0.1:$PORT"
    server_command "$name" "$addr" "$fallback"
    : >"$work/server.out"
    taskset -c "$SERVER_CORE" "${cmd[@]}" >"$work/server.out" 2>>"$work/$name.err" &
    SERVER_PID=$!
    SERVER_URL="ws://$addr/"
    for _ in $(seq 200); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            return 1
        fi
        # The first stdout line comes after bind+listen; then check that the port takes a connection.
        if grep -qE '^(echo server on|listening on)' "$work/server.out" &&
            (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    stop_server
    return 2
}

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'; }

# ---- workloads --------------------------------------------------------------------------------------
WORKLOADS=(w1 w64 w1k w64k w1000)
declare -A ARGS=(
    [w1]="--connections 1 --size 32 --in-flight 1 --latency"
    [w64]="--connections 1 --size 32 --in-flight 64"
    [w1k]="--connections 64 --size 1024 --in-flight 8"
    [w64k]="--connections 1 --size 65536 --in-flight 4"
    [w1000]="--connections 1000 --size 32 --in-flight 1"
)
declare -A R=()   # R[server|metric] = value, or "error"
ERRORS=()

# run_load SERVER WORKLOAD: one loadgen run against the running server.
run_load() {
    local server=$1 w=$2 out
    # shellcheck disable=SC2086 # ARGS holds several flags
    out=$(taskset -c "$LOAD_CORE" "$LOADGEN" --url "$SERVER_URL" ${ARGS[$w]} \
        --duration "$DURATION" --warmup "$WARMUP" 2>>"$work/loadgen.err") || true
    log "  $w: ${out:-no output}"
    if [[ -z "$out" || "$(field "$out" errors)" != 0 ]]; then
        R[$server|$w]=error
        ERRORS+=("$server, $w: $(field "$out" error)$(tail -n 1 "$work/loadgen.err" 2>/dev/null)")
        return
    fi
    R[$server|$w]=$(field "$out" msgs_per_s)
    R[$server|$w.mb]=$(field "$out" mb_per_s)
    R[$server|$w.cpu]=$(field "$out" loadgen_cpu)
    if [[ $w == w1 ]]; then
        R[$server|p50]=$(field "$out" p50_us)
        R[$server|p99]=$(field "$out" p99_us)
    fi
}

# run_idle SERVER: IDLE_CONNECTIONS connections, one echo each, held open while we read the server's RSS.
run_idle() {
    local server=$1 before during out status=0
    before=$(rss_kib "$SERVER_PID")
    : >"$work/idle.err"
    taskset -c "$LOAD_CORE" "$LOADGEN" --url "$SERVER_URL" --idle --connections "$IDLE_CONNECTIONS" \
        --hold "$HOLD" --timeout 60 >"$work/idle.out" 2>"$work/idle.err" &
    LOAD_PID=$!
    while kill -0 "$LOAD_PID" 2>/dev/null && ! grep -q 'idle connections open' "$work/idle.err"; do
        sleep 0.05
    done
    if grep -q 'idle connections open' "$work/idle.err"; then
        sleep 0.5   # let the server finish the last handshakes' bookkeeping
        during=$(rss_kib "$SERVER_PID")
    fi
    wait "$LOAD_PID" || status=$?
    LOAD_PID=""
    out=$(cat "$work/idle.out")
    log "  idle: ${out:-no output} (server RSS ${before} KiB before, ${during:-?} KiB held)"
    if (( status != 0 )) || [[ -z "${during:-}" ]]; then
        R[$server|rss]=error
        R[$server|rss_per]=error
        ERRORS+=("$server, idle: $(field "$out" error)$(tail -n 1 "$work/idle.err")")
        return
    fi
    R[$server|rss]=$(awk -v k="$during" 'BEGIN { printf "%.1f", k / 1024 }')
    R[$server|rss_per]=$(awk -v a="$before" -v b="$during" -v n="$IDLE_CONNECTIONS" \
        'BEGIN { printf "%.2f", (b - a) / n }')
}

ran=()
for server in $SERVERS; do
    if [[ $server == wscore-* ]] && (( ! wscore_built )); then
        continue
    fi
    if [[ $server == wscore-tokio ]] && (( ! wscore_tokio_built )); then
        continue   # the note says why
    fi
    log "$server"
    fallback=0
    status=0
    start_server "$server" || status=$?
    case "$server,$status" in
        *,0) ;;
        wscore-mio,1 | wscore-tokio,1)
            note "$server skipped: echo_server rejects --driver ${server#wscore-} ($(tail -n 1 "$work/$server.err"))"
            continue ;;
        wscore-blocking,1)
            note "wscore-blocking: echo_server rejects --driver, so it ran without it (the blocking server)"
            fallback=1
            if ! start_server "$server" 1; then
                note "wscore-blocking skipped: it did not start"
                continue
            fi ;;
        *)
            note "$server skipped: it did not start (status $status)"
            continue ;;
    esac
    stop_server
    ran+=("$server")
    for w in "${WORKLOADS[@]}"; do
        start_server "$server" "$fallback" || { ERRORS+=("$server, $w: the server did not start"); continue; }
        run_load "$server" "$w"
        stop_server
    done
    start_server "$server" "$fallback" || { ERRORS+=("$server, idle: the server did not start"); continue; }
    run_idle "$server"
    stop_server
done

# ---- table ------------------------------------------------------------------------------------------
# busy SERVER KEY: true if the load generator was ≥ 90 % busy in that server's run of that workload.
busy() {
    local c=${R[$1|$2.cpu]:-}
    [[ -n "$c" ]] && awk -v c="$c" 'BEGIN { exit !(c >= 0.9) }'
}

# cell SERVER KEY: the value; † marks a load generator ≥ 90 % busy.
cell() {
    local server=$1 key=$2 v mark=""
    v=${R[$server|$key]:-}
    if [[ -z "$v" ]]; then echo "—"; return; fi
    if [[ "$v" == error ]]; then echo "error"; return; fi
    if busy "$server" "$key"; then mark=" †"; fi
    awk -v v="$v" -v mark="$mark" -v key="$key" 'BEGIN {
        if (key == "p50" || key == "p99" || key == "rss" || key == "rss_per") s = sprintf("%.1f", v)
        else if (v >= 100000) s = sprintf("%.0fk", v / 1000)
        else if (v >= 1000) s = sprintf("%.1fk", v / 1000)
        else s = sprintf("%.1f", v)
        print s mark
    }'
}

# ratio SERVER BASELINE KEY: SERVER's value ÷ BASELINE's; † if either run had the load generator busy.
ratio() {
    local v=${R[$1|$3]:-} b=${R[$2|$3]:-} mark=""
    if [[ -z "$v" || -z "$b" ]]; then echo "—"; return; fi
    if [[ "$v" == error || "$b" == error ]]; then echo "error"; return; fi
    if busy "$1" "$3" || busy "$2" "$3"; then mark=" †"; fi
    awk -v v="$v" -v b="$b" -v mark="$mark" 'BEGIN {
        if (b + 0 > 0) printf "%.2f×%s\n", v / b, mark; else print "—"
    }'
}

rows=(w1 p50 p99 w64 w1k w64k_mb w1000 rss rss_per)
declare -A LABEL=(
    [w1]="1 conn × 32 B, 1 in flight (msg/s)"
    [p50]="… p50 round trip (µs, lower is better)"
    [p99]="… p99 round trip (µs, lower is better)"
    [w64]="1 conn × 32 B, 64 in flight (msg/s)"
    [w1k]="64 conns × 1 KiB, 8 in flight (msg/s)"
    [w64k_mb]="1 conn × 64 KiB, 4 in flight (MB/s)"
    [w1000]="1,000 conns × 32 B, 1 in flight (msg/s)"
    [rss]="$IDLE_CONNECTIONS idle conns: server RSS (MiB, lower is better)"
    [rss_per]="… RSS added per idle conn (KiB, lower is better)"
)
# The 64 KiB row is reported in MB/s: same ratio, a more telling unit.
for server in "${ran[@]}"; do
    [[ -n "${R[$server|w64k]:-}" ]] || continue
    if [[ "${R[$server|w64k]}" == error ]]; then
        R[$server|w64k_mb]=error
    else
        R[$server|w64k_mb]=${R[$server|w64k.mb]}
        R[$server|w64k_mb.cpu]=${R[$server|w64k.cpu]}
    fi
done

peer_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print }' \
        benches/peers/Cargo.lock
}

baselines=()
for b in $BASELINES; do
    [[ " ${ran[*]} " == *" $b "* ]] && baselines+=("$b")
done
# One worker per core the servers are pinned to (tokio's default follows the affinity).
workers=$(taskset -c "$SERVER_CORE" nproc 2>/dev/null || echo '?')

echo
echo "## Echo servers, $(date -u +%Y-%m-%d) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src examples Cargo.toml 2>/dev/null || echo ' + uncommitted changes'))"
echo
echo "${DURATION} s per workload after ${WARMUP} s of warm-up; server on core $SERVER_CORE, tools/loadgen on core $LOAD_CORE."
echo "fastwebsockets $(peer_version fastwebsockets), tokio-tungstenite $(peer_version tokio-tungstenite), tokio-websockets $(peer_version tokio-websockets); the peers on a multi-thread tokio $(peer_version tokio) runtime, $workers worker(s)."
echo "† = the load generator was ≥ 90 % busy (the client may be the limit)."
echo
header="| workload |"
rule="|---|"
for server in "${ran[@]}"; do header+=" $server |"; rule+="---|"; done
echo "$header"
echo "$rule"
for row in "${rows[@]}"; do
    line="| ${LABEL[$row]} |"
    for server in "${ran[@]}"; do line+=" $(cell "$server" "$row") |"; done
    echo "$line"
done
if (( ${#baselines[@]} == 0 )); then
    echo
    echo "No baseline ($BASELINES) ran, so no ratios."
fi
for b in "${baselines[@]}"; do
    others=()
    for server in "${ran[@]}"; do [[ $server == "$b" ]] || others+=("$server"); done
    (( ${#others[@]} )) || continue
    echo
    echo "### ÷ $b (this run; † = the load generator was ≥ 90 % busy in either run)"
    echo
    header="| workload |"
    rule="|---|"
    for server in "${others[@]}"; do header+=" $server |"; rule+="---|"; done
    echo "$header"
    echo "$rule"
    for row in "${rows[@]}"; do
        line="| ${LABEL[$row]} |"
        for server in "${others[@]}"; do line+=" $(ratio "$server" "$b" "$row") |"; done
        echo "$line"
    done
done
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
