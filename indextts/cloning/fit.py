"""Fit a Kokoro voice pack to a reference clip.

Method (chosen by measurement on the tuning voices; see bench/RESULTS.md "Voice cloning"):
1. Embed the reference with Resemblyzer (torch front end, ``speaker_encoder``) and estimate its median F0.
2. Start from the stock pack whose rendering is closest to the reference (Resemblyzer cosine).
3. Optimise one 256-dim offset ``delta`` added to every row of that pack with Adam, through the
   differentiable model, on short fixed sentences. Durations are predicted once (render only); the
   text-encoder and alignment are cached, so a step is the prosody head + decoder + speaker encoder.
   loss = 1 - cos(emb(out), emb(ref))                   speaker similarity
        + w_pitch * (mean log F0(out) - log F0(ref))^2   the model's own F0 curve, in semitones^2 / 144
        + w_prior * mean(((row + delta - mu) / sigma)^2 beyond 1)   stay near the stock voices' space
   and ``delta`` is clipped to a trust region (|delta / sigma| <= max_z per dim) so the style never
   leaves the region where the model stays intelligible.
4. Pitch correction: the model's F0 curve and the loss do not always bring the rendered median F0 to the
   reference's (high voices came out 4-7 st too high). The fit sentences are rendered with the result and
   their median F0 measured (YIN, as the benchmark does); the difference to the reference is a per-voice
   ``f0_shift_st`` (clamped to +-8 st, one refinement render; 0 when that render is not closer), which
   the engine applies at synthesis on the model's F0 curve (voiced points only,
   ``emotion.apply.shift_f0``; emotion shifts add to it).
The result is a (510, 1, 256) pack = stock pack + delta, like any stock voice, plus that shift.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..model import KokoroModel
from ..model.prosody import expand_to_frames, frames_per_token
from ..emotion.apply import shift_f0
from ..voices import clamp_shift
from .speaker_encoder import SpeakerEncoder, shared_encoder

# Short fixed English sentences the clone is rendered on while fitting (never the benchmark's).
FIT_SENTENCES = (
    "She found a quiet place by the river and began to read.",
    "We will meet again tomorrow morning at the station.",
)
PITCH_FMIN, PITCH_FMAX = 50.0, 500.0


@dataclass(frozen=True)
class FitConfig:
    steps: int = 18  # 24 before the 30 s budget was measured on an idle machine (bench/RESULTS.md)
    lr: float = 0.05
    w_pitch: float = 10.0
    w_prior: float = 0.02
    max_z: float = 3.0  # trust region per dim, in stock-voice standard deviations
    fit_prosody: bool = True  # also move the prosody half (F0 level comes from it)
    n_sentences: int = 2
    window_frames: int = 72  # decode only this many frames (1.8 s) per step: one Resemblyzer partial
    init: str = "best"  # "best" stock voice, or a stock name
    pitch_correction: bool = True  # measure and store a per-voice F0 shift (FitResult.f0_shift_st)
    pitch_passes: int = 1  # refinement renders of the fit sentences with the shift applied
    z_space: bool = False  # EXPERIMENT: Adam on delta / sigma (lr in stock-voice standard deviations)
    judge_every: int = 0  # EXPERIMENT: 0 = best window loss; k = iterates every k steps of the 2nd half judged whole


@dataclass
class FitResult:
    pack: torch.Tensor  # (510, 1, 256)
    base_voice: str
    similarity_start: float  # Resemblyzer cosine of the base voice (fit sentences), torch front end
    similarity: float  # after fitting
    ref_f0_hz: float
    out_f0_hz: float
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


class _Sentence:
    """One fixed sentence, everything that does not depend on the style precomputed."""

    def __init__(self, model: KokoroModel, tokens: tuple[int, ...], style: torch.Tensor) -> None:
        dev = model.device
        self.tokens = torch.tensor([[0, *tokens, 0]], dtype=torch.long, device=dev)
        self.n = len(tokens)
        with torch.no_grad():
            self.bert = model.bert_encoder(model.bert(self.tokens)).transpose(1, 2)
            _, ps = model.split_style(style)
            encoded = model.predictor.text_encoder(self.bert, ps)
            self.frames = frames_per_token(model.predictor.durations(encoded)[0], 1.0)
            self.asr = expand_to_frames(model.text_encoder(self.tokens), self.frames)

    @property
    def n_frames(self) -> int:
        return int(self.frames.sum())

    def render(self, model: KokoroModel, style: torch.Tensor, start: int = 0,
               length: int | None = None, f0_shift_st: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio of frames [start, start + length) (all by default) and the whole F0 curve
        (with ``f0_shift_st``, the F0 curve shifted as the engine shifts a cloned voice's)."""
        timbre, ps = model.split_style(style)
        encoded = model.predictor.text_encoder(self.bert, ps)
        aligned = expand_to_frames(encoded.transpose(1, 2), self.frames)
        f0, energy = model.predictor.curves(aligned, ps)
        if f0_shift_st:
            f0 = shift_f0(f0, f0_shift_st)
        stop = self.n_frames if length is None else min(self.n_frames, start + length)
        audio = model.decoder(self.asr[..., start:stop], f0[:, 2 * start : 2 * stop],
                              energy[:, 2 * start : 2 * stop], timbre)[0]
        return audio, f0


