"""The prosody edit: a Prosody from ``model.predict_prosody`` + an EmotionSpec -> a new Prosody.

It works on the model's own predictions, in this order:
1. durations: every token's expected frames / speed, times the tempo change, which vowels carry more
   than consonants (``duration_factors``, after [G81]: Gay, T. (1981). Mechanisms in the control of speech
   rate. Phonetica 38, 148-158); pause and punctuation tokens (, . ! ? ; : — …) x ``pause``; with
   random variation, a per-token jitter;
2. F0 and energy are predicted again by the model for the new durations (``prosody_for_frames``),
   so the contour follows the new timing instead of being stretched;
3. F0, on voiced points only (a soft voicing weight, so onsets stay smooth): range scaled around
   the utterance median in log-F0, then the level shift and a linear tilt (semitones); with random
   variation, a slow wiggle of a fraction of a semitone;
4. energy: the model's energy curve is scaled by 2^(dB/6). The decoder turns that into about a
   third of the asked dB (measured: x2 -> +2 dB), so the rest is a segment gain (``finish_audio``);
   the peaks a positive gain raises are limited locally, like every segment's. The loudness change
   is thus partly post-processing; pitch, range, contour, tempo and pauses are entirely the model's.
Random variation draws from a torch.Generator seeded with (seed, segment index): never the global
RNG, so the same seed gives the same audio, in ``synthesize`` and ``stream`` alike.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ..model import SAMPLE_RATE, Prosody
from ..text.vocab import load_vocab
from .profiles import ProsodyEdit
from .reference import transfer, weighted
from .vector import EmotionSpec

PAUSE_SYMBOLS = ",.!?;:—…"
CONSONANTS = "bcdfhjklmnpqrstvwxzçðŋɕɖɟɡɣɥɰɲɳɴɸɹɻɽɾʁʂʃʈʋʎʒʔʝʣʤʥʦʧʨʰʲβθχꭧST"  # Kokoro's phoneme tokens
CONSONANT_SHARE = 0.5  # consonants take tempo^-0.5 of a tempo change, vowels the rest
VOICED_HZ = 40.0  # below this the model's F0 is unvoiced or a ramp into it
F0_LIMITS = (50.0, 600.0)
ENERGY_CURVE_LIMITS = (0.4, 2.2)
MODEL_ENERGY_SHARE = 1 / 3  # of the asked dB that the energy curve delivers (measured on jm_kumo)

# Random variation: standard deviations of the per-segment draws.
JITTER = {"f0_shift_st": 0.6, "log_range": 0.08, "f0_tilt_st": 0.8, "energy_db": 0.8, "log_tempo": 0.04,
          "log_pause": 0.15, "token_log_duration": 0.10, "wiggle_st": 0.5}


def token_ids(symbols: str) -> list[int]:
    vocab = load_vocab()
    return [vocab[c] for c in symbols if c in vocab]


def duration_factors(tokens: torch.Tensor, expected: torch.Tensor, tempo: float,
                     pause: float = 1.0) -> torch.Tensor:
    """Per-token duration factors for a tempo change: consonants change by tempo^-CONSONANT_SHARE,
    the other speech tokens (vowels, tones, stress) take the rest, so the whole still lasts 1/tempo;
    pause and punctuation tokens 1/tempo x ``pause``, the boundary tokens 1/tempo. In natural speech,
    rate changes are carried mostly by vowels and pauses while consonants keep more of their length
    [G81]; compressing consonants as much as vowels made fast (angry, afraid) speech lose word endings
    ("come in" heard as "coming")."""
    ids = tokens[0]
    consonant = torch.isin(ids, torch.tensor(token_ids(CONSONANTS), device=ids.device)).to(expected.device)
    pauses = torch.isin(ids, torch.tensor(token_ids(PAUSE_SYMBOLS), device=ids.device)).to(expected.device)
    nucleus = ~consonant & ~pauses
    nucleus[0] = nucleus[-1] = False  # the boundary tokens: edge silence
    factors = torch.full_like(expected, 1.0 / tempo, dtype=torch.float32)
    e = expected.float()
    vowels, consonants = float(e[nucleus].sum()), float(e[consonant].sum())
    if vowels > 0 and consonants > 0:
        c = tempo ** -CONSONANT_SHARE
        v = ((vowels + consonants) / tempo - consonants * c) / vowels
        factors[consonant], factors[nucleus] = c, max(v, 0.25)
    factors[pauses] *= pause
    return factors


def _generator(spec: EmotionSpec, index: int) -> torch.Generator | None:
    if not spec.random:
        return None
    return torch.Generator(device="cpu").manual_seed(spec.seed * 100_003 + index)


def _normal(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) if shape else torch.randn((), generator=gen)


def _perturb(edit: ProsodyEdit, gen: torch.Generator) -> ProsodyEdit:
    n = [float(_normal(gen)) for _ in range(6)]
    return ProsodyEdit(edit.f0_shift_st + JITTER["f0_shift_st"] * n[0],
                       edit.f0_range * math.exp(JITTER["log_range"] * n[1]),
                       edit.f0_tilt_st + JITTER["f0_tilt_st"] * n[2],
                       edit.energy_db + JITTER["energy_db"] * n[3],
                       edit.tempo * math.exp(JITTER["log_tempo"] * n[4]),
                       edit.pause * math.exp(JITTER["log_pause"] * n[5]))


def resolve_edit(model, tokens: torch.Tensor, style: torch.Tensor, prosody: Prosody, spec: EmotionSpec) -> ProsodyEdit:
    """The spec's edit for this segment, before random variation (a reference clip is compared with the
    neutral rendering of this very segment)."""
    edit = spec.fixed_edit()
    if edit is not None:
        return edit
    from .analysis import measure

    neutral = model.render(tokens, style, prosody).float().cpu().numpy()
    return weighted(transfer(spec.reference.measures, measure(neutral, SAMPLE_RATE)), spec.weight)


def shift_f0(f0: torch.Tensor, st: float | torch.Tensor, f0_range: float = 1.0) -> torch.Tensor:
    """The model's F0 curve edited on voiced points only (a soft voicing weight, so onsets stay smooth):
    range scaled around the utterance median in log-F0, then shifted by ``st`` semitones (a number or
    a per-point curve). Used by emotion and by a cloned voice's pitch correction (``f0_shift_st``)."""
    f0f = f0.float()
    weight = ((f0f - VOICED_HZ) / 30.0).clamp(0.0, 1.0)
    log_f0 = torch.log(f0f.clamp(min=1.0))
    voiced = f0f > VOICED_HZ + 30.0
    median = log_f0[voiced].median() if bool(voiced.any()) else log_f0.new_tensor(math.log(120.0))
    target = median + f0_range * (log_f0 - median) + st * (math.log(2) / 12)
    # an edit may not take a point past F0_LIMITS, nor move one that is already past them
    low = torch.minimum(log_f0, log_f0.new_tensor(math.log(F0_LIMITS[0])))
    high = torch.maximum(log_f0, log_f0.new_tensor(math.log(F0_LIMITS[1])))
    edited = torch.exp(log_f0 + weight * (torch.clamp(target, low, high) - log_f0))
    return torch.where(weight > 0, edited, f0f).to(f0.dtype)


