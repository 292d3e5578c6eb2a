"""``python -m indextts batch FILE --out DIR``: every job of a JSONL or text file into DIR, with a progress bar.

Exit codes: 0 every job written (now or by an earlier run), 1 some lines were bad or some jobs failed (the
others are written; the manifest and the messages name them), 2 the file or the settings are unusable
(nothing ran). Rerunning the same command resumes: finished files with the same options are skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ..config import Settings
from ..errors import InputError
from ..request import LANGS
from ..server.audio_codec import RESPONSE_FORMATS

FLAG_DEFAULTS = ("voice", "speed", "lang", "format")  # the flags that give lines their missing options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .jsonl file (one {\"id\", \"text\", ...options} a line) or a "
                                                ".txt file (one job per paragraph)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the audio files and manifest.jsonl")
    parser.add_argument("--voice", help="voice for lines that set none (default: the text language's)")
    parser.add_argument("--speed", type=float, help="speed for lines that set none (0.25-4.0)")
    parser.add_argument("--lang", choices=LANGS, help="language for lines that set none")
    parser.add_argument("--format", choices=[f for f in RESPONSE_FORMATS if f != "pcm"] + ["ogg"],
                        help="audio format for lines that set none (default wav)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override engine.device")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only errors")


def run(args: argparse.Namespace) -> int:
    """The command (InputError: the caller prints it and exits 2)."""
    from .jobs import check_defaults, guess_kind, parse_jobs  # the speech API's model: imports the engine
    from .runner import MANIFEST, JobOutcome, run_jobs

    overrides = {"engine": {"device": args.device}} if args.device else {}
    settings = Settings.load(args.config, overrides=overrides)
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read batch file {args.file}: {exc}") from None
    defaults = {name: getattr(args, name) for name in FLAG_DEFAULTS if getattr(args, name) is not None}
    check_defaults(defaults, settings.engine.max_chars)
    from ..presets import open_store

    parsed = parse_jobs(text, guess_kind(text, args.file.name), defaults, settings.engine.max_chars,
                        presets=open_store(settings.paths.presets), max_jobs=None)
    for bad in parsed.invalid:
        print(f"{args.file}:{bad.line}: {bad.error}", file=sys.stderr)
    if not parsed.jobs:
        raise InputError(f"{args.file} has no valid job ({len(parsed.invalid)} bad line(s))")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {args.out}: {exc}") from None

    from tqdm import tqdm

    from ..engine import Engine  # heavy imports (torch) only once the file is known to be usable

    engine = Engine.load(settings, warm_up=False)
    bar = tqdm(total=len(parsed.jobs), unit="job", disable=args.quiet, dynamic_ncols=True, file=sys.stderr)
    failed = 0

    def on_job(outcome: "JobOutcome", _index: int) -> None:
        nonlocal failed
        if outcome.status == "failed":
            failed += 1
            bar.write(f"{args.file}:{outcome.job.line}: job {outcome.job.id} failed: {outcome.error}",
                      file=sys.stderr)
        bar.set_postfix_str(f"{outcome.job.id} {outcome.status}" + (f", {failed} failed" if failed else ""))
        bar.update(1)

    try:
        summary = run_jobs(parsed.jobs, args.out, engine, on_job=on_job)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted; run the same command again to finish (written files are kept: {args.out})",
              file=sys.stderr)
        return 130
    bar.close()
    if not args.quiet:
        print(f"{summary.done} written, {summary.skipped} already done, {summary.failed} failed, "
              f"{len(parsed.invalid)} bad line(s); {summary.audio_s:.1f} s of audio in {summary.elapsed_s:.1f} s; "
              f"manifest: {args.out / MANIFEST}")
    return 0 if summary.ok and not parsed.invalid else 1

