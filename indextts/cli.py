"""Command line: ``python -m indextts synth "text" -o out.wav``.

Exit codes: 0 success, 2 bad input or settings (the message says what to fix),
1 anything else (weights that cannot be built, unexpected failures).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .audio import check_writable, write_audio
from .config import Settings
from .errors import IndexTTSError, InputError, ConfigError
from .request import SynthesisRequest
from .text.langdetect import LANGS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m indextts", description="IndexTTS WebUI command line")
    parser.add_argument("--config", type=Path, help="settings file (default: config.yaml beside the code)")
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="speak text into an audio file")
    synth.add_argument("text", nargs="?", help="text to speak; '-' or omitted reads standard input")
    synth.add_argument("-f", "--file", type=Path, help="read the text from this UTF-8 file")
    synth.add_argument("-o", "--output", type=Path, help="output file (.wav .flac .ogg .mp3)")
    synth.add_argument("--voice", help="voice name (see --list-voices), OpenAI voice name, or a mix such as "
                                       "af_bella+af_sky; default: the text language's default voice")
    synth.add_argument("--speed", type=float, default=1.0, help="speaking rate, 0.25-4.0 (default 1.0)")
    synth.add_argument("--lang", choices=["auto", *LANGS], default="auto", help="text language (default auto)")
    synth.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override engine.device")
    synth.add_argument("--list-voices", action="store_true", help="print the available voices and exit")
    synth.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return parser


def _read_text(args: argparse.Namespace) -> str:
    if args.file is not None:
        try:
            return args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read text file {args.file}: {exc}") from None
    if args.text is not None and args.text != "-":
        return args.text
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("no text given: pass it as an argument, with -f FILE, or on standard input")
    return sys.stdin.read()


def _synth(args: argparse.Namespace) -> int:
    from .engine import Engine  # heavy imports (torch) only when actually needed
    from .voices import VoiceBank
    from .weights import ensure_weights

    overrides = {"engine": {"device": args.device}} if args.device else {}
    settings = Settings.load(args.config, overrides=overrides)
    if args.list_voices:
        paths = ensure_weights(settings.paths.cache_hub)
        voices = VoiceBank.from_files([paths.voices, paths.all_voices])
        for name in voices.names:
            info = voices.info(name)
            print(f"{name:14} {info.language_name or '':22} {info.gender or ''}".rstrip())
        return 0
    if args.output is None:
        raise InputError("missing -o/--output: where should the audio go? e.g. -o out.wav")
    check_writable(args.output)  # fail before loading the model, not after
    request = SynthesisRequest(_read_text(args), voice=args.voice, speed=args.speed, lang=args.lang)  # checked now
    engine = Engine.load(settings, warm_up=False)
    result = engine.synthesize(request)
    write_audio(args.output, result.audio, result.sample_rate)
    if not args.quiet:
        for i, seg in enumerate(result.segments, 1):
            print(f"[{i}] {seg.lang} {seg.duration_s:5.2f}s  {seg.text}")
        print(f"wrote {args.output}: {result.duration_s:.2f} s of audio in {result.compute_s:.2f} s "
              f"(RTF {result.rtf:.2f}) on {engine.device}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _synth(args)
    except (InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except IndexTTSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
