#!/usr/bin/env bash
# Runs the Autobahn TestSuite against wscore and checks the reports strictly (autobahn/check.py):
#
#   pass                           driver      cases                  spec
#   server role  wscore-mio        mio         1.* to 11.* (301)      fuzzingclient-mio.json        (9001)
#   server role  wscore-tokio      tokio       all 517                fuzzingclient-tokio.json      (9005)
#   server role  wscore-blocking   blocking    1.* to 11.* (301)      fuzzingclient-blocking.json   (9003)
#   server role  wscore-mio-tls    mio, wss    1.* to 11.* (301)      fuzzingclient-tls.json        (9011)
#   server role  wscore-tokio-tls  tokio, wss  1.* to 11.* (301)      fuzzingclient-tokio-tls.json  (9015)
#   client role  wscore-mio        mio         1.* to 11.* (301)      fuzzingserver-mio.json        (9002)
#   client role  wscore-tokio      tokio       all 517                fuzzingserver-tokio.json      (9006)
#   client role  wscore-blocking   blocking    1.* to 11.* (301)      fuzzingserver-blocking.json   (9004)
#   client role  wscore-mio-tls    mio, wss    1.* to 11.* (301)      fuzzingserver-tls.json        (9012)
#   client role  wscore-tokio-tls  tokio, wss  1.* to 11.* (301)      fuzzingserver-tokio-tls.json  (9016)
#
# 12.* and 13.* (permessage-deflate) run in both roles on the tokio driver: compression lives in the
# core, so the other passes would repeat the same code over another transport, at minutes each. (Until
# the tokio passes came, they ran on mio in both roles and on the blocking server, strict every time;
# with them in both roles on two drivers, Autobahn alone took over 30 minutes of CI.) The servers and clients are built with the `deflate` feature and
# turn it on; `tls` for the wss:// passes, which use a self-signed certificate for localhost and
# 127.0.0.1 made here with openssl (installed with apt-get if missing) in autobahn/tls/.
#
# wstest is single-threaded Python and the suite's own work dominates (measured: a 517-case server pass
# is ~60 % 12.*, and a client pass costs about what a server pass does), so the passes run in five lanes
# of about equal work at once, which keeps both cores busy to the end: a lane left alone uses one core.
# Reports land in autobahn/reports/<spec outdir>/ (index.html for
# people, index.json for check.py). WSCORE_AUTOBAHN_PORT_OFFSET (default 0) moves every port, so that
# two runs on one machine (two work trees) do not meet on the same ports.
set -euo pipefail
cd "$(dirname "$0")/.."
offset="${WSCORE_AUTOBAHN_PORT_OFFSET:-0}"
port() { echo $(( $1 + offset )); }
specs="$(mktemp -d)"
# The specs with their ports moved by the offset (their paths stay relative to the repository).
for spec in fuzzingclient-mio fuzzingclient-blocking fuzzingclient-tls fuzzingclient-tokio fuzzingclient-tokio-tls \
  fuzzingserver-mio fuzzingserver-blocking fuzzingserver-tls fuzzingserver-tokio fuzzingserver-tokio-tls; do
  python3 -c 'import re, sys; off = int(sys.argv[1]); sys.stdout.write(re.sub(r"127\.0\.0\.1:(\d+)", lambda m: "127.0.0.1:%d" % (int(m.group(1)) + off), sys.stdin.read()))' \
    "$offset" <"autobahn/$spec.json" >"$specs/$spec.json"
done

wstest="$(bash autobahn/install.sh | tail -n 1)"
if ! command -v openssl >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq openssl) >&2
fi
mkdir -p autobahn/tls
# CA:FALSE: the certificate is its own trust anchor for our client, and webpki refuses a CA
# certificate as a server's own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout autobahn/tls/key.pem -out autobahn/tls/cert.pem 2>/dev/null
cargo build --release --features mio,tokio,tls,deflate --example echo_server --example autobahn_client
rm -rf autobahn/reports
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$specs"; }
trap cleanup EXIT

wait_for_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "autobahn/run.sh: nothing listens on port $1" >&2
  return 1
}

