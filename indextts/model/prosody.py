"""Text encoders and the prosody predictor: phoneme durations, F0 and energy.

Shapes use B for batch (1 at inference), T for tokens, F for frames (25 ms).
Inputs are unpadded, so no masks are needed.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import AdainResBlk1d, AdaLayerNorm, ChannelLayerNorm


def _bilstm(input_size: int, hidden: int) -> nn.LSTM:
    return nn.LSTM(input_size, hidden // 2, batch_first=True, bidirectional=True)


class TextEncoder(nn.Module):
    """Tokens (B, T) -> acoustic text features (B, C, T) for the decoder."""

    def __init__(self, channels: int, kernel_size: int, depth: int, n_symbols: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        self.cnn = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2),
                ChannelLayerNorm(channels),
                nn.LeakyReLU(0.2),
            )
            for _ in range(depth)
        )
        self.lstm = _bilstm(channels, channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)
        for block in self.cnn:
            x = block(x)
        x, _ = self.lstm(x.transpose(1, 2))
        return x.transpose(1, 2)


class DurationEncoder(nn.Module):
    """BERT features (B, C, T) + prosody style -> (B, T, C + style_dim)."""

    def __init__(self, style_dim: int, d_model: int, nlayers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(nlayers):
            layers += [_bilstm(d_model + style_dim, d_model), AdaLayerNorm(style_dim, d_model)]
        # One flat list, as the checkpoint names it (lstms.0 LSTM, lstms.1 norm, ...).
        self.lstms = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """style: (B, S) for the utterance, or a per-token track (B, S, T)."""
        styles = style if style.dim() == 3 else style[:, :, None].expand(-1, -1, x.shape[2])
        x = torch.cat([x, styles], dim=1).transpose(1, 2)
        for block in self.lstms:
            if isinstance(block, AdaLayerNorm):
                x = torch.cat([block(x, style), styles.transpose(1, 2)], dim=2)
            else:
                x, _ = block(x)
        return x


class LinearNorm(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


def _curve_head(d_hid: int, style_dim: int) -> nn.ModuleList:
    return nn.ModuleList(
        [
            AdainResBlk1d(d_hid, d_hid, style_dim),
            AdainResBlk1d(d_hid, d_hid // 2, style_dim, upsample=True),
            AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim),
        ]
    )


class ProsodyPredictor(nn.Module):
    """Predicts per-token durations, then F0 and energy (N) curves at 2 points per frame."""

    def __init__(self, style_dim: int, d_hid: int, nlayers: int, max_dur: int) -> None:
        super().__init__()
        self.text_encoder = DurationEncoder(style_dim, d_hid, nlayers)
        self.lstm = _bilstm(d_hid + style_dim, d_hid)
        self.duration_proj = LinearNorm(d_hid, max_dur)
        self.shared = _bilstm(d_hid + style_dim, d_hid)
        self.F0 = _curve_head(d_hid, style_dim)
        self.N = _curve_head(d_hid, style_dim)
        self.F0_proj = nn.Conv1d(d_hid // 2, 1, 1)
        self.N_proj = nn.Conv1d(d_hid // 2, 1, 1)

    def durations(self, encoded: torch.Tensor) -> torch.Tensor:
        """Encoded tokens (B, T, C) -> expected frames per token (B, T), before speed and rounding."""
        x, _ = self.lstm(encoded)
        return torch.sigmoid(self.duration_proj(x)).sum(dim=-1)

    def curves(self, aligned: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame-aligned features (B, C, F) -> F0 in Hz and energy, each (B, 2F)."""
        x, _ = self.shared(aligned.transpose(1, 2))
        x = x.transpose(1, 2)
        return self._head(self.F0, self.F0_proj, x, style), self._head(self.N, self.N_proj, x, style)

    @staticmethod
    def _head(blocks: nn.ModuleList, proj: nn.Conv1d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        for block in blocks:
            x = block(x, style)
        return proj(x).squeeze(1)


def frames_per_token(durations: torch.Tensor, speed: float) -> torch.Tensor:
    """Expected durations (T,) -> integer frames per token, at least one each."""
    return torch.round(durations / speed).clamp(min=1).long()


def expand_to_frames(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Repeat each token's features (B, C, T) by its frame count (T,) -> (B, C, F)."""
    return torch.repeat_interleave(x, frames, dim=2)

