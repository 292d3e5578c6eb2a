# Model weights for start_app.sh: every manifest entry present and sha256-verified.
# Sourced (bash). Two functions:
#
#   ensure_all_weights PY [ARGS...]
#       PY is the venv python; ARGS go to `PY -m indextts.weights` (e.g. --cache-hub DIR).
#       Renews links that expire within weights.renew_margin_s when AWS credentials
#       exist, downloads the "url" entries that are missing or corrupt with curl,
#       renews once and retries when a link turns out expired (403 "Request has
#       expired"), then builds the embedded entries and verifies everything
#       (`PY -m indextts.weights ensure`). Returns 0, or 1 with a message saying
#       what to do. Optional entries (manifest "optional": true, e.g. the 54
#       official voices, built with npm) never fail it: when one cannot be
#       downloaded or built, a warning says which voices are missing and the
#       command that adds them, and the app starts without them.
#
#   fetch_weight URL DEST SHA256 SIZE [NAME]
#       One file: curl into DEST.part (resumed with -C -), never keeping an error
#       body, sha256 check, then an atomic rename onto DEST. Returns 0 ok,
#       10 link expired, 11 refused (other HTTP error or an HTML/XML page),
#       12 network failure after the retries, 13 checksum mismatch, 1 other.
#       Sets WEIGHT_FETCH_ERROR to a one-line reason.
#
# Settings (from config.yaml `weights:` via `plan`, or the environment for fetch_weight.sh):
# WEIGHTS_CURL_RETRIES, WEIGHTS_CURL_RETRY_DELAY_S (0 = exponential backoff),
# WEIGHTS_CURL_RETRY_MAX_TIME_S, WEIGHTS_CURL_CONNECT_TIMEOUT_S, WEIGHTS_CURL_MAX_TIME_S,
# WEIGHTS_RESUME_ATTEMPTS. Logs never show a link's query string (its signature).

: "${WEIGHTS_CURL_RETRIES:=5}" "${WEIGHTS_CURL_RETRY_DELAY_S:=0}" "${WEIGHTS_CURL_RETRY_MAX_TIME_S:=120}"
: "${WEIGHTS_CURL_CONNECT_TIMEOUT_S:=15}" "${WEIGHTS_CURL_MAX_TIME_S:=3600}" "${WEIGHTS_RESUME_ATTEMPTS:=5}"
WEIGHT_FETCH_ERROR=""

_weights_say() { echo "weights: $*"; }
_weights_err() { echo "error: $*" >&2; }
_weights_public_url() { printf '%s' "${1%%\?*}"; }  # drop the query string (signature, key id)
_weights_size() { stat -c %s -- "$1" 2>/dev/null || echo 0; }

_weights_curl_reason() {
    case "$1" in
        5|6) echo "could not resolve the host (check the network or DNS)" ;;
        7) echo "could not connect: the server is down or refuses connections" ;;
        28) echo "timed out (weights.curl_connect_timeout_s / curl_max_time_s)" ;;
        35|51|53|54|58|59|60|77|80|83|90|91) echo "TLS/certificate error" ;;
        52) echo "the server sent an empty reply" ;;
        55|56) echo "the connection broke while receiving data" ;;
        18) echo "the connection was dropped before the file was complete" ;;
        23) echo "could not write to disk (full or read-only?)" ;;
        *) echo "curl failed with exit code $1" ;;
    esac
}

# S3 error bodies are XML: <Code>..</Code><Message>..</Message>.
_weights_xml_field() { sed -n "s:.*<$1>\\([^<]*\\)</$1>.*:\\1:p" "$2" 2>/dev/null | head -n 1; }

