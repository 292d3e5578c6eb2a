"""Memory under use: the real server's resident memory (RSS) through a realistic session.

It starts its own `python app.py` (127.0.0.1, free port, --device cpu --threads 2, outputs and voices in a
temporary folder; see server_proc.py) and, once /readyz answers, runs:
1. `requests` mixed /v1/audio/speech calls (REQUESTS: short and medium English and Mandarin, mixed-language,
   several stock voices, OpenAI names and mixes, some emotion modes, some streamed, several formats),
   one of them a `--long-chars` (5000) character text;
2. `clones` voice clones (POST /v1/voices), each from a different reference clip (espeak-ng voices,
   bench/cloning_refs.py's FIT_TEXT, ~10 s);
3. `requests` more mixed calls, now also in the cloned voices;
4. `idle-s` seconds without requests.
Requests go from `--clients` threads at once (2: the page and an API client), in a fixed order (seeded).
A sampler reads /proc/PID/status every 0.1 s: VmRSS (resident), RssAnon (heap: tensors, malloc) and the
peak. Every reply is checked (200 and audio bytes); any failure makes the exit code 1.

Targets (issue 15): after load <= 1.2 GB; at the end <= 1.6 GB; after idle within 20 % of the end value.
Prints a Markdown table and writes bench/out/memory[-LABEL].json.

Usage:
  python bench/memory.py [--requests 100] [--clones 5] [--idle-s 45] [--clients 2] [--label before]
                         [--env NAME=VALUE ...]   # extra environment for the server (e.g. an allocator setting)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cloning_refs import FIT_TEXT, speak  # noqa: E402
from server_proc import (ROOT, Server, log_tail, machine_meta, run_header, start_server,  # noqa: E402
                         stop_server, wait_for)

TARGET_LOAD_MB = 1200.0
TARGET_END_MB = 1600.0
TARGET_IDLE_RATIO = 0.20

EN_SHORT = [
    "The train was late again this morning.",
    "Please close the window before you leave.",
    "Dr. Patel paid $12.50 for two coffees on March 3.",
    "Could you call me back after the meeting?",
    "The results were better than we expected.",
]
EN_MEDIUM = [
    "The weather was cool and bright, so we walked to the market by the river. Every morning she read the news "
    "aloud and wrote down the words she did not know. After a year of small steps, she could follow a film "
    "without subtitles.",
    "Our quarterly revenue grew by 14% to $3.2 million, driven by strong demand in Europe. We hired twelve new "
    "engineers, opened an office in Berlin, and shipped version 2.0 of the app on September 15, 2025.",
    "The old lighthouse keeper climbed the stairs every evening. He checked the lamp, wiped the windows, and "
    "wrote a short note in his journal about the weather and the passing ships.",
]
ZH_SHORT = [
    "今天天气很好，我们一起去公园散步吧。",
    "她每天早上都会喝一杯热茶。",
    "会议改到下午三点半，请准时参加。",
]
ZH_MEDIUM = [
    "今天天气很好，我们一起去公园散步吧。路边的花都开了，非常漂亮。孩子们在草地上放风筝，老人们坐在长椅上聊天。",
    "她每天早上都会喝一杯热茶。然后她打开电脑，开始一天的工作。中午她会去楼下的餐厅吃饭，下午继续写报告。",
    "这家公司去年的收入增长了百分之十五，达到三千二百万元。明年他们计划在上海和深圳再开两家分店。",
]
MIXED = [
    "我们明天用 Zoom 开会，记得带上你的 MacBook。",
    "The meeting is at 3 pm. 会议室在三楼，请提前五分钟到。",
]
EN_VOICES = ["af_heart", "am_michael", "bf_emma", "bm_george", "alloy", "af_bella+af_sky",
             "af_heart(2)+am_adam(1)", "jm_kumo"]
ZH_VOICES = ["zf_xiaobei", "zm_yunxi", "zf_xiaoxiao", "zf_xiaobei+zm_yunxi"]
EMOTIONS: list[dict[str, Any]] = [
    {"emotion": {"happy": 0.8}},
    {"emotion_text": "sad and tired"},
    {"emotion": {"angry": 0.6, "surprised": 0.3}, "emotion_weight": 0.7},
    {"emotion": {"calm": 1.0}, "emotion_random": True, "emotion_seed": 3},
    {"instructions": "speak in an excited voice"},
]
CLONE_SPECS = ["en-us+f3", "en-us+m3", "en-gb-scotland+m2", "en-us+f5", "en-gb+m1"]


@dataclass
class Call:
    """One request: its JSON body (for /v1/audio/speech) and a short label for reports."""

    body: dict[str, Any]
    label: str


@dataclass
class Phase:
    name: str
    started: float
    ended: float = 0.0
    rss_mb: float = 0.0  # at the end of the phase
    anon_mb: float = 0.0
    peak_mb: float = 0.0  # highest sampled RSS during the phase
    calls: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def long_text(chars: int) -> str:
    """About ``chars`` characters (never more) of varied English prose: a user pasting an article."""
    pieces = EN_MEDIUM + EN_SHORT
    text, i = "", 0
    while True:
        piece = pieces[i % len(pieces)]
        if len(text) + 1 + len(piece) > chars:
            return text
        text = f"{text} {piece}" if text else piece
        i += 1


def mixed_calls(n: int, seed: int, extra_voices: list[str], long_chars: int) -> list[Call]:
    """``n`` requests in a fixed (seeded) mix; with ``long_chars`` one of them (the middle one) is that long."""
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        kind = rng.choices(["en_short", "en_medium", "zh_short", "zh_medium", "mixed"], [3, 2, 2, 2, 1])[0]
        text = rng.choice({"en_short": EN_SHORT, "en_medium": EN_MEDIUM, "zh_short": ZH_SHORT,
                           "zh_medium": ZH_MEDIUM, "mixed": MIXED}[kind])
        voices = (ZH_VOICES if kind.startswith("zh") else EN_VOICES) + (extra_voices if kind.startswith("en") else [])
        body: dict[str, Any] = {"model": "kokoro", "input": text, "voice": rng.choice(voices)}
        if kind == "mixed":
            body.pop("voice")  # the default voice of the text's language
        if rng.random() < 0.25:
            body.update(rng.choice(EMOTIONS))
        if rng.random() < 0.25:
            body.update(stream=True, response_format=rng.choice(["pcm", "wav"]))
        else:
            body["response_format"] = rng.choice(["mp3", "wav", "wav", "flac"])
        if rng.random() < 0.15:
            body["speed"] = rng.choice([0.8, 1.25])
        calls.append(Call(body, f"{kind}/{body.get('voice', 'default')}"))
    if long_chars:
        text = long_text(long_chars)
        calls[n // 2] = Call({"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "mp3"},
                             f"long {len(text)} chars")
    return calls


class Sampler(threading.Thread):
    """Reads the server's VmRSS and RssAnon every ``interval_s``; keeps the running maximum."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak_mb = 0.0
        self.series: list[tuple[float, float]] = []  # (seconds since the sampler started, RSS MB), every 0.5 s
        self._stop = threading.Event()

    def read(self) -> tuple[float, float]:
        """(RSS, anonymous RSS) in MB now (0, 0 when the process is gone)."""
        values = {}
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    values[key] = int(rest.split()[0]) / 1024.0
        except (OSError, ValueError):
            return 0.0, 0.0
        return values.get("VmRSS", 0.0), values.get("RssAnon", 0.0)

    def run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval_s):
            rss = self.read()[0]
            self.peak_mb = max(self.peak_mb, rss)
            now = time.monotonic() - started
            if not self.series or now - self.series[-1][0] >= 0.5:
                self.series.append((round(now, 1), round(rss)))

    def take_peak(self) -> float:
        """The highest RSS since the last call (includes now), then start a new window."""
        peak, self.peak_mb = max(self.peak_mb, self.read()[0]), 0.0
        return peak

    def stop(self) -> None:
        self._stop.set()


