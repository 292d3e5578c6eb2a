"""PL-BERT: the ALBERT text encoder Kokoro uses for phoneme context.

Module and attribute names follow the Hugging Face ALBERT layout so that the
checkpoint's keys (``bert.embeddings.*``, ``bert.encoder.albert_layer_groups.0
.albert_layers.0.*``) load without renaming. One layer's weights are shared by
all ``num_hidden_layers`` passes, as in ALBERT.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_LN_EPS = 1e-12


@dataclass(frozen=True)
class AlbertConfig:
    vocab_size: int
    embedding_size: int = 128
    hidden_size: int = 768
    intermediate_size: int = 2048
    num_attention_heads: int = 12
    num_hidden_layers: int = 12
    max_position_embeddings: int = 512
    type_vocab_size: int = 2


class AlbertEmbeddings(nn.Module):
    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.embedding_size)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.embedding_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.embedding_size)
        self.LayerNorm = nn.LayerNorm(cfg.embedding_size, eps=_LN_EPS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        # token type is always 0: add row 0 of the table (broadcast over time).
        x = self.word_embeddings(tokens) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class AlbertAttention(nn.Module):
    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=_LN_EPS)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        return x.view(b, t, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._split_heads(layer(x)) for layer in (self.query, self.key, self.value))
        context = F.scaled_dot_product_attention(q, k, v)
        context = context.transpose(1, 2).reshape(x.shape)
        return self.LayerNorm(x + self.dense(context))


class AlbertLayer(nn.Module):
    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.attention = AlbertAttention(cfg)
        self.ffn = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.ffn_output = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.full_layer_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=_LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(x)
        hidden = self.ffn_output(F.gelu(self.ffn(x), approximate="tanh"))
        return self.full_layer_layer_norm(x + hidden)


class AlbertLayerGroup(nn.Module):
    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList([AlbertLayer(cfg)])


class AlbertEncoder(nn.Module):
    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.passes = cfg.num_hidden_layers
        self.embedding_hidden_mapping_in = nn.Linear(cfg.embedding_size, cfg.hidden_size)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(cfg)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embedding_hidden_mapping_in(x)
        layer = self.albert_layer_groups[0].albert_layers[0]
        for _ in range(self.passes):
            x = layer(x)
        return x


class Albert(nn.Module):
    """Phoneme tokens (B, T), unpadded -> contextual hidden states (B, T, hidden_size)."""

    def __init__(self, cfg: AlbertConfig) -> None:
        super().__init__()
        self.embeddings = AlbertEmbeddings(cfg)
        self.encoder = AlbertEncoder(cfg)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(tokens))
