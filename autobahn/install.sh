#!/usr/bin/env bash
# Installs the Autobahn TestSuite (wstest, Python 2) into a cache directory, idempotently.
# Prints the path of the wstest executable on its last line.
set -euo pipefail
cache="${WSCORE_AUTOBAHN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wscore-autobahn}"
venv="$cache/venv"
if [ -x "$venv/bin/wstest" ] && "$venv/bin/python" -c 'import autobahntestsuite' 2>/dev/null; then
  echo "$venv/bin/wstest"
  exit 0
fi
python2=""
if command -v pyenv >/dev/null 2>&1; then
  candidate="$(pyenv root)/versions/2.7.18/bin/python"
  [ -x "$candidate" ] && python2="$candidate"
fi
[ -n "$python2" ] || python2="$(command -v python2 || true)"
[ -n "$python2" ] || { echo "autobahn/install.sh: no Python 2.7 found (pyenv 2.7.18 or python2)" >&2; exit 1; }
mkdir -p "$cache"
rm -rf "$venv" "$cache/tools"
# `pip install --target` alone breaks zope.interface's namespace package, so only virtualenv goes there.
"$python2" -m pip install --quiet --disable-pip-version-check --target "$cache/tools" "virtualenv<20.22" >&2
PYTHONPATH="$cache/tools" "$python2" -m virtualenv --quiet "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check autobahntestsuite==25.10.1 >&2
"$venv/bin/python" -c 'import autobahntestsuite' >&2
echo "$venv/bin/wstest"
