#!/usr/bin/env bash
# Ensures the standard base image python:3.11-slim-bookworm exists in the engine. When no
# registry can be reached (these machines), an equivalent is made offline from Debian's
# packages and imported under the same name, so Dockerfiles stay standard.
source "$(dirname "$0")/lib.sh"

image=${1:-python:3.11-slim-bookworm}
if ! command -v docker >/dev/null 2>&1; then
  log "no docker CLI here (a Cloud Build step): the engine pulls $image when it builds"
  exit 0
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  log "base OS image $image: present"
  exit 0
fi
if timeout 60 docker pull "$image" >/dev/null 2>&1; then
  log "base OS image $image: pulled"
  exit 0
fi
log "base OS image $image: cannot be pulled, bootstrapping it from Debian bookworm (about a minute)"
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
rootfs=$(mktemp -d "$STATE_DIR/rootfs.XXXXXX")
trap 'as_root rm -rf "$rootfs"' EXIT
as_root debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$rootfs" \
  >"$STATE_DIR/debootstrap.log" 2>&1 || die "debootstrap failed; see $STATE_DIR/debootstrap.log"
# The package registries are reached through TLS interception whose CA only the host's
# bundle holds; without it pip inside docker build fails with CERTIFICATE_VERIFY_FAILED.
as_root cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
as_root ln -sf python3 "$rootfs/usr/bin/python"
as_root tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["python3"]' - "$image" >/dev/null
log "base OS image $image: imported"
