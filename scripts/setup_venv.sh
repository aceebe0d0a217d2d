#!/usr/bin/env bash
# Ensures .venv holds exactly requirements.lock. The lock's hash is stamped into the venv,
# so a second call with an unchanged lock returns at once.
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
lock=$root/requirements.lock
stamp=$venv/.lock-sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "virtual environment: up to date ($venv)"
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  log "virtual environment: creating $venv"
  python3 -m venv "$venv"
fi
log "virtual environment: installing requirements.lock (about 2 minutes the first time)"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -r "$lock"
echo "$want" > "$stamp"
log "virtual environment: ready"