def voice_shifted(prosody: Prosody, voice_shift_st: float) -> Prosody:
    """A cloned voice's fixed pitch correction on the model's F0 curve; 0 returns the prosody unchanged."""
    return prosody if not voice_shift_st else replace(prosody, f0=shift_f0(prosody.f0, float(voice_shift_st)))


def emotional_prosody(model, tokens: torch.Tensor, style: torch.Tensor, speed: float, prosody: Prosody,
                      spec: EmotionSpec, index: int = 0, voice_shift_st: float = 0.0, tempo: float = 1.0,
                      pause: float = 1.0) -> tuple[Prosody, float]:
    """(edited prosody, segment gain in dB). Call inside the engine's lock and inference mode.
    ``voice_shift_st`` (a cloned voice's pitch correction) adds to the emotion's F0 level; ``tempo`` and
    ``pause`` multiply the emotion's own (a requested length's fit, ``duration_fit``: emotion first, then the fit)."""
    edit = resolve_edit(model, tokens, style, prosody, spec)
    gen = _generator(spec, index)
    if gen is None and edit.is_neutral and tempo == pause == 1.0:
        return voice_shifted(prosody, voice_shift_st), 0.0
    if gen is not None:
        edit = _perturb(edit, gen)
    if tempo != 1.0 or pause != 1.0:
        edit = replace(edit, tempo=edit.tempo * tempo, pause=edit.pause * pause)
    device = prosody.frames.device

    # 1. durations, 2. the model's curves for them
    per_token = duration_factors(tokens, prosody.expected_frames, edit.tempo, edit.pause) / speed
    if gen is not None:
        per_token = per_token * torch.exp(JITTER["token_log_duration"] * _normal(gen, len(per_token))).to(device)
    frames = torch.round(prosody.expected_frames.float() * per_token).clamp(min=1).long()
    if not torch.equal(frames, prosody.frames):
        prosody = model.prosody_for_frames(prosody.encoded, prosody.expected_frames, frames, style)

    # 3. F0
    f0 = prosody.f0.float()
    pos = torch.linspace(-0.5, 0.5, f0.shape[-1], device=f0.device)
    st = (edit.f0_shift_st + voice_shift_st) + edit.f0_tilt_st * pos
    if gen is not None:
        t = torch.linspace(0.0, 1.0, f0.shape[-1])
        freqs, phases, amps = 0.5 + 2.0 * torch.rand(2, generator=gen), 2 * math.pi * torch.rand(2, generator=gen), \
            _normal(gen, 2)
        wiggle = (amps[:, None] * torch.sin(2 * math.pi * freqs[:, None] * t[None] + phases[:, None])).sum(0)
        st = st + (JITTER["wiggle_st"] / math.sqrt(2)) * wiggle.to(f0.device)
    edited = shift_f0(f0, st, edit.f0_range)

    # 4. energy: the model's curve carries part of the change
    k = min(max(2 ** (edit.energy_db / 6.0), ENERGY_CURVE_LIMITS[0]), ENERGY_CURVE_LIMITS[1])
    energy = prosody.energy.float() * k
    gain_db = edit.energy_db - MODEL_ENERGY_SHARE * 6.0 * math.log2(k)
    return replace(prosody, f0=edited.to(prosody.f0.dtype), energy=energy.to(prosody.energy.dtype)), gain_db


def finish_audio(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Apply the segment gain; the peaks it pushes over full scale are limited with every segment's
    (``engine.segment_audio``), so the level of the rest of the speech is what was asked."""
    if gain_db == 0.0:
        return audio
    return (audio * np.float32(10 ** (gain_db / 20))).astype(np.float32)
