#!/usr/bin/env bash
# Runs the Autobahn TestSuite against wscore in both roles and both drivers, and checks the reports
# strictly:
#   server role: `wstest -m fuzzingclient` against examples/echo_server, the mio driver on 127.0.0.1:9001
#                and the blocking driver on 127.0.0.1:9003 (agents wscore-mio, wscore-blocking)
#   client role: examples/autobahn_client on each driver against `wstest -m fuzzingserver` on 127.0.0.1:9002
# Reports land in autobahn/reports/{server,client}/ (index.html for people, index.json for check.py).
set -euo pipefail
cd "$(dirname "$0")/.."

wstest="$(bash autobahn/install.sh | tail -n 1)"
# permessage-deflate too: all 517 cases, 12.* and 13.* included.
cargo build --release --features mio,deflate --example echo_server --example autobahn_client
rm -rf autobahn/reports
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "autobahn/run.sh: nothing listens on port $1" >&2
  return 1
}

echo "== server role: wstest fuzzingclient -> echo_server"
target/release/examples/echo_server --addr 127.0.0.1:9001 --driver mio >autobahn/echo_server_mio.log 2>&1 &
pids+=($!)
target/release/examples/echo_server --addr 127.0.0.1:9003 --driver blocking >autobahn/echo_server_blocking.log 2>&1 &
pids+=($!)
wait_for_port 9001
wait_for_port 9003
"$wstest" -m fuzzingclient -s autobahn/fuzzingclient.json >autobahn/fuzzingclient.log 2>&1

echo "== client role: autobahn_client -> wstest fuzzingserver"
"$wstest" -m fuzzingserver -s autobahn/fuzzingserver.json >autobahn/fuzzingserver.log 2>&1 &
pids+=($!)
wait_for_port 9002
target/release/examples/autobahn_client ws://127.0.0.1:9002 wscore-mio --driver mio >autobahn/autobahn_client_mio.log 2>&1
target/release/examples/autobahn_client ws://127.0.0.1:9002 wscore-blocking --driver blocking >autobahn/autobahn_client_blocking.log 2>&1

python3 autobahn/check.py --cases 517 --agents wscore-mio,wscore-blocking server=autobahn/reports/server/index.json client=autobahn/reports/client/index.json
