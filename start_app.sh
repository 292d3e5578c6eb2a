#!/usr/bin/env bash
# IndexTTS WebUI launcher: one command from a fresh machine to a running, ready app.
# Run ./start_app.sh --help for the flags. Prints STARTUP_OK <url> and exits 0 once
# /readyz answers 200, or STARTUP_FAILED: <reason> plus the log tail and exits 1.
set -euo pipefail

CALLER_PWD=$PWD
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD

usage() {
    cat <<'EOF'
Usage: ./start_app.sh [ACTION] [OPTIONS] [-- APP_FLAGS...]

Sets up what is missing (virtualenv, pinned packages, verified model weights),
stops a stale instance of this app, starts the app in the background and waits
until it is ready. Prints "STARTUP_OK http://HOST:PORT" and exits 0, or
"STARTUP_FAILED: <reason>" with the last 50 log lines and exits 1.

Actions (default: start, replacing a running instance):
  --restart          stop the running instance, then start (as a plain start does; each
                     check runs first, so a start that cannot happen leaves it running)
  --stop             stop the running instance (SIGTERM, then SIGKILL)
  --status           say whether it runs (PID, URL, ready or loading); exit 0 running, 3 not
  --foreground       set up, then run the app in the foreground (exec; for systemd/Docker)
  --help             this text

Options:
  --port N           port to serve on (default: server.port in config.yaml, 7860)
  --listen           serve on the LAN (0.0.0.0); needs server.auth_user/auth_password
  --no-auth          with --listen: allow it without a password (anyone on the LAN can use it)
  --config FILE      settings file, also passed to app.py (default: config.yaml)
  -- APP_FLAGS       everything after -- goes to app.py as is (e.g. -- --device cpu --threads 2)

Settings (config.yaml, section launcher:, or INDEXTTS_LAUNCHER__<KEY>):
  ready_timeout_s, stop_timeout_s, keep_logs, pid_file.
Logs: logs/app-<timestamp>.log (logs/app.log links to the newest).
EOF
}

ACTION=start PORT="" LISTEN=0 NO_AUTH=0 CONFIG="" APP_ARGS=()
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "start_app.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --help | -h) usage; exit 0 ;;
        --start) ACTION=start ;;
        --stop) ACTION=stop ;;
        --status) ACTION=status ;;
        --restart) ACTION=restart ;;
        --foreground) ACTION=foreground ;;
        --listen) LISTEN=1 ;;
        --no-auth) NO_AUTH=1 ;;
        --port) need_value "$@"; PORT=$2; shift ;;
        --port=*) PORT=${1#*=} ;;
        --config) need_value "$@"; CONFIG=$2; shift ;;
        --config=*) CONFIG=${1#*=} ;;
        --) shift; APP_ARGS=("$@"); break ;;
        *) echo "start_app.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$PORT" ] && ! { [[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ]; }; then
    echo "start_app.sh: --port must be a number from 1 to 65535, got '$PORT'" >&2; exit 2
fi
for arg in ${APP_ARGS[@]+"${APP_ARGS[@]}"}; do
    case "$arg" in
        --port | --port=* | --listen | --no-auth | --config | --config=*)
            echo "start_app.sh: use start_app.sh's own ${arg%%=*} (before --), not app.py's: the launcher must know it" >&2
            exit 2 ;;
        --host | --host=*)
            echo "start_app.sh: set server.host in config.yaml (or INDEXTTS_SERVER__HOST) instead of app.py's --host" >&2
            exit 2 ;;
    esac
