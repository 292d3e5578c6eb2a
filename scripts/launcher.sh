# Functions for start_app.sh (sourced; the caller has `set -euo pipefail` and
# has cd'ed to the repository root). Nothing here kills by pattern: a process
# is signalled only when its /proc/PID/cmdline shows this checkout's venv
# python running this checkout's app.py (see is_our_app).
#
# Globals the caller sets: ROOT (absolute repo root), PY (venv python, absolute),
# APP (absolute path of the app script).

# shellcheck disable=SC2034  # the S_* settings are read by start_app.sh
MIN_FREE_MB_FIRST_INSTALL=1500   # torch CPU + gradio + the rest of the venv
MIN_FREE_MB_WEIGHTS=500          # the float checkpoint (~330 MB) + the assembled ONNX while building
MIN_FREE_MB_RUN=100              # logs and first outputs

fail() {  # fail REASON: the one-line failure contract, then exit 1
    echo "STARTUP_FAILED: $*" >&2
    exit 1
}

warn() { echo "warning: $*" >&2; }
say() { echo "$*"; }

# ------------------------------------------------------------------ preflight

check_python3() {
    command -v python3 >/dev/null 2>&1 \
        || fail "python3 not found: install Python 3.11 or newer (apt-get install -y python3 python3-venv)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
        || fail "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); IndexTTS needs 3.11 or newer"
}

free_mb() {  # free_mb DIR: megabytes available to us on DIR's filesystem
    df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print int($4 / 1024) }'
}

weights_missing() {  # weights_missing CACHE_HUB: true if a required manifest entry's file is absent
    local hub="$1"
    python3 - "$hub" "$ROOT/cache_hub/manifest.json" <<'PYEOF' 2>/dev/null
import json, os, sys
hub, fallback = sys.argv[1], sys.argv[2]
path = os.path.join(hub, "manifest.json")
manifest = json.load(open(path if os.path.isfile(path) else fallback))
# An optional entry (the app starts without it) that cannot be built for lack of room is only a warning.
missing = [e for e in manifest.get("entries", [])
           if not e.get("optional") and not os.path.isfile(os.path.join(hub, e["path"]))]
sys.exit(0 if missing else 1)
PYEOF
}

check_disk() {  # check_disk: enough room for what this run will write
    local need=$MIN_FREE_MB_RUN have what="logs"
    if ! "$PY" -c '' >/dev/null 2>&1; then
        need=$MIN_FREE_MB_FIRST_INSTALL; what="the first install (virtualenv)"
    elif weights_missing "$ROOT/cache_hub"; then
        need=$MIN_FREE_MB_WEIGHTS; what="building the model weights"
    fi
    need=${INDEXTTS_MIN_FREE_MB:-$need}
    have=$(free_mb "$ROOT")
    [ -n "$have" ] || { warn "could not measure free disk space (df failed); continuing"; return 0; }
    if [ "$have" -lt "$need" ]; then
        fail "not enough disk space in $ROOT: ${have} MB free, ${need} MB needed for $what; free some space (df -h $ROOT)"
    fi
}

# check_curl CACHE_HUB: curl is required only for required URL weights not yet downloaded. An optional
# entry (the app starts without it) that curl would fetch is a warning: ensure_all_weights skips it too.
check_curl() {
    command -v curl >/dev/null 2>&1 && return 0
    local hub="$1" missing required optional
    missing=$(python3 - "$hub" "$ROOT/cache_hub/manifest.json" <<'PYEOF' 2>/dev/null || true
import json, os, sys
hub, fallback = sys.argv[1], sys.argv[2]
path = os.path.join(hub, "manifest.json")
manifest = json.load(open(path if os.path.isfile(path) else fallback))
for e in manifest.get("entries", []):
    if (e.get("source") or {}).get("kind") == "url" and not os.path.isfile(os.path.join(hub, e["path"])):
        print("optional" if e.get("optional") else "required", e["name"])
PYEOF
)
    required=$(sed -n 's/^required //p' <<< "$missing")
    optional=$(sed -n 's/^optional //p' <<< "$missing")
    if [ -n "$required" ]; then
        fail "curl not found, and it is needed to download: ${required//$'\n'/, }; install it (apt-get install -y curl)"
    fi
    if [ -n "$optional" ]; then
        warn "curl not found: the optional ${optional//$'\n'/, } cannot be downloaded; the app starts without it (apt-get install -y curl adds it)"
        return 0
    fi
    warn "curl not found: fine for now (no weights to download), but install it for URL weights (apt-get install -y curl)"
}

