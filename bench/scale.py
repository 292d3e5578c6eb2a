"""Scale-out benchmark: the same load against ``app.py --replicas 2 --threads 1`` (Ray Serve, two engine replicas)
and the single process ``app.py --threads 2``, on this machine's loopback.

On a 2-core machine two replicas add no compute, so this measures correctness and overhead, not speed-up:
- 8 concurrent clients, each POSTing --requests-per-client streamed requests to /v1/audio/speech
  ({"input": TEXT, "voice": "af_heart", "response_format": "pcm", "stream": true}; TEXTS cycle);
  per request: status, the replica that answered (X-Replica), latency (sent -> last byte) and first-audio time
  (sent -> first body byte);
- the ingress's added latency: --probes sequential GET /healthz per subject; for the replicas, the client's time
  minus the replica's own time (its ``Server-Timing: app;dur=``) is what Serve's proxy, its router and the hop
  to the replica cost; the single process's /healthz time is printed beside it.
Servers: their own temporary folders, 127.0.0.1, free ports, the repo's weights; each is started in its own
session and stopped by its PID (the supervisor stops Ray itself), and no process of that session may remain.

Usage:
  python bench/scale.py [--clients 8] [--requests-per-client 3] [--probes 100] [--only replicas|single]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from server_proc import free_port  # noqa: E402

from indextts.scale.supervisor import session_processes  # noqa: E402

TEXTS = (
    "The quarterly report is due on Friday, so please send your figures before noon.",
    "Scaling out keeps every listener served while the model works on the next sentence.",
    "Turn left at the second light, then follow the river for about two kilometres.",
    "We moved the meeting to Thursday at three because the projector was broken.",
)
READY_TIMEOUT_S = 900.0


@dataclass
class Result:
    status: int
    replica: str
    latency_s: float
    first_audio_s: float
    audio_s: float
    error: str = ""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start(command: list[str], workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXTTS_", "RAY_ADDRESS"))}
    env.update(INDEXTTS_PATHS__CACHE_HUB=str(ROOT / "cache_hub"), INDEXTTS_PATHS__OUTPUTS=str(workdir / "outputs"),
               INDEXTTS_PATHS__LOGS=str(workdir / "logs"), INDEXTTS_PATHS__VOICES=str(workdir / "voices"),
               PYTHONUNBUFFERED="1")
    log = workdir / "app.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *command], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=3).status_code == 200:
                return proc, url, log
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise SystemExit(f"not ready after {READY_TIMEOUT_S} s; see {log}")


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM to our server (as the launcher's --stop); returns how many of its session's processes remain."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    return len(session_processes(proc.pid))


def one_request(client: httpx.Client, url: str, text: str) -> Result:
    body = {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "pcm", "stream": True}
    sent = time.perf_counter()
    first, size = 0.0, 0
    try:
        with client.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=600) as r:
            for chunk in r.iter_bytes():
                if chunk and not first:
                    first = time.perf_counter() - sent
                size += len(chunk)
            error = "" if r.status_code == 200 else r.read().decode(errors="replace")[:200]
            return Result(r.status_code, r.headers.get("x-replica", "-"), time.perf_counter() - sent, first,
                          size / 48000, error)
    except httpx.HTTPError as exc:
        return Result(0, "-", time.perf_counter() - sent, 0.0, 0.0, repr(exc))


def load(url: str, clients: int, per_client: int) -> tuple[list[Result], float]:
    results: list[Result] = []
    lock = threading.Lock()

    def client_loop(index: int) -> None:
        with httpx.Client() as client:
            for n in range(per_client):
                result = one_request(client, url, TEXTS[(index + n) % len(TEXTS)])
                with lock:
                    results.append(result)

    with httpx.Client() as warm:
        one_request(warm, url, TEXTS[0])
    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - started


def probe_overhead(url: str, probes: int) -> tuple[float, float, float | None]:
    """(client p50 ms, client p95 ms, p50 of client minus the replica's own time, ms; None without
    Server-Timing) over sequential GET /healthz on one kept-alive connection."""
    total, outside = [], []
    with httpx.Client() as client:
        for _ in range(probes):
            sent = time.perf_counter()
            r = client.get(f"{url}/healthz", timeout=30)
            elapsed = (time.perf_counter() - sent) * 1000
            total.append(elapsed)
            timing = r.headers.get("server-timing", "")
            if "dur=" in timing:
                outside.append(elapsed - float(timing.split("dur=")[1].split(",")[0]))
    return pct(total, 0.5), pct(total, 0.95), (pct(outside, 0.5) if outside else None)


def ray_replica_series(log: Path, wait_s: float = 30.0) -> dict[str, int]:
    """Ray's own per-replica metrics (the port the supervisor printed): Serve metric name -> how many replicas
    it has a series for. Empty for the single process. Ray exports every few seconds: waits for them."""
    match = re.search(r"Ray metrics: (http://\S+/metrics)", log.read_text(errors="replace"))
    if not match:
        return {}
    deadline = time.monotonic() + wait_s
    series: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        try:
            text = httpx.get(match.group(1), timeout=10).text
        except httpx.HTTPError:
            text = ""
        for line in text.splitlines():
            found = re.match(r'(ray_serve_\w+)\{.*replica="([^"]+)"', line)
            if found:
                series.setdefault(found.group(1), set()).add(found.group(2))
        if any(len(replicas) >= 2 for replicas in series.values()):
            break
        time.sleep(2)
    return {name: len(replicas) for name, replicas in sorted(series.items())}


def run_subject(name: str, command: list[str], args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="ixb-") as tmp:
        started = time.monotonic()
        proc, url, log = start(command, Path(tmp))
        ready_s = time.monotonic() - started
        p50, p95, outside = probe_overhead(url, args.probes)
        results, wall = load(url, args.clients, args.requests_per_client)
        ray_series = ray_replica_series(log)
        left = stop(proc)
    ok = [r for r in results if r.status == 200]
    errors = [r for r in results if r.status != 200]
    for r in errors[:3]:
        print(f"  {name}: error {r.status} {r.error}")
    return {"name": name, "ready_s": ready_s, "requests": len(results), "errors": len(errors),
            "per_replica": dict(Counter(r.replica for r in ok)),
            "lat_p50": pct([r.latency_s for r in ok], 0.5), "lat_p95": pct([r.latency_s for r in ok], 0.95),
            "fa_p50": pct([r.first_audio_s for r in ok], 0.5), "fa_p95": pct([r.first_audio_s for r in ok], 0.95),
            "audio_per_s": sum(r.audio_s for r in ok) / wall, "healthz_p50_ms": p50, "healthz_p95_ms": p95,
            "ingress_ms": outside, "leftover": left, "ray_series": ray_series}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests-per-client", type=int, default=3)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--only", choices=["replicas", "single"])
    args = parser.parse_args()
    subjects = [("replicas 2 x 1 thread", ["--replicas", "2", "--threads", "1"]),
                ("single process, 2 threads", ["--threads", "2"])]
    rows = [run_subject(name, command, args) for name, command in subjects
            if args.only is None or name.startswith(args.only)]
    print(f"\n{args.clients} concurrent clients x {args.requests_per_client} streamed requests, af_heart, pcm; "
          f"{args.probes} sequential /healthz\n")
    print("| subject | ready after | requests | errors | per replica | latency p50 / p95 | first audio p50 / p95 "
          "| audio s per s | /healthz p50 / p95 | ingress added (p50) | left after stop |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ingress = "-" if r["ingress_ms"] is None else f"{r['ingress_ms']:.1f} ms"
        replicas = ", ".join(f"{k}: {v}" for k, v in sorted(r["per_replica"].items()))
        print(f"| {r['name']} | {r['ready_s']:.0f} s | {r['requests']} | {r['errors']} | {replicas} "
              f"| {r['lat_p50']:.2f} / {r['lat_p95']:.2f} s | {r['fa_p50']:.2f} / {r['fa_p95']:.2f} s "
              f"| {r['audio_per_s']:.2f} | {r['healthz_p50_ms']:.1f} / {r['healthz_p95_ms']:.1f} ms | {ingress} "
              f"| {r['leftover']} |")
    for r in rows:
        if r["ray_series"]:
            print(f"\nRay's per-replica Serve metrics ({r['name']}): "
                  + ", ".join(f"{name} ({count} replicas)" for name, count in r["ray_series"].items()))
    return 1 if any(r["errors"] or r["leftover"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
