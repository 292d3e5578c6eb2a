"""Fit a Kokoro voice pack to a reference clip.

Method (chosen by measurement on the tuning voices; see bench/RESULTS.md "Voice cloning"):
1. Embed the reference with Resemblyzer (torch front end, ``speaker_encoder``) and estimate its median F0.
2. Start from the stock pack whose rendering of the fit sentences is closest to the reference
   (Resemblyzer cosine), among those whose pitch is within the correction's reach (+-8 st); the stock
   voices' embeddings and pitch are measured once per install (``prepare``, kept on disk).
3. Optimise one 128-dim offset to the TIMBRE half of the style, added to every row of that pack, with
   Adam in units of the stock voices' standard deviation per dimension (``FitConfig.lr``), through the
   differentiable decoder, on short fixed sentences. Durations, F0 and energy are the base voice's,
   predicted once, so a step is the decoder (on a 1.6 s window) + the speaker encoder.
   loss = 1 - cos(emb(out), emb(ref))                                speaker similarity
        + w_prior * mean(((row + delta - mu) / sigma)^2 beyond 1)      stay near the stock voices' space
   and |delta / sigma| <= max_z per dim (a trust region where the model stays intelligible).
   The prosody half is left alone: when it was fitted too, Resemblyzer rewarded raising the model's
   F0 curve (a 102 Hz voice came out at 153 Hz), which the pitch term on the curve did not stop.
4. Every third iterate of the last third is judged on the whole fit sentences (as the base voice is)
   and the best is kept, never one worse than the base: a window-loss minimum compared different windows.
   Intelligibility guard (``guard``): an iterate whose rendering no longer articulates like the base
   voice's (aligned log-mel trajectories scrambled, or spectral movements flattened) is not eligible;
   if none is, the best is scaled back toward the base until one is.
5. Pitch: the fit sentences are rendered with the result and their median F0 measured (YIN, as the
   benchmark does); the difference to the reference is a per-voice ``f0_shift_st`` (clamped to +-8 st,
   one refinement render; 0 when that render is not closer), which the engine applies at synthesis on
   the model's F0 curve (voiced points only, ``emotion.apply.shift_f0``; emotion shifts add to it).
The result is a (510, 1, 256) pack = stock pack + delta, like any stock voice, plus that shift.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

import numpy as np
import torch

from ..atomic import atomic_path
from ..model import SAMPLE_RATE, KokoroModel
from ..model.checkpoint import float_convolutions
from ..model.host_memory import release_free_memory
from ..model.prosody import expand_to_frames
from ..emotion.apply import shift_f0
from ..voices import MAX_F0_SHIFT_ST, clamp_shift
from .guard import compare
from .speaker_encoder import SpeakerEncoder, shared_encoder

# Short fixed English sentences the clone is rendered on while fitting (never the benchmark's).
FIT_SENTENCES = (
    "She found a quiet place by the river and began to read.",
    "We will meet again tomorrow morning at the station.",
)
PITCH_FMIN, PITCH_FMAX = 50.0, 500.0
FIT_METHOD = 4  # bumped when the method changes: cached fits of an older method are fitted again


@dataclass(frozen=True)
class FitConfig:
    steps: int = 24  # sized to the 30 s budget for a 10 s clip on 2 cores (bench/RESULTS.md)
    lr: float = 0.3  # Adam step, in stock-voice standard deviations of each timbre dimension
    w_prior: float = 0.02
    max_z: float = 3.0  # trust region per dim, in stock-voice standard deviations
    n_sentences: int = 2
    window_frames: int = 64  # decode only 1.6 s per step: exactly one Resemblyzer partial (more is unused)
    judge_every: int = 3  # judge every this many iterates of the last third on the whole fit sentences
    pitch_correction: bool = True  # measure and store a per-voice F0 shift (FitResult.f0_shift_st)
    pitch_passes: int = 1  # refinement renders of the fit sentences with the shift applied


@dataclass
class FitResult:
    pack: torch.Tensor  # (510, 1, 256)
    base_voice: str
    similarity_start: float  # Resemblyzer cosine of the base voice (fit sentences), torch front end
    similarity: float  # after fitting
    ref_f0_hz: float
    out_f0_hz: float  # the base voice's F0 curve (the clone's before its pitch correction), geometric mean
    fit_s: float
    steps: int
    history: list[float] = field(default_factory=list)
    f0_shift_st: float = 0.0  # pitch correction applied at synthesis (YIN on the rendering vs the reference)
    shifted_f0_hz: float = float("nan")  # YIN median F0 of the fit sentences with that correction


def median_f0(audio: np.ndarray, sample_rate: int) -> float:
    """Median F0 (Hz) of the voiced, loud frames (librosa YIN); nan if nothing is voiced."""
    import librosa

    frame = int(0.042 * sample_rate)
    hop = int(0.01 * sample_rate)
    f0 = librosa.yin(audio.astype(np.float32), fmin=PITCH_FMIN, fmax=PITCH_FMAX, sr=sample_rate,
                     frame_length=frame, hop_length=hop, trough_threshold=0.1)
    rms = librosa.feature.rms(y=audio, frame_length=frame, hop_length=hop, center=True)[0][: len(f0)]
    f0 = f0[: len(rms)]
    # YIN reports fmax-ish values on unvoiced frames: keep loud frames away from the search bounds.
    keep = (rms > 0.1 * rms.max()) & (f0 > PITCH_FMIN * 1.05) & (f0 < PITCH_FMAX * 0.95)
    return float(np.median(f0[keep])) if keep.any() else float("nan")


def _numpy(x: torch.Tensor) -> np.ndarray:
    """A (possibly GPU) tensor as a CPU numpy array, for the numpy/librosa measures."""
    return x.detach().cpu().numpy()


class _Sentence:
    """One fixed sentence read in the base voice: everything but the decoder precomputed."""

    def __init__(self, model: KokoroModel, tokens: tuple[int, ...], style: torch.Tensor) -> None:
        dev = model.device
        self.model = model
        self.tokens = torch.tensor([[0, *tokens, 0]], dtype=torch.long, device=dev)
        self.n = len(tokens)
        with torch.no_grad():
            prosody = model.predict_prosody(self.tokens, style)
            self.frames, self.f0, self.energy = prosody.frames, prosody.f0, prosody.energy
            self.asr = expand_to_frames(model.text_encoder(self.tokens), self.frames)

    @property
    def n_frames(self) -> int:
        return int(self.frames.sum())

    def render(self, timbre: torch.Tensor, start: int = 0, length: int | None = None,
               f0_shift_st: float = 0.0) -> torch.Tensor:
        """Audio of frames [start, start + length) (all by default) in this timbre; with ``f0_shift_st``,
        the F0 curve shifted as the engine shifts a cloned voice's."""
        f0 = shift_f0(self.f0, f0_shift_st) if f0_shift_st else self.f0
        stop = self.n_frames if length is None else min(self.n_frames, start + length)
        return self.model.decoder(self.asr[..., start:stop], f0[:, 2 * start : 2 * stop],
                                  self.energy[:, 2 * start : 2 * stop], timbre)[0]