def speak_call(client: httpx.Client, url: str, call: Call) -> str | None:
    """POST one request and read the whole body; None when it worked, else what went wrong."""
    try:
        with client.stream("POST", url + "/v1/audio/speech", json=call.body) as reply:
            size = sum(len(chunk) for chunk in reply.iter_bytes())
            if reply.status_code != 200:
                return f"{call.label}: HTTP {reply.status_code}"
            if size < 1000:
                return f"{call.label}: only {size} bytes of audio"
    except httpx.HTTPError as exc:
        return f"{call.label}: {type(exc).__name__}: {exc}"
    return None


def run_calls(url: str, calls: list[Call], clients: int) -> list[str]:
    """Send ``calls`` from ``clients`` threads (each takes the next call in order); the errors."""
    queue = list(reversed(calls))
    guard = threading.Lock()
    errors: list[str] = []

    def client_loop() -> None:
        with httpx.Client(timeout=600.0) as client:
            while True:
                with guard:
                    if not queue:
                        return
                    call = queue.pop()
                error = speak_call(client, url, call)
                if error:
                    with guard:
                        errors.append(error)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def reference_clips(folder: Path, n: int) -> list[Path]:
    """``n`` ~10 s reference clips in different espeak-ng voices (FIT_TEXT), as WAV files."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in CLONE_SPECS[:n]:
        path = folder / f"{spec.replace('+', '_')}.wav"
        audio, sr = speak("espeak", spec, FIT_TEXT, [])
        sf.write(path, audio, sr)
        clips.append(path)
    return clips


def clone(url: str, clip: Path, name: str) -> tuple[str | None, str | None]:
    """POST /v1/voices; (the new voice's id, None) or (None, what went wrong)."""
    with httpx.Client(timeout=600.0) as client:
        reply = client.post(url + "/v1/voices", files={"file": (clip.name, clip.read_bytes(), "audio/wav")},
                            data={"name": name})
    if reply.status_code != 200:
        return None, f"clone {name}: HTTP {reply.status_code} {reply.text[:200]}"
    return reply.json()["id"], None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="mixed requests before and after the clones")
    parser.add_argument("--clones", type=int, default=5, choices=range(0, len(CLONE_SPECS) + 1))
    parser.add_argument("--long-chars", type=int, default=5000, help="one request this long (0: none)")
    parser.add_argument("--idle-s", type=float, default=45.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--label", default="", help="suffix of the JSON file (e.g. before, after)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment variable for the server (repeatable)")
    args = parser.parse_args()

    extra_env = dict(item.split("=", 1) for item in args.env)
    saved_env = {k: os.environ.get(k) for k in extra_env}
    os.environ.update(extra_env)  # start_server passes our environment on
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        server: Server = start_server(Path(tmp) / "server")
        for key, value in saved_env.items():  # only the server gets them
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sampler = Sampler(server.pid)
        sampler.start()
        try:
            wait_for(server, "/readyz", timeout_s=300)
            time.sleep(3.0)  # background work of the start (stock statistics) settles

            def close(phase: Phase, errors: list[str] = ()) -> Phase:
                phase.ended = time.monotonic()
                phase.seconds = phase.ended - phase.started
                phase.rss_mb, phase.anon_mb = sampler.read()
                phase.peak_mb = sampler.take_peak()
                phase.errors = list(errors)
                phases.append(phase)
                print(f"{phase.name}: RSS {phase.rss_mb:.0f} MB (heap {phase.anon_mb:.0f}), peak {phase.peak_mb:.0f} MB, "
                      f"{phase.seconds:.0f} s, {len(phase.errors)} errors", flush=True)
                return phase

            close(Phase("after load", server.started))
            calls = mixed_calls(args.requests, 1, [], args.long_chars)
            started = time.monotonic()
            phase = Phase(f"{args.requests} requests (one {args.long_chars} chars)", started, calls=len(calls))
            close(phase, run_calls(server.url, calls, args.clients))

            clips = reference_clips(Path(tmp) / "refs", args.clones)
            phase = Phase(f"{args.clones} clones", time.monotonic(), calls=len(clips))
            cloned, errors = [], []
            for i, clip in enumerate(clips):
                voice, error = clone(server.url, clip, f"bench_clone_{i}")
                cloned += [voice] if voice else []
                errors += [error] if error else []
            close(phase, errors)

            calls = mixed_calls(args.requests, 2, cloned, 0)
            phase = Phase(f"{args.requests} more requests (cloned voices too)", time.monotonic(), calls=len(calls))
            close(phase, run_calls(server.url, calls, args.clients))
            end = phases[-1]

            time.sleep(args.idle_s)
            close(Phase(f"after {args.idle_s:.0f} s idle", time.monotonic()))
        except Exception:
            print(log_tail(server.log), file=sys.stderr)
            raise
        finally:
            sampler.stop()
            stop_server(server)
            log_copy = ROOT / "bench" / "out" / f"memory{'-' + args.label if args.label else ''}.log"
            log_copy.parent.mkdir(parents=True, exist_ok=True)
            log_copy.write_text(server.log.read_text(errors="replace") if server.log.exists() else "")

    load, idle = phases[0], phases[-1]
    overall_peak = max(p.peak_mb for p in phases)
    checks = {
        "after load <= 1.2 GB": load.rss_mb <= TARGET_LOAD_MB,
        "end <= 1.6 GB": end.rss_mb <= TARGET_END_MB,
        "idle within 20 % of end": abs(idle.rss_mb - end.rss_mb) <= TARGET_IDLE_RATIO * end.rss_mb,
    }
    errors = [e for p in phases for e in p.errors]
    print()
    print(run_header("Memory under use (server RSS)"))
    if extra_env:
        print(f"- server environment: {', '.join(f'{k}={v}' for k, v in extra_env.items())}")
    print(f"- {args.clients} clients at once; errors: {len(errors)}\n")
    print("| phase | RSS MB | heap (RssAnon) MB | peak in phase MB | calls | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in phases:
        print(f"| {p.name} | {p.rss_mb:.0f} | {p.anon_mb:.0f} | {p.peak_mb:.0f} | {p.calls or ''} | {p.seconds:.0f} |")
    print(f"\npeak overall: {overall_peak:.0f} MB")
    for check, ok in checks.items():
        print(f"- {check}: {'PASS' if ok else 'FAIL'}")
    for error in errors[:20]:
        print(f"- error: {error}")

    out = ROOT / "bench" / "out" / f"memory{'-' + args.label if args.label else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**machine_meta(), "server_env": extra_env, "clients": args.clients,
                               "phases": [{k: v for k, v in vars(p).items() if k not in ("started", "ended")}
                                          for p in phases],
                               "peak_mb": overall_peak, "checks": checks, "errors": errors,
                               "rss_series": sampler.series}))
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
