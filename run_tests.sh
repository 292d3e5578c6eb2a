#!/usr/bin/env bash
# Install what the tests need (idempotent, quick when nothing changed) and run them.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k frontend
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
bootstrap_venv requirements.txt requirements-test.txt
PY="$VENV_DIR/bin/python"
"$PY" -m indextts.weights ensure
exec "$PY" -m pytest tests "$@"
