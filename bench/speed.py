"""Speed benchmark: the project's PyTorch engine vs the Kokoro int8 ONNX runtime, side by side.

Each system runs in its own worker subprocess (so load time and peak RSS are its own), with 2
threads (torch.set_num_threads(2) / ORT intra_op 2). Both get the SAME phoneme tokens: the engine's
frontend splits and phonemizes each text, and those segments' tokens are fed to ONNX too. Calls
are interleaved (text 1 engine, text 1 onnx, text 2 engine, ...) and repeated N times; the table
shows medians. Only one worker computes at a time.

Measured per text:
- model:  per segment, style row + predict durations/F0/energy + decode, on the same tokens
          (engine: engine.model via the engine's voices; onnx: session.run); summed over segments.
- e2e:    engine.synthesize(text) as a caller sees it (frontend, trimming, pauses included).
RTF = compute seconds / seconds of audio produced by that system (below 1 = faster than real time).

Systems: engine (as configured: int8 convolutions + compiled kernels on CPU), engine-fp32 (the same
model in plain float32: what the optimisations buy), onnx.

Usage:
  python bench/speed.py [--runs 3] [--voice jm_kumo] [--systems engine engine-fp32 onnx] [--out bench/out]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
THREADS = 2
SYSTEMS = ("engine", "engine-fp32", "onnx")

TEXTS = {
    "en-short": ("en", "The weather was cool and bright, so we walked to the market by the river."),
    "en-long": ("en",
                "Learning a new language takes patience, practice, and a lot of curiosity. "
                "Every morning she read the news aloud, wrote down the words she did not know, and "
                "looked them up after breakfast. After a year of small steps, she could follow a "
                "conversation, tell a story about her childhood, and even laugh at the jokes her "
                "neighbours made about the weather. The old library on the corner, closed for repairs "
                "since last summer, will open again next month with a new reading room for children."),
    "zh-short": ("zh", "今天天气很好，我们一起去公园散步吧。"),
    "zh-long": ("zh",
                "春天来了，花园里的花都开了，非常漂亮。她每天早上都会喝一杯热茶，然后开始工作。"
                "这本书讲述了一个关于友谊和勇气的故事，主人公从一个小村庄出发，走过高山和河流，"
                "最后找到了失散多年的朋友。晚饭以后，全家人坐在一起聊天看电视，孩子们讲述学校里发生的趣事。"),
}


# --------------------------------------------------------------------------------------------
# Workers (one per system, in its own process)
# --------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class OnnxWorker:
    def __init__(self):
        t0 = time.perf_counter()
        import onnxruntime  # noqa: F401

        sys.path.insert(0, str(BENCH))
        from onnx_baseline import OnnxKokoro, raw_phonemes

        self.import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.tts = OnnxKokoro(threads=THREADS)
        self.load_s = time.perf_counter() - t0
        self._raw = raw_phonemes

    def warm_up(self, voice):
        self.tts.infer_tokens(self.tts.tokenize("həlˈO."), voice)

    def tokens(self, text, lang):
        return [self.tts.tokenize(p) for p in self.tts.split_phonemes(self._raw(text, lang))]

    def run_tokens(self, segments, voice):
        t0 = time.perf_counter()
        n = sum(len(self.tts.infer_tokens(list(seg), voice, 1.0)) for seg in segments)
        return time.perf_counter() - t0, n / 24000


class EngineWorker:
    """``engine``: as configured (int8 convolutions + compiled kernels on CPU); ``engine-fp32``: the plain
    float32 model (int8 and compile off), to show what each optimisation buys."""

    def __init__(self, fp32: bool = False):
        t0 = time.perf_counter()
        import torch

        torch.set_num_threads(THREADS)
        from indextts.config import Settings
        from indextts.engine import Engine

        self.import_s = time.perf_counter() - t0
        self.torch = torch
        t0 = time.perf_counter()
        overrides = {"engine": {"int8": False, "compile": False}} if fp32 else None
        self.engine = Engine.load(Settings.load(overrides=overrides), warm_up=False)
        torch.set_num_threads(THREADS)
        self.load_s = time.perf_counter() - t0

    def warm_up(self, voice):
        self.engine.synthesize("Hello.", voice=voice, lang="en")

    def tokens(self, text, lang):
        return [list(s.tokens) for s in self.engine.segments(text, lang=lang)]

    def run_tokens(self, segments, voice):
        torch, eng = self.torch, self.engine
        dev = eng.model.device
        t0 = time.perf_counter()
        n = 0
        with torch.inference_mode():
            for seg in segments:
                style = eng.voices.style(voice, len(seg)).to(dev)
                tok = torch.tensor([[0, *seg, 0]], dtype=torch.long, device=dev)
                prosody = eng.model.predict_prosody(tok, style, 1.0)
                n += int(eng.model.render(tok, style, prosody).shape[-1])
        return time.perf_counter() - t0, n / 24000

    def run_text(self, text, lang, voice):
        t0 = time.perf_counter()
        r = self.engine.synthesize(text, voice=voice, speed=1.0, lang=lang)
        return time.perf_counter() - t0, len(r.audio) / r.sample_rate


def worker_main(name: str) -> None:
    """Serve JSON-line requests on stdin; answers go to the original stdout, library noise to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path.insert(0, str(ROOT))
    w = {"onnx": OnnxWorker, "engine": EngineWorker, "engine-fp32": lambda: EngineWorker(fp32=True)}[name]()
    proto.write(json.dumps({"import_s": w.import_s, "load_s": w.load_s, "rss_mb": _peak_rss_mb()}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "warm_up":
            t0 = time.perf_counter()
            w.warm_up(req["voice"])
            res = {"s": time.perf_counter() - t0}
        elif op == "tokens":
            res = {"segments": w.tokens(req["text"], req["lang"])}
        elif op == "run_tokens":
            s, audio_s = w.run_tokens(req["segments"], req["voice"])
            res = {"s": s, "audio_s": audio_s}
        elif op == "run_text":
            s, audio_s = w.run_text(req["text"], req["lang"], req["voice"])
            res = {"s": s, "audio_s": audio_s}
        elif op == "stats":
            res = {"rss_mb": _peak_rss_mb()}
        else:
            res = {"error": f"unknown op {op}"}
        res["rss_mb"] = _peak_rss_mb()
        proto.write(json.dumps(res) + "\n")


class Worker:
    """Parent-side handle of a worker subprocess."""

    def __init__(self, name: str):
        env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS),
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.name = name
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if not VERBOSE else None,
                                     text=True, env=env)
        self.hello = self._read()
        self.hello["startup_s"] = time.perf_counter() - t0  # process start + imports + load

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} worker died (rerun with --verbose to see its stderr)")
        return json.loads(line)

    def call(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


VERBOSE = False


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------
def main() -> None:
    global VERBOSE
    ap = argparse.ArgumentParser(description="engine vs ONNX speed, side by side")
    ap.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--voice", default="jm_kumo")
    ap.add_argument("--texts", nargs="+", default=list(TEXTS), choices=list(TEXTS))
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    a = ap.parse_args()
    if a.worker:
        worker_main(a.worker)
        return
    VERBOSE = a.verbose
    load_at_start = os.getloadavg()[0]

    workers = {}
    for name in a.systems:  # load one after the other so load times do not compete
        workers[name] = Worker(name)
        workers[name].hello["warmup_s"] = workers[name].call(op="warm_up", voice=a.voice)["s"]
    token_source = "engine" if "engine" in workers else "onnx"
    segs = {k: workers[token_source].call(op="tokens", text=TEXTS[k][1], lang=TEXTS[k][0])["segments"]
            for k in a.texts}

    times: dict[tuple[str, str], list[float]] = {}
    audio: dict[tuple[str, str], float] = {}
    modes = [(n, "model") for n in a.systems] + ([("engine", "e2e")] if "engine" in workers else [])
    for _ in range(a.runs):
        for k in a.texts:
            for name, mode in modes:
                if mode == "model":
                    r = workers[name].call(op="run_tokens", segments=segs[k], voice=a.voice)
                else:
                    r = workers[name].call(op="run_text", text=TEXTS[k][1], lang=TEXTS[k][0], voice=a.voice)
                times.setdefault((k, f"{name}/{mode}"), []).append(r["s"])
                audio[(k, f"{name}/{mode}")] = r["audio_s"]
    final = {n: w.call(op="stats")["rss_mb"] for n, w in workers.items()}
    for w in workers.values():
        w.close()

    rows = []
    print(f"\nvoice {a.voice}, {THREADS} threads, median of {a.runs} runs, tokens from the {token_source} frontend\n")
    print(f"load average at start: {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f} (anything else running skews these numbers)\n")
    print("| text | tokens (segments) | system | audio s | median s | min s | RTF (median) | engine/onnx median |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for k in a.texts:
        ntok = sum(len(s) for s in segs[k])
        onnx_t = statistics.median(times[(k, "onnx/model")]) if "onnx" in workers else None
        for name, mode in modes:
            key = f"{name}/{mode}"
            t = statistics.median(times[(k, key)])
            ratio = (t / onnx_t) if (onnx_t and name != "onnx" and mode == "model") else None
            row = {"text": k, "tokens": ntok, "segments": len(segs[k]), "system": key, "audio_s": audio[(k, key)],
                   "median_s": t, "runs_s": times[(k, key)], "rtf": t / audio[(k, key)], "ratio_vs_onnx": ratio}
            rows.append(row)
            print(f"| {k} | {ntok} ({len(segs[k])}) | {key} | {row['audio_s']:.2f} | {t:.3f} | "
                  f"{min(times[(k, key)]):.3f} | {row['rtf']:.3f} | "
                  f"{'' if ratio is None else f'{ratio:.2f}x'} |")
    print("\n| system | startup s (process+imports+load) | imports s | load s | warm-up s | peak RSS MB (after load / end) |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, w in workers.items():
        h = w.hello
        print(f"| {n} | {h['startup_s']:.2f} | {h['import_s']:.2f} | {h['load_s']:.2f} | {h['warmup_s']:.2f} | "
              f"{h['rss_mb']:.0f} / {final[n]:.0f} |")

    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "speed.json"
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "threads": THREADS, "runs": a.runs,
            "voice": a.voice, "token_source": token_source, "loadavg_start": load_at_start}
    path.write_text(json.dumps({"meta": meta, "rows": rows, "segments": segs,
                                "systems": {n: {**w.hello, "rss_end_mb": final[n]} for n, w in workers.items()}},
                               indent=1), encoding="utf-8")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
