"""Command line: ``python -m indextts synth "text" -o out.wav``; ``phonemize "text"`` (how it will be read);
``glossary list|add|remove|import|export`` (the readings every request uses: the page's and the API's too);
``presets list|show|save|delete`` (named settings; ``synth --preset NAME`` uses one, explicit flags win).
``batch FILE.jsonl --out DIR`` (many jobs into files and a manifest; resumable; indextts/batch/).
``dialogue script.txt --speakers "Alice=af_heart,Bob=am_michael" -o talk.wav`` (several speakers, one file).

Exit codes: 0 success, 2 bad input or settings (the message says what to fix),
1 anything else (weights that cannot be built, unexpected failures); ``dub``: 3 when some cue was too long
even at 2x (the track is still written).
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
from .presets import check_voice_exists, open_store, preset_of, synthesis_options
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
    # no argparse defaults: a flag left out lets --preset fill it (SynthesisRequest's defaults otherwise)
    synth.add_argument("--speed", type=float, help="speaking rate, 0.25-4.0 (default 1.0)")
    synth.add_argument("--lang", choices=["auto", *LANGS], help="text language (default auto)")
    synth.add_argument("--preset", metavar="NAME", help="use a saved preset's settings (see: presets list); "
                                                        "the flags given here win over it")
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
    presets = sub.add_parser("presets", help="saved settings presets (paths.presets; made on the page or the API)")
    preset_actions = presets.add_subparsers(dest="action", required=True)
    preset_actions.add_parser("list", help="print every preset's name and settings")
    preset_actions.add_parser("show", help="print one preset as JSON").add_argument("name")
    preset_actions.add_parser("delete", help="remove a preset").add_argument("name")
    save_preset = preset_actions.add_parser("save", help="save settings as a preset (replaces one of the same "
                                                         "name); settings left out keep their defaults")
    save_preset.add_argument("name")
    save_preset.add_argument("--voice", help="voice name or mix")
    save_preset.add_argument("--speed", type=float, help="speaking rate, 0.25-4.0")
    save_preset.add_argument("--lang", choices=["auto", *LANGS], help="text language")
    save_preset.add_argument("--emotion", metavar="JSON", help='emotion vector, e.g. \'{"happy": 0.8}\'')
    save_preset.add_argument("--emotion-text", help="an emotion description, e.g. 'a little sad'")
    save_preset.add_argument("--emotion-weight", type=float, help="0-1: how far from neutral")
    save_preset.add_argument("--max-tokens", type=int, help="segment length in phoneme tokens")
    save_preset.add_argument("--pause", type=float, dest="pause_s", help="silence after a sentence, seconds")
    from .batch.command import add_arguments as add_batch_arguments

    add_batch_arguments(sub.add_parser("batch", help="many texts from a .jsonl or .txt file into audio files and "
                                                     "a manifest (rerun to resume); exit 1 if some jobs failed"))
    dialogue = sub.add_parser("dialogue", help="speak a multi-speaker script ('Alice: Hi.' per line) into one "
                                               "audio file, each speaker in their own voice")
    dialogue.add_argument("script", type=Path, help="the script file (UTF-8; '-' reads standard input)")
    dialogue.add_argument("--speakers", help="speaker voices: 'Alice=af_heart,Bob=am_michael' (or JSON); "
                                             "unmapped speakers get distinct default voices")
    dialogue.add_argument("-o", "--output", type=Path, required=True, help="output file (.wav .flac .ogg .mp3)")
    dialogue.add_argument("--gap", type=float, default=None, help="silence between turns in seconds, 0-5 "
                                                                  "(default 0.35)")
    dialogue.add_argument("--speed", type=float, default=1.0, help="speaking rate, 0.25-4.0 (default 1.0)")
    dialogue.add_argument("--lang", choices=["auto", *LANGS], default="auto", help="text language (default auto)")
    dialogue.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override engine.device")
    dub = sub.add_parser("dub", help="subtitles (.srt/.vtt) -> one audio track, each cue spoken in its time slot; "
                                     "exit 3 if some cue was too long even at 2x (the file is still written)")
    dub.add_argument("subtitles", type=Path, help="a SubRip (.srt) or WebVTT (.vtt) file, UTF-8")
    dub.add_argument("-o", "--output", type=Path, required=True, help="output file (.wav .flac .ogg .mp3)")
    dub.add_argument("--voice", help="voice name, OpenAI voice name or mix; default: the subtitles' language's")
    dub.add_argument("--speed", type=float, default=1.0, help="natural pace of every cue, 0.25-4.0 (default 1.0)")
    dub.add_argument("--lang", choices=["auto", *LANGS], default="auto", help="text language (default auto)")
    dub.add_argument("--fit", choices=["shrink", "fill"], default="shrink",
                     help="shrink: natural pace, faster only when too long (default); fill: every cue to its slot")
    dub.add_argument("--on-overflow", choices=["report", "error"], default="report",
                     help="a cue too long even at 2x: report (spoken at 2x past its end) or error (nothing made)")
    dub.add_argument("--emotion", metavar="TEXT", help="an emotion description, e.g. 'happy' or '平静'")
    dub.add_argument("--emotion-weight", type=float, default=1.0, help="0-1: how far from neutral (default 1)")
    dub.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override engine.device")
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
    given = {name: value for name, value in (("voice", args.voice), ("speed", args.speed), ("lang", args.lang),
                                             ("duration_s", args.duration)) if value is not None}
    preset = open_store(settings.paths.presets).get(args.preset, field="preset") if args.preset else None
    options = synthesis_options(preset, given) if preset is not None else given
    request = SynthesisRequest(_read_text(args), **options)  # checked now
    engine = Engine.load(settings, warm_up=False)
    if preset is not None and "voice" not in given:
        check_voice_exists(preset, lambda voice: _voice_known(engine, voice))
    result = engine.synthesize(request)
    write_audio(args.output, result.audio, result.sample_rate)
    if not args.quiet:
        for i, seg in enumerate(result.segments, 1):
            print(f"[{i}] {seg.lang} {seg.duration_s:5.2f}s  {seg.text}")
        print(f"wrote {args.output}: {result.duration_s:.2f} s of audio in {result.compute_s:.2f} s "
              f"(RTF {result.rtf:.2f}) on {engine.device}")
    return 0


def _voice_known(engine, voice: str) -> bool:
    try:
        engine.voices.resolve(voice)
    except InputError:
        return False
    return True


def _presets(args: argparse.Namespace) -> int:
    """The preset folder, as the page and the API see it (a running app sees a change at its next request)."""
    import json

    store = open_store(Settings.load(args.config).paths.presets)
    if args.action == "list":
        for preset in store.list():
            settings = {k: v for k, v in preset.settings.model_dump().items() if v is not None}
            print(f"{preset.name}\t{json.dumps(settings, ensure_ascii=False)}")
    elif args.action == "show":
        print(json.dumps(store.get(args.name).as_json(), ensure_ascii=False, indent=2))
    elif args.action == "save":
        values = {key: getattr(args, key) for key in ("voice", "speed", "lang", "emotion_text", "emotion_weight",
                                                      "max_tokens", "pause_s") if getattr(args, key) is not None}
        if args.emotion is not None:
            try:
                values["emotion"] = json.loads(args.emotion)
            except ValueError:
                raise InputError('--emotion must be a JSON object such as \'{"happy": 0.8}\'',
                                 field="emotion") from None
        preset = preset_of(values, args.name)
        print(f"{'replaced' if store.save(preset) else 'saved'} preset {preset.name}")
    else:
        print(f"deleted preset {store.delete(args.name).name}")
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


def _batch(args: argparse.Namespace) -> int:
    """``batch FILE --out DIR``: indextts/batch/command.py."""
    from .batch.command import run

    return run(args)


def _dialogue(args: argparse.Namespace) -> int:
    """A script -> one audio file (``indextts.dialogue``); the script, speakers and gap are checked before
    the model loads. Prints each turn's times."""
    from .dialogue import DEFAULT_GAP_S, DialogueRender, check_gap, parse_script, parse_speakers, script_dialogue
    from .engine import Engine

    overrides = {"engine": {"device": args.device}} if args.device else {}
    settings = Settings.load(args.config, overrides=overrides)
    try:
        script = sys.stdin.read() if str(args.script) == "-" else args.script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the script {args.script}: {exc}") from None
    gap_s = check_gap(DEFAULT_GAP_S if args.gap is None else args.gap)
    parse_script(script), parse_speakers(args.speakers)  # fail before loading the model, not after
    check_writable(args.output)
    engine = Engine.load(settings, warm_up=False)
    dialogue = script_dialogue(engine, script, args.speakers, gap_s, args.speed, args.lang,
                               settings.engine.max_chars)
    result = DialogueRender(engine, dialogue).run()
    write_audio(args.output, result.clip.audio, result.clip.sample_rate)
    for turn in result.turns:
        print(f"[{turn.index + 1}] {turn.start_s:8.3f}-{turn.end_s:8.3f}s  {turn.speaker} ({turn.voice}): {turn.text}")
    print(f"wrote {args.output}: {result.duration_s:.2f} s of audio, {len(result.turns)} turns, in "
          f"{result.clip.compute_s:.2f} s on {engine.device}")
    return 0


