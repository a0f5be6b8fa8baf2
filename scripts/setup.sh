#!/usr/bin/env bash
# One-time (idempotent) set-up for a fresh machine: everything `cargo run -p kyc-flow-cli -- demo`
# and `cargo test --workspace` need that cargo itself does not fetch.
#  - vision models, the ONNX Runtime library, test photos and fonts (registry packages only)
#  - Python packages for the differential tests (python-stdnum, mrz)
#  - Chromium and ChromeDriver (Debian packages) for the simulator page's browser test
#  - Redis on 127.0.0.1:6379 for the Redis adapter tests, if nothing answers there
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'setup: %s\n' "$*" >&2; }

if [ -x scripts/fetch-assets.sh ]; then
  log "vision assets"
  scripts/fetch-assets.sh
fi

if [ -f scripts/requirements-test.txt ]; then
  if ! python3 - <<'PY' 2>/dev/null
import importlib, sys
for m in ("stdnum", "mrz"):
    importlib.import_module(m)
PY
  then
    log "python packages for differential tests"
    python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  fi
fi

# Headless Chromium and ChromeDriver for the simulator page's browser test (Debian packages;
# never a browser download).
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if command -v apt-get >/dev/null 2>&1; then
    log "chromium and chromium-driver for the browser test"
    SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
      || { $SUDO apt-get update -q >/dev/null && \
           $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; } \
      || log "could not install chromium (the browser test will fail in CI)"
  else
    log "no apt-get: install chromium and chromedriver for the browser test"
  fi
fi

redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
if command -v redis-cli >/dev/null 2>&1; then
  if ! redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
    if command -v redis-server >/dev/null 2>&1; then
      log "starting redis-server on 127.0.0.1:6379"
      mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/kyc-flow-redis.log || log "could not start redis-server"
    else
      log "no Redis reachable at $redis_url and redis-server not installed (Redis tests will skip outside CI)"
    fi
  fi
fi
log "done"
