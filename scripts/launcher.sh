# Shell access to the launcher's port lookup (indextts/launcher/ports.py), for scripts (sourced):
#   port_holders PORT       PIDs with a listening TCP socket on PORT, one per line (the processes this user
#                           may inspect: /proc/net/tcp{,6} matched to /proc/*/fd)
#   port_holders_proc PORT  the same (the name for the /proc scan)
# The launcher itself is `python -m indextts.launcher` (start_app.sh hands over to it).
# Standard library only, so the system python3 runs it.

_LAUNCHER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

port_holders() {
    PYTHONPATH="$_LAUNCHER_ROOT${PYTHONPATH:+:$PYTHONPATH}" python3 -m indextts.launcher port-holders "$1"
}

port_holders_proc() { port_holders "$1"; }
