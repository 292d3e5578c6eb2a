#!/usr/bin/env bash
# Install what the tests need (idempotent, quick when nothing changed) and run them.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k frontend
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh

# System packages for the real-browser test (Debian Chromium; playwright cannot download browsers here)
# and CJK fonts so Chinese renders in screenshots. Installed only when missing and when we may.
install_test_system_packages() {
    local wanted=(chromium chromium-driver fonts-wqy-microhei) missing=() pkg
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: cannot install ${missing[*]} (needs root and apt-get); the browser test will be skipped" >&2
        return 0
    fi
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || echo "warning: apt-get could not install ${missing[*]}; the browser test will be skipped" >&2
}

install_test_system_packages
bootstrap_venv requirements.txt requirements-test.txt
PY="$VENV_DIR/bin/python"
"$PY" -m indextts.weights ensure
exec "$PY" -m pytest tests "$@"
