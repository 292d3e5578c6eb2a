"""The launcher behind start_app.sh: ``python -m indextts.launcher start|stop|status|restart|foreground``.

start_app.sh parses the flags, finds python3 and builds the venv (bash: that must work before the venv
exists), then hands over to this package, which does the rest: settings, curl and weights, the PID file,
the port (held by a stale own instance, or by another program that is named and left alone), starting the
app in its own session, the readiness wait on /readyz, log rotation and the one-line failure contract
(``STARTUP_FAILED: <reason>``, exit 1).

Only the standard library is imported at module level, and never torch: --stop and --status must answer
fast and must work when the venv or the settings are broken (then the defaults apply). ``check-disk`` and
``port-holders`` run under the system python3, before the venv's packages exist.

Modules: checkout (this checkout's root, venv python, app script), settings (what the launcher reads from
indextts.config), processes (alive, is-our-app, stop, the PID file), ports (free or not, who listens),
port_checks (the start's port policy), logs (rotation, new log, tail), readiness (/readyz probe and wait),
urls (the printed URLs), preflight (disk space, curl), weights_step (the weights plan: renewals, downloads
with scripts/fetch_weight.sh, optional entries), start (start and foreground), control (stop and status),
cli (the command line).
"""
