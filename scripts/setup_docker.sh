#!/usr/bin/env bash
# Ensures a running Docker engine. The machines have only the docker client and no bridge
# network, so the engine comes from Debian and runs with host networking only
# (see ../shared/ENVIRONMENT.md). A running engine is left alone.
source "$(dirname "$0")/lib.sh"

# Cloud Build steps get the engine's socket but not always the docker CLI.
engine_up() {
  docker info >/dev/null 2>&1 \
    || curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1
}

if engine_up; then
  log "docker engine: running"
  exit 0
fi
command -v dockerd >/dev/null 2>&1 || apt_install docker.io
log "docker engine: starting dockerd (log: $STATE_DIR/dockerd.log)"
as_root setsid dockerd --iptables=false --ip-masq=false --bridge=none \
  --storage-driver=overlay2 >"$STATE_DIR/dockerd.log" 2>&1 < /dev/null &
wait_for 60 engine_up || die "dockerd did not answer within 60 s; see $STATE_DIR/dockerd.log"
log "docker engine: running"
