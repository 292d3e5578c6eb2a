"""Memory of a long batch: 200 short jobs through the batch runner, with the process's RSS sampled.

Loads the real engine in this process (CPU, 2 threads, as the app does), builds N short jobs (English and
Mandarin, several stock voices, wav/mp3/flac, every text different so the segment cache cannot serve them)
and runs them with ``indextts.batch.runner.run_jobs`` into a temporary folder. A sampler thread reads
/proc/self/status (VmRSS) every 0.1 s; the RSS is also noted after each job.

"Flat" (issue 19): after the warm-up jobs, no growth trend. Reported: RSS after load, after the warm-up,
the median of each tenth of the run, the peak, and the least-squares slope of RSS over the jobs after the
warm-up (MB per 100 jobs). Passes (exit 0) when the slope is under --max-slope-mb (per 100 jobs) and the
last tenth's median is within --max-growth-mb of the first tenth's after the warm-up.

Usage:
  python bench/batch_memory.py [--jobs 200] [--warmup 20] [--max-slope-mb 10] [--max-growth-mb 30]
Writes bench/out/batch_memory.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indextts.batch.jobs import parse_jobs  # noqa: E402
from indextts.batch.runner import run_jobs  # noqa: E402
from indextts.config import Settings  # noqa: E402

EN = ["The train was late again this morning, number {i}.", "Please close window {i} before you leave.",
      "Order {i} left the warehouse at noon.", "Room {i} is on the second floor.",
      "Call me back after meeting {i}, please."]
ZH = ["今天是第{i}天，天气很好。", "请把第{i}份文件发给我。", "第{i}号列车马上就要进站了。"]
VOICES_EN = ["af_heart", "am_michael", "bf_emma", "af_bella"]
VOICES_ZH = ["zf_xiaobei", "zm_yunxi"]
FORMATS = ["wav", "mp3", "flac"]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def batch_file(count: int) -> str:
    lines = []
    for i in range(count):
        zh = i % 4 == 3
        text = (ZH if zh else EN)[i % len(ZH if zh else EN)].format(i=i + 1)
        voices = VOICES_ZH if zh else VOICES_EN
        lines.append(json.dumps({"id": f"job{i:03d}", "text": text, "voice": voices[i % len(voices)],
                                 "format": FORMATS[i % len(FORMATS)]}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def slope_per_100(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, statistics.fmean(values)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    var = sum((x - mean_x) ** 2 for x in range(n))
    return cov / var * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-slope-mb", type=float, default=10.0)
    parser.add_argument("--max-growth-mb", type=float, default=30.0)
    args = parser.parse_args()

    from indextts.engine import Engine

    settings = Settings.load(overrides={"engine": {"device": "cpu", "threads": 2}})
    start_mb = rss_mb()
    engine = Engine.load(settings)
    load_mb = rss_mb()
    jobs = parse_jobs(batch_file(args.jobs), "jsonl", {}, settings.engine.max_chars).jobs
    assert len(jobs) == args.jobs

    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), rss_mb()))
            time.sleep(0.1)

    per_job: list[float] = []
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="batch-memory-") as folder:
        summary = run_jobs(jobs, Path(folder), engine, on_job=lambda outcome, index: per_job.append(rss_mb()))
        files = len(list(Path(folder).glob("job*")))
    stop.set()
    sampler.join()
    elapsed = time.perf_counter() - began

    after = per_job[args.warmup:]
    tenth = max(1, len(after) // 10)
    tenths = [statistics.median(after[i:i + tenth]) for i in range(0, len(after) - tenth + 1, tenth)]
    slope = slope_per_100(after)
    growth = tenths[-1] - tenths[0]
    peak = max(mb for _, mb in samples)
    ok = summary.failed == 0 and files == args.jobs and slope < args.max_slope_mb and growth < args.max_growth_mb
    result = {"jobs": args.jobs, "warmup": args.warmup, "failed": summary.failed, "files": files,
              "audio_s": round(summary.audio_s, 1), "elapsed_s": round(elapsed, 1),
              "rss_start_mb": round(start_mb), "rss_after_load_mb": round(load_mb),
              "rss_after_warmup_mb": round(per_job[args.warmup - 1]), "rss_tenths_mb": [round(v) for v in tenths],
              "rss_end_mb": round(per_job[-1]), "rss_peak_mb": round(peak),
              "slope_mb_per_100_jobs": round(slope, 2), "growth_first_to_last_tenth_mb": round(growth, 1),
              "flat": ok}
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "batch_memory.json").write_text(json.dumps({**result, "per_job_rss_mb": [round(v, 1) for v in per_job]},
                                                      indent=1))
    print(f"| jobs | audio | wall | RSS load | after warm-up ({args.warmup}) | tenths (median) | end | peak | "
          f"slope /100 jobs | flat |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.jobs} ({summary.failed} failed) | {summary.audio_s:.0f} s | {elapsed:.0f} s | {load_mb:.0f} MB | "
          f"{per_job[args.warmup - 1]:.0f} MB | {' '.join(f'{v:.0f}' for v in tenths)} | {per_job[-1]:.0f} MB | "
          f"{peak:.0f} MB | {slope:+.1f} MB | {'yes' if ok else 'NO'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
