"""The engine: text + voice + speed -> 24 kHz speech, with per-segment details.

One engine per process. It owns the model (loaded once, warmed up), the voice
bank and the text frontend, and serialises model calls with a lock so any
number of callers (CLI, UI, API) can share it. It imports no UI or web code.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from .audio import limit_peak, speech_bounds
from .config import Settings
from .duration_fit import (DurationFit, DurationPlan, NaturalSegment, exact_tail, natural_length_s,
                           natural_segment, pause_samples, plan_duration)
from .emotion import EmotionSpec
from .emotion.apply import emotional_prosody, finish_audio, voice_shifted
from .errors import ConfigError, InputError
from .fair_lock import FairLock
from .glossary_store import GlossaryStore
from .model import SAMPLE_RATE, KokoroModel, Prosody, fusion, load_model
from .model.devices import release_gpu_memory
from .model.host_memory import IdleRelease
from .model.kokoro import SAMPLES_PER_FRAME, speech_span
from .model.precision import decoder_dtype
from .request import PAUSE_RANGE_S, SynthesisRequest
from .segment_cache import SegmentCache
from .text import Frontend, Segment
from .text.frontend import Word
from .text.langdetect import LANGS as TEXT_LANGS, main_lang
from .voice_library import VoiceLibrary
from .voice_studio import VoiceStudio
from .voices import ALL_VOICES_HINT, Voice, VoiceBank
from .weights import ensure_weights

log = logging.getLogger(__name__)

FALLBACK_VOICE = "jm_kumo"  # always installed (the required voice packs)


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
    pause_after_s: float | None = None  # the pause after it when the request fixed it (duration_s); None: the rule

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
# duration_s: the last segment is padded or trimmed to the exact length; when its rendering misses by more than
# the trim's quiet margin (40 ms: cutting more could cut speech), it is rendered again at a corrected tempo.
# The plan from predicted curves missed by up to 0.3 s on slow fits (the last sound's decay, not the curves).
TAIL_SLACK_S = 0.04
LAST_SEGMENT_RETRIES = 3


def pause_after(segment: SegmentResult, pause_s: float) -> float:
    """Seconds of silence after ``segment`` when another follows: ``pause_s`` after a sentence,
    at most CLAUSE_PAUSE_S after a clause cut, none after a cut between words; a fitted request's own."""
    fixed = getattr(segment, "pause_after_s", None)  # a text Segment (a plan's natural pauses) has none
    if fixed is not None:
        return fixed
    if segment.ends == "clause":
        return min(pause_s, CLAUSE_PAUSE_S)
    return 0.0 if segment.ends == "word" else pause_s


def segment_audio(segment: SegmentResult) -> np.ndarray:
    """A segment's audio as it sounds in the joined clip and in every stream: its peaks limited."""
    return limit_peak(segment.audio, SAMPLE_RATE)


# The English voice whose manner a stock Mandarin voice borrows for English words (``Engine._style``), by the
# voice's gender (its name's second letter): af_heart / am_michael are the default voices of their kind.
ENGLISH_PAIRS = {"zf": "af_heart", "zm": "am_michael"}


