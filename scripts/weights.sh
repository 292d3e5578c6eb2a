# Model weights for start_app.sh (sourced, bash). Two functions:
#
#   ensure_all_weights PY [ARGS...]
#       Every manifest entry present and sha256-verified: the launcher's weights step
#       (indextts/launcher/weights_step.py: renew links that expire soon, download the
#       "url" entries with fetch_weight, renew once and retry on an expired link, then
#       `PY -m indextts.weights ensure`). PY is the venv python; ARGS go to
#       `PY -m indextts.weights` (e.g. --cache-hub DIR). Returns 0, or 1 with a message
#       saying what to do. Optional entries (the 54 official voices) never fail it.
#
#   fetch_weight URL DEST SHA256 SIZE [NAME]
#       One file: curl into DEST.part (resumed with -C -), never keeping an error
#       body, sha256 check, then an atomic rename onto DEST. Returns 0 ok,
#       10 link expired, 11 refused (other HTTP error or an HTML/XML page),
#       12 network failure after the retries, 13 checksum mismatch, 1 other.
#       Sets WEIGHT_FETCH_ERROR to a one-line reason. Stays in bash: it is curl's
#       flags, exit codes and byte ranges (scripts/fetch_weight.sh runs it alone).
#
# Settings (the launcher passes config.yaml `weights:` from `plan` in the environment):
# WEIGHTS_CURL_RETRIES, WEIGHTS_CURL_RETRY_DELAY_S (0 = exponential backoff),
# WEIGHTS_CURL_RETRY_MAX_TIME_S, WEIGHTS_CURL_CONNECT_TIMEOUT_S, WEIGHTS_CURL_MAX_TIME_S,
# WEIGHTS_RESUME_ATTEMPTS. Logs never show a link's query string (its signature).

: "${WEIGHTS_CURL_RETRIES:=5}" "${WEIGHTS_CURL_RETRY_DELAY_S:=0}" "${WEIGHTS_CURL_RETRY_MAX_TIME_S:=120}"
: "${WEIGHTS_CURL_CONNECT_TIMEOUT_S:=15}" "${WEIGHTS_CURL_MAX_TIME_S:=3600}" "${WEIGHTS_RESUME_ATTEMPTS:=5}"
WEIGHT_FETCH_ERROR=""

_weights_say() { echo "weights: $*"; }
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

ensure_all_weights() {
    local py=$1 root
    shift
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$py" -m indextts.launcher weights "$@"
}
