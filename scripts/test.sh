#!/usr/bin/env bash
# Runs Tally's whole test suite on a fresh clone. The embedded deployment needs no
# outside service. The real-SDK tests need the SDKs themselves: this script makes
# a Python virtual environment with the pinned PyPI packages (installing the Debian
# python3-venv package first if it is missing) and passes its interpreter to the
# tests as TALLY_SDK_PYTHON. The browser tests need Debian's chromium and the npm
# packages of crates/tally/tests/browser (playwright-core, posthog-js), installed
# here from the lock file. When tests need ClickHouse or Kafka, this script
# installs and starts them too.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_UPDATED=
apt_install() {
    if [ -z "$APT_UPDATED" ]; then apt-get update; APT_UPDATED=1; fi
    apt-get install -y "$@"
}

SDK_VENV="${TALLY_SDK_VENV:-$HOME/.cache/tally-sdk-venv}"
SDK_PACKAGES=(posthog==7.91.1 segment-analytics-python==2.4.0)
if ! "$SDK_VENV/bin/python" -c "import posthog, segment.analytics" 2>/dev/null; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
        apt_install python3-venv
    fi
    python3 -m venv "$SDK_VENV"
    "$SDK_VENV/bin/pip" install --quiet "${SDK_PACKAGES[@]}"
fi
export TALLY_SDK_PYTHON="$SDK_VENV/bin/python"

if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
BROWSER_DIR=crates/tally/tests/browser
LOCK_SUM=$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$BROWSER_DIR/node_modules/.tally-lock-sum" 2>/dev/null)" != "$LOCK_SUM" ]; then
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund)
    echo "$LOCK_SUM" > "$BROWSER_DIR/node_modules/.tally-lock-sum"
fi

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast
else
    exec cargo test --workspace --no-fail-fast
fi
