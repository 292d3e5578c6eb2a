"""The engine: text + voice + speed -> 24 kHz speech, with per-segment details.

One engine per process. It owns the model (loaded once, warmed up), the voice
bank and the text frontend, and serialises model calls with a lock so any
number of callers (CLI, UI, API) can share it. It imports no UI or web code.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from .audio import limit_peak, speech_bounds
from .config import Settings
from .emotion import EmotionSpec
from .emotion.apply import emotional_prosody, finish_audio, voice_shifted
from .errors import Cancelled, ConfigError, InputError
from .fair_lock import FairLock
from .model import MAX_TOKENS, SAMPLE_RATE, KokoroModel, Prosody, fusion, load_model
from .model.devices import release_gpu_memory
from .model.host_memory import IdleRelease
from .model.kokoro import SAMPLES_PER_FRAME, speech_span
from .model.precision import decoder_dtype
from .segment_cache import SegmentCache
from .text import Frontend, Segment
from .voice_library import VoiceLibrary, blend
from .text.langdetect import LANGS as TEXT_LANGS, main_lang
from .voices import ALL_VOICES_HINT, Voice, VoiceBank, session_voice, stock_info
from .weights import ensure_weights

log = logging.getLogger(__name__)

SPEED_RANGE = (0.25, 4.0)  # OpenAI's range; past 2x, short sounds reach the model's one-frame floor
MIN_SEGMENT_TOKENS = 16
LANGS = ("auto", *TEXT_LANGS)
FALLBACK_VOICE = "jm_kumo"  # always installed (the required voice packs)
# Voices a clone may start from: the fit renders English sentences, so the English voices, plus the five
# shipped packs (the bases before the native voices came). Each base costs ~1-2 s of statistics per install.
FIT_BASE_LANGUAGES = ("en-US", "en-GB", "ja")


@dataclass(frozen=True)
class SegmentResult:
    text: str
    lang: str
    phonemes: str
    tokens: tuple[int, ...]
    audio: np.ndarray  # this segment's speech, edge silence trimmed, not yet peak-limited
    trim_start_s: float  # leading silence cut from the model's output: aligns the prosody curves
    prosody: Prosody  # the model's durations, F0 and energy for this segment
    compute_s: float
    ends: str = "sentence"  # where the text is cut after it (Segment.ends): decides the pause that follows

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class SynthesisResult:
    audio: np.ndarray  # float32 mono, peak below full scale
    sample_rate: int
    segments: list[SegmentResult]
    compute_s: float

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def rtf(self) -> float:
        """Real-time factor: compute time / audio time (below 1 is faster than real time)."""
        return self.compute_s / self.duration_s if self.duration_s else float("inf")


# A cut at a clause break gets about the silence the comma had when the sentence was rendered whole: rendered
# whole vs as two trimmed halves, 13 sentences x 4 voices (en, zh) lost a median 0.17 s (-0.17 to 0.34 s).
# A cut between words (a sentence with no clause break over the budget) gets none.
CLAUSE_PAUSE_S = 0.17


def pause_after(segment: SegmentResult, pause_s: float) -> float:
    """Seconds of silence after ``segment`` when another follows: ``pause_s`` after a sentence,
    at most CLAUSE_PAUSE_S after a clause cut, none after a cut between words."""
    if segment.ends == "clause":
        return min(pause_s, CLAUSE_PAUSE_S)
    return 0.0 if segment.ends == "word" else pause_s


def segment_audio(segment: SegmentResult) -> np.ndarray:
    """A segment's audio as it sounds in the joined clip and in every stream: its peaks limited."""
    return limit_peak(segment.audio, SAMPLE_RATE)


