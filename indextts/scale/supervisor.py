"""The process the launcher owns for ``--replicas N``: it starts a Ray instance of its own (never another Ray
cluster on the machine: ``address="local"``, RAY_ADDRESS dropped, its own temp dir, free ports), deploys the
replicas behind Serve's HTTP proxy on the app's host and port, waits for SIGTERM/SIGINT, then shuts Serve and
Ray down and makes sure no process it started is left.

"Ours" is exact: the launcher starts this process in a new session, and every Ray process (GCS, raylet, the
workers that hold the replicas) is started from it and stays in that session; after ``ray.shutdown`` any
process still in the session is ended by its PID. Nothing is looked up by name.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from ..config import Settings
from .options import APP_NAME, ScaleOptions, cluster_cpus, max_ongoing_requests, replica_threads

log = logging.getLogger(__name__)
# Ray's unix sockets live under <temp dir>/session_<date>_<pid>/sockets/...; a socket path may be at most
# 107 bytes, and Ray adds about 58: a longer temp dir falls back to the system temp folder.
MAX_TEMP_DIR_CHARS = 45
OBJECT_STORE_BYTES = 128 * 2**20  # replicas pass requests and audio over HTTP, not Ray objects
LEFTOVER_WAIT_S = 5.0
SERVE_SHUTDOWN_S = 8.0  # within the launcher's stop timeout (launcher.stop_timeout_s, 15 s)


def ray_temp_dir(settings: Settings) -> Path:
    """<paths.logs>/ray: Ray's logs and session files beside the app's, unless that path is too long for
    Ray's sockets."""
    wanted = (Path(settings.paths.logs) / "ray").absolute()
    if len(str(wanted)) <= MAX_TEMP_DIR_CHARS:
        wanted.mkdir(parents=True, exist_ok=True)
        return wanted
    fallback = Path(tempfile.gettempdir()) / f"indextts-ray-{os.getuid()}"
    fallback.mkdir(parents=True, exist_ok=True)
    log.warning("Ray's temp dir %s would be too long for its sockets; using %s", wanted, fallback)
    return fallback


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def session_processes(session_id: int, proc: Path = Path("/proc")) -> list[int]:
    """PIDs of the live processes in session ``session_id``, this process excluded."""
    pids = []
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            fields = (proc / name / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[3]) == session_id:
            pids.append(int(name))
    return pids


