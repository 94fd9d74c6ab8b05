#!/bin/sh
# Install Debian's prometheus package (prometheus + promtool) when missing. Idempotent.
# Used by `make lint` (rule checks) and `make test` (the real-Prometheus integration test).
# Exits 0 without installing, with a clear message, only when apt cannot be used here.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-prometheus: SKIPPED: apt-get not available; install prometheus (with promtool) yourself" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-prometheus: SKIPPED: not root and no password-less sudo; run: apt-get install prometheus" >&2
        exit 0
    fi
fi
echo "install-prometheus: apt-get install prometheus" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1
