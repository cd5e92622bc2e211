#!/usr/bin/env bash
# wscore against other implementations, over real sockets, in two passes: plain (http:// and ws://) and
# over TLS (https:// and wss://), the same checks in each:
#   - Chromium (Debian's, driven by playwright-core) loads the echo page from examples/echo_server on each
#     driver (blocking, mio, tokio) and the chat page in two tabs, each on its own examples/chat process,
#     the two joined by a redis-server of the run's own (browser.mjs)
#   - Node's `ws` as a client of examples/echo_server on each driver          (ws_client.mjs)
#   - examples/interop_client (blocking, mio) against a Node `ws` echo server (ws_echo_server.mjs; the
#     tokio client meets the Autobahn suite)
# The examples are built with the `mio`, `tokio`, `tls` and `deflate` features (as for Autobahn, so CI builds
# them once), so Chromium, which always offers permessage-deflate, talks compressed to our servers; the
# Node checks run twice in each pass, without any extension and with permessage-deflate on both sides.
#
#   bash tests/interop/run.sh                              # both passes
#   WSCORE_INTEROP_PASSES=wss bash tests/interop/run.sh    # one of them (ws or wss)
#
# Installs what is missing (Debian's chromium and openssl with apt, the pinned npm packages with
# `npm ci`), builds the examples once, makes a self-signed certificate for localhost and 127.0.0.1 with
# openssl (target/interop/tls/), starts every server of a pass on a port the system picks (--addr
# 127.0.0.1:0, read back from the server's first line), stops them at the end of the pass and on exit,
# and exits non-zero naming each step that failed. Screenshots and server logs go to
# target/interop/{ws,wss}/.
#
# Over TLS our servers get --tls-cert/--tls-key, Node's server listens through https.createServer, and
# the scripts see TLS_CERT, TLS_KEY and TLS_CA (see common.mjs): the Node clients and interop_client
# (--ca) trust only the certificate made here; Chromium is told to accept that one key (see browser.mjs).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
interop=tests/interop
out=target/interop
started=$(date +%s)
say() { echo "== $* ($(( $(date +%s) - started ))s)"; }
die() { echo "tests/interop/run.sh: $*" >&2; exit 1; }

passes=${WSCORE_INTEROP_PASSES:-ws wss}
for pass in $passes; do
  [[ $pass == ws || $pass == wss ]] || die "WSCORE_INTEROP_PASSES: unknown pass '$pass' (ws, wss)"
done