class VoiceFitter:
    """Fits voice packs; holds the stock statistics and cached stock-voice renderings."""

    def __init__(self, model: KokoroModel, stock: dict[str, torch.Tensor],
                 tokenize: Callable[[str], tuple[int, ...]], encoder: SpeakerEncoder | None = None) -> None:
        self.model = model
        self.stock = {k: v.reshape(v.shape[0], -1).float() for k, v in stock.items()}
        self.encoder = encoder or shared_encoder()
        rows = torch.cat(list(self.stock.values()))
        self.mu = rows.mean(0)
        self.sigma = rows.std(0).clamp_min(1e-3)
        self.sentence_tokens = [tokenize(s) for s in FIT_SENTENCES]
        self._stock_embeds: dict[str, torch.Tensor] = {}

    def stock_embedding(self, name: str) -> torch.Tensor:
        if name not in self._stock_embeds:
            with torch.no_grad():
                audio = torch.cat([self._sentence(name, toks).render(self.model, self._row(name, len(toks)))[0]
                                   for toks in self.sentence_tokens])
                self._stock_embeds[name] = self.encoder.embed(audio)
        return self._stock_embeds[name]

    def _row(self, name: str, n_tokens: int, delta: torch.Tensor | None = None) -> torch.Tensor:
        pack = self.stock[name]
        row = pack[min(max(n_tokens, 1), pack.shape[0]) - 1][None]
        return row if delta is None else row + delta

    def _sentence(self, name: str, tokens: tuple[int, ...]) -> _Sentence:
        return _Sentence(self.model, tokens, self._row(name, len(tokens)))

    def fit(self, reference: np.ndarray, sample_rate: int = 24000, cfg: FitConfig = FitConfig(),
            progress: Callable[[float, str], None] | None = None) -> FitResult:
        started = time.perf_counter()
        report = progress or (lambda _f, _m: None)
        ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))
        with torch.no_grad():
            ref_emb = self.encoder.embed(ref, sample_rate)
        ref_f0 = median_f0(reference, sample_rate)
        report(0.05, "reference analysed")
        sims = {name: float(self.stock_embedding(name) @ ref_emb) for name in sorted(self.stock)}
        base = max(sims, key=sims.get) if cfg.init == "best" else cfg.init
        report(0.15, f"closest stock voice: {base}")
        sentences = [self._sentence(base, toks) for toks in self.sentence_tokens[: cfg.n_sentences]]
        delta = torch.zeros(1, 256, requires_grad=True)
        mask = torch.ones(1, 256)
        if not cfg.fit_prosody:
            mask[:, 128:] = 0
        if cfg.z_space:
            mask = mask * self.sigma
        opt = torch.optim.Adam([delta], lr=cfg.lr)
        candidates = []
        log_ref_f0 = math.log(ref_f0) if math.isfinite(ref_f0) else None
        history: list[float] = []
        best = (float("inf"), delta.detach().clone(), sims[base], float("nan"))
        bound = cfg.max_z * self.sigma
        for step in range(cfg.steps + 1):
            d = delta * mask
            s = sentences[step % len(sentences)]
            span = max(1, s.n_frames - cfg.window_frames)
            start = (step // len(sentences) * 23) % span if cfg.window_frames else 0
            a, f0 = s.render(self.model, self._row(base, s.n, d), start, cfg.window_frames or None)
            f0s = [f0.reshape(-1)]
            emb = self.encoder.embed(a)
            sim = emb @ ref_emb
            f0 = torch.cat(f0s)
            voiced = f0 > PITCH_FMIN
            out_f0 = torch.exp(torch.log(f0[voiced]).mean()) if voiced.any() else f0.new_tensor(float("nan"))
            loss = 1 - sim
            if log_ref_f0 is not None and voiced.any() and cfg.w_pitch:
                semis = 12 / math.log(2) * (torch.log(out_f0) - log_ref_f0)
                loss = loss + cfg.w_pitch * (semis / 12) ** 2
            styles = self._row(base, sentences[0].n, d)
            z = (styles - self.mu) / self.sigma
            loss = loss + cfg.w_prior * torch.relu(z.abs() - 1).pow(2).mean()
            history.append(float(sim.detach()))
            if float(loss.detach()) < best[0]:
                best = (float(loss.detach()), d.detach().clone(), float(sim.detach()), float(out_f0.detach()))
            if cfg.judge_every and step >= cfg.steps // 2 and (cfg.steps - step) % cfg.judge_every == 0:
                candidates.append(d.detach().clone())
            if step == cfg.steps:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                if cfg.z_space:
                    delta.clamp_(-cfg.max_z, cfg.max_z)
                else:
                    delta.copy_(torch.maximum(torch.minimum(delta, bound), -bound))
            report(0.15 + 0.85 * (step + 1) / cfg.steps, f"fitting: step {step + 1}/{cfg.steps}, similarity {float(sim.detach()):.2f}")
        _, d, sim, out_f0 = best
        # Judge the result as the start was judged (whole fit sentences); never return worse than the base.
        judged = []
        for cand in (candidates or [d]):
            with torch.no_grad():
                audio = torch.cat([s.render(self.model, self._row(base, s.n, cand))[0] for s in sentences])
                judged.append((float(self.encoder.embed(audio) @ ref_emb), cand, audio))
        sim, d, audio = max(judged, key=lambda j: j[0])
        if sim < sims[base]:
            d, sim = torch.zeros_like(d), sims[base]
            with torch.no_grad():
                audio = torch.cat([s.render(self.model, self._row(base, s.n, d))[0] for s in sentences])
        # Pitch correction: the model's F0 curve and the loss cannot always bring the rendering's
        # median F0 (YIN, as the benchmark measures it) to the reference's, so measure what is left
        # and correct it at synthesis with a fixed shift on the F0 curve; one refinement pass.
        shift, shifted_f0 = 0.0, float("nan")
        if math.isfinite(ref_f0) and cfg.pitch_correction:
            out_yin = median_f0(audio.numpy(), 24000)
            if math.isfinite(out_yin):
                shift, shifted_f0 = clamp_shift(12 * math.log2(ref_f0 / out_yin)), out_yin
                for _ in range(cfg.pitch_passes):
                    with torch.no_grad():
                        audio = torch.cat([s.render(self.model, self._row(base, s.n, d), f0_shift_st=shift)[0]
                                           for s in sentences])
                    measured = median_f0(audio.numpy(), 24000)
                    if not math.isfinite(measured) or abs(math.log(ref_f0 / measured)) >= abs(math.log(ref_f0 / out_yin)):
                        # the shift did not bring the pitch closer (e.g. a curve mostly below the voicing
                        # threshold, where the shift barely acts): keep the voice as fitted
                        shift, shifted_f0 = 0.0, out_yin
                        break
                    shifted_f0 = measured
                    shift = clamp_shift(shift + 12 * math.log2(ref_f0 / measured))
        report(1.0, f"done, similarity {sim:.2f}, pitch correction {shift:+.1f} st")
        pack = (self.stock[base] + d).reshape(-1, 1, 256).contiguous()
        return FitResult(pack, base, sims[base], sim, ref_f0, out_f0, time.perf_counter() - started,
                         cfg.steps, history, round(shift, 2), shifted_f0)
