"""Kokoro-82M: phoneme tokens + a 256-dim style -> 24 kHz speech. Knows nothing of languages.

The forward pass is split into stages so callers can read or change the
prosody between them (durations, F0, energy) without copying the pass:

    prosody = model.predict_prosody(tokens, style, speed)
    # ... inspect or edit prosody.frames / prosody.f0 / prosody.energy ...
    audio = model.render(tokens, style, prosody)

The style vector is two halves: ``style[:, :128]`` is timbre (read by the
decoder) and ``style[:, 128:]`` is prosody (read by the predictor).

A style is (1, 256) for the whole utterance, or (1, T, 256): one per token (boundary tokens included),
to say some words in another voice's manner without cutting the sentence (English words inside
Chinese). The predictor's text encoder reads the per-token style as it is; F0, energy and the decoder
read it per frame (each token's style repeated over its frames, then eased over ``STYLE_EASE_FRAMES``
so a switch of voice has no step). A (1, 256) style takes the original path: the same audio, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .albert import Albert, AlbertConfig
from .prosody import ProsodyPredictor, TextEncoder, expand_to_frames, frames_per_token
from .vocoder import Decoder, VocoderConfig

SAMPLES_PER_FRAME = 600  # 25 ms at 24 kHz
# ``speech_span``: a frame is speech when its predicted energy is above this share of the way from the curve's
# floor (the boundary tokens' silence) to its peak; scale-free, so emotion's energy scaling does not move it.
# At 0.25 the trimmed speech (-45 dB) began at most 1.5 frames before the first such frame and ended 0.8 after the
# last (16 sentences x 11 voices). Lower, breaths just above the floor (am_michael) counted as speech.
SPEECH_ENERGY_SHARE = 0.25
SPEECH_MARGIN_FRAMES = 6  # rendered each side of the speech: the trim's margin, onsets and EdgeCut's probes
# Rendered windows are whole multiples of this many frames (0.2 s). Every convolution's oneDNN primitive is built
# for one input length (~100 of them per length, ~1 ms each: 8-10 % of a short sentence's time), so sentences
# whose windows round to the same length reuse them; the rounding renders 2 frames more on average (~1.5 %).
RENDER_WINDOW_STEP = 8
# A per-token style switches voice between two tokens; per frame, the switch is a moving average over this
# many frames (odd; 125 ms), so the decoder's gains glide instead of stepping (a step is a click).
STYLE_EASE_FRAMES = 5


@dataclass(frozen=True)
class KokoroConfig:
    n_token: int = 178
    hidden_dim: int = 512
    style_dim: int = 128
    n_layer: int = 3
    max_dur: int = 50
    text_encoder_kernel_size: int = 5
    albert: AlbertConfig = AlbertConfig(vocab_size=178)
    vocoder: VocoderConfig = VocoderConfig()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "KokoroConfig":
        """Read a Kokoro-style config.json (keys ``plbert`` and ``istftnet``)."""
        plbert = raw.get("plbert", {})
        albert_keys = AlbertConfig.__dataclass_fields__.keys()
        albert = AlbertConfig(vocab_size=raw["n_token"], **{k: v for k, v in plbert.items() if k in albert_keys})
        ist = raw.get("istftnet", {})
        vocoder = VocoderConfig(
            **{k: _tupled(v) for k, v in ist.items() if k in VocoderConfig.__dataclass_fields__}
        )
        own = {k: raw[k] for k in ("n_token", "hidden_dim", "style_dim", "n_layer", "max_dur", "text_encoder_kernel_size") if k in raw}
        return cls(**own, albert=albert, vocoder=vocoder)


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Prosody:
    """What the predictor decided for one utterance; edit it with ``dataclasses.replace``."""

    encoded: torch.Tensor  # (1, T, hidden + style) duration-encoder output, per token
    expected_frames: torch.Tensor  # (T,) float frames per token at speed 1, before rounding
    frames: torch.Tensor  # (T,) int frames per token actually used
    f0: torch.Tensor  # (1, 2F) pitch in Hz, two points per 25 ms frame (0 = unvoiced)
    energy: torch.Tensor  # (1, 2F) the model's energy curve (log-amplitude-like units)

    @property
    def total_frames(self) -> int:
        return int(self.frames.sum())

    def to(self, device: torch.device | str) -> "Prosody":
        """A copy on ``device`` (e.g. the CPU, so results kept after a call hold no GPU memory)."""
        return Prosody(*(t.to(device) for t in (self.encoded, self.expected_frames, self.frames, self.f0,
                                                self.energy)))


class KokoroModel(nn.Module):
    def __init__(self, cfg: KokoroConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.bert = Albert(cfg.albert)
        self.bert_encoder = nn.Linear(cfg.albert.hidden_size, cfg.hidden_dim)
        self.predictor = ProsodyPredictor(cfg.style_dim, cfg.hidden_dim, cfg.n_layer, cfg.max_dur)
        self.text_encoder = TextEncoder(cfg.hidden_dim, cfg.text_encoder_kernel_size, cfg.n_layer, cfg.n_token)
        self.decoder = Decoder(cfg.hidden_dim, cfg.style_dim, cfg.vocoder)

    @property
    def device(self) -> torch.device:
        return self.bert_encoder.weight.device

    def split_style(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 256) -> (timbre (1, 128), prosody (1, 128)); per token (1, T, 256) -> two tracks (1, 128, T)."""
        if style.dim() == 3:
            track = style.transpose(1, 2)
            return track[:, : self.cfg.style_dim], track[:, self.cfg.style_dim :]
        return style[:, : self.cfg.style_dim], style[:, self.cfg.style_dim :]

    def predict_prosody(self, tokens: torch.Tensor, style: torch.Tensor, speed: float = 1.0) -> Prosody:
        """tokens (1, T) with boundary zeros at both ends; style (1, 256), or (1, T, 256) per token."""
        _check_style(tokens, style)
        _, prosody_style = self.split_style(style)
        bert = self.bert_encoder(self.bert(tokens)).transpose(1, 2)
        encoded = self.predictor.text_encoder(bert, prosody_style)
        expected = self.predictor.durations(encoded)[0]
        return self.prosody_for_frames(encoded, expected, frames_per_token(expected, speed), style)

    def prosody_for_frames(
        self, encoded: torch.Tensor, expected: torch.Tensor, frames: torch.Tensor, style: torch.Tensor
    ) -> Prosody:
        """Predict F0 and energy for given per-token frame counts (e.g. edited durations)."""
        _, prosody_style = self.split_style(style)
        aligned = expand_to_frames(encoded.transpose(1, 2), frames)
        f0, energy = self.predictor.curves(aligned, per_frame(prosody_style, frames))
        return Prosody(encoded=encoded, expected_frames=expected, frames=frames, f0=f0, energy=energy)

    def render(self, tokens: torch.Tensor, style: torch.Tensor, prosody: Prosody,
               span: tuple[int, int] | None = None) -> torch.Tensor:
        """Decode to audio (600 samples per frame), float32 on the model's device, shape (N,).

        ``span`` (start, stop) renders only those frames (e.g. ``speech_span``: the silence Kokoro puts around
        speech costs as much to decode as speech, and is trimmed anyway): audio from sample 600 * start."""
        _check_style(tokens, style)
        timbre, _ = self.split_style(style)
        asr = expand_to_frames(self.text_encoder(tokens), prosody.frames)
        return self.decoder(asr, prosody.f0, prosody.energy, per_frame(timbre, prosody.frames), span)[0]

    def forward(self, tokens: torch.Tensor, style: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
        return self.render(tokens, style, self.predict_prosody(tokens, style, speed))


def _check_style(tokens: torch.Tensor, style: torch.Tensor) -> None:
    if style.dim() == 3 and style.shape[1] != tokens.shape[1]:
        raise ValueError(f"a per-token style needs one row per token: {style.shape[1]} rows for {tokens.shape[1]} tokens")


def per_frame(style: torch.Tensor, frames: torch.Tensor, ease: int = STYLE_EASE_FRAMES) -> torch.Tensor:
    """A style for frame-rate layers: (B, S) as it is; a per-token track (B, S, T) repeated by each token's
    ``frames`` (T,) and eased where it changes (a centred moving average over ``ease`` frames, edges held):
    (B, S, F). Frames further than ``ease // 2`` from a change keep their token's style exactly."""
    if style.dim() == 2:
        return style
    track = expand_to_frames(style, frames)
    half = ease // 2
    if half < 1 or track.shape[2] < 2:
        return track
    changes = (track[..., 1:] != track[..., :-1]).any(dim=1).any(dim=0).float()  # (F - 1,): between f and f+1
    near = F.max_pool1d(F.pad(changes, (half, half - 1 + 1))[None, None], 2 * half, stride=1)[0, 0] > 0
    eased = F.avg_pool1d(F.pad(track.float(), (half, half), mode="replicate"), ease, stride=1).to(track.dtype)
    return torch.where(near, eased, track)


def speech_span(prosody: Prosody, margin: int = SPEECH_MARGIN_FRAMES, step: int = RENDER_WINDOW_STEP) -> tuple[int, int]:
    """Frames [start, stop) that hold the speech, from the predicted energy curve, plus at least ``margin`` frames
    each side, widened to a whole multiple of ``step`` frames while the utterance has them.

    Kokoro gives the boundary tokens 15-19 frames of silence before speech and 15-40 after (Mandarin's last
    tone mark holds ~30): 15-25 % of a sentence's frames, rendered and then trimmed. Silent frames sit at the
    curve's floor; the whole utterance when no frame stands out."""
    energy = prosody.energy[0].float()
    floor, peak = float(energy.min()), float(energy.max())
    loud = torch.nonzero(energy > floor + SPEECH_ENERGY_SHARE * (peak - floor)).flatten()
    frames = prosody.total_frames
    if loud.numel() == 0:
        return 0, frames
    start, stop = max(0, int(loud[0]) // 2 - margin), min(frames, int(loud[-1]) // 2 + 1 + margin)
    width = -(-(stop - start) // step) * step
    if width >= frames:
        return 0, frames
    start = min(max(0, start - (width - (stop - start)) // 2), frames - width)
    return start, start + width


