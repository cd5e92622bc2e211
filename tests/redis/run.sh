#!/usr/bin/env bash
# The chat's rooms across processes through a real Redis (tests/redis_chat.rs): installs Debian's
# redis-server if missing, then runs the test, which starts its own redis-server on a free port (and
# restarts it mid-run) beside three chat processes, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v redis-server >/dev/null; then
  echo "installing redis-server (Debian's package)"
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi
# The package starts a system-wide server on 6379; the test uses its own, so that one is left alone.
redis-server --version
# `cargo test --test NAME` does not build the examples the test runs.
cargo build --all-features --example chat
cargo test --all-features --test redis_chat -- --ignored