fetch_weight() {
    local url=$1 dest=$2 sha=$3 size=$4 name=${5:-$(basename "$2")}
    local part="$2.part" errf="$2.part.err" public host_path
    public=$(_weights_public_url "$url")
    WEIGHT_FETCH_ERROR=""
    case "$size" in ''|*[!0-9]*) WEIGHT_FETCH_ERROR="$name: invalid size '$size'"; return 1 ;; esac
    [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || { WEIGHT_FETCH_ERROR="$name: invalid sha256 '$sha'"; return 1; }
    command -v curl >/dev/null 2>&1 || { WEIGHT_FETCH_ERROR="$name: curl not found (apt-get install -y curl)"; return 1; }
    mkdir -p -- "$(dirname -- "$dest")" || { WEIGHT_FETCH_ERROR="$name: cannot create $(dirname -- "$dest")"; return 1; }
    local tries=0 max_tries=$((WEIGHTS_RESUME_ATTEMPTS + 2)) restarted=0 started=$SECONDS
    local resumed_from; resumed_from=$(_weights_size "$part")
    _weights_say "$name: downloading $size bytes from $public"
    while :; do
        local have; have=$(_weights_size "$part")
        if [ "$have" -gt "$size" ]; then
            _weights_say "$name: $part is larger than the file; starting over"
            rm -f -- "$part"; have=0
        fi
        if [ "$have" -lt "$size" ]; then
            tries=$((tries + 1))
            if [ "$tries" -gt "$max_tries" ]; then
                WEIGHT_FETCH_ERROR="$name: gave up after $((tries - 1)) attempts ($have of $size bytes kept in $part; run again to resume)"
                return 12
            fi
            local args=(--location --retry "$WEIGHTS_CURL_RETRIES" --retry-connrefused
                        --retry-max-time "$WEIGHTS_CURL_RETRY_MAX_TIME_S"
                        --connect-timeout "$WEIGHTS_CURL_CONNECT_TIMEOUT_S" --max-time "$WEIGHTS_CURL_MAX_TIME_S"
                        -o "$part" -w '%{http_code} %{content_type}')
            [ "$WEIGHTS_CURL_RETRY_DELAY_S" -gt 0 ] && args+=(--retry-delay "$WEIGHTS_CURL_RETRY_DELAY_S")
            if [ -t 2 ]; then args+=(--progress-bar); else args+=(--silent --show-error); fi
            if [ "$have" -gt 0 ]; then
                args+=(-C -)
                _weights_say "$name: resuming at $have of $size bytes"
            fi
            local out rc=0
            out=$(curl "${args[@]}" "$url") || rc=$?
            local code=${out%% *} ctype=${out#* } now
            now=$(_weights_size "$part")
            local good=0
            case "$code" in 200|206) good=1 ;; esac
            case "$ctype" in *html*|*xml*) good=0 ;; esac
            if [ "$good" -ne 1 ]; then
                # Whatever this answer wrote after the good bytes is an error page: move it aside.
                if [ "$now" -gt "$have" ]; then
                    tail -c +$((have + 1)) -- "$part" > "$errf"
                    truncate -s "$have" -- "$part"
                else
                    : > "$errf"
                fi
                [ "$have" -eq 0 ] && rm -f -- "$part"
            fi
            if [ "$good" -ne 1 ] && [ "$code" != 000 ]; then
                local s3code s3msg
                s3code=$(_weights_xml_field Code "$errf"); s3msg=$(_weights_xml_field Message "$errf")
                rm -f -- "$errf"
                if [ "$code" = 416 ] && [ "$restarted" -eq 0 ]; then
                    _weights_say "$name: the server refused to resume at byte $have (416); starting over"
                    rm -f -- "$part"; restarted=1; continue
                fi
                if [ "$code" = 403 ] && [[ "$s3msg" == *"expired"* ]]; then
                    WEIGHT_FETCH_ERROR="$name: the link has expired (HTTP 403: $s3msg)"
                    return 10
                fi
                if [ "$code" = 200 ] || [ "$code" = 206 ]; then
                    WEIGHT_FETCH_ERROR="$name: the server sent a web page ($ctype) instead of the file; nothing was saved"
                else
                    WEIGHT_FETCH_ERROR="$name: the server refused the download (HTTP $code${s3code:+ $s3code}${s3msg:+: $s3msg}) from $public"
                fi
                return 11
            fi
            rm -f -- "$errf"
            if [ "$rc" -eq 33 ] && [ "$restarted" -eq 0 ]; then  # the server ignored the range
                rm -f -- "$part"; restarted=1; continue
            fi
            if [ "$rc" -ne 0 ]; then
                if [ "$good" -eq 1 ] && [ "$now" -gt "$have" ]; then
                    _weights_say "$name: $(_weights_curl_reason "$rc") at $now of $size bytes; resuming"
                    continue
                fi
                WEIGHT_FETCH_ERROR="$name: $(_weights_curl_reason "$rc") ($public; curl exit $rc after $WEIGHTS_CURL_RETRIES retries)"
                return 12
            fi
            continue  # re-check the size: a short answer without an error is resumed too
        fi
        local got
        got=$(sha256sum -- "$part" | cut -d' ' -f1)
        if [ "$got" = "$sha" ]; then
            mv -f -- "$part" "$dest" || { WEIGHT_FETCH_ERROR="$name: could not move $part to $dest"; return 1; }
            _weights_say "$name: $size bytes in $((SECONDS - started)) s, sha256 verified -> $dest"
            return 0
        fi
        rm -f -- "$part"
        if [ "$resumed_from" -gt 0 ] && [ "$restarted" -eq 0 ]; then
            _weights_say "$name: the resumed file does not match its sha256; downloading it again from the start"
            restarted=1; resumed_from=0; continue
        fi
        WEIGHT_FETCH_ERROR="$name: the downloaded file has sha256 $got, the manifest expects $sha; it was deleted. The published object differs from the manifest: the maintainer must publish again (python -m indextts.weights publish)"
        return 13
    done
}

