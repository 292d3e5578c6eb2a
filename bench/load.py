"""Load benchmark: the real HTTP API on loopback under 1, 2, 4 and 8 concurrent clients, and time to first audio.

It starts its own `python app.py` (127.0.0.1, free port, --device cpu --threads 2, outputs in a temporary
folder; see server_proc.py), or uses a running one with `--url`. Every client is a thread with its own
HTTP connection that POSTs to /v1/audio/speech
    {"model": "kokoro", "input": TEXT, "voice": "jm_kumo", "response_format": "pcm", "stream": true}
and reads the body as it arrives. Clients cycle through short English and Mandarin paragraphs (TEXTS).
Per request it records:
- TTFA:      time to first audio byte: the first body byte past the 44-byte header for "wav", the first body
             byte for "pcm" (with --no-stream the whole body comes at once, so TTFA is close to the latency);
- latency:   request sent -> last body byte;
- audio:     seconds received (16-bit mono 24 kHz: bytes / 48000);
- status:    HTTP status, or the server's JSON error message / the connection error.
A level (N clients) issues at most --requests-per-client requests per client and no new request after
--max-seconds. Per level: requests, errors, throughput (audio seconds received per wall second of the level),
latency and TTFA p50/p95, and the server's peak RSS (VmHWM, reset at the start of each level when the server
is ours; with --url only when --pid is given). "streamed" counts replies sent without a Content-Length.
Before the levels, on the idle server, one client times the 3-sentence paragraph TTFA_TEXT --ttfa-repeats
times (printed last).
Target: TTFA <= 0.5 s. Any error makes the exit code 1.

A warm-up request comes first (not counted). If the server refuses the "stream" field as unknown (before
streaming exists), the benchmark says so and sends the requests without it.

Usage:
  python bench/load.py [--clients 1 2 4 8] [--requests-per-client 3] [--max-seconds 60] [--no-stream]
                       [--format pcm|wav] [--ttfa-repeats 5] [--url http://127.0.0.1:7860 [--pid PID]]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_proc import (ROOT, Server, log_tail, machine_meta, peak_rss_mb, reset_peak_rss,  # noqa: E402
                         run_header, start_server, stop_server, wait_for)

BYTES_PER_SECOND = 24000 * 2  # 16-bit little-endian mono at 24 kHz (pcm, and wav's data chunk)
WAV_HEADER = 44
TARGET_TTFA_S = 0.5

TEXTS = [
    "The train was late again this morning. We waited on the platform with our coffee and watched the rain.",
    "今天天气很好，我们一起去公园散步吧。路边的花都开了，非常漂亮。",
    "Please close the window before you leave. The heating is on, and the room gets cold at night.",
    "她每天早上都会喝一杯热茶。然后她打开电脑，开始一天的工作。",
]
TTFA_TEXT = ("The weather was cool and bright, so we walked to the market by the river. Every morning she read "
             "the news aloud and wrote down the words she did not know. After a year of small steps, she could "
             "follow a conversation.")


@dataclass
class Result:
    """One request as the client saw it."""

    status: int | None
    error: str | None
    latency_s: float
    ttfa_s: float | None
    audio_s: float
    streamed: bool


@dataclass
class SpeechCall:
    """What every request of the run shares."""

    url: str
    voice: str
    fmt: str
    stream: bool
    timeout_s: float

    def body(self, text: str) -> dict:
        return {"model": "kokoro", "input": text, "voice": self.voice, "response_format": self.fmt,
                "stream": self.stream}


def speak(client: httpx.Client, req: SpeechCall, text: str) -> Result:
    """POST one text to /v1/audio/speech and read the reply as it arrives."""
    header = WAV_HEADER if req.fmt == "wav" else 0
    received, ttfa = 0, None
    t0 = time.perf_counter()
    try:
        with client.stream("POST", req.url + "/v1/audio/speech", json=req.body(text), timeout=req.timeout_s) as r:
            if r.status_code != 200:
                r.read()
                return Result(r.status_code, error_message(r), time.perf_counter() - t0, None, 0.0, False)
            for chunk in r.iter_raw():
                received += len(chunk)
                if ttfa is None and received > header:
                    ttfa = time.perf_counter() - t0
            streamed = "content-length" not in r.headers
            status = r.status_code
    except httpx.HTTPError as exc:
        return Result(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, ttfa, 0.0, False)
    latency = time.perf_counter() - t0
    error = None if received > header else "200 with no audio in the body"
    return Result(status, error, latency, ttfa, max(received - header, 0) / BYTES_PER_SECOND, streamed)


def error_message(r: httpx.Response) -> str:
    """'<status>: <message>' from OpenAI's error shape, else the start of the body."""
    try:
        err = r.json()["error"]
        return f"{r.status_code}: {err['message']}" + (f" (param {err['param']})" if err.get("param") else "")
    except (ValueError, KeyError, TypeError):
        return f"{r.status_code}: {r.text[:200]}"