def pick_device(requested: str) -> str:
    """``engine.device`` -> the device to load on: auto is CUDA when PyTorch sees a GPU."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was requested but no CUDA GPU is available; use device 'auto' or 'cpu'")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


class Engine:
    def __init__(self, model: KokoroModel, voices: VoiceBank, frontend: Frontend, settings: Settings) -> None:
        self.model = model
        self.voices = voices
        self.frontend = frontend
        self.settings = settings
        self._lock = FairLock()  # model calls, one at a time, in arrival order (first segments first)
        self._requests = IdleRelease()  # freed memory goes back to the system when no request is left
        self._voice_fitter = None  # built on the first clone (loads the speaker encoder)
        self._fit_lock = threading.Lock()  # one fit at a time; its model work takes turns with speech
        self.cache: SegmentCache[SegmentResult] = SegmentCache(settings.engine.cache_audio_s)
        self._closing = threading.Event()  # ends background work (``close``)
        self._background: list[threading.Thread] = []

    @classmethod
    def load(cls, settings: Settings | None = None, warm_up: bool = True) -> "Engine":
        """Verify (or build) the weights, load the model once, and warm it up.

        With ``engine.device: auto`` a GPU that fails to load or warm up the model (driver, memory, a
        kernel missing for this GPU) is reported in the log and the CPU is used instead."""
        settings = settings or Settings.load()
        cfg = settings.engine
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        paths = ensure_weights(settings.paths.cache_hub)
        device = pick_device(cfg.device)
        try:
            return cls._load_on(device, paths, settings, warm_up)
        except (InputError, ConfigError):
            raise  # the settings are wrong, not the device
        except Exception as exc:
            if cfg.device != "auto" or device == "cpu":
                raise
            log.warning("the model could not start on the GPU (%s: %s); using the CPU instead. Set "
                        "engine.device to cpu to skip the GPU, or to cuda to make this an error",
                        type(exc).__name__, exc, exc_info=True)
        release_gpu_memory()  # outside the handler: its traceback no longer holds the GPU model
        return cls._load_on("cpu", paths, settings, warm_up)

    @classmethod
    def _load_on(cls, device: str, paths, settings: Settings, warm_up: bool) -> "Engine":
        cfg = settings.engine
        started = time.perf_counter()
        try:
            dtype = decoder_dtype(cfg.decoder_precision, device)
        except ValueError as exc:
            raise ConfigError(f"engine.precision: {exc}") from exc
        model = load_model(paths.model, paths.config, device=device, int8=cfg.int8, decoder_dtype=dtype)
        if cfg.compile:  # CPU: inductor's C++ kernels; CUDA: Triton; compiled by the warm-up below
            fusion.enable(settings.paths.cache_hub / "compiled")
        voices = VoiceBank.from_files([paths.voices, paths.all_voices], VoiceLibrary(settings.paths.voices))
        engine = cls(model, voices, Frontend(cfg.max_tokens_per_segment), settings)
        engine._check_default_voices(all_voices_installed=paths.all_voices is not None)
        if warm_up:  # both languages: the first Mandarin call also loads the dictionaries (~1 s)
            engine.synthesize("Hello.", lang="en")
            engine.synthesize("你好。", lang="zh")
            engine.prepare_cloning()  # stock voices' fit statistics: measured once per install, in the background
        log.info("engine ready on %s (%s) in %.1f s", device, engine.precision, time.perf_counter() - started)
        return engine

    @property
    def device(self) -> str:
        return str(self.model.device)

    @property
    def precision(self) -> str:
        """The decoder's precision as it runs: fp32 (with int8 convolutions on the CPU), fp16 or bf16."""
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self.model.decoder.dtype, "fp32")

    def default_voice(self, text: str = "", lang: str = "auto") -> str:
        """The voice for a request that names none: ``engine.default_voice`` if set, else the default for the
        text's language (``lang``, or with auto the text's main language); the five Japanese packs' jm_kumo
        stands in while the native voices are not installed."""
        cfg = self.settings.engine
        if cfg.default_voice:
            return cfg.default_voice
        wanted = cfg.default_voice_zh if (lang if lang in TEXT_LANGS else main_lang(text)) == "zh" \
            else cfg.default_voice_en
        return wanted if self.voices.kind(wanted) is not None else FALLBACK_VOICE

    @property
    def default_voices(self) -> dict[str, str]:
        """The default voice per language, as requests get it now."""
        return {lang: self.default_voice(lang=lang) for lang in TEXT_LANGS}

    def _check_default_voices(self, all_voices_installed: bool) -> None:
        cfg = self.settings.engine
        for key in ("default_voice", "default_voice_en", "default_voice_zh"):
            name = getattr(cfg, key)
            if not name or self.voices.kind(name) is not None:
                continue
            if key != "default_voice" and not all_voices_installed:
                log.warning("engine.%s %r is one of the 54 Kokoro voices, which are not installed; %s is used "
                            "until they are: %s", key, name, FALLBACK_VOICE, ALL_VOICES_HINT)
                continue
            raise ConfigError(f"engine.{key} {name!r} is not a voice; available: {', '.join(self.voices.names)}")

    def segments(self, text: str, lang: str = "auto", max_tokens: int | None = None,
                 first_max_tokens: int | None = None) -> list[Segment]:
        """Validate and split text into model-sized segments (no audio): used for previews too.
        ``first_max_tokens`` (None or 0: off) cuts the first sentence at a clause break for sooner first
        audio: streamed API replies ask for it (``engine.stream_first_tokens``); everything else renders the
        first sentence whole, as one rendering reads it best and ~10 % faster for a short text."""
        self._check_text(text)
        if lang not in LANGS:
            raise InputError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
        for limit in (max_tokens, first_max_tokens or None):
            if limit is not None and not MIN_SEGMENT_TOKENS <= limit <= MAX_TOKENS:
                raise InputError(f"max tokens per segment must be {MIN_SEGMENT_TOKENS}-{MAX_TOKENS}, got {limit}")
        segments = self.frontend.segments(text, lang=lang, max_tokens=max_tokens,
                                          first_max_tokens=first_max_tokens or None)
        if not segments:
            unreadable = self.frontend.unreadable(text, lang)
            raise InputError(unreadable.error() if unreadable
                             else "the text has nothing that can be spoken (only symbols or emoji?)")
        return segments

    def synthesize(
        self,
        text: str,
        voice: str | Voice | None = None,
        speed: float = 1.0,
        lang: str = "auto",
        max_tokens: int | None = None,
        pause_s: float | None = None,
        emotion: EmotionSpec | None = None,
    ) -> SynthesisResult:
        """The whole text as one clip: the segments of ``stream`` joined by ``join``.
        ``emotion`` None keeps the voice's own prosody (mode 1); see ``indextts.emotion``."""
        pause_s = self._check_pause(pause_s)
        started = time.perf_counter()
        segments = list(self.stream(text, voice, speed, lang, max_tokens, emotion))
        return self.join(segments, pause_s, time.perf_counter() - started)

    def stream(
        self,
        text: str,
        voice: str | Voice | None = None,
        speed: float = 1.0,
        lang: str = "auto",
        max_tokens: int | None = None,
        emotion: EmotionSpec | None = None,
        first_max_tokens: int | None = None,
    ) -> Iterator[SegmentResult]:
        """Validate everything now, then yield each segment's audio as soon as it is made.
        Segments are rendered as they are pulled: a caller that stops pulling stops the work.
        ``voice``: a name (or mix) for ``VoiceBank.resolve``, or a ``Voice`` (an unsaved clone)."""
        resolved = voice if isinstance(voice, Voice) else \
            self.voices.resolve(voice or self.default_voice(text, lang))  # once per request
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise InputError(f"speed must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}, got {speed}")
        segments = self.segments(text, lang, max_tokens, first_max_tokens)
        if emotion is not None and not isinstance(emotion, EmotionSpec):
            raise InputError(f"emotion must be an EmotionSpec or None, got {type(emotion).__name__}")
        return self._rendered(segments, resolved, speed, emotion)

    def _rendered(self, segments: list[Segment], voice: Voice, speed: float,
                  emotion: EmotionSpec | None) -> Iterator[SegmentResult]:
        """Each segment rendered as it is pulled. The request is active from its first segment until its last
        (or until the caller stops pulling); the last active request to end releases freed memory."""
        with self._requests.job():
            for i, segment in enumerate(segments):
                yield self._speak(segment, voice, speed, emotion, i)

    def join(self, segments: list[SegmentResult], pause_s: float | None = None,
             compute_s: float | None = None) -> SynthesisResult:
        """Concatenate segments, each peak-limited on its own, with ``pause_s`` of silence after a sentence
        (``pause_after``: less after a cut inside one), so the clip is sample for sample what a streaming
        caller (``stream_pieces``) received."""
        pieces = list(self.stream_pieces(segments, pause_s))
        compute_s = sum(seg.compute_s for seg in segments) if compute_s is None else compute_s
        return SynthesisResult(np.concatenate(pieces), SAMPLE_RATE, segments, compute_s)

    def stream_pieces(self, segments: Iterable[SegmentResult], pause_s: float | None = None) -> Iterator[np.ndarray]:
        """Each segment as it will sound in the joined clip: the pause before it (none before the
        first; ``pause_after`` the previous one), then its audio peak-limited. Lazy: pass ``stream(...)``
        to play as it is made."""
        pause_s = self._check_pause(pause_s)  # checked now

        def pieces() -> Iterator[np.ndarray]:
            previous = None
            for seg in segments:
                audio = segment_audio(seg)
                if previous is not None:
                    gap = np.zeros(int(pause_after(previous, pause_s) * SAMPLE_RATE), dtype=np.float32)
                    audio = np.concatenate([gap, audio])
                previous = seg
                yield audio
        return pieces()

    def _speak(self, segment: Segment, voice: Voice, speed: float, emotion: EmotionSpec | None = None,
               index: int = 0) -> SegmentResult:
        started = time.perf_counter()
        key = self._cache_key(segment, voice, speed, emotion, index)
        cached = self.cache.get(key) if key is not None else None
        if cached is not None:
            return replace(cached, text=segment.text, ends=segment.ends, compute_s=time.perf_counter() - started)
        result = self._render(segment, voice, speed, emotion, index, started)
        if key is not None:
            self.cache.put(key, result, result.duration_s)
        return result

    def _cache_key(self, segment: Segment, voice: Voice, speed: float, emotion: EmotionSpec | None,
                   index: int) -> tuple | None:
        """What decides a segment's audio; None when caching is off or the emotion is not hashable.
        Emotion variation is seeded per segment index, so the index is part of an emotional key."""
        if not self.cache.enabled:
            return None
        try:
            hash(emotion)
        except TypeError:
            return None
        return (segment.tokens, voice.fingerprint, speed, emotion,
                index if emotion is not None else None)

    def _render(self, segment: Segment, voice: Voice, speed: float, emotion: EmotionSpec | None, index: int,
                started: float) -> SegmentResult:
        style = voice.style(len(segment.tokens)).to(self.model.device)
        shift = voice.f0_shift_st  # a cloned voice's pitch correction (0 for stock voices)
        tokens = torch.tensor([[0, *segment.tokens, 0]], dtype=torch.long, device=self.model.device)
        # A request's first segment is urgent: under load its first audio waits for one segment, not a round.
        with self._lock.turn(urgent=index == 0), torch.inference_mode():
            prosody = self.model.predict_prosody(tokens, style, speed)
            if emotion is not None:  # between the predictor and the decoder: the model's own curves
                prosody, gain_db = emotional_prosody(self.model, tokens, style, speed, prosody, emotion, index,
                                                     shift)
            else:
                prosody = voice_shifted(prosody, shift)
            span = speech_span(prosody)  # the edge silence is trimmed below: not rendered at all
            audio = self.model.render(tokens, style, prosody, span).float().cpu().numpy()
        if emotion is not None:
            audio = finish_audio(audio, gain_db)
        start, end = speech_bounds(audio, SAMPLE_RATE)
        lead_in = span[0] * SAMPLES_PER_FRAME + start
        # results outlive the call (segment cache, page state): they keep CPU copies, no GPU memory
        return SegmentResult(segment.text, segment.lang, segment.phonemes, segment.tokens, audio[start:end],
                             lead_in / SAMPLE_RATE, prosody.to("cpu"), time.perf_counter() - started, segment.ends)

    # ------------------------------------------------------------------ voice cloning
    def clone_voice(self, source, name: str | None = None, save: bool = False, steps: int | None = None,
                    progress: Callable[[float, str], None] | None = None,
                    cancel: threading.Event | None = None) -> dict:
        """Fit a voice to a reference clip (path, bytes or (sample_rate, array)); returns its description,
        with ``voice_value``: the ``Voice`` to speak with.

        The fit is cached per processed clip (sha256) and step count. Fits run one at a time, and each of
        their model steps takes a turn on the model like a speech segment, so speech goes on during a fit.
        Setting ``cancel`` (or closing the engine) stops the fit at its next step (``Cancelled``).
        Unsaved, the voice is ``clone-<sha8>``, in no shared list: the caller keeps ``voice_value``;
        with ``save`` it is written to the library as ``name``."""
        from .cloning.fit import FIT_METHOD, FitConfig
        from .cloning.preprocess import load_reference
        library = self._library()
        if save:
            name = library.check_new_name(name or "")
            if name in library:
                raise InputError(f"a voice named {name!r} already exists; pick another name")
        ref = load_reference(source)
        cfg = FitConfig() if steps is None else FitConfig(steps=int(steps))
        with self._fit_lock:  # a second clone of the same clip waits here, then finds the fit cached
            self._check_cancel(cancel)
            cached = library.cached_fit(ref.sha256, cfg.steps)
            cached_hit = cached is not None and cached[1].get("fit_method") == FIT_METHOD
            if cached_hit:
                pack, meta = cached
            else:
                result = self._fitter().fit(ref.audio, ref.sample_rate, cfg, progress,
                                            turn=lambda: self._fit_turn(cancel))
                meta = {"kind": "cloned", "base_voice": result.base_voice, "sha256": ref.sha256,
                        "fit_method": FIT_METHOD,
                        "similarity_base": round(result.similarity_start, 4),
                        "similarity_fit": round(result.similarity, 4),
                        "reference_f0_hz": round(result.ref_f0_hz, 1), "model_f0_hz": round(result.out_f0_hz, 1),
                        # the clone's median pitch as rendered with its correction (YIN), else the model's
                        "fitted_f0_hz": round(result.shifted_f0_hz if math.isfinite(result.shifted_f0_hz)
                                              else result.out_f0_hz, 1),
                        "f0_shift_st": result.f0_shift_st,
                        "fit_s": round(result.fit_s, 2), "steps": result.steps,
                        "reference_s": round(ref.duration_s, 2), "speech_s": round(ref.speech_s, 2),
                        "notes": ref.notes}
                release_gpu_memory()  # the fit's autograd buffers
                library.store_fit(ref.sha256, cfg.steps, result.pack, meta)
                pack = result.pack
        voice = session_voice(f"clone-{ref.sha256[:8]}", pack, meta.get("f0_shift_st", 0.0))
        if save:
            library.save(name, pack, meta, ref.audio, ref.sample_rate)
            voice = self.voices.resolve(name)
        return {**meta, "voice": voice.name, "voice_value": voice, "cached": cached_hit, "saved": bool(save)}

    @contextmanager
    def _fit_turn(self, cancel: threading.Event | None) -> Iterator[None]:
        """One model turn of a fit, queued behind speech segments in arrival order; a cancelled fit (or a
        closing engine) stops here."""
        self._check_cancel(cancel)
        with self._lock.turn(urgent=False):
            self._check_cancel(cancel)
            yield

    def _check_cancel(self, cancel: threading.Event | None) -> None:
        if self._closing.is_set():
            raise Cancelled("the engine is shutting down; the voice fit was stopped")
        if cancel is not None and cancel.is_set():
            raise Cancelled("the voice fit was cancelled")

    def save_voice(self, voice: str | Voice, name: str) -> dict:
        """Save an unsaved clone (its ``Voice``) or copy any voice (or mix) into the library as ``name``."""
        source = voice if isinstance(voice, Voice) else self.voices.resolve(voice)
        name = self._library().check_new_name(name)
        meta = {"kind": "cloned", "source_voice": source.name, "f0_shift_st": source.f0_shift_st}
        return self._library().save(name, source.pack, meta)

    def blend_voices(self, a: str, b: str, weight_b: float, name: str) -> dict:
        """Save ``(1 - weight_b) * a + weight_b * b`` as a library voice ``name``."""
        name = self._library().check_new_name(name)
        first, second = self.voices.resolve(a), self.voices.resolve(b)
        pack = blend(first.pack, second.pack, float(weight_b))
        shift = (1 - float(weight_b)) * first.f0_shift_st + float(weight_b) * second.f0_shift_st
        return self._library().save(name, pack, {"kind": "blend", "blend": [a, b], "weight": float(weight_b),
                                                 "f0_shift_st": round(shift, 2)})

    @property
    def clone_bases(self) -> list[str]:
        """The stock voices a clone may start from (``FIT_BASE_LANGUAGES``)."""
        return sorted(self._fitter().stock)

    def prepare_cloning(self, background: bool = True) -> threading.Thread | None:
        """Measure the stock voices' fit statistics that are not on disk yet (about 1-2 s per voice on 2 cores,
        once per install), one voice per model turn so speech requests keep their place; a clone that
        starts first measures the rest itself. Returns the thread (None when nothing is left to measure)."""
        fitter = self._fitter()
        missing = fitter.unmeasured()
        if not missing:
            return None

        def measure() -> None:
            started = time.perf_counter()
            for done, name in enumerate(missing, 1):
                with self._lock.turn(urgent=False):
                    if self._closing.is_set():
                        return
                    fitter.prepare([name])
                if done % 10 == 0 or done == len(missing):
                    log.info("voice cloning: measured %d/%d stock voices (%.0f s)", done, len(missing),
                             time.perf_counter() - started)

        if not background:
            measure()
            return None
        thread = threading.Thread(target=measure, name="stock-voice-statistics", daemon=True)
        thread.start()
        if not self._background:
            atexit.register(self.close)  # scripts that exit without close()
        self._background.append(thread)
        return thread

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop background work at its next model turn and wait for it (a thread stopped inside a model
        call at interpreter exit aborts the process)."""
        self._closing.set()
        for thread in self._background:
            thread.join(timeout_s)
        self._background.clear()

    def _library(self) -> VoiceLibrary:
        if self.voices.library is None:
            self.voices.library = VoiceLibrary(self.settings.paths.voices)
        return self.voices.library

    def _fitter(self):
        if self._voice_fitter is None:
            from .cloning.fit import VoiceFitter

            tokenize = lambda text: self.frontend.segments(text, "en")[0].tokens  # noqa: E731
            bases = {name: pack for name, pack in self.voices.stock_packs.items()
                     if stock_info(name).language in FIT_BASE_LANGUAGES}
            self._voice_fitter = VoiceFitter(self.model, bases or self.voices.stock_packs, tokenize,
                                             stats_dir=self.settings.paths.cache_hub / "fit_stock",
                                             render_tag=self._render_tag())
        return self._voice_fitter

    def _render_tag(self) -> str:
        """What changes a rendering besides the voice packs: device, int8 and the decoder's precision."""
        tag = f"{self.device}|int8={self.settings.engine.int8}"
        return tag if self.precision == "fp32" else f"{tag}|{self.precision}"

    def _check_pause(self, pause_s: float | None) -> float:
        pause_s = self.settings.engine.segment_pause_s if pause_s is None else pause_s
        if not 0.0 <= pause_s <= 5.0:
            raise InputError(f"pause between segments must be 0-5 s, got {pause_s}")
        return pause_s

    def _check_text(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise InputError("the text is empty; type something to say")
        limit = self.settings.engine.max_chars
        if len(text) > limit:
            raise InputError(f"the text is {len(text)} characters; the limit is {limit} (engine.max_chars)")