class VoiceFitter:
    """Fits voice packs; holds the stock statistics and cached stock-voice renderings."""

    def __init__(self, model: KokoroModel, stock: dict[str, torch.Tensor],
                 tokenize: Callable[[str], tuple[int, ...]], encoder: SpeakerEncoder | None = None,
                 stats_dir: Path | None = None, render_tag: str = "") -> None:
        """``stats_dir``: where the stock voices' fit statistics are kept between processes (None: not
        kept); ``render_tag`` names what changes their renderings besides the packs (device, int8)."""
        self.model = model
        self.device = model.device  # every tensor of a fit lives here (the packs come from the CPU)
        self.stock = {k: v.reshape(v.shape[0], -1).float().to(self.device) for k, v in stock.items()}
        self._encoder = encoder  # loaded on first use: a start with every statistic on disk needs none
        timbres = torch.cat([model.split_style(pack)[0] for pack in self.stock.values()])
        self.mu = timbres.mean(0)
        self.sigma = timbres.std(0).clamp_min(1e-3)
        self.sentence_tokens = [tokenize(s) for s in FIT_SENTENCES]
        # Stock voices are the same for every fit: their fit sentences and renderings are kept per
        # process, their speaker embeddings and pitch also on disk (the base-voice search renders every
        # stock voice: ~6 s of a first fit on 2 cores).
        self._sentences: dict[tuple[str, int], _Sentence] = {}
        self._renders: dict[tuple[str, int], torch.Tensor] = {}
        self._stats_file = stats_dir / f"stock-{self._stats_digest(render_tag)}.json" if stats_dir else None
        self._stats: dict[str, float | list[float]] = self._read_stats()
        self._stats_written = len(self._stats)

    @property
    def encoder(self) -> SpeakerEncoder:
        if self._encoder is None:
            self._encoder = shared_encoder(self.device)
        return self._encoder

    def _stats_digest(self, render_tag: str) -> str:
        digest = hashlib.sha256(f"{FIT_METHOD}|{render_tag}|{self.sentence_tokens}".encode())
        for name in sorted(self.stock):
            digest.update(name.encode() + _numpy(self.stock[name]).tobytes())
        return digest.hexdigest()[:16]

    def _read_stats(self) -> dict[str, float | list[float]]:
        try:
            return json.loads(self._stats_file.read_text()) if self._stats_file else {}
        except (OSError, ValueError):  # missing or unreadable: measured again
            return {}

    def _write_stats(self) -> None:
        if self._stats_file is None or len(self._stats) == self._stats_written:
            return
        try:
            with atomic_path(self._stats_file) as tmp:
                tmp.write_text(json.dumps(self._stats))
            self._stats_written = len(self._stats)
        except OSError:  # a read-only cache only costs the next process the measurement
            pass

    def unmeasured(self, n_sentences: int = FitConfig.n_sentences) -> list[str]:
        """The base voices whose statistics are neither on disk nor measured yet."""
        return [name for name in sorted(self.stock)
                if f"{name}/embedding{n_sentences}" not in self._stats or f"{name}/f0_hz" not in self._stats]

    def prepare(self, names: list[str] | None = None, n_sentences: int = FitConfig.n_sentences) -> None:
        """Measure (or load) the statistics of ``names`` (every base voice by default) now, so that no fit
        pays for them (a voice measured here keeps its renderings: ~1 MB, and a fit on it as base needs them)."""
        for name in sorted(self.stock) if names is None else names:
            self._stock_embedding(name, n_sentences)
            self._stock_pitch(name)
        self._write_stats()

    def _stock_sentence(self, name: str, index: int) -> _Sentence:
        """Fit sentence ``index`` as the stock voice ``name`` reads it (its durations and curves)."""
        if (name, index) not in self._sentences:
            tokens = self.sentence_tokens[index]
            self._sentences[name, index] = _Sentence(self.model, tokens, self._row(name, len(tokens)))
        return self._sentences[name, index]

    def _stock_audio(self, name: str, n_sentences: int) -> torch.Tensor:
        """The stock voice ``name`` reading the first ``n_sentences`` fit sentences."""
        for i in range(n_sentences):
            if (name, i) not in self._renders:
                self._renders[name, i] = self._render_whole([self._stock_sentence(name, i)], name,
                                                            torch.zeros_like(self.mu)[None])
        return torch.cat([self._renders[name, i] for i in range(n_sentences)])

    def _stock_pitch(self, name: str) -> float:
        key = f"{name}/f0_hz"
        if key not in self._stats:
            self._stats[key] = median_f0(_numpy(self._stock_audio(name, 1)), SAMPLE_RATE)
        return float(self._stats[key])

    def _stock_embedding(self, name: str, n_sentences: int) -> torch.Tensor:
        key = f"{name}/embedding{n_sentences}"
        if key not in self._stats:
            with torch.no_grad():
                self._stats[key] = self.encoder.embed(self._stock_audio(name, n_sentences)).tolist()
        return torch.tensor(self._stats[key], device=self.device)

    def _pitch_reachable(self, names: list[str], ref_f0: float) -> list[str]:
        """The stock voices whose pitch the correction can bring to the reference's (all if none can):
        the fit keeps the base voice's F0 curve, so a male clip on a female base would stay too high."""
        if not math.isfinite(ref_f0):
            return list(names)
        reachable = [n for n in names if abs(12 * math.log2(ref_f0 / self._stock_pitch(n))) <= MAX_F0_SHIFT_ST]
        return reachable or list(names)

    def _stock_similarity(self, name: str, ref_emb: torch.Tensor, n_sentences: int) -> float:
        return float(self._stock_embedding(name, n_sentences) @ ref_emb)

    def _row(self, name: str, n_tokens: int) -> torch.Tensor:
        pack = self.stock[name]
        return pack[min(max(n_tokens, 1), pack.shape[0]) - 1][None]

    def _timbre(self, name: str, n_tokens: int, delta: torch.Tensor) -> torch.Tensor:
        return self.model.split_style(self._row(name, n_tokens))[0] + delta

    def _render_whole(self, sentences: list[_Sentence], base: str, delta: torch.Tensor,
                      f0_shift_st: float = 0.0) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([s.render(self._timbre(base, s.n, delta), f0_shift_st=f0_shift_st)
                              for s in sentences])

    def fit(self, reference: np.ndarray, sample_rate: int = SAMPLE_RATE, cfg: FitConfig = FitConfig(),
            progress: Callable[[float, str], None] | None = None,
            turn: Callable[[], ContextManager] = nullcontext) -> FitResult:
        """Fit a pack to ``reference``. Every use of the model (a descent step, a judged render, a stock
        voice's first measurement) runs inside its own ``turn()``: the engine passes its fair lock's
        turns there, so speech requests interleave with the fit instead of waiting for all of it (and a
        turn may raise to cancel the fit)."""
        started = time.perf_counter()
        report = progress or (lambda _f, _m: None)
        ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32)).to(self.device)
        with turn(), torch.no_grad():
            ref_emb = self.encoder.embed(ref, sample_rate)
        ref_f0 = median_f0(reference, sample_rate)
        report(0.05, "reference analysed")
        sims = {}
        for name in sorted(self.stock):
            with turn():
                sims[name] = self._stock_similarity(name, ref_emb, cfg.n_sentences)
        with turn():
            base = max(self._pitch_reachable(sims, ref_f0), key=sims.get)
            sentences = [self._stock_sentence(base, i) for i in range(cfg.n_sentences)]
        self._write_stats()
        base_sim = sims[base]
        report(0.15, f"closest stock voice: {base}")
        with float_convolutions(self.model):  # autograd runs the float convolutions (int8 has no gradient)
            candidates, history = self._descend(sentences, base, ref_emb, cfg, report, turn)
        sim, delta, audio = self._judge(candidates, sentences, base, ref_emb, turn)
        if sim <= base_sim:  # never worse than the base voice
            delta, sim = torch.zeros_like(delta), base_sim
            with turn():
                audio = self._stock_audio(base, cfg.n_sentences)
        shift, shifted_f0 = self._pitch_correction(sentences, base, delta, audio, ref_f0, cfg, turn)
        report(1.0, f"done, similarity {sim:.2f}, pitch correction {shift:+.1f} st")
        offset = torch.cat([delta, torch.zeros_like(delta)], dim=1)  # the prosody half is the base's
        pack = (self.stock[base] + offset).reshape(-1, 1, 256).cpu().contiguous()  # stored like the stock packs
        voiced = torch.cat([s.f0.reshape(-1) for s in sentences])
        voiced = voiced[voiced > PITCH_FMIN]
        out_f0 = float(torch.exp(torch.log(voiced).mean())) if voiced.numel() else float("nan")
        release_free_memory()  # the descent's autograd buffers (~750 MB freed into the heap)
        return FitResult(pack, base, base_sim, sim, ref_f0, out_f0, time.perf_counter() - started,
                         cfg.steps, history, round(shift, 2), shifted_f0)

    def _descend(self, sentences: list[_Sentence], base: str, ref_emb: torch.Tensor, cfg: FitConfig,
                 report: Callable[[float, str], None],
                 turn: Callable[[], ContextManager] = nullcontext) -> tuple[list[torch.Tensor], list[float]]:
        """Adam on the timbre offset in z units (delta = z * sigma); returns the iterates to judge
        (every ``judge_every``-th of the last third, the last included) and the window similarities."""
        z = torch.zeros_like(self.mu)[None].requires_grad_(True)
        opt = torch.optim.Adam([z], lr=cfg.lr)
        candidates: list[torch.Tensor] = []
        history: list[float] = []
        for step in range(cfg.steps + 1):
            delta = z * self.sigma
            if step >= 2 * cfg.steps // 3 and (cfg.steps - step) % cfg.judge_every == 0:
                candidates.append(delta.detach().clone())
            if step == cfg.steps:
                break
            s = sentences[step % len(sentences)]
            span = max(1, s.n_frames - cfg.window_frames)
            start = (step // len(sentences) * 23) % span if cfg.window_frames else 0
            with turn():  # forward and backward in one turn: the graph never spans another caller's work
                audio = s.render(self._timbre(base, s.n, delta), start, cfg.window_frames or None)
                sim = self.encoder.embed(audio) @ ref_emb
                away = (self._timbre(base, sentences[0].n, delta) - self.mu) / self.sigma
                loss = 1 - sim + cfg.w_prior * torch.relu(away.abs() - 1).pow(2).mean()
                history.append(float(sim.detach()))
                opt.zero_grad()
                loss.backward()
                del audio, sim, loss  # the step's graph goes now, not at the next step
                opt.step()
                with torch.no_grad():
                    z.clamp_(-cfg.max_z, cfg.max_z)
            report(0.15 + 0.8 * (step + 1) / cfg.steps,
                   f"fitting: step {step + 1}/{cfg.steps}, similarity {history[-1]:.2f}")
        return candidates, history

    def _judge(self, candidates: list[torch.Tensor], sentences: list[_Sentence], base: str,
               ref_emb: torch.Tensor,
               turn: Callable[[], ContextManager] = nullcontext) -> tuple[float, torch.Tensor, torch.Tensor]:
        """(similarity, delta, audio) of the best iterate that still articulates like the base voice
        (``guard``), judged as the base voice was (whole fit sentences: the window losses of the descent
        compare different windows). If every iterate garbles, the best is scaled back toward the base
        until it does not; similarity -1 when nothing passes (the caller keeps the base voice)."""
        with turn():
            base_audio = _numpy(self._stock_audio(base, len(sentences)))

        def judge(delta: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor, bool]:
            with turn(), torch.no_grad():
                audio = self._render_whole(sentences, base, delta)
                sim = float(self.encoder.embed(audio) @ ref_emb)
            return sim, delta, audio, compare(_numpy(audio), base_audio).clear

        judged = [judge(delta) for delta in candidates]
        clear = [j for j in judged if j[3]]
        if clear:
            return max(clear, key=lambda j: j[0])[:3]
        best = max(judged, key=lambda j: j[0])[1]
        for scale in (0.75, 0.5, 0.25):
            sim, delta, audio, ok = judge(best * scale)
            if ok:
                return sim, delta, audio
        return -1.0, torch.zeros_like(best), torch.from_numpy(base_audio).to(self.device)

    def _pitch_correction(self, sentences: list[_Sentence], base: str, delta: torch.Tensor, audio: torch.Tensor,
                          ref_f0: float, cfg: FitConfig,
                          turn: Callable[[], ContextManager] = nullcontext) -> tuple[float, float]:
        """(shift in semitones, the fit sentences' YIN median F0 with it). The base voice's F0 curve rarely
        sits at the reference's pitch, so measure the rendering and correct the rest at synthesis with a
        fixed shift on the F0 curve; one refinement pass; no shift if it does not bring the pitch closer."""
        if not (math.isfinite(ref_f0) and cfg.pitch_correction):
            return 0.0, float("nan")
        out_yin = median_f0(_numpy(audio), SAMPLE_RATE)
        if not math.isfinite(out_yin):
            return 0.0, float("nan")
        shift, shifted_f0 = clamp_shift(12 * math.log2(ref_f0 / out_yin)), out_yin
        for _ in range(cfg.pitch_passes):
            with turn():
                rendered = _numpy(self._render_whole(sentences, base, delta, shift))
            measured = median_f0(rendered, SAMPLE_RATE)
            if not math.isfinite(measured) or abs(math.log(ref_f0 / measured)) >= abs(math.log(ref_f0 / out_yin)):
                # the shift did not bring the pitch closer (e.g. a curve mostly below the voicing
                # threshold, where the shift barely acts): keep the voice as fitted
                return 0.0, out_yin
            shifted_f0 = measured
            shift = clamp_shift(shift + 12 * math.log2(ref_f0 / measured))
        return shift, shifted_f0