bin=target/release/examples
tls=(--tls-cert autobahn/tls/cert.pem --tls-key autobahn/tls/key.pem)
"$bin/echo_server" --addr "127.0.0.1:$(port 9001)" --driver mio >autobahn/echo_server_mio.log 2>&1 &
pids+=($!)
"$bin/echo_server" --addr "127.0.0.1:$(port 9003)" --driver blocking >autobahn/echo_server_blocking.log 2>&1 &
pids+=($!)
"$bin/echo_server" --addr "127.0.0.1:$(port 9011)" --driver mio "${tls[@]}" >autobahn/echo_server_mio_tls.log 2>&1 &
pids+=($!)
"$bin/echo_server" --addr "127.0.0.1:$(port 9005)" --driver tokio >autobahn/echo_server_tokio.log 2>&1 &
pids+=($!)
"$bin/echo_server" --addr "127.0.0.1:$(port 9015)" --driver tokio "${tls[@]}" >autobahn/echo_server_tokio_tls.log 2>&1 &
pids+=($!)
for p in 9001 9003 9011 9005 9015; do wait_for_port "$(port $p)"; done

# A fuzzingserver in the background for one client pass; the client runs, then the server stops.
client_pass() { # spec port url agent log [client flags...]
  local spec=$1 p=$2 url=$3 agent=$4 log=$5
  shift 5
  "$wstest" -m fuzzingserver --webport 0 -s "$specs/$spec.json" >"autobahn/$spec.log" 2>&1 &
  local server=$!
  wait_for_port "$(port "$p")"
  "$bin/autobahn_client" "$url" "$agent" "$@" >"autobahn/$log.log" 2>&1
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

lane1() {
  "$wstest" -m fuzzingclient -s "$specs/fuzzingclient-tokio.json" >autobahn/fuzzingclient-tokio.log 2>&1
}
lane2() {
  client_pass fuzzingserver-tokio 9006 "ws://127.0.0.1:$(port 9006)" wscore-tokio autobahn_client_tokio --driver tokio
}
lane3() {
  "$wstest" -m fuzzingclient -s "$specs/fuzzingclient-mio.json" >autobahn/fuzzingclient-mio.log 2>&1
  "$wstest" -m fuzzingclient -s "$specs/fuzzingclient-tls.json" >autobahn/fuzzingclient-tls.log 2>&1
}
lane4() {
  "$wstest" -m fuzzingclient -s "$specs/fuzzingclient-tokio-tls.json" >autobahn/fuzzingclient-tokio-tls.log 2>&1
  client_pass fuzzingserver-mio 9002 "ws://127.0.0.1:$(port 9002)" wscore-mio autobahn_client_mio --driver mio
  client_pass fuzzingserver-blocking 9004 "ws://127.0.0.1:$(port 9004)" wscore-blocking \
    autobahn_client_blocking --driver blocking
}
lane5() {
  "$wstest" -m fuzzingclient -s "$specs/fuzzingclient-blocking.json" >autobahn/fuzzingclient-blocking.log 2>&1
  client_pass fuzzingserver-tls 9012 "wss://127.0.0.1:$(port 9012)" wscore-mio-tls \
    autobahn_client_mio_tls --driver mio --ca autobahn/tls/cert.pem
  client_pass fuzzingserver-tokio-tls 9016 "wss://127.0.0.1:$(port 9016)" wscore-tokio-tls \
    autobahn_client_tokio_tls --driver tokio --ca autobahn/tls/cert.pem
}

# Measured (2 cores, 90f1652): the three lanes without deflate cases ended after ~13 minutes, the two
# tokio passes with them after ~18; so the blocking server pass goes with the short lanes.
echo "== five lanes, sharing the two cores to the end"
started=$(date +%s)
lane1 & lane1_pid=$!
lane2 & lane2_pid=$!
lane3 & lane3_pid=$!
lane4 & lane4_pid=$!
lane5 & lane5_pid=$!
status=0
for lane in 1 2 3 4 5; do
  pid_var="lane${lane}_pid"
  wait "${!pid_var}" || status=1
  echo "lane $lane done after $(( $(date +%s) - started )) s"
done
[ "$status" = 0 ] || echo "autobahn/run.sh: a lane failed to run (see autobahn/*.log)" >&2

r=autobahn/reports
python3 autobahn/check.py \
  --cases 517 --agents wscore-tokio server=$r/server-tokio/index.json client=$r/client-tokio/index.json \
  --cases 301 --agents wscore-mio server=$r/server-mio/index.json client=$r/client-mio/index.json \
  --agents wscore-blocking server=$r/server-blocking/index.json client=$r/client-blocking/index.json \
  --agents wscore-mio-tls server-tls=$r/server-tls/index.json client-tls=$r/client-tls/index.json \
  --agents wscore-tokio-tls server-tls=$r/server-tokio-tls/index.json client-tls=$r/client-tokio-tls/index.json
exit "$status"
