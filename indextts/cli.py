"""Command line: ``python -m indextts synth "text" -o out.wav``; ``phonemize "text"`` (how it will be read);
``glossary list|add|remove|import|export`` (the readings every request uses: the page's and the API's too).

Exit codes: 0 success, 2 bad input or settings (the message says what to fix),
1 anything else (weights that cannot be built, unexpected failures).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .atomic import atomic_path
from .audio import check_writable, write_audio
from .config import Settings
from .errors import IndexTTSError, InputError, ConfigError
from .request import SynthesisRequest
from .text.langdetect import LANGS

GLOSSARY_FORMATS = ("csv", "yaml")


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
    synth.add_argument("--duration", type=float, metavar="SECONDS",
                       help="make the clip last exactly this long (0.5x-2x of the text's natural length)")
    synth.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override engine.device")
    synth.add_argument("--list-voices", action="store_true", help="print the available voices and exit")
    synth.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    phonemize = sub.add_parser("phonemize", help="show how text will be read: segments (phonemes, tokens) and "
                                                 "words (pinyin for Chinese), glossary applied; no model needed")
    phonemize.add_argument("text", nargs="?", help="the text; '-' or omitted reads standard input")
    phonemize.add_argument("-f", "--file", type=Path, help="read the text from this UTF-8 file")
    phonemize.add_argument("--lang", choices=["auto", *LANGS], default="auto", help="text language (default auto)")
    glossary = sub.add_parser("glossary", help="the glossary: readings you set for terms (paths.glossary)")
    actions = glossary.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="print every entry: term, language, reading")
    add = actions.add_parser("add", help="add an entry, or replace the entry of the same term")
    add.add_argument("term", help="the text to read differently, e.g. 行长 or Kokoro")
    add.add_argument("lang", choices=LANGS, help="the term's language")
    add.add_argument("reading", help="zh: TONE3 pinyin, one syllable per character ('hang2 zhang3'); "
                                     "en: /Kokoro phonemes/ or a respelling ('KOH-ko-ro')")
    remove = actions.add_parser("remove", help="remove the entry of a term")
    remove.add_argument("term")
    load = actions.add_parser("import", help="add the entries of a CSV (term,lang,reading) or YAML file")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=GLOSSARY_FORMATS, help="default: from the file's extension")
    load.add_argument("--replace", action="store_true", help="the file becomes the whole glossary")
    save = actions.add_parser("export", help="write the glossary as CSV or YAML ('-': standard output)")
    save.add_argument("file", type=Path)
    save.add_argument("--format", choices=GLOSSARY_FORMATS, help="default: from the file's extension")
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
    request = SynthesisRequest(_read_text(args), voice=args.voice, speed=args.speed, lang=args.lang,
                               duration_s=args.duration)  # checked now
    engine = Engine.load(settings, warm_up=False)
    result = engine.synthesize(request)
    write_audio(args.output, result.audio, result.sample_rate)
    if not args.quiet:
        for i, seg in enumerate(result.segments, 1):
            print(f"[{i}] {seg.lang} {seg.duration_s:5.2f}s  {seg.text}")
        print(f"wrote {args.output}: {result.duration_s:.2f} s of audio in {result.compute_s:.2f} s "
              f"(RTF {result.rtf:.2f}) on {engine.device}")
    return 0


def _phonemize(args: argparse.Namespace) -> int:
    """Segments and words as the engine reads them, without loading the model (the text frontend alone)."""
    from .glossary_store import GlossaryStore
    from .text import Frontend

    settings = Settings.load(args.config)
    text = _read_text(args)
    SynthesisRequest(text, lang=args.lang)  # the checks every request gets (empty text, language)
    glossary = GlossaryStore(settings.paths.glossary).entries()
    frontend = Frontend(settings.engine.max_tokens_per_segment)
    segments = frontend.segments(text, lang=args.lang, glossary=glossary)
    if not segments:
        unreadable = frontend.unreadable(text, args.lang)
        raise InputError(unreadable.error() if unreadable else "the text has nothing that can be spoken")
    for i, seg in enumerate(segments, 1):
        print(f"[{i}] {seg.lang} {len(seg.tokens):3d} tokens  {seg.text}")
        print(f"    {seg.phonemes}")
    print("words:")
    for word in frontend.words(text, lang=args.lang, glossary=glossary):
        reading = " ".join(word.pinyin) if word.pinyin else ""
        print(f"  {word.lang}  {word.text}  {reading + '  ' if reading else ''}/{word.phonemes}/")
    return 0


def _glossary_format(path: Path, given: str | None) -> str:
    fmt = given or {".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of {path} from its extension: name it .csv or .yaml, or pass "
                         f"--format csv|yaml")
    return fmt


def _glossary(args: argparse.Namespace) -> int:
    """The glossary file, edited as the page and the API edit it (a running app sees the change at its next
    request)."""
    from .glossary_store import GlossaryStore, checked

    store = GlossaryStore(Settings.load(args.config).paths.glossary)
    if args.action == "list":
        for entry in store.entries():
            print(f"{entry.term}\t{entry.lang}\t{entry.reading}")
    elif args.action == "add":
        entry = checked(args.term, args.lang, args.reading)
        replaced = store.put(entry)
        print(f"{'replaced' if replaced else 'added'}: {entry.term} ({entry.lang}) -> {entry.reading}")
    elif args.action == "remove":
        if store.delete(args.term) is None:
            raise InputError(f"no glossary entry for {args.term!r} (see: python -m indextts glossary list)")
        print(f"removed: {args.term}")
    elif args.action == "import":
        fmt = _glossary_format(args.file, args.format)
        try:
            data = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {args.file}: {exc}") from None
        count = store.import_text(data, fmt, replace=args.replace)
        print(f"imported {count} entries from {args.file}; the glossary has {len(store.entries())}")
    else:  # export
        if str(args.file) == "-":
            sys.stdout.write(store.export_text(args.format or "yaml"))
            return 0
        fmt = _glossary_format(args.file, args.format)
        if not args.file.parent.is_dir():
            raise InputError(f"output folder does not exist: {args.file.parent}")
        with atomic_path(args.file) as tmp:
            tmp.write_text(store.export_text(fmt), encoding="utf-8")
        print(f"wrote {len(store.entries())} entries to {args.file}")
    return 0


COMMANDS = {"synth": _synth, "phonemize": _phonemize, "glossary": _glossary}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except IndexTTSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