say "prerequisites"
apt_install() {
  [[ $(id -u) == 0 ]] || die "$* is missing; install it (apt-get install -y $*) or run as root"
  if [[ -z "${apt_updated:-}" ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}
command -v node >/dev/null || apt_install nodejs npm
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node $(node --version) is too old: playwright-core needs Node 20 or later"
[[ -x /usr/bin/chromium ]] || apt_install chromium
command -v openssl >/dev/null || apt_install openssl
command -v redis-server >/dev/null || apt_install redis-server
echo "node $(node --version), $(/usr/bin/chromium --version 2>/dev/null), $(openssl version)"
# `npm ci` again only when the lockfile changed since the last install.
stamp=$interop/node_modules/.wscore-installed-lock
if ! cmp -s "$interop/package-lock.json" "$stamp" 2>/dev/null; then
  (cd "$interop" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  cp "$interop/package-lock.json" "$stamp"
fi

say "build the examples (release; mio, tokio, tls and deflate features, as autobahn/run.sh)"
cargo build --release --features mio,tokio,tls,deflate \
  --example echo_server --example autobahn_client --example chat --example interop_client \
  || die "building the examples failed"
bin=target/release/examples

say "a self-signed certificate for localhost and 127.0.0.1"
# Made anew each run (it lives two days). CA:FALSE: the certificate is its own trust anchor for our
# client, and webpki refuses a CA certificate as a server's own ("CaUsedAsEndEntity").
tls_dir=$root/$out/tls
mkdir -p "$tls_dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>/dev/null \
  || die "openssl could not make the test certificate"

pids=()
# Stops every server started so far; at the end of each pass, and on exit whatever happened.
stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_servers EXIT

# start NAME COMMAND...: runs a server in the background with its output in $logs/NAME.log, waits
# until it prints the address it listens on (it binds before printing) and sets $port to that port.
start() {
  local name=$1 log="$logs/$1.log"
  shift
  # Emptied here, not only by the child's redirection, which may come after the first look below and
  # leave a previous run's address to be read.
  : >"$log"
  "$@" >"$log" 2>&1 &
  pids+=($!)
  local pid=$! line
  for _ in $(seq 1 200); do
    line=$(grep -oE '(127\.0\.0\.1:|listening on )[0-9]+' "$log" | head -n 1 || true)
    if [[ -n $line ]]; then
      port=${line##*[: ]}
      echo "$name: port $port (log $log)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$name ($scheme) exited before listening: $(cat "$log")"
    sleep 0.05
  done
  die "$name ($scheme) printed no address within 10 s: $(cat "$log")"
}

failed=()
# step NAME COMMAND...: runs a check (bounded to 3 minutes) and records its failure without stopping.
step() {
  local name="[$scheme] $1"
  shift
  say "$name"
  if ! timeout 180 "$@"; then
    failed+=("$name")
  fi
}

# run_pass ws|wss: starts the servers for that scheme, runs every check against them, stops them.
run_pass() {
  scheme=$1
  local http artifacts="$root/$out/$scheme"
  local -a tls_flags ca_flags node_env
  if [[ $scheme == wss ]]; then
    http=https
    tls_flags=(--tls-cert "$tls_dir/cert.pem" --tls-key "$tls_dir/key.pem")
    ca_flags=(--ca "$tls_dir/cert.pem")
    # What common.mjs reads: Node's server serves this certificate, Node's clients trust only it.
    node_env=(env TLS_CERT="$tls_dir/cert.pem" TLS_KEY="$tls_dir/key.pem" TLS_CA="$tls_dir/cert.pem")
  else
    http=http
    tls_flags=() ca_flags=()
    # Plain, whatever the caller's environment holds.
    node_env=(env -u TLS_CERT -u TLS_KEY -u TLS_CA)
  fi
  # The last run's screenshots and logs would pass for this one's.
  rm -rf "$artifacts"
  logs=$artifacts/logs
  mkdir -p "$logs"

  say "[$scheme] start the servers"
  local -A echo_port idle_port
  local driver deflate chat_port chat_b_port node_port node_deflate_port
  for driver in mio blocking tokio; do
    start "echo_server-$driver" "$bin/echo_server" --addr 127.0.0.1:0 --driver "$driver" "${tls_flags[@]}"
    echo_port[$driver]=$port
    # A second one whose idle timeout is short, for a close the server starts on its own (1001).
    start "echo_server-$driver-idle" "$bin/echo_server" --addr 127.0.0.1:0 --driver "$driver" \
      --idle-timeout-ms 300 "${tls_flags[@]}"
    idle_port[$driver]=$port
  done
  # Two chat processes whose rooms Redis joins: the browser's two pages go one to each.
  local redis_port
  redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$logs/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.05
  done
  start chat "$bin/chat" --addr 127.0.0.1:0 --redis "redis://127.0.0.1:$redis_port" "${tls_flags[@]}"
  chat_port=$port
  start chat-b "$bin/chat" --addr 127.0.0.1:0 --redis "redis://127.0.0.1:$redis_port" "${tls_flags[@]}"
  chat_b_port=$port
  start ws_echo_server "${node_env[@]}" node "$interop/ws_echo_server.mjs" --port 0
  node_port=$port
  start ws_echo_server-deflate "${node_env[@]}" node "$interop/ws_echo_server.mjs" --port 0 --deflate on
  node_deflate_port=$port

  step "chromium: echo page (every driver) and chat over $http://" \
    "${node_env[@]}" node "$interop/browser.mjs" \
    --echo-mio "$http://127.0.0.1:${echo_port[mio]}/" \
    --echo-blocking "$http://127.0.0.1:${echo_port[blocking]}/" \
    --echo-tokio "$http://127.0.0.1:${echo_port[tokio]}/" \
    --chat "$http://127.0.0.1:$chat_port/" --chat-b "$http://127.0.0.1:$chat_b_port/" \
    --extensions permessage-deflate \
    --artifacts "$artifacts"
  for deflate in off on; do
    for driver in mio blocking tokio; do
      step "Node ws client -> our echo_server ($driver, permessage-deflate $deflate)" \
        "${node_env[@]}" node "$interop/ws_client.mjs" --label "$driver" --deflate "$deflate" \
        --url "$scheme://127.0.0.1:${echo_port[$driver]}/" --idle-url "$scheme://127.0.0.1:${idle_port[$driver]}/"
    done
  done
  for driver in mio blocking; do
    step "our interop_client ($driver) -> Node ws echo server" \
      "$bin/interop_client" "$scheme://127.0.0.1:$node_port" --driver "$driver" "${ca_flags[@]}"
    step "our interop_client ($driver) -> Node ws echo server with permessage-deflate" \
      "$bin/interop_client" "$scheme://127.0.0.1:$node_deflate_port" --driver "$driver" "${ca_flags[@]}"
  done
  stop_servers
}

for pass in $passes; do
  run_pass "$pass"
done

say "done"
if (( ${#failed[@]} > 0 )); then
  echo "tests/interop/run.sh: ${#failed[@]} step(s) FAILED (server logs in $out/{ws,wss}/logs/):" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "interop ($passes): every step passed in $(( $(date +%s) - started ))s"