# ------------------------------------------------------------------ settings

# read_settings CONFIG PORT LISTEN NO_AUTH: sets S_* variables from config.yaml +
# INDEXTTS_* environment + the launcher's flags, validated by indextts.config.
# Returns 2 (message on stderr) when the settings are invalid, 3 for --listen without auth.
read_settings() {
    local out
    out=$("$PY" - "$@" <<'PYEOF'
import shlex, sys
from indextts.config import Settings
from indextts.errors import ConfigError

config, port, listen, no_auth = sys.argv[1:5]
server = {}
if port:
    server["port"] = int(port)
if listen == "1":
    server["listen"] = True
if no_auth == "1":
    server["allow_no_auth"] = True
try:
    s = Settings.load(config or None, overrides={"server": server} if server else None)
except ConfigError as exc:
    # Was the only problem LAN-without-auth? Then say it in the launcher's words.
    try:
        Settings.load(config or None, overrides={"server": {**server, "listen": False}})
    except ConfigError:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    sys.exit(3)
values = {
    "S_HOST": s.server.bind_host, "S_PORT": s.server.port, "S_LISTEN": int(s.server.listen),
    "S_AUTH": int(bool(s.server.auth_user)), "S_LOGS": s.paths.logs, "S_CACHE_HUB": s.paths.cache_hub,
    "S_PID_FILE": s.launcher.pid_file, "S_READY_TIMEOUT": s.launcher.ready_timeout_s,
    "S_STOP_TIMEOUT": s.launcher.stop_timeout_s, "S_KEEP_LOGS": s.launcher.keep_logs,
}
for key, value in values.items():
    print(f"{key}={shlex.quote(str(value))}")
PYEOF
) || return $?  # 2: invalid settings (message on stderr), 3: --listen without auth
    eval "$out"
}

default_settings() {  # when the venv or the settings are unusable (--stop/--status still work)
    S_HOST=127.0.0.1; S_PORT=${1:-7860}; S_LISTEN=0; S_AUTH=0; S_LOGS="$ROOT/logs"; S_CACHE_HUB="$ROOT/cache_hub"
    S_PID_FILE="$ROOT/logs/app.pid"; S_READY_TIMEOUT=180; S_STOP_TIMEOUT=15; S_KEEP_LOGS=10
}

# ------------------------------------------------------------------ processes

