#!/usr/bin/env bash
# One command from a fresh machine to a working engine: venv + pinned deps,
# verified weights, and a spoken self-test. (The web UI and the hardened
# launcher arrive with their own milestones.)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
command -v curl >/dev/null 2>&1 || echo "warning: curl not found; it will be needed for weight downloads" >&2
bootstrap_venv requirements.txt
PY="$VENV_DIR/bin/python"
"$PY" -m indextts.weights ensure || die "the model weights could not be prepared (see the message above)"
mkdir -p outputs
if "$PY" -m indextts synth "IndexTTS is ready." -o outputs/selftest.wav -q; then
    echo "STARTUP_OK engine ready: try  $PY -m indextts synth \"Hello\" -o hello.wav"
else
    echo "STARTUP_FAILED: the engine self-test did not produce audio (see the message above)" >&2
    exit 1
fi