def english_pair(voice: Voice, voices: VoiceBank) -> str | None:
    """The English voice paired with ``voice`` for English words inside Chinese, or None: only stock Mandarin
    voices have one (a cloned, saved or mixed voice's gender and language are not known, so it reads English
    words in its own manner, as before)."""
    if voice.kind != "stock":
        return None
    pair = ENGLISH_PAIRS.get(voice.name[:2])
    return pair if pair is not None and voices.kind(pair) is not None else None


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
        self.cache: SegmentCache[SegmentResult] = SegmentCache(settings.engine.cache_audio_s)
        self.studio = VoiceStudio(self)  # cloning, saving, blending: beside speech, on model turns
        self.glossary = GlossaryStore(settings.paths.glossary)  # readings the user set: every request reads with them

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
            engine.studio.prepare()  # stock voices' fit statistics: measured once per install, in the background
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

    def segments(self, request: SynthesisRequest | str, **options: Any) -> list[Segment]:
        """The request's text split into model-sized segments (no audio): used for previews too.
        A request's ``first_max_tokens`` cuts the first sentence at a clause break for sooner first audio:
        streamed API replies ask for it (``engine.stream_first_tokens``); everything else renders the first
        sentence whole, as one rendering reads it best and ~10 % faster for a short text."""
        request = SynthesisRequest.of(request, **options)
        self._check_text(request.text)
        segments = self.frontend.segments(request.text, lang=request.lang, max_tokens=request.max_tokens,
                                          first_max_tokens=request.first_max_tokens or None,
                                          glossary=self.glossary.entries())
        if not segments:
            unreadable = self.frontend.unreadable(request.text, request.lang)
            raise InputError(unreadable.error() if unreadable
                             else "the text has nothing that can be spoken (only symbols or emoji?)", field="text")
        return segments

    def words(self, text: str, lang: str = "auto") -> list[Word]:
        """The words of ``text`` as they will be read (pinyin for Chinese ones), glossary applied."""
        self._check_text(text)
        return self.frontend.words(text, lang, glossary=self.glossary.entries())

    def synthesize(self, request: SynthesisRequest | str, **options: Any) -> SynthesisResult:
        """The whole text as one clip: the segments of ``stream`` joined by ``join``.
        ``request``: a ``SynthesisRequest``, or its text with the other fields as keywords
        (``engine.synthesize("Hello.", voice="af_heart", speed=1.1)``)."""
        request = SynthesisRequest.of(request, **options)
        started = time.perf_counter()
        segments = list(self.stream(request))
        return self.join(segments, request.pause_s, time.perf_counter() - started)

    def stream(self, request: SynthesisRequest | str, **options: Any) -> Iterator[SegmentResult]:
        """Check everything now, then yield each segment's audio as soon as it is made.
        Segments are rendered as they are pulled: a caller that stops pulling stops the work."""
        request = SynthesisRequest.of(request, **options)
        voice = self.resolve_voice(request)
        segments = self.segments(request)
        if request.duration_s is not None:  # durations are known up front: fitted speech streams too
            plan = self._plan_duration(segments, voice, request)
            return self._fitted(segments, voice, request, plan)
        return self._rendered(segments, voice, request.speed, request.emotion)

    def resolve_voice(self, request: SynthesisRequest) -> Voice:
        """The request's voice as one value (pack, pitch correction, fingerprint), once per request: a
        ``Voice`` as given, a name or mix looked up, none the default for the text's language."""
        if isinstance(request.voice, Voice):
            return request.voice
        try:
            return self.voices.resolve(request.voice or self.default_voice(request.text, request.lang))
        except InputError as exc:
            raise InputError(str(exc), field=exc.field or "voice") from None

    def _rendered(self, segments: list[Segment], voice: Voice, speed: float,
                  emotion: EmotionSpec | None) -> Iterator[SegmentResult]:
        """Each segment rendered as it is pulled. The request is active from its first segment until its last
        (or until the caller stops pulling); the last active request to end releases freed memory."""
        with self._requests.job():
            for i, segment in enumerate(segments):
                yield self._speak(segment, voice, speed, emotion, i)

    def natural_length_s(self, request: SynthesisRequest | str, **options: Any) -> float:
        """How long the request's clip lasts without ``duration_s``, as the duration plan predicts it (the
        predictor only, no audio): what ``duration_s`` is fitted from (dubbing plans cues with it)."""
        request = SynthesisRequest.of(request, **options)
        return natural_length_s(self._naturals(self.segments(request), self.resolve_voice(request), request))

    def _naturals(self, segments: list[Segment], voice: Voice, request: SynthesisRequest) -> list[NaturalSegment]:
        """Every segment's natural timing (the predictor only, no audio: a few % of the rendering)."""
        pause_s = self._check_pause(request.pause_s)
        naturals = []
        for i, segment in enumerate(segments):
            style = self._style(segment, voice)
            tokens = self._tokens(segment)
            with self._lock.turn(urgent=i == 0), torch.inference_mode():
                prosody, _ = self._prosody(tokens, style, voice, request.speed, request.emotion, i)
            natural_frames = prosody.frames if request.emotion is not None \
                else prosody.expected_frames / request.speed
            last = i == len(segments) - 1
            naturals.append(natural_segment(tokens, prosody, natural_frames,
                                            0.0 if last else pause_after(segment, pause_s)))
        return naturals

    def _plan_duration(self, segments: list[Segment], voice: Voice, request: SynthesisRequest) -> DurationPlan:
        """The fit of the segments' natural timing to ``request.duration_s``; InputError naming the natural
        length when it is out of reach."""
        naturals = self._naturals(segments, voice, request)

        def measure(fit: DurationFit) -> list[int]:  # each segment's trimmed speech under ``fit``, predicted
            lengths = []
            for i, segment in enumerate(segments):
                style = self._style(segment, voice)
                with self._lock.turn(urgent=i == 0), torch.inference_mode():
                    prosody, _ = self._prosody(self._tokens(segment), style, voice, request.speed, request.emotion,
                                               i, fit)
                start, stop = speech_span(prosody, margin=0, step=1)
                lengths.append((stop - start) * SAMPLES_PER_FRAME)
            return lengths

        return plan_duration(naturals, request.duration_s, measure)

    def _fitted(self, segments: list[Segment], voice: Voice, request: SynthesisRequest,
                plan: DurationPlan) -> Iterator[SegmentResult]:
        """``_rendered`` with the plan's fit, each pause set from the audio made so far, and the last segment
        padded or trimmed so the clip lasts ``plan.target_samples`` exactly."""
        with self._requests.job():
            made = 0
            for i, segment in enumerate(segments):
                result = self._speak(segment, voice, request.speed, request.emotion, i, plan.fit)
                if i == len(segments) - 1:
                    wanted = plan.target_samples - made
                    slack = TAIL_SLACK_S * SAMPLE_RATE
                    fit, tries = plan.fit, [result]
                    for _ in range(LAST_SEGMENT_RETRIES):  # off by more than the trim's quiet margin: retime it
                        if abs(len(result.audio) - wanted) <= slack or wanted <= 0:
                            break
                        fit = replace(fit, tempo=round(fit.tempo * len(result.audio) / wanted, 4))
                        result = self._speak(segment, voice, request.speed, request.emotion, i, fit)
                        tries.append(result)
                    # the rendered end moves by +-0.3 s with small tempo changes (the last sound's decay): of
                    # the tries, one that needs no cut into its speech (padding is silence), then the closest
                    result = min(tries, key=lambda r: (len(r.audio) > wanted + slack, abs(len(r.audio) - wanted)))
                    audio = exact_tail(result.audio, wanted)
                    yield replace(result, audio=audio, pause_after_s=0.0)
                    return
                made += len(result.audio)
                pause_s = plan.pause_after(i, made)
                made += pause_samples(pause_s)
                yield replace(result, pause_after_s=pause_s)

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
                    gap = np.zeros(pause_samples(pause_after(previous, pause_s)), dtype=np.float32)
                    audio = np.concatenate([gap, audio])
                previous = seg
                yield audio
        return pieces()

    def _speak(self, segment: Segment, voice: Voice, speed: float, emotion: EmotionSpec | None = None,
               index: int = 0, fit: DurationFit | None = None) -> SegmentResult:
        started = time.perf_counter()
        key = self._cache_key(segment, voice, speed, emotion, index, fit)
        cached = self.cache.get(key) if key is not None else None
        if cached is not None:
            return replace(cached, text=segment.text, ends=segment.ends, compute_s=time.perf_counter() - started)
        result = self._render(segment, voice, speed, emotion, index, started, fit)
        if key is not None:
            self.cache.put(key, result, result.duration_s)
        return result

    def _cache_key(self, segment: Segment, voice: Voice, speed: float, emotion: EmotionSpec | None,
                   index: int, fit: DurationFit | None = None) -> tuple | None:
        """What decides a segment's audio; None when caching is off or the emotion is not hashable.
        Emotion variation is seeded per segment index, so the index is part of an emotional key."""
        if not self.cache.enabled:
            return None
        try:
            hash(emotion)
        except TypeError:
            return None
        return (segment.tokens, voice.fingerprint, speed, emotion,
                index if emotion is not None else None, fit)

    def _tokens(self, segment: Segment) -> torch.Tensor:
        return torch.tensor([[0, *segment.tokens, 0]], dtype=torch.long, device=self.model.device)

    def _style(self, segment: Segment, voice: Voice) -> torch.Tensor:
        """The segment's style on the model's device: the voice's (1, 256) row; for a Mandarin segment with
        English words and a voice with an English pair (``english_pair``), one row per token where the
        English runs' tokens are moved ``engine.english_in_chinese_blend`` of the way toward the pair's style:
        a Mandarin voice says sounds Mandarin lacks as Mandarin syllables (Windows -> 温度), an English voice's
        manner keeps them English, and the sentence is rendered whole (its prosody intact)."""
        n_tokens = len(segment.tokens)
        style = voice.style(n_tokens)
        blend = self.settings.engine.english_in_chinese_blend
        pair = english_pair(voice, self.voices) if blend > 0 and segment.english_runs else None
        if pair is None:
            return style.to(self.model.device)
        weights = torch.zeros(n_tokens + 2, 1)  # + the boundary tokens, which keep the voice's own style
        for start, end in segment.english_runs:
            weights[start + 1 : end + 1] = blend
        track = style + weights * (self.voices.style(pair, n_tokens) - style)
        return track[None].to(self.model.device)

    def _prosody(self, tokens: torch.Tensor, style: torch.Tensor, voice: Voice, speed: float,
                 emotion: EmotionSpec | None, index: int, fit: DurationFit | None = None) -> tuple[Prosody, float]:
        """(the prosody to render, the segment gain in dB): the model's prediction, then the emotion (tempo
        included), then a requested length's fit. Call inside the lock and inference mode."""
        shift = voice.f0_shift_st  # a cloned voice's pitch correction (0 for stock voices)
        prosody = self.model.predict_prosody(tokens, style, speed)
        if emotion is not None:  # between the predictor and the decoder: the model's own curves
            tempo, pause = (fit.tempo, fit.pause_tokens_factor) if fit is not None else (1.0, 1.0)
            return emotional_prosody(self.model, tokens, style, speed, prosody, emotion, index, shift,
                                     tempo=tempo, pause=pause)
        if fit is not None:  # the natural durations scaled; F0 and energy predicted again for them
            frames = fit.frames(tokens, prosody.expected_frames / speed)
            if not torch.equal(frames, prosody.frames):
                prosody = self.model.prosody_for_frames(prosody.encoded, prosody.expected_frames, frames, style)
        return voice_shifted(prosody, shift), 0.0

    def _render(self, segment: Segment, voice: Voice, speed: float, emotion: EmotionSpec | None, index: int,
                started: float, fit: DurationFit | None = None) -> SegmentResult:
        style = self._style(segment, voice)
        tokens = self._tokens(segment)
        # A request's first segment is urgent: under load its first audio waits for one segment, not a round.
        with self._lock.turn(urgent=index == 0), torch.inference_mode():
            prosody, gain_db = self._prosody(tokens, style, voice, speed, emotion, index, fit)
            span = speech_span(prosody)  # the edge silence is trimmed below: not rendered at all
            audio = self.model.render(tokens, style, prosody, span).float().cpu().numpy()
        if gain_db:
            audio = finish_audio(audio, gain_db)
        start, end = speech_bounds(audio, SAMPLE_RATE)
        lead_in = span[0] * SAMPLES_PER_FRAME + start
        # results outlive the call (segment cache, page state): they keep CPU copies, no GPU memory
        return SegmentResult(segment.text, segment.lang, segment.phonemes, segment.tokens, audio[start:end],
                             lead_in / SAMPLE_RATE, prosody.to("cpu"), time.perf_counter() - started, segment.ends)

    @contextmanager
    def model_turn(self, urgent: bool = False) -> Iterator[None]:
        """One turn on the model, queued with speech segments in arrival order (``FairLock``): how other
        model work (a voice fit, stock-voice statistics) runs beside speech without blocking it."""
        with self._lock.turn(urgent=urgent):
            yield

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop background work (the voice studio's) at its next model turn and wait for it."""
        self.studio.close(timeout_s)

    def _check_pause(self, pause_s: float | None) -> float:
        pause_s = self.settings.engine.segment_pause_s if pause_s is None else pause_s
        if not PAUSE_RANGE_S[0] <= pause_s <= PAUSE_RANGE_S[1]:
            raise InputError(f"pause between segments must be {PAUSE_RANGE_S[0]:g}-{PAUSE_RANGE_S[1]:g} s, "
                             f"got {pause_s}", field="pause_s")
        return pause_s

    def _check_text(self, text: str) -> None:
        limit = self.settings.engine.max_chars
        if len(text) > limit:
            raise InputError(f"the text is {len(text)} characters; the limit is {limit} (engine.max_chars)",
                             field="text")
