"""The voice studio: voices made beside the engine that speaks them.

Cloning a voice from a clip, saving a voice (or an unsaved clone) under a name, blending two voices, deleting
a saved one, and the library they live in. The engine stays about speech; the studio uses its model only
through ``Engine.model_turn``, so a fit's model steps take turns with speech segments and speech goes on
during a fit. One studio per engine (``engine.studio``).
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import Cancelled, InputError
from .model.devices import release_gpu_memory
from .voice_library import VoiceLibrary, blend
from .voices import Voice, session_voice, stock_info

if TYPE_CHECKING:
    from .cloning.fit import VoiceFitter
    from .engine import Engine

log = logging.getLogger(__name__)

# Voices a clone may start from: the fit renders English sentences, so the English voices, plus the five
# shipped Japanese packs (the bases while the native voices are not installed). Each base costs ~1-2 s of
# statistics per install.
FIT_BASE_LANGUAGES = ("en-US", "en-GB", "ja")

Progress = Callable[[float, str], None]


class VoiceStudio:
    """Clone, save, blend and delete voices; ``library`` is where saved voices live."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fitter: VoiceFitter | None = None  # built on first use (loads the speaker encoder)
        self._fit_lock = threading.Lock()  # one fit at a time; its model work takes turns with speech
        self._closing = threading.Event()  # ends background work and fits (``close``)
        self._background: list[threading.Thread] = []

    @property
    def library(self) -> VoiceLibrary:
        """The saved voices (``paths.voices``), shared with the engine's voice bank that speaks them."""
        voices = self.engine.voices
        if voices.library is None:
            voices.library = VoiceLibrary(self.engine.settings.paths.voices)
        return voices.library

    def clone(self, source: Any, name: str | None = None, save: bool = False, steps: int | None = None,
              progress: Progress | None = None, cancel: threading.Event | None = None) -> dict:
        """Fit a voice to a reference clip (path, bytes or (sample_rate, array)); returns its description,
        with ``voice_value``: the ``Voice`` to speak with.

        The fit is cached per processed clip (sha256) and step count. Fits run one at a time, each model step
        a turn on the model like a speech segment. Setting ``cancel`` (or closing the studio) stops the fit at
        its next step (``Cancelled``). Unsaved, the voice is ``clone-<sha8>``, in no shared list: the caller
        keeps ``voice_value``; with ``save`` it is written to the library as ``name``."""
        from .cloning.fit import FIT_METHOD, FitConfig
        from .cloning.preprocess import load_reference
        library = self.library
        if save:
            name = library.check_new_name(name or "")
            if name in library:
                raise InputError(f"a voice named {name!r} already exists; pick another name", field="name")
        ref = load_reference(source)
        cfg = FitConfig() if steps is None else FitConfig(steps=int(steps))
        with self._fit_lock:  # a second clone of the same clip waits here, then finds the fit cached
            self._check_cancel(cancel)
            cached = library.cached_fit(ref.sha256, cfg.steps)
            cached_hit = cached is not None and cached[1].get("fit_method") == FIT_METHOD
            if cached_hit:
                pack, meta = cached
            else:
                result = self.fitter.fit(ref.audio, ref.sample_rate, cfg, progress,
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
            voice = self.engine.voices.resolve(name)
        return {**meta, "voice": voice.name, "voice_value": voice, "cached": cached_hit, "saved": bool(save)}

    def save(self, voice: str | Voice, name: str) -> dict:
        """Save an unsaved clone (its ``Voice``) or copy any voice (or mix) into the library as ``name``."""
        source = voice if isinstance(voice, Voice) else self.engine.voices.resolve(voice)
        name = self.library.check_new_name(name)
        meta = {"kind": "cloned", "source_voice": source.name, "f0_shift_st": source.f0_shift_st}
        return self.library.save(name, source.pack, meta)

    def blend(self, a: str, b: str, weight_b: float, name: str) -> dict:
        """Save ``(1 - weight_b) * a + weight_b * b`` as a library voice ``name``."""
        name = self.library.check_new_name(name)
        first, second = self.engine.voices.resolve(a), self.engine.voices.resolve(b)
        pack = blend(first.pack, second.pack, float(weight_b))
        shift = (1 - float(weight_b)) * first.f0_shift_st + float(weight_b) * second.f0_shift_st
        return self.library.save(name, pack, {"kind": "blend", "blend": [a, b], "weight": float(weight_b),
                                              "f0_shift_st": round(shift, 2)})

    def delete(self, name: str) -> None:
        """Remove a saved voice from the library (stock voices cannot be deleted)."""
        self.library.delete(name)

    @property
    def bases(self) -> list[str]:
        """The stock voices a clone may start from (``FIT_BASE_LANGUAGES``)."""
        return sorted(self.fitter.stock)

    def prepare(self, background: bool = True) -> threading.Thread | None:
        """Measure the stock voices' fit statistics that are not on disk yet (about 1-2 s per voice on 2 cores,
        once per install), one voice per model turn so speech requests keep their place; a clone that
        starts first measures the rest itself. Returns the thread (None when nothing is left to measure)."""
        fitter = self.fitter
        missing = fitter.unmeasured()
        if not missing:
            return None

        def measure() -> None:
            started = time.perf_counter()
            for done, name in enumerate(missing, 1):
                with self.engine.model_turn():
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
        """Stop background work and fits at their next model turn and wait for them (a thread stopped inside
        a model call at interpreter exit aborts the process)."""
        self._closing.set()
        for thread in self._background:
            thread.join(timeout_s)
        self._background.clear()

    @property
    def fitter(self) -> VoiceFitter:
        if self._fitter is None:
            from .cloning.fit import VoiceFitter

            engine = self.engine
            tokenize = lambda text: engine.frontend.segments(text, "en")[0].tokens  # noqa: E731
            bases = {name: pack for name, pack in engine.voices.stock_packs.items()
                     if stock_info(name).language in FIT_BASE_LANGUAGES}
            self._fitter = VoiceFitter(engine.model, bases or engine.voices.stock_packs, tokenize,
                                       stats_dir=engine.settings.paths.cache_hub / "fit_stock",
                                       render_tag=self._render_tag())
        return self._fitter

    def _render_tag(self) -> str:
        """What changes a rendering besides the voice packs: device, int8 and the decoder's precision."""
        engine = self.engine
        tag = f"{engine.device}|int8={engine.settings.engine.int8}"
        return tag if engine.precision == "fp32" else f"{tag}|{engine.precision}"

    @contextmanager
    def _fit_turn(self, cancel: threading.Event | None) -> Iterator[None]:
        """One model turn of a fit, queued behind speech segments in arrival order; a cancelled fit (or a
        closing studio) stops here."""
        self._check_cancel(cancel)
        with self.engine.model_turn():
            self._check_cancel(cancel)
            yield

    def _check_cancel(self, cancel: threading.Event | None) -> None:
        if self._closing.is_set():
            raise Cancelled("the engine is shutting down; the voice fit was stopped")
        if cancel is not None and cancel.is_set():
            raise Cancelled("the voice fit was cancelled")
