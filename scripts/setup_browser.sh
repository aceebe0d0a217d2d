#!/usr/bin/env bash
# Ensures headless Chromium for the browser tests and `make screenshots`: Debian's `chromium`
# package, which Playwright drives as its executable (it downloads no browser of its own).
source "$(dirname "$0")/lib.sh"

if [ -x /usr/bin/chromium ]; then
  log "chromium: installed"
  exit 0
fi
apt_install chromium
[ -x /usr/bin/chromium ] || die "chromium installed, but /usr/bin/chromium is missing"
log "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
