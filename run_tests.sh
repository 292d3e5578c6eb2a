#!/usr/bin/env bash
# Install what the tests need (idempotent, quick when nothing changed) and run them.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k frontend
# ./run_tests.sh --fast: only the tests that need no model, ASR, app process, browser or S3 (under two
# minutes; tests/conftest.py marks them); the full suite is the default and what CI runs.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh

if [[ "${1:-}" == "--fast" ]]; then
    shift
    bootstrap_venv requirements.txt requirements-test.txt
    "$VENV_DIR/bin/python" -m indextts.weights ensure
    exec "$VENV_DIR/bin/python" -m pytest tests -m fast "$@"
fi

# System packages for the real-browser tests (Debian Chromium; playwright cannot download browsers here),
# CJK fonts so Chinese renders in screenshots, and ffmpeg for the live player: one apt run for all.
test_packages=(chromium chromium-driver fonts-wqy-microhei)
command -v ffmpeg >/dev/null 2>&1 || test_packages+=(ffmpeg)
install_system_packages "the browser tests (or their live-player test) will be skipped" "${test_packages[@]}"
# Ray Serve (optional for users) for tests/test_scale.py's --replicas tests: CI runs them.
bootstrap_venv requirements.txt requirements-test.txt requirements-ray.txt
PY="$VENV_DIR/bin/python"
"$PY" -m indextts.weights ensure
# --durations: where the suite's time goes is in every CI log (the aim is well under 15 minutes on 2 cores)
exec "$PY" -m pytest tests --durations=25 "$@"
