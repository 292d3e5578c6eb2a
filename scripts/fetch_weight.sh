#!/usr/bin/env bash
# Download one weight file safely: scripts/fetch_weight.sh URL DEST SHA256 SIZE [NAME]
# (resume of DEST.part, retries with backoff, sha256 check, atomic rename; see scripts/weights.sh).
# Exit codes: 0 ok, 10 link expired, 11 refused / web page, 12 network, 13 checksum mismatch, 1 other, 2 usage.
# The one-line reason of a failure goes to stderr as "error: <reason>", or into the file
# $WEIGHT_FETCH_ERROR_FILE names (the launcher's weights step words it in context).
set -uo pipefail
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "usage: $0 URL DEST SHA256 SIZE [NAME]" >&2
    exit 2
fi
source "$(dirname "$0")/weights.sh"
rc=0
fetch_weight "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
    if [ -n "${WEIGHT_FETCH_ERROR_FILE:-}" ]; then
        printf '%s\n' "$WEIGHT_FETCH_ERROR" > "$WEIGHT_FETCH_ERROR_FILE"
    else
        echo "error: $WEIGHT_FETCH_ERROR" >&2
    fi
fi
exit "$rc"
