"""Startup benchmark: process start -> the real app answering, with the weights already in cache_hub/.

Each run starts `python app.py --host 127.0.0.1 --port <free> --device cpu --threads 2` (no auth; outputs,
logs and voices in a temporary folder), polls every 50 ms and records:
- healthz_s:   seconds until GET /healthz answers 200 (the process is up and serving HTTP);
- readyz_s:    seconds until GET /readyz answers 200 (model loaded and warmed up: requests can be served);
- peak_rss_mb: the server's peak resident memory (VmHWM from /proc/<pid>/status) once ready.
Then the server is stopped (SIGTERM, SIGKILL after a timeout) and the next run starts cold, except for
the OS file cache. `python -m indextts.weights ensure` runs first (not timed), so the weights are in place.
Target: readyz <= 15 s on 2 CPU cores.

Usage:
  python bench/startup.py [--runs 3] [--device cpu] [--threads 2] [--timeout 180] [--out bench/out]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_proc import (ROOT, log_tail, machine_meta, peak_rss_mb, run_header, start_server,  # noqa: E402
                         stop_server, wait_for)

TARGET_READY_S = 15.0


def ensure_weights() -> None:
    """Verify (or build) the weights in cache_hub/ so that the timed runs start with them cached."""
    done = subprocess.run([sys.executable, "-m", "indextts.weights", "ensure"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python -m indextts.weights ensure failed ({done.returncode}):\n"
                         f"{done.stdout}{done.stderr}")


def one_run(device: str, threads: int, timeout_s: float) -> dict[str, float | None]:
    """Start the app once, time /healthz and /readyz, read its peak RSS, stop it."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        server = start_server(Path(tmp), device=device, threads=threads)
        try:
            healthz_s = wait_for(server, "/healthz", timeout_s)
            readyz_s = wait_for(server, "/readyz", timeout_s)
            rss = peak_rss_mb(server.pid)
        finally:
            code = stop_server(server)
        if code != 0:
            print(f"warning: app.py exited with code {code} on SIGTERM; log tail:\n{log_tail(server.log)}",
                  file=sys.stderr)
    return {"healthz_s": healthz_s, "readyz_s": readyz_s, "peak_rss_mb": rss, "exit_code": code}


def print_table(runs: list[dict]) -> None:
    print("| run | healthz_s | readyz_s | peak_rss_mb |")
    print("|---|---:|---:|---:|")
    for i, r in enumerate(runs, 1):
        print(f"| {i} | {r['healthz_s']:.2f} | {r['readyz_s']:.2f} | {_mb(r['peak_rss_mb'])} |")
    rss = [r["peak_rss_mb"] for r in runs if r["peak_rss_mb"] is not None]
    print(f"| **median** | **{statistics.median(r['healthz_s'] for r in runs):.2f}** | "
          f"**{statistics.median(r['readyz_s'] for r in runs):.2f}** | "
          f"**{_mb(statistics.median(rss) if rss else None)}** |")


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description="time from `python app.py` to /healthz and /readyz 200")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads of the server (app.py --threads)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for /readyz per run")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args()

    ensure_weights()
    print(run_header("Startup: process start -> /readyz 200 (weights cached)"))
    print(f"server: app.py --device {a.device} --threads {a.threads}, {a.runs} runs, polled every 50 ms\n")
    runs = []
    for i in range(a.runs):
        try:
            runs.append(one_run(a.device, a.threads, a.timeout))
        except RuntimeError as exc:
            print(f"run {i + 1} FAILED: {exc}", file=sys.stderr)
            return 1
        print(f"run {i + 1}: healthz {runs[-1]['healthz_s']:.2f} s, readyz {runs[-1]['readyz_s']:.2f} s",
              file=sys.stderr)
    print_table(runs)
    median_ready = statistics.median(r["readyz_s"] for r in runs)
    met = "met" if median_ready <= TARGET_READY_S else "NOT met"
    print(f"\ntarget: /readyz 200 <= {TARGET_READY_S:.0f} s on 2 CPU cores: median {median_ready:.2f} s ({met})")

    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "startup.json"
    meta = {**machine_meta(), "device": a.device, "threads": a.threads, "target_ready_s": TARGET_READY_S}
    path.write_text(json.dumps({"meta": meta, "runs": runs, "median_readyz_s": median_ready}, indent=1),
                    encoding="utf-8")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