_weights_plan() {  # PY ARGS... -> sets _WEIGHTS_PLAN and the WEIGHTS_* settings
    _WEIGHTS_PLAN=$("$@" plan) || return 1
    local kind key value
    while IFS=$'\t' read -r kind key value _; do
        [ "$kind" = setting ] || continue
        case "$key" in
            curl_retries) WEIGHTS_CURL_RETRIES=$value ;;
            curl_retry_delay_s) WEIGHTS_CURL_RETRY_DELAY_S=$value ;;
            curl_retry_max_time_s) WEIGHTS_CURL_RETRY_MAX_TIME_S=$value ;;
            curl_connect_timeout_s) WEIGHTS_CURL_CONNECT_TIMEOUT_S=$value ;;
            curl_max_time_s) WEIGHTS_CURL_MAX_TIME_S=$value ;;
            resume_attempts) WEIGHTS_RESUME_ATTEMPTS=$value ;;
        esac
    done <<< "$_WEIGHTS_PLAN"
}

_weights_expired_help() {  # NAME EXPIRES_AT PY-COMMAND...
    local name=$1 when=$2; shift 2
    [ "$when" = - ] && when="an unknown time (the manifest records none)"
    cat >&2 <<EOF
error: the download link for '$name' has expired (it was valid until $when).
  The server answered 403 "Request has expired"; nothing was saved.
  Renew the links with AWS credentials that may read the published objects
  (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY in the environment, or AWS_PROFILE=<profile>;
  the policy is deploy/iam/renewer-policy.json):
      $* refresh
  then run ./start_app.sh again. Without credentials, get a renewed manifest
  (cache_hub/manifest.json) from whoever publishes the weights, e.g. with git pull.
EOF
}

ensure_all_weights() {
    local py=$1; shift
    local cli=("$py" -m indextts.weights "$@")
    local creds="" pass
    _weights_plan "${cli[@]}" || { _weights_err "could not read the weights manifest (see the message above)"; return 1; }
    if grep -q $'^renew\tyes' <<< "$_WEIGHTS_PLAN"; then
        if "${cli[@]}" has-credentials 2>/dev/null; then
            creds=yes
            _weights_say "a download link has expired or expires soon; renewing it"
            if "${cli[@]}" refresh --only-expiring; then
                _weights_plan "${cli[@]}" || return 1
            else
                _weights_say "could not renew the links ahead of time (see above); trying the current ones"
            fi
        else
            creds=no
            _weights_say "a download link has expired or expires soon; it cannot be renewed here (no AWS credentials)"
        fi
    fi
    for pass in 1 2; do
        local kind name path url sha size exp problem expired="" expired_at="" rc
        while IFS=$'\t' read -r -u 3 kind name path url sha size exp problem; do
            [ "$kind" = fetch ] || continue
            _weights_say "$name: $problem"
            if [ "$url" = - ]; then
                _weights_err "$name has no download link in the manifest; maintainers: ${cli[*]} refresh"
                return 1
            fi
            rc=0
            fetch_weight "$url" "$path" "$sha" "$size" "$name" || rc=$?
            if [ "$rc" -ne 0 ] && grep -qxF $'optional\t'"$name" <<< "$_WEIGHTS_PLAN"; then
                _weights_say "$name (optional): $WEIGHT_FETCH_ERROR; going on without it"
                continue
            fi
            case "$rc" in
                0) ;;
                10) expired=$name; expired_at=$exp; break ;;
                *) _weights_err "$WEIGHT_FETCH_ERROR"
                   [ "$rc" -eq 11 ] && echo "  If the link was altered or revoked, renew it: ${cli[*]} refresh (or get a renewed manifest)." >&2
                   return 1 ;;
            esac
        done 3<<< "$_WEIGHTS_PLAN"
        [ -z "$expired" ] && break
        if [ "$pass" -eq 2 ]; then
            _weights_err "$WEIGHT_FETCH_ERROR even right after renewing it: check this machine's clock (date -u) and the server's"
            return 1
        fi
        if [ -z "$creds" ]; then
            if "${cli[@]}" has-credentials 2>/dev/null; then creds=yes; else creds=no; fi
        fi
        if [ "$creds" != yes ]; then
            _weights_expired_help "$expired" "$expired_at" "${cli[@]}"
            return 1
        fi
        _weights_say "$WEIGHT_FETCH_ERROR; renewing the links and retrying once"
        if ! "${cli[@]}" refresh; then
            _weights_err "renewing the links failed (see the message above)"
            _weights_expired_help "$expired" "$expired_at" "${cli[@]}"
            return 1
        fi
        _weights_plan "${cli[@]}" || return 1
    done
    "${cli[@]}" ensure || { _weights_err "the model weights could not be prepared (see the message above)"; return 1; }
}
