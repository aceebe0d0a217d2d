#!/usr/bin/env bash
# Ensures a local image registry (the CNCF distribution registry from Debian) at ADDRESS,
# e.g. localhost:5000. Storage lives under .local/registry so images survive restarts.
# Usage: setup_registry.sh ADDRESS [STORAGE_DIR]
source "$(dirname "$0")/lib.sh"

address=${1:?usage: setup_registry.sh HOST:PORT [STORAGE_DIR]}
storage=${2:-$STATE_DIR/registry/data}
host=${address%:*}; port=${address##*:}
case "$host" in localhost|127.*) ;; *)
  log "registry $address is not local: nothing to start"; exit 0;;
esac

command -v curl >/dev/null 2>&1 || apt_install curl
if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
  log "registry $address: running"
  exit 0
fi
command -v docker-registry >/dev/null 2>&1 || apt_install docker-registry
mkdir -p "$storage"
config="$STATE_DIR/registry/config-$port.yml"
mkdir -p "$(dirname "$config")"
cat > "$config" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YAML
log "registry $address: starting (storage: $storage)"
setsid docker-registry serve "$config" >"$STATE_DIR/registry/registry-$port.log" 2>&1 < /dev/null &
wait_for 30 curl -fsS "http://127.0.0.1:$port/v2/" \
  || die "registry did not answer on $address within 30 s; see $STATE_DIR/registry/registry-$port.log"
log "registry $address: running"