done
if [ -n "$CONFIG" ]; then
    case "$CONFIG" in /*) ;; *) CONFIG="$CALLER_PWD/$CONFIG" ;; esac
    [ -f "$CONFIG" ] || { echo "start_app.sh: config file not found: $CONFIG" >&2; exit 2; }
fi

source scripts/bootstrap.sh
source scripts/launcher.sh
DIE_PREFIX=STARTUP_FAILED
PY="$ROOT/${VENV_DIR#./}"; case "$VENV_DIR" in /*) PY="$VENV_DIR" ;; esac; PY="$PY/bin/python"
APP=$(readlink -m "${INDEXTTS_LAUNCHER_APP:-$ROOT/app.py}")   # INDEXTTS_LAUNCHER_APP: tests only

# Settings for --stop/--status: the real ones when the venv can read them, else the defaults.
settings_for_control() {
    if "$PY" -c '' >/dev/null 2>&1 && read_settings "$CONFIG" "$PORT" 0 0 2>/dev/null; then
        return 0
    fi
    default_settings "$PORT"
}

do_status() {
    settings_for_control
    local pid port body state
    pid=$(read_pid_file)
    if [ -z "$pid" ]; then echo "not running"; return 3; fi
    if ! alive "$pid"; then echo "not running (stale PID file $S_PID_FILE: PID $pid is gone)"; return 3; fi
    if ! is_our_app "$pid"; then
        echo "not running (PID file $S_PID_FILE names PID $pid, which is another program)"; return 3
    fi
    port=$(tr '\0' '\n' < "/proc/$pid/cmdline" | sed -n '/^--port$/{n;p;q}')
    port=${port:-$S_PORT}
    body=$(mktemp)
    case "$(http_probe "http://$(url_host "$S_HOST"):$port/readyz" "$body")" in
        200) state=ready ;;
        503) state=$(json_field "$body" status); state=${state:-loading} ;;
        *) state="not answering" ;;
    esac
    rm -f "$body"
    echo "running: PID $pid, http://$(url_host "$S_HOST"):$port, $state (log: $S_LOGS/app.log)"
    return 0
}

do_stop() {
    settings_for_control
    local pid
    pid=$(read_pid_file)
    if [ -z "$pid" ]; then echo "not running"; return 0; fi
    stop_recorded_instance || { echo "STOP_FAILED: PID $pid is still running" >&2; return 1; }
    if [ "${STOPPED_PID:-}" = "$pid" ]; then echo "stopped"; else echo "not running"; fi
    return 0
}

# Everything a start needs, up to a free port. Sets S_* and APP_CMD.
prepare() {
    check_python3
    check_disk
    bootstrap_venv requirements.txt
    local rc=0
    read_settings "$CONFIG" "$PORT" "$LISTEN" "$NO_AUTH" || rc=$?
    if [ $rc -eq 3 ]; then
        fail "--listen would expose the app to your network without a password: set server.auth_user and server.auth_password in config.yaml (or INDEXTTS_SERVER__AUTH_USER / INDEXTTS_SERVER__AUTH_PASSWORD), or add --no-auth to allow anyone on the network"
    elif [ $rc -ne 0 ]; then
        fail "invalid settings (see the message above); fix them and run again"
    fi
    check_curl "$S_CACHE_HUB"
    # The weights tool reads the same settings (its weights: section) as this launcher and the app:
    # the same file, and the launcher's flags, which may settle a rule in it (listen + --no-auth).
    local weights_args=(--cache-hub "$S_CACHE_HUB") flag_env=()
    [ -n "$CONFIG" ] && weights_args+=(--config "$CONFIG")
    [ -n "$PORT" ] && flag_env+=("INDEXTTS_SERVER__PORT=$PORT")
    [ "$LISTEN" = 1 ] && flag_env+=(INDEXTTS_SERVER__LISTEN=true)
    [ "$NO_AUTH" = 1 ] && flag_env+=(INDEXTTS_SERVER__ALLOW_NO_AUTH=true)
    # Every manifest entry present and sha256-verified (URL entries fetched with curl, embedded
    # ones built), in the folder the app will read (settings' paths.cache_hub). An optional entry
    # (the 54 official voices, built once with npm) that cannot be made is a one-line warning
    # (which voices are missing, and the command that adds them): the app starts without it.
    if [ -f scripts/weights.sh ]; then
        source scripts/weights.sh
        ( [ ${#flag_env[@]} -eq 0 ] || export "${flag_env[@]}"; ensure_all_weights "$PY" "${weights_args[@]}" ) \
            || fail "the model weights are missing or do not verify (see the message above)"
    else
        env ${flag_env[@]+"${flag_env[@]}"} "$PY" -m indextts.weights "${weights_args[@]}" ensure \
            || fail "the model weights are missing or do not verify (see the message above)"
    fi
    mkdir -p "$S_LOGS" "$(dirname "$S_PID_FILE")"
    # One launcher at a time per PID file (fd 9 is closed for the app so it does not hold the lock).
    exec 9>"$S_PID_FILE.lock"
    ! command -v flock >/dev/null 2>&1 || flock -n 9 || fail "another start_app.sh is running for this app (lock $S_PID_FILE.lock); wait for it to finish"
    # Before stopping anything: a port held by another program fails the start, and the running
    # instance (maybe on another port) keeps serving.
    check_port_before_stopping "$S_HOST" "$S_PORT"
    stop_recorded_instance || fail "the running instance could not be stopped"
    free_port_or_fail "$S_HOST" "$S_PORT"
    APP_CMD=("$PY" "$APP" --port "$S_PORT")
    [ -n "$CONFIG" ] && APP_CMD+=(--config "$CONFIG")
    [ "$LISTEN" = 1 ] && APP_CMD+=(--listen)
    [ "$NO_AUTH" = 1 ] && APP_CMD+=(--no-auth)
    APP_CMD+=(${APP_ARGS[@]+"${APP_ARGS[@]}"})
    return 0
}

startup_ok_line() {
    local line="STARTUP_OK http://$(url_host "$S_HOST"):$S_PORT"
    [ "$S_LISTEN" = 1 ] && line+=" (LAN: http://$(lan_ip):$S_PORT$([ "$S_AUTH" = 1 ] || echo ', NO AUTH'))"
    echo "$line"
}

APP_PID="" LOG=""
abort_start() {  # abort_start REASON: stop the half-started app, print the reason and the log tail
    local reason="$1"
    trap - INT TERM HUP PIPE
    if [ -n "$APP_PID" ] && alive "$APP_PID" && is_our_app "$APP_PID"; then
        stop_pid "$APP_PID" "$S_STOP_TIMEOUT" || warn "could not stop the half-started app (PID $APP_PID)"
    fi
    if [ -n "$APP_PID" ] && [ "$(read_pid_file)" = "$APP_PID" ]; then remove_pid_file; fi
    echo "STARTUP_FAILED: $reason" >&2
    if [ -n "$LOG" ] && [ -f "$LOG" ]; then
        echo "----- last 50 lines of $LOG -----" >&2
        tail -n 50 "$LOG" >&2
        echo "----- end of log -----" >&2
    fi
    exit 1
}

do_start() {
    prepare
    rotate_logs "$S_LOGS" "$S_KEEP_LOGS"
    LOG=$(new_log_path "$S_LOGS")
    echo "$(date '+%F %T') start_app.sh: ${APP_CMD[*]}" > "$LOG"
    ln -sfn "$(basename "$LOG")" "$S_LOGS/app.log"
    trap 'abort_start "interrupted while starting"' INT TERM HUP PIPE
    # setsid: own session and process group (no terminal hang-ups; stopped as a group).
    # A background command in a non-interactive shell is no group leader, so setsid execs
    # in place and $! is the python process itself.
    PYTHONUNBUFFERED=1 setsid "${APP_CMD[@]}" >> "$LOG" 2>&1 < /dev/null 9>&- &
    APP_PID=$!
    local tries=50
    until is_our_app "$APP_PID"; do   # wait for the exec to land before recording the PID
        alive "$APP_PID" || break
        tries=$((tries - 1)); [ $tries -gt 0 ] || break
        sleep 0.05
    done
    write_pid_file "$APP_PID"
    say "started PID $APP_PID, log $LOG; waiting up to ${S_READY_TIMEOUT%.0} s for it to be ready"

    local url="http://$(url_host "$S_HOST"):$S_PORT/readyz" body code last="" rc
    local deadline_ms=$(( $(date +%s%3N) + $(awk -v t="$S_READY_TIMEOUT" 'BEGIN { print int(t * 1000) }') ))
    body=$(mktemp)
    while :; do
        if ! alive "$APP_PID"; then
            rc=0; wait "$APP_PID" 2>/dev/null || rc=$?
            rm -f "$body"
            abort_start "the app exited with code $rc before it was ready$( [ $rc -eq 1 ] && echo ' (port taken?)')$( [ $rc -eq 2 ] && echo ' (invalid settings)')"
        fi
        code=$(http_probe "$url" "$body")
        case "$code" in
            200) break ;;
            503)
                if [ "$(json_field "$body" status)" = failed ]; then
                    local err; err=$(json_field "$body" error)
                    rm -f "$body"
                    abort_start "the model failed to load: ${err:-see the log}"
                fi
                last="loading (/readyz 503)" ;;
            000) last="not answering on port $S_PORT" ;;
            *) last="/readyz answered HTTP $code" ;;
        esac
        if [ "$(date +%s%3N)" -ge "$deadline_ms" ]; then
            rm -f "$body"
            abort_start "not ready after ${S_READY_TIMEOUT%.0} s (last state: ${last:-unknown}); raise launcher.ready_timeout_s if the machine is slow"
        fi
        sleep 0.5
    done
    rm -f "$body"
    trap - INT TERM HUP PIPE
    echo "$(date '+%F %T') start_app.sh: ready" >> "$LOG"
    startup_ok_line
}

do_foreground() {
    prepare
    write_pid_file $$   # exec keeps the PID: the file holds the app's PID
    echo "$(startup_ok_line | sed 's/^STARTUP_OK/starting in the foreground on/')  (ready when /readyz says 200)"
    exec 9>&-
    PYTHONUNBUFFERED=1 exec "${APP_CMD[@]}"
}

case "$ACTION" in
    status) do_status ;;
    stop) do_stop ;;
    start) do_start ;;
    # A start stops the running instance itself, after every check (settings, weights, port) passed:
    # a restart that cannot start leaves the instance serving.
    restart) do_start ;;
    foreground) do_foreground ;;
esac