def warm_up(req: SpeechCall) -> None:
    """One untimed request (also proves the request shape is accepted)."""
    with httpx.Client() as client:
        first = speak(client, req, TEXTS[0])
    if first.error:
        raise RuntimeError(f"warm-up request failed: {first.error}")


def run_level(req: SpeechCall, clients: int, per_client: int, max_s: float) -> tuple[list[Result], float]:
    """`clients` threads, each sending up to `per_client` requests until `max_s` passes; results, wall s."""
    results: list[Result] = []
    lock = threading.Lock()
    start = time.monotonic()

    def client_loop(i: int) -> None:
        with httpx.Client() as client:
            for j in range(per_client):
                if time.monotonic() - start >= max_s:
                    return
                res = speak(client, req, TEXTS[(i + j) % len(TEXTS)])
                with lock:
                    results.append(res)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - start


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(clients: int, results: list[Result], wall_s: float, rss_mb: float | None) -> dict:
    ok = [r for r in results if r.error is None]
    lat = [r.latency_s for r in ok]
    ttfa = [r.ttfa_s for r in ok if r.ttfa_s is not None]
    audio = sum(r.audio_s for r in ok)
    return {"clients": clients, "requests": len(results), "errors": len(results) - len(ok),
            "streamed": sum(r.streamed for r in ok), "audio_s": audio, "wall_s": wall_s,
            "throughput": audio / wall_s if wall_s > 0 else 0.0, "latency_p50_s": pct(lat, 50),
            "latency_p95_s": pct(lat, 95), "ttfa_p50_s": pct(ttfa, 50), "ttfa_p95_s": pct(ttfa, 95),
            "peak_rss_mb": rss_mb, "error_messages": dict(Counter(r.error for r in results if r.error))}


