#!/usr/bin/env bash
# Runs the Autobahn TestSuite against wscore in both roles and both drivers, and over TLS on the mio
# driver, and checks the reports strictly:
#   server role: `wstest -m fuzzingclient` against examples/echo_server, the mio driver on 127.0.0.1:9001
#                and the blocking driver on 127.0.0.1:9003 (agents wscore-mio, wscore-blocking), and the
#                mio driver over TLS on 127.0.0.1:9011 (wss://, agent wscore-mio-tls)
#   client role: examples/autobahn_client on each driver against `wstest -m fuzzingserver` on 127.0.0.1:9002,
#                and on the mio driver over TLS against a second fuzzingserver on wss://127.0.0.1:9012
# The TLS passes use a self-signed certificate for localhost and 127.0.0.1 made here with openssl
# (installed with apt-get if missing) in autobahn/tls/; wstest serves and connects with pyOpenSSL, and
# our client trusts that certificate alone (--ca).
# The fuzzingservers run without their web page (--webport 0: its default, 8080, would be taken by
# the second one). Reports land in autobahn/reports/{server,client,client-tls}/ (index.html for
# people, index.json for check.py). WSCORE_AUTOBAHN_PORT_OFFSET (default 0) moves every port, so that
# two runs on one machine (two work trees) do not meet on the same ports.
set -euo pipefail
cd "$(dirname "$0")/.."
offset="${WSCORE_AUTOBAHN_PORT_OFFSET:-0}"
port() { echo $(( $1 + offset )); }
specs="$(mktemp -d)"
# The specs with their ports moved by the offset (their paths stay relative to the repository).
for spec in fuzzingclient fuzzingserver fuzzingserver-tls; do
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
cargo build --release --features mio,tls --example echo_server --example autobahn_client
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

echo "== server role: wstest fuzzingclient -> echo_server"
target/release/examples/echo_server --addr "127.0.0.1:$(port 9001)" --driver mio >autobahn/echo_server_mio.log 2>&1 &
pids+=($!)
target/release/examples/echo_server --addr "127.0.0.1:$(port 9003)" --driver blocking >autobahn/echo_server_blocking.log 2>&1 &
pids+=($!)
target/release/examples/echo_server --addr "127.0.0.1:$(port 9011)" --driver mio \
  --tls-cert autobahn/tls/cert.pem --tls-key autobahn/tls/key.pem >autobahn/echo_server_mio_tls.log 2>&1 &
pids+=($!)
wait_for_port "$(port 9001)"
wait_for_port "$(port 9003)"
wait_for_port "$(port 9011)"
"$wstest" -m fuzzingclient -s "$specs/fuzzingclient.json" >autobahn/fuzzingclient.log 2>&1

echo "== client role: autobahn_client -> wstest fuzzingserver"
"$wstest" -m fuzzingserver --webport 0 -s "$specs/fuzzingserver.json" >autobahn/fuzzingserver.log 2>&1 &
pids+=($!)
wait_for_port "$(port 9002)"
target/release/examples/autobahn_client "ws://127.0.0.1:$(port 9002)" wscore-mio --driver mio >autobahn/autobahn_client_mio.log 2>&1
target/release/examples/autobahn_client "ws://127.0.0.1:$(port 9002)" wscore-blocking --driver blocking >autobahn/autobahn_client_blocking.log 2>&1

echo "== client role over TLS: autobahn_client (mio) -> wstest fuzzingserver on wss://"
"$wstest" -m fuzzingserver --webport 0 -s "$specs/fuzzingserver-tls.json" >autobahn/fuzzingserver_tls.log 2>&1 &
pids+=($!)
wait_for_port "$(port 9012)"
target/release/examples/autobahn_client "wss://127.0.0.1:$(port 9012)" wscore-mio-tls --driver mio \
  --ca autobahn/tls/cert.pem >autobahn/autobahn_client_mio_tls.log 2>&1

python3 autobahn/check.py \
  --agents wscore-mio,wscore-blocking,wscore-mio-tls server=autobahn/reports/server/index.json \
  --agents wscore-mio,wscore-blocking client=autobahn/reports/client/index.json \
  --agents wscore-mio-tls client-tls=autobahn/reports/client-tls/index.json
