#!/usr/bin/env bash
# wscore against other implementations, over real sockets:
#   - Chromium (Debian's, driven by playwright-core) loads the echo page from examples/echo_server on each
#     driver and the chat page from examples/chat in two tabs               (browser.mjs)
#   - Node's `ws` as a client of examples/echo_server on each driver          (ws_client.mjs)
#   - examples/interop_client on each driver against a Node `ws` echo server  (ws_echo_server.mjs)
# The examples are built with the `deflate` feature (as for Autobahn), so Chromium, which always offers
# permessage-deflate, talks compressed to our servers; the Node checks run twice, without any extension
# and with permessage-deflate on both sides.
#
#   bash tests/interop/run.sh
#
# Installs what is missing (Debian's chromium with apt, the pinned npm packages with `npm ci`), builds the
# examples once, starts every server on a port the system picks (--addr 127.0.0.1:0, read back from the
# server's first line), stops them all on exit, and exits non-zero naming each step that failed.
# Screenshots and server logs go to target/interop/.
#
# The scheme is a parameter: with TLS_CERT and TLS_KEY (PEM files) set, our servers get --tls-cert and
# --tls-key, Node's server listens on https, and every URL is https:// / wss:// (TLS_CA, optional, is the
# CA the clients then trust; without it they skip verification). Unset, the run is plain ws://.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
interop=tests/interop
out=target/interop
started=$(date +%s)
say() { echo "== $* ($(( $(date +%s) - started ))s)"; }
die() { echo "tests/interop/run.sh: $*" >&2; exit 1; }

if [[ -n "${TLS_CERT:-}" && -n "${TLS_KEY:-}" ]]; then
  ws=wss http=https
  tls_flags=(--tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
else
  ws=ws http=http
  tls_flags=()
fi

say "prerequisites"
apt_install() {
  [[ $(id -u) == 0 ]] || die "$* is missing; install it (apt-get install -y $*) or run as root"
  if [[ -z "${apt_updated:-}" ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v node >/dev/null || apt_install nodejs npm
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node $(node --version) is too old: playwright-core needs Node 20 or later"
[[ -x /usr/bin/chromium ]] || apt_install chromium
echo "node $(node --version), $(/usr/bin/chromium --version 2>/dev/null)"
# `npm ci` again only when the lockfile changed since the last install.
stamp=$interop/node_modules/.wscore-installed-lock
if ! cmp -s "$interop/package-lock.json" "$stamp" 2>/dev/null; then
  (cd "$interop" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$interop/package-lock.json" "$stamp"
fi

say "build the examples (release, mio and deflate features)"
cargo build --release --features mio,deflate --example echo_server --example chat --example interop_client
bin=target/release/examples

mkdir -p "$out/logs"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME COMMAND...: runs a server in the background with its output in $out/logs/NAME.log, waits
# until it prints the address it listens on (it binds before printing) and sets $port to that port.
start() {
  local name=$1 log="$out/logs/$1.log"
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
    kill -0 "$pid" 2>/dev/null || die "$name exited before listening: $(cat "$log")"
    sleep 0.05
  done
  die "$name printed no address within 10 s: $(cat "$log")"
}

say "start the servers"
declare -A echo_port idle_port
for driver in mio blocking; do
  start "echo_server-$driver" "$bin/echo_server" --addr 127.0.0.1:0 --driver "$driver" "${tls_flags[@]}"
  echo_port[$driver]=$port
  # A second one whose idle timeout is short, for a close the server starts on its own (1001).
  start "echo_server-$driver-idle" "$bin/echo_server" --addr 127.0.0.1:0 --driver "$driver" \
    --idle-timeout-ms 300 "${tls_flags[@]}"
  idle_port[$driver]=$port
done
start chat "$bin/chat" --addr 127.0.0.1:0 "${tls_flags[@]}"
chat_port=$port
start ws_echo_server node "$interop/ws_echo_server.mjs" --port 0
node_port=$port
start ws_echo_server-deflate node "$interop/ws_echo_server.mjs" --port 0 --deflate on
node_deflate_port=$port

failed=()
# step NAME COMMAND...: runs a check (bounded to 3 minutes) and records its failure without stopping.
step() {
  local name=$1
  shift
  say "$name"
  if ! timeout 180 "$@"; then
    failed+=("$name")
  fi
}

step "chromium: echo page (both drivers) and chat" \
  node "$interop/browser.mjs" \
  --echo-mio "$http://127.0.0.1:${echo_port[mio]}/" \
  --echo-blocking "$http://127.0.0.1:${echo_port[blocking]}/" \
  --chat "$http://127.0.0.1:$chat_port/" \
  --extensions permessage-deflate \
  --artifacts "$root/$out"
for deflate in off on; do
  for driver in mio blocking; do
    step "Node ws client -> our echo_server ($driver, permessage-deflate $deflate)" \
      node "$interop/ws_client.mjs" --label "$driver" --deflate "$deflate" \
      --url "$ws://127.0.0.1:${echo_port[$driver]}/" --idle-url "$ws://127.0.0.1:${idle_port[$driver]}/"
  done
done
for driver in mio blocking; do
  step "our interop_client ($driver) -> Node ws echo server" \
    "$bin/interop_client" "$ws://127.0.0.1:$node_port" --driver "$driver"
  step "our interop_client ($driver) -> Node ws echo server with permessage-deflate" \
    "$bin/interop_client" "$ws://127.0.0.1:$node_deflate_port" --driver "$driver"
done

say "done"
if (( ${#failed[@]} > 0 )); then
  echo "tests/interop/run.sh: ${#failed[@]} step(s) FAILED (server logs in $out/logs/):" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "interop ($ws://): every step passed in $(( $(date +%s) - started ))s"
