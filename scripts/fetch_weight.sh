#!/usr/bin/env bash
# Download one weight file safely: scripts/fetch_weight.sh URL DEST SHA256 SIZE [NAME]
# (resume of DEST.part, retries with backoff, sha256 check, atomic rename; see scripts/weights.sh).
# Exit codes: 0 ok, 10 link expired, 11 refused / web page, 12 network, 13 checksum mismatch, 1 other, 2 usage.
set -uo pipefail
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "usage: $0 URL DEST SHA256 SIZE [NAME]" >&2
    exit 2
fi
source "$(dirname "$0")/weights.sh"
rc=0
fetch_weight "$@" || rc=$?
[ "$rc" -eq 0 ] || echo "error: $WEIGHT_FETCH_ERROR" >&2
exit "$rc"