def end_leftovers(session_id: int, wait_s: float = LEFTOVER_WAIT_S) -> list[int]:
    """SIGTERM, then SIGKILL, the processes still in our session after Ray's shutdown; returns those that
    were left (normally none)."""
    left = session_processes(session_id)
    if not left:
        return []
    log.warning("processes left after Ray's shutdown: %s; stopping them", left)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait_s
        while session_processes(session_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not session_processes(session_id):
            break
    return left


class _StopRequested(Exception):
    pass


def serve_replicas(settings: Settings, options: ScaleOptions) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop, 1 when the replicas could not start, 2 without Ray.

    Started by the launcher (we lead our own session), the Ray driver runs in a child in a process group of its
    own: the launcher's --stop signals our group, and Ray's GCS and raylet, started by the driver, would get that
    SIGTERM too and die under Serve's graceful shutdown. This process forwards the signal to the driver, waits
    for its shutdown, then ends whatever is left in the session."""
    if importlib.util.find_spec("ray") is None:  # not imported here: the driver forks first
        print("error: Ray Serve is not installed: pip install -r requirements-ray.txt "
              "(./start_app.sh --replicas installs it)", file=sys.stderr, flush=True)
        return 2
    session_id = os.getsid(0)
    if session_id != os.getpid():  # not the launcher's (systemd, a shell): run the driver here, no sweep
        return _run_driver(settings, options)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    driver = os.fork()
    if driver == 0:  # the driver: its own group, and it stops (SIGTERM) should this process die first
        code = 1
        try:
            os.setpgid(0, 0)
            _term_on_parent_death()
            if os.getppid() == parent:  # else the supervisor is gone already
                code = _run_driver(settings, options)
        except BaseException:  # noqa: BLE001 - the child must never return into app.py: say why, exit
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(driver, signum)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    _, status = os.waitpid(driver, 0)  # retried after each forwarded signal (PEP 475)
    code = os.waitstatus_to_exitcode(status)
    left = end_leftovers(session_id)
    if left:
        print(f"ended {len(left)} process(es) left after Ray's shutdown", flush=True)
    return code if code >= 0 else 1


def _term_on_parent_death() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM): the kernel signals the driver if the supervisor is killed."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_driver(settings: Settings, options: ScaleOptions) -> int:
    """Ray's driver: our own local instance, Serve, the replicas; until SIGTERM/SIGINT, then a clean shutdown."""
    os.environ.pop("RAY_ADDRESS", None)  # never attach to another Ray cluster on this machine
    # Serve's proxy and our replicas log to our stdout (the launcher's log); no usage stats leave the machine.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    from .deployment import build_application

    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()
        raise _StopRequested

    def take_signals() -> None:
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    take_signals()
    host, port = settings.server.bind_host, settings.server.port
    metrics_port = free_port()
    started = time.monotonic()
    code = 0
    try:
        ray.init(address="local", namespace=APP_NAME, num_cpus=cluster_cpus(settings, options),
                 num_gpus=int(options.replicas * settings.scale.num_gpus_per_replica + 0.999) or None,
                 include_dashboard=False, _temp_dir=str(ray_temp_dir(settings)),
                 object_store_memory=OBJECT_STORE_BYTES, _metrics_export_port=metrics_port,
                 log_to_driver=True)
        take_signals()  # ray.init installs its own SIGTERM handler (it logs and dies): ours must win
        serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
        print(f"Ray Serve: starting {options.replicas} replica(s), {settings.scale.num_cpus_per_replica:g} CPU "
              f"and {replica_threads(settings)} torch thread(s) each, at most {max_ongoing_requests(settings)} "
              f"requests per replica", flush=True)
        serve.run(build_application(settings, options.replicas), name=APP_NAME, route_prefix="/",
                  blocking=False)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(f"IndexTTS WebUI API on http://{shown}:{port} ({options.replicas} Ray Serve replicas, ready after "
              f"{time.monotonic() - started:.1f} s; API only, the page runs in single-process mode); "
              f"Ray metrics: http://127.0.0.1:{metrics_port}/metrics", flush=True)
        while not stop.wait(3600):
            pass
    except _StopRequested:
        print("stopping Ray Serve", flush=True)
    except Exception as exc:  # Ray could not start, or the replicas failed: say why, then clean up
        if not stop.is_set():
            log.exception("Ray Serve could not start the replicas")
            print(f"error: Ray Serve could not start the replicas: {exc}", flush=True)
            code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _shut_down(serve, ray)
        print("stopped", flush=True)
    return code


def _shut_down(serve, ray) -> None:
    """Serve first (replicas finish their requests), then Ray. Should Ray's own processes be gone already (a
    signal to them), Serve's shutdown would wait for a controller that is gone: it gets SERVE_SHUTDOWN_S, and
    Ray's shutdown ends what is left."""
    started = time.monotonic()
    stepper = threading.Thread(target=_quietly, args=(serve.shutdown,), daemon=True)
    stepper.start()
    stepper.join(SERVE_SHUTDOWN_S)
    serve_s = time.monotonic() - started
    _quietly(ray.shutdown)
    print(f"Serve shut down in {serve_s:.1f} s{'' if serve_s < SERVE_SHUTDOWN_S else ' (gave up waiting)'}, "
          f"Ray in {time.monotonic() - started - serve_s:.1f} s", flush=True)


def _quietly(step) -> None:
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - shutting down: go on to the next step, the sweep follows
        log.warning("%s failed: %s", getattr(step, "__qualname__", step), exc)
