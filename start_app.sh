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
  --threads N        CPU threads for torch (per replica with --replicas; 0 = all cores)
  -- APP_FLAGS       everything after -- goes to app.py as is (e.g. -- --device cpu --threads 2)

Scale out on Ray Serve (installs requirements-ray.txt on first use; README "Scale out"):
  --replicas N       serve the API from N engine replicas on a Ray instance of its own (API only: the
                     page needs the single process); --stop/--status work as usual
  --num-cpus-per-replica X   Ray CPUs each replica reserves (default: scale.num_cpus_per_replica, 1)
  --address ray://HOST:PORT  deploy the replicas to an existing Ray cluster instead (or RAY_ADDRESS with
                     --replicas); with --stop / --status: remove it there / ask about it

Settings (config.yaml, section launcher:, or INDEXTTS_LAUNCHER__<KEY>):
  ready_timeout_s, stop_timeout_s, keep_logs, pid_file.
Logs: logs/app-<timestamp>.log (logs/app.log links to the newest).
EOF
}

ACTION=start PORT="" LISTEN=0 NO_AUTH=0 CONFIG="" APP_ARGS=() REPLICAS="" CPUS_PER_REPLICA="" THREADS=""
ADDRESS=""
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
        --replicas) need_value "$@"; REPLICAS=$2; shift ;;
        --replicas=*) REPLICAS=${1#*=} ;;
        --num-cpus-per-replica) need_value "$@"; CPUS_PER_REPLICA=$2; shift ;;
        --num-cpus-per-replica=*) CPUS_PER_REPLICA=${1#*=} ;;
        --threads) need_value "$@"; THREADS=$2; shift ;;
        --threads=*) THREADS=${1#*=} ;;
        --address) need_value "$@"; ADDRESS=$2; shift ;;
        --address=*) ADDRESS=${1#*=} ;;
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
if [ -n "$REPLICAS" ] && ! { [[ "$REPLICAS" =~ ^[0-9]+$ ]] && [ "$REPLICAS" -ge 1 ] && [ "$REPLICAS" -le 256 ]; }; then
    echo "start_app.sh: --replicas must be a number from 1 to 256, got '$REPLICAS'" >&2; exit 2
fi
if [ -n "$THREADS" ] && ! [[ "$THREADS" =~ ^[0-9]+$ ]]; then
    echo "start_app.sh: --threads must be a number (0 = all cores), got '$THREADS'" >&2; exit 2
fi
if [ -n "$CPUS_PER_REPLICA" ] && ! [[ "$CPUS_PER_REPLICA" =~ ^[0-9]*\.?[0-9]+$ ]]; then
    echo "start_app.sh: --num-cpus-per-replica must be a number, got '$CPUS_PER_REPLICA'" >&2; exit 2
fi
if [ -n "$CPUS_PER_REPLICA" ] && [ -z "$REPLICAS" ]; then
    echo "start_app.sh: --num-cpus-per-replica needs --replicas N" >&2; exit 2
fi
if [ -n "$ADDRESS" ] && [ "$ACTION" = foreground ]; then
    echo "start_app.sh: --address deploys to a Ray cluster and returns; it has no --foreground" >&2; exit 2
fi
if [ -n "$ADDRESS" ] && [ -z "$REPLICAS" ] && { [ "$ACTION" = start ] || [ "$ACTION" = restart ]; }; then
    echo "start_app.sh: --address needs --replicas N (how many replicas to deploy there)" >&2; exit 2
fi
if [ -z "$ADDRESS" ] && [ -n "$REPLICAS" ] && [ -n "${RAY_ADDRESS:-}" ]; then
    ADDRESS=$RAY_ADDRESS
    echo "deploying to the Ray cluster at $ADDRESS (RAY_ADDRESS); unset RAY_ADDRESS for a local Ray instance of its own"
fi
# The scale-out flags are app.py's (app.py --replicas runs indextts/scale/supervisor.py, which the launcher
# starts, records and stops like the single process).
if [ -n "$THREADS" ]; then APP_ARGS+=(--threads "$THREADS"); fi
if [ -n "$REPLICAS" ] && [ -z "$ADDRESS" ]; then APP_ARGS+=(--replicas "$REPLICAS"); fi
if [ -n "$CPUS_PER_REPLICA" ]; then APP_ARGS+=(--num-cpus-per-replica "$CPUS_PER_REPLICA"); fi
if [ -n "$CONFIG" ]; then
    case "$CONFIG" in /*) ;; *) CONFIG="$CALLER_PWD/$CONFIG" ;; esac
    [ -f "$CONFIG" ] || { echo "start_app.sh: config file not found: $CONFIG" >&2; exit 2; }
fi

source scripts/bootstrap.sh
DIE_PREFIX=STARTUP_FAILED
PY="$ROOT/${VENV_DIR#./}"; case "$VENV_DIR" in /*) PY="$VENV_DIR" ;; esac; PY="$PY/bin/python"

# Everything from here on is indextts/launcher (python -m indextts.launcher ACTION ...); bash keeps only
# what must work before the venv exists: finding python3 and building the venv.
LAUNCHER_ARGS=()
if [ -n "$PORT" ]; then LAUNCHER_ARGS+=(--port "$PORT"); fi
if [ "$LISTEN" = 1 ]; then LAUNCHER_ARGS+=(--listen); fi
if [ "$NO_AUTH" = 1 ]; then LAUNCHER_ARGS+=(--no-auth); fi
if [ -n "$CONFIG" ]; then LAUNCHER_ARGS+=(--config "$CONFIG"); fi

fail() {  # fail REASON: the one-line failure contract, then exit 1
    echo "STARTUP_FAILED: $*" >&2
    exit 1
}

if [ -n "$ADDRESS" ]; then
    # An existing Ray cluster: deploy / remove / ask there (python -m indextts.scale); no local process.
    if [ "$ACTION" = start ] || [ "$ACTION" = restart ]; then bootstrap_venv requirements.txt requirements-ray.txt; fi
    CLUSTER_ARGS=(--address "$ADDRESS")
    if [ -n "$PORT" ]; then APP_ARGS+=(--port "$PORT"); fi  # the cluster's Serve proxy port
    if [ -n "$CONFIG" ]; then CLUSTER_ARGS+=(--config "$CONFIG"); fi
    case "$ACTION" in
        start | restart) exec "$PY" -m indextts.scale deploy "${CLUSTER_ARGS[@]}" -- ${APP_ARGS[@]+"${APP_ARGS[@]}"} --replicas "$REPLICAS" ;;
        *) exec "$PY" -m indextts.scale "$ACTION" "${CLUSTER_ARGS[@]}" ;;
    esac
fi

if [ "$ACTION" = stop ] || [ "$ACTION" = status ]; then
    # No setup for these. With a broken venv the system python3 runs the launcher, which then uses the
    # default settings (it cannot read config.yaml without the venv's packages).
    CONTROL_PY=$PY
    if ! "$PY" -c '' >/dev/null 2>&1; then
        command -v python3 >/dev/null 2>&1 \
            || { echo "start_app.sh: python3 not found: install Python 3.11 or newer (apt-get install -y python3 python3-venv)" >&2; exit 1; }
        CONTROL_PY=python3
    fi
    exec "$CONTROL_PY" -m indextts.launcher "$ACTION" ${LAUNCHER_ARGS[@]+"${LAUNCHER_ARGS[@]}"}
fi

command -v python3 >/dev/null 2>&1 \
    || fail "python3 not found: install Python 3.11 or newer (apt-get install -y python3 python3-venv)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || fail "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); IndexTTS needs 3.11 or newer"
python3 -m indextts.launcher check-disk || exit 1  # the launcher's disk check needs only the standard library
if [ -n "$REPLICAS" ]; then
    bootstrap_venv requirements.txt requirements-ray.txt  # Ray Serve only for --replicas (pinned, torch first)
else
    bootstrap_venv requirements.txt
fi
# A restart is a start: the running instance is stopped only after every check (settings, weights, port)
# passed, so a restart that cannot start leaves it serving. --foreground execs the app in this very process.
exec "$PY" -m indextts.launcher "$ACTION" ${LAUNCHER_ARGS[@]+"${LAUNCHER_ARGS[@]}"} -- ${APP_ARGS[@]+"${APP_ARGS[@]}"}