def _f(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None else format(value, fmt)


LEVEL_HEADER = ("| clients | requests | errors | streamed | audio s | wall s | throughput (audio s / s) | "
                "latency p50 s | latency p95 s | TTFA p50 s | TTFA p95 s | server peak RSS MB |\n"
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def level_row(s: dict) -> str:
    errors = f"**{s['errors']}**" if s["errors"] else "0"
    return (f"| {s['clients']} | {s['requests']} | {errors} | {s['streamed']} | {s['audio_s']:.1f} | "
            f"{s['wall_s']:.1f} | {s['throughput']:.2f} | {_f(s['latency_p50_s'])} | {_f(s['latency_p95_s'])} | "
            f"{_f(s['ttfa_p50_s'])} | {_f(s['ttfa_p95_s'])} | {_f(s['peak_rss_mb'], '.0f')} |")


def measure_ttfa(req: SpeechCall, repeats: int) -> dict:
    """One client, idle server: TTFA_TEXT `repeats` times in a row."""
    with httpx.Client() as client:
        results = [speak(client, req, TTFA_TEXT) for _ in range(repeats)]
    ttfa = [r.ttfa_s for r in results if r.error is None and r.ttfa_s is not None]
    lat = [r.latency_s for r in results if r.error is None]
    return {"repeats": repeats, "errors": sum(r.error is not None for r in results),
            "error_messages": dict(Counter(r.error for r in results if r.error)),
            "ttfa_s": ttfa, "ttfa_median_s": statistics.median(ttfa) if ttfa else None,
            "ttfa_min_s": min(ttfa, default=None), "latency_median_s": statistics.median(lat) if lat else None,
            "audio_s": results[-1].audio_s, "streamed": sum(r.streamed for r in results)}


def print_ttfa(t: dict) -> None:
    print(f"\n### TTFA, one client, the 3-sentence paragraph ({t['repeats']} repeats)\n")
    print("| median TTFA s | min TTFA s | median latency s | audio s | streamed | errors |")
    print("|---:|---:|---:|---:|---:|---:|")
    errors = f"**{t['errors']}**" if t["errors"] else "0"
    print(f"| {_f(t['ttfa_median_s'], '.3f')} | {_f(t['ttfa_min_s'], '.3f')} | {_f(t['latency_median_s'], '.3f')} | "
          f"{t['audio_s']:.2f} | {t['streamed']}/{t['repeats']} | {errors} |")
    met = t["ttfa_median_s"] is not None and t["ttfa_median_s"] <= TARGET_TTFA_S
    print(f"\ntarget: time to first audio byte <= {TARGET_TTFA_S} s: median {_f(t['ttfa_median_s'], '.3f')} s "
          f"({'met' if met else 'NOT met'})")


def run_all(a: argparse.Namespace, url: str, pid: int | None) -> dict:
    """Warm-up, the TTFA measurement, then each concurrency level; prints as it goes."""
    req = SpeechCall(url, a.voice, a.format, not a.no_stream, a.timeout)
    warm_up(req)
    ttfa = measure_ttfa(req, a.ttfa_repeats)
    print(f"### Concurrency levels ({a.requests_per_client} requests per client, at most {a.max_seconds:.0f} s "
          f"of new requests per level)\n")
    print(LEVEL_HEADER)
    levels = []
    for n in a.clients:
        rss_reset = pid is not None and reset_peak_rss(pid)
        results, wall = run_level(req, n, a.requests_per_client, a.max_seconds)
        rss = peak_rss_mb(pid) if pid is not None else None
        levels.append({**summarize(n, results, wall, rss), "rss_since_level_start": rss_reset,
                       "results": [asdict(r) for r in results]})
        print(level_row(levels[-1]), flush=True)
    print_ttfa(ttfa)
    return {"stream": req.stream, "ttfa": ttfa, "levels": levels}


def report_errors(record: dict) -> int:
    """Print every error message with its count; the total."""
    counts = Counter()
    for part in [record["ttfa"], *record["levels"]]:
        counts.update(part["error_messages"])
    if counts:
        print(f"\n**ERRORS: {sum(counts.values())} failed requests**")
        for message, n in counts.most_common():
            print(f"- {n} x {message}")
    return sum(counts.values())


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="concurrent clients against /v1/audio/speech, and time to first audio")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--requests-per-client", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="no new requests after this, per level")
    ap.add_argument("--ttfa-repeats", type=int, default=5)
    ap.add_argument("--no-stream", action="store_true", help='send "stream": false (whole-file replies)')
    ap.add_argument("--format", default="pcm", choices=["pcm", "wav"])
    ap.add_argument("--voice", default="jm_kumo")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request HTTP timeout, seconds")
    ap.add_argument("--url", help="use a running server instead of starting one")
    ap.add_argument("--pid", type=int, help="with --url: the server's PID, for its peak RSS")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="of the started server")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads of the started server")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    return ap.parse_args()


def main() -> int:
    a = parse_args()
    print(run_header("Load: concurrent clients on /v1/audio/speech"))
    meta = {**machine_meta(), "format": a.format, "voice": a.voice, "stream": not a.no_stream,
            "requests_per_client": a.requests_per_client, "max_seconds": a.max_seconds}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        server: Server | None = None
        try:
            if a.url:
                url, pid = a.url.rstrip("/"), a.pid
            else:
                server = start_server(Path(tmp), device=a.device, threads=a.threads)
                meta["startup_readyz_s"] = wait_for(server, "/readyz", timeout_s=300)
                url, pid = server.url, server.pid
            ready = httpx.get(url + "/readyz", timeout=10).json()
            print(f"server: {url} ({'started here' if server else 'given'}), version {ready.get('version')}, "
                  f"device {ready.get('device')}, response_format {a.format}, "
                  f"stream {'false' if a.no_stream else 'true'}\n")
            record = {"meta": {**meta, "server": ready}, **run_all(a, url, pid)}
        except (RuntimeError, httpx.HTTPError, ValueError) as exc:
            print(f"\n**FAILED: {exc}**")
            if server is not None:
                print(f"server log tail:\n{log_tail(server.log)}")
            return 1
        finally:
            if server is not None:
                stop_server(server)
    errors = report_errors(record)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "load.json"
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