alive() {  # alive PID: exists and is not a zombie
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

cmdline_of() {  # cmdline_of PID: its argv, space-separated (for messages)
    tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | sed 's/ $//'
}

_abs_in() {  # _abs_in PID PATH: PATH resolved against the process's working directory
    case "$2" in
        /*) printf '%s\n' "$2" ;;
        *) printf '%s/%s\n' "$(readlink "/proc/$1/cwd" 2>/dev/null)" "$2" ;;
    esac
}

is_our_app() {  # is_our_app PID: argv[0] is this checkout's venv python, argv[1] this checkout's app
    local pid="$1" argv0 argv1
    [ -r "/proc/$pid/cmdline" ] || return 1
    { IFS= read -r -d '' argv0 && IFS= read -r -d '' argv1; } < "/proc/$pid/cmdline" || return 1
    argv0=$(_abs_in "$pid" "$argv0"); argv1=$(_abs_in "$pid" "$argv1")
    [ "$(readlink -m "$argv1")" = "$(readlink -m "$APP")" ] || return 1
    # Compare the venv python's path without following its symlink (it points at /usr/bin/python3.x).
    case "$(readlink -m "$(dirname "$argv0")")/$(basename "$argv0")" in
        "$(readlink -m "$(dirname "$PY")")"/python*) return 0 ;;
    esac
    return 1
}

stop_pid() {  # stop_pid PID TIMEOUT_S: SIGTERM, wait, SIGKILL. Caller has verified the PID is ours.
    local pid="$1" timeout="$2" target="$1" deadline
    # The launcher starts the app with setsid: it leads its own process group; signal the group
    # (its helpers too) only when that is so.
    if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then target="-$pid"; fi
    kill -TERM -- "$target" 2>/dev/null || true
    deadline=$(awk -v t="$timeout" 'BEGIN { print int(t * 10) }')
    while alive "$pid" && [ "$deadline" -gt 0 ]; do sleep 0.1; deadline=$((deadline - 1)); done
    if alive "$pid"; then
        warn "PID $pid did not stop within ${timeout} s of SIGTERM; sending SIGKILL"
        kill -KILL -- "$target" 2>/dev/null || true
        deadline=50
        while alive "$pid" && [ "$deadline" -gt 0 ]; do sleep 0.1; deadline=$((deadline - 1)); done
    fi
    ! alive "$pid"
}

read_pid_file() {  # read_pid_file: prints the PID recorded in $S_PID_FILE (digits only) or nothing
    [ -f "$S_PID_FILE" ] || return 0
    local pid
    pid=$(head -c 32 "$S_PID_FILE" 2>/dev/null | tr -dc '0-9')
    [ -n "$pid" ] && printf '%s\n' "$pid"
    return 0
}

write_pid_file() {  # write_pid_file PID (atomic)
    mkdir -p "$(dirname "$S_PID_FILE")"
    printf '%s\n' "$1" > "$S_PID_FILE.tmp.$$" && mv -f "$S_PID_FILE.tmp.$$" "$S_PID_FILE"
}

remove_pid_file() { rm -f "$S_PID_FILE"; }

# stop_recorded_instance: stop the process in the PID file if it is ours; a PID that now
# belongs to another program is left alone (the stale file is removed). Returns 1 if an own
# process could not be stopped.
stop_recorded_instance() {
    local pid
    pid=$(read_pid_file)
    [ -n "$pid" ] || { remove_pid_file; return 0; }
    if ! alive "$pid"; then
        say "removing a stale PID file ($S_PID_FILE: PID $pid is not running)"
        remove_pid_file; return 0
    fi
    if ! is_our_app "$pid"; then
        say "PID file $S_PID_FILE names PID $pid, which is not this app ($(cmdline_of "$pid")); leaving it alone"
        remove_pid_file; return 0
    fi
    say "stopping the running instance (PID $pid)"
    stop_pid "$pid" "$S_STOP_TIMEOUT" || { echo "could not stop PID $pid" >&2; return 1; }
    remove_pid_file
    STOPPED_PID=$pid
}

# ------------------------------------------------------------------ ports

port_is_free() {  # port_is_free HOST PORT: can the app bind it (same check as app.py: SO_REUSEADDR)
    python3 - "$1" "$2" <<'PYEOF'
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sys.exit(1 if exc.errno in (errno.EADDRINUSE, errno.EACCES) else 2)
PYEOF
}

port_holders() {  # port_holders PORT: PIDs with a listening TCP socket on PORT, one per line
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -un
    else
        port_holders_proc "$1"
    fi
}

port_holders_proc() {  # without iproute2: /proc/net/tcp{,6} LISTEN inodes -> /proc/*/fd owners
    python3 - "$1" <<'PYEOF'
import os, sys
port = int(sys.argv[1])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
            inodes.add(f[9])
pids = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            pids.add(int(pid))
            break
for pid in sorted(pids):
    print(pid)
PYEOF
}

foreign_port_holders() {  # foreign_port_holders PORT: "PID N: command" for each holder that is not this app
    local pid
    for pid in $(port_holders "$1"); do
        is_our_app "$pid" || echo "PID $pid: $(cmdline_of "$pid")"
    done
}

fail_port_taken() {  # fail_port_taken PORT HOLDERS: HOLDERS as foreign_port_holders prints them
    fail "port $1 is in use by another program (${2//$'\n'/; }); it was left running: stop it yourself, or start on another port with --port N"
}

fail_port_hidden() {  # fail_port_hidden PORT
    fail "port $1 is in use by a program this user cannot see (another user's process?); choose another port with --port N"
}

# refuse_port_of_others HOST PORT: fails when PORT is held by another program (named with its PID
# and command, and left alone); returns 0 when PORT is free, 1 when this app (or nothing that this
# user can see) holds it.
refuse_port_of_others() {
    local host="$1" port="$2" rc=0 foreign
    port_is_free "$host" "$port" && return 0 || rc=$?
    [ $rc -eq 2 ] && fail "cannot bind $host:$port (not an address of this machine?); check server.host"
    foreign=$(foreign_port_holders "$port")
    [ -z "$foreign" ] || fail_port_taken "$port" "$foreign"
    return 1
}

# check_port_before_stopping HOST PORT: runs before the running instance is stopped, so that a start
# that cannot have its port leaves that instance serving. Free, or held by this app, is fine
# (free_port_or_fail stops it later).
check_port_before_stopping() {
    refuse_port_of_others "$1" "$2" && return 0
    [ -n "$(port_holders "$2")" ] || fail_port_hidden "$2"
}

# free_port_or_fail HOST PORT: an own stale instance holding the port is stopped; anything
# else holding it is reported (PID and command) and left alone.
free_port_or_fail() {
    local host="$1" port="$2" pid
    refuse_port_of_others "$host" "$port" && return 0
    for pid in $(port_holders "$port"); do
        if is_our_app "$pid"; then
            say "stopping an earlier instance of this app on port $port (PID $pid)"
            stop_pid "$pid" "$S_STOP_TIMEOUT" || fail "could not stop the earlier instance (PID $pid) on port $port"
        fi
    done
    # Our own instance may take a moment to release the socket.
    local tries=30
    while ! port_is_free "$host" "$port"; do
        tries=$((tries - 1))
        [ $tries -gt 0 ] || fail_port_hidden "$port"
        sleep 0.1
    done
}

# ------------------------------------------------------------------ logs and URLs

rotate_logs() {  # rotate_logs DIR KEEP: keep the KEEP-1 newest app-*.log (the new one makes KEEP)
    local dir="$1" keep="$2" logs=() i
    shopt -s nullglob
    logs=("$dir"/app-*.log)
    shopt -u nullglob
    for ((i = 0; i < ${#logs[@]} - keep + 1; i++)); do rm -f -- "${logs[$i]}"; done
}

new_log_path() {  # new_log_path DIR: logs/app-YYYYmmdd-HHMMSS-mmm.log (sorts by time)
    printf '%s/app-%s.log\n' "$1" "$(date +%Y%m%d-%H%M%S-%3N)"
}

url_host() {  # url_host BIND_HOST: what a browser on this machine should use
    case "$1" in
        0.0.0.0 | "" ) echo 127.0.0.1 ;;
        :: ) echo '[::1]' ;;
        *:* ) echo "[$1]" ;;
        * ) echo "$1" ;;
    esac
}

lan_ip() {  # lan_ip: this machine's non-loopback IPv4 address (never connected to)
    local ip=""
    if command -v ip >/dev/null 2>&1; then
        ip=$(ip -4 route get 192.0.2.1 2>/dev/null | grep -o 'src [0-9.]*' | cut -d' ' -f2 || true)
    fi
    if [ -z "$ip" ] && command -v hostname >/dev/null 2>&1; then
        ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | grep -m1 '^[0-9.]*$' || true)
    fi
    echo "${ip:-<this-machine-ip>}"
}

# http_probe URL BODY_FILE: prints the HTTP status ("000" when nothing answers)
http_probe() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o "$2" -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
    else
        "$PY" - "$1" "$2" <<'PYEOF' 2>/dev/null || echo 000
import sys, urllib.error, urllib.request
url, out = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=3) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
open(out, "wb").write(body)
print(code)
PYEOF
    fi
}

json_field() {  # json_field FILE KEY: a top-level string field of a JSON file, or nothing
    "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print(v if v is not None else "")' \
        "$1" "$2" 2>/dev/null || true
}