def _dub(args: argparse.Namespace) -> int:
    """Subtitles -> one timed track (indextts/dubbing.py): the cue table, then the too-long cues."""
    from . import dubbing
    from .emotion import spec_from_request
    from .engine import Engine
    from .subtitle_parse import parse_subtitles

    overrides = {"engine": {"device": args.device}} if args.device else {}
    settings = Settings.load(args.config, overrides=overrides)
    check_writable(args.output)  # fail before loading the model, not after
    try:
        data = args.subtitles.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {args.subtitles}: {exc}") from None
    subs = parse_subtitles(data)
    dubbing.check_limits(subs.cues)
    options = dubbing.DubOptions(args.fit, args.on_overflow)
    emotion = spec_from_request(text=args.emotion, weight=args.emotion_weight) if args.emotion else None
    template = SynthesisRequest(" ".join(c.text for c in subs.cues), voice=args.voice, speed=args.speed,
                                lang=args.lang, emotion=emotion)
    engine = Engine.load(settings, warm_up=False)
    template = template.but(voice=engine.resolve_voice(template))  # by the whole file's language, once
    print(f"{args.subtitles}: {subs.format}, {len(subs.cues)} cues"
          + (f" ({subs.skipped_empty} with no text skipped)" if subs.skipped_empty else ""), file=sys.stderr)
    result = dubbing.render(engine, subs.cues, template, options,
                            progress=lambda done, total: print(f"\rcue {done}/{total}", end="", file=sys.stderr))
    print(file=sys.stderr)
    write_audio(args.output, result.audio, result.sample_rate)
    print("\n".join(dubbing.table_lines(result.cues)))
    for cue in result.too_long:
        print(f"too long: cue {cue.index} needs {cue.needed_factor:.2f}x; spoken at 2x, heard until "
              f"{cue.rendered_end_s:.2f} s ({cue.overrun_s:.2f} s past its end)")
    print(f"wrote {args.output}: {result.duration_s:.2f} s, {len(result.cues)} cues, {len(result.too_long)} too "
          f"long, {len(result.late)} delayed, in {result.compute_s:.1f} s on {engine.device}")
    return 3 if result.too_long else 0


COMMANDS = {"dub": _dub, "synth": _synth, "phonemize": _phonemize, "glossary": _glossary, "presets": _presets,
            "batch": _batch, "dialogue": _dialogue}


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
