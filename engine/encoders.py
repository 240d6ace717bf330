"""Modality front ends: each turns a batch dict into a token sequence for the transformer.

Every encoder returns an `Encoded` with a CLS token prepended at position 0 (the pooled
output is read there), a key padding mask, and optionally an additive attention bias.
Batch keys per kind:
  text:    input_ids (B, T) long, attention_mask (B, T) bool (True = real token; optional)
  tabular: numeric (B, Fn) float (NaN = missing), categorical (B, Fc) long (0 = missing/unknown)
  image:   pixels (B, C, H, W) float in [0, 1]
  graph:   atom_features (B, N, Fa) long (0 = padding/unknown), atom_mask (B, N) bool,
           distances (B, N, N) float topological distances (inf or negative = unreachable)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from engine.config import ModelConfig


@dataclass
class Encoded:
    tokens: torch.Tensor  # (B, 1 + T, D), CLS first
    valid: torch.Tensor  # (B, 1 + T) bool, False for padding
    attn_bias: torch.Tensor | None = None  # (B, H, 1 + T, 1 + T) additive, or None
    # image: the convolutional stem's output after each stride-2 stage, finest first:
    # (B, C_i, H / 2**(i+1), W / 2**(i+1)); read by dense heads as skip connections.
    features: list[torch.Tensor] = field(default_factory=list)


def _init_embedding(weight: torch.Tensor) -> None:
    nn.init.normal_(weight, std=0.02)


def _prepend_cls(cls: torch.Tensor, tokens: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # cls: (D,), tokens: (B, T, D), valid: (B, T) -> (B, 1 + T, D), (B, 1 + T)
    B = tokens.shape[0]
    tokens = torch.cat([cls.to(tokens.dtype).expand(B, 1, -1), tokens], dim=1)
    valid = torch.cat([valid.new_ones(B, 1), valid], dim=1)
    return tokens, valid


def hashed_ngrams(input_ids: torch.Tensor, valid: torch.Tensor, buckets: int,
                  scale: Literal["mean", "distinct"] = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket ids of every unigram and bigram, and their weights (0 = padding).

    scale "mean": 1/count per row (an average of the occurrences). "distinct": each distinct
    bucket once, at 1/sqrt(number of distinct buckets): a binary bag of unit length, as a
    logistic regression on binary n-gram features sees it. A segment that repeats one token
    (a line of underscores) then weighs no more than one that does not; on the contracts'
    validation segments binary features beat counts for a linear read-out.
    input_ids, valid: (B, T) -> ids (B, 2T - 1) long, weights (B, 2T - 1) float.
    """
    ids = input_ids.long()
    bigram_ids = (ids[:, :-1] * 1_000_003 + ids[:, 1:] * 7919 + 1) % buckets
    bigram_valid = valid[:, :-1] & valid[:, 1:]
    ngram_ids = torch.cat([ids % buckets, bigram_ids], dim=1)
    present = torch.cat([valid, bigram_valid], dim=1)
    if scale == "distinct":
        # Sorted with padding as -1 first, a bucket counts once: where it differs from its left neighbour.
        ngram_ids, order = torch.sort(ngram_ids.masked_fill(~present, -1), dim=1)
        present = present.gather(1, order)
        first = torch.ones_like(present)
        first[:, 1:] = ngram_ids[:, 1:] != ngram_ids[:, :-1]
        present = present & first
        ngram_ids = ngram_ids.clamp(min=0)
    weights = present.float()
    count = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
    return ngram_ids, weights / (count.sqrt() if scale == "distinct" else count)


class TextEncoder(nn.Module):
    """Token + learned position embeddings.

    With config.ngram_buckets > 0, the CLS token also gets the mean embedding of the sequence's
    hashed unigrams and bigrams: a bag-of-n-grams path that learns fast from few examples,
    beside the attention path that learns word order.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.max_len = config.max_len
        self.vocab_size = config.vocab_size
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_len + 1, config.d_model)  # +1: CLS
        self.cls = nn.Parameter(torch.zeros(config.d_model))
        self.ngram_buckets = config.ngram_buckets
        self.ngram_embedding = nn.EmbeddingBag(config.ngram_buckets, config.d_model, mode="sum") if config.ngram_buckets else None
        _init_embedding(self.token_embedding.weight)
        _init_embedding(self.position_embedding.weight)
        if self.ngram_embedding is not None:
            _init_embedding(self.ngram_embedding.weight)

    def forward(self, batch: dict[str, torch.Tensor]) -> Encoded:
        input_ids = batch["input_ids"]  # (B, T)
        T = input_ids.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.max_len}")
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= self.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}: is the tokenizer the model's own?")
        valid = batch.get("attention_mask")
        valid = torch.ones_like(input_ids, dtype=torch.bool) if valid is None else valid.bool()
        tokens, valid = _prepend_cls(self.cls, self.token_embedding(input_ids), valid)
        positions = torch.arange(T + 1, device=input_ids.device)
        tokens = tokens + self.position_embedding(positions)
        if self.ngram_embedding is not None and T > 0:
            ngram_ids, weights = hashed_ngrams(input_ids, valid[:, 1:], self.ngram_buckets)
            bag = self.ngram_embedding(ngram_ids, per_sample_weights=weights)  # (B, D)
            tokens = torch.cat([tokens[:, :1] + bag.unsqueeze(1).to(tokens.dtype), tokens[:, 1:]], dim=1)
        return Encoded(tokens, valid)


class TabularEncoder(nn.Module):
    """One token per feature.

    Numeric feature f: value * w_f + b_f, or a learned missing embedding when the value is NaN.
    Categorical feature f: its own embedding table with row 0 meaning missing/unknown.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        D = config.d_model
        self.n_numeric = config.n_numeric
        cards = config.categorical_cardinalities
        self.numeric_weight = nn.Parameter(torch.randn(config.n_numeric, D) * 0.02)  # (Fn, D)
        self.numeric_bias = nn.Parameter(torch.randn(config.n_numeric, D) * 0.02)
        self.numeric_missing = nn.Parameter(torch.randn(config.n_numeric, D) * 0.02)
        # All categorical tables live in one embedding; feature f's rows start at offsets[f].
        sizes = torch.tensor([c + 1 for c in cards], dtype=torch.long)
        offsets = torch.cumsum(sizes, 0) - sizes
        self.register_buffer("category_offsets", offsets, persistent=False)
        self.register_buffer("category_sizes", sizes, persistent=False)
        self.category_embedding = nn.Embedding(max(int(sizes.sum()), 1), D)
        _init_embedding(self.category_embedding.weight)
        self.cls = nn.Parameter(torch.zeros(D))

    def forward(self, batch: dict[str, torch.Tensor]) -> Encoded:
        parts = []
        if self.n_numeric:
            numeric = batch["numeric"]  # (B, Fn)
            missing = torch.isnan(numeric).unsqueeze(-1)  # (B, Fn, 1)
            values = torch.nan_to_num(numeric, nan=0.0).unsqueeze(-1).to(self.numeric_weight.dtype)
            parts.append(torch.where(missing, self.numeric_missing, values * self.numeric_weight + self.numeric_bias))
        if self.category_sizes.numel():
            categorical = batch["categorical"].long()  # (B, Fc)
            if (categorical < 0).any() or (categorical >= self.category_sizes).any():
                raise ValueError("categorical index out of range: use 0 for missing or unknown values")
            parts.append(self.category_embedding(categorical + self.category_offsets))
        tokens = torch.cat(parts, dim=1)  # (B, Fn + Fc, D)
        valid = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        tokens, valid = _prepend_cls(self.cls, tokens, valid)
        return Encoded(tokens, valid)


class ConvBlock(nn.Module):
    """x + conv(gelu(norm(conv(gelu(norm(x)))))): a pre-activation residual 3x3 block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        groups = min(8, channels)
        self.norm1, self.conv1 = nn.GroupNorm(groups, channels), nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(groups, channels), nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # starts as the identity, so depth costs no stability
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.gelu(self.norm1(x)))
        return x + self.conv2(nn.functional.gelu(self.norm2(h)))


class PatchEncoder(nn.Module):
    """Patches (a strided convolution) plus row and column position embeddings.

    With config.stem_channels, stride-2 3x3 convolutions come first (each followed by
    config.stem_blocks residual blocks) and the patch projection covers
    patch_size / 2**len(stem_channels) of their output: still one token per patch. Each
    stage's output is kept in Encoded.features for dense heads.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.grid = config.image_size // config.patch_size
        self.pixel_norm = config.pixel_norm
        layers: list[nn.Module] = []
        self.stage_ends: list[int] = []  # index in self.stem of each stage's last module
        width = config.channels
        for out in config.stem_channels:
            # GroupNorm, not BatchNorm: a prediction must not depend on its batch neighbours.
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.GroupNorm(min(8, out), out), nn.GELU()]
            layers += [ConvBlock(out) for _ in range(config.stem_blocks)]
            self.stage_ends.append(len(layers) - 1)
            width = out
        self.stem = nn.Sequential(*layers)
        kernel = config.patch_size // 2 ** len(config.stem_channels)
        self.patchify = nn.Conv2d(width, config.d_model, kernel, stride=kernel)
        self.row_embedding = nn.Parameter(torch.randn(self.grid, config.d_model) * 0.02)
        self.col_embedding = nn.Parameter(torch.randn(self.grid, config.d_model) * 0.02)
        self.cls = nn.Parameter(torch.zeros(config.d_model))

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> inputs centred on 0, per config.pixel_norm."""
        if self.pixel_norm == "image":
            mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
            std = pixels.std(dim=(1, 2, 3), keepdim=True)
            return (pixels - mean) / (std + 0.02)  # + 0.02: a flat image is not amplified to noise
        return pixels * 2.0 - 1.0

    def forward(self, batch: dict[str, torch.Tensor]) -> Encoded:
        pixels = batch["pixels"]  # (B, C, H, W)
        x, features = self.normalize(pixels), []
        for index, layer in enumerate(self.stem):
            x = layer(x)
            if index in self.stage_ends:
                features.append(x)
        patches = self.patchify(x)  # (B, D, g, g)
        B, D, gh, gw = patches.shape
        if (gh, gw) != (self.grid, self.grid):
            raise ValueError(f"image of {tuple(pixels.shape[-2:])} pixels does not give a {self.grid}x{self.grid} patch grid")
        position = self.row_embedding[:, None, :] + self.col_embedding[None, :, :]  # (g, g, D)
        tokens = (patches.permute(0, 2, 3, 1) + position).reshape(B, gh * gw, D)  # row-major patches
        valid = torch.ones(B, gh * gw, dtype=torch.bool, device=pixels.device)
        tokens, valid = _prepend_cls(self.cls, tokens, valid)
        return Encoded(tokens, valid, features=features)


class GraphEncoder(nn.Module):
    """Atoms as tokens (sum of per-feature embeddings) with a learned per-head distance bias.

    Distances are clipped to max_distance; unreachable pairs get their own bias, and the CLS
    token gets one more learned bias to and from every atom (a virtual node).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.max_distance = config.max_distance
        self.max_atoms = config.max_atoms
        sizes = torch.tensor([c + 1 for c in config.atom_feature_cardinalities], dtype=torch.long)
        self.register_buffer("feature_offsets", torch.cumsum(sizes, 0) - sizes, persistent=False)
        self.register_buffer("feature_sizes", sizes, persistent=False)
        self.atom_embedding = nn.Embedding(int(sizes.sum()), config.d_model)
        # Rows 0..max_distance: distances; max_distance + 1: unreachable; max_distance + 2: CLS.
        self.distance_bias = nn.Embedding(config.max_distance + 3, config.n_heads)
        nn.init.zeros_(self.distance_bias.weight)
        _init_embedding(self.atom_embedding.weight)
        self.cls = nn.Parameter(torch.zeros(config.d_model))

    def forward(self, batch: dict[str, torch.Tensor]) -> Encoded:
        features = batch["atom_features"].long()  # (B, N, Fa)
        atom_mask = batch["atom_mask"].bool()  # (B, N)
        distances = batch["distances"]  # (B, N, N)
        if features.shape[1] > self.max_atoms:
            raise ValueError(f"molecule with {features.shape[1]} atoms exceeds max_atoms {self.max_atoms}")
        if (features < 0).any() or (features >= self.feature_sizes).any():
            raise ValueError("atom feature index out of range: use 0 for padding or unknown values")
        atoms = self.atom_embedding(features + self.feature_offsets).sum(dim=2)  # (B, N, D)
        tokens, valid = _prepend_cls(self.cls, atoms, atom_mask)

        unreachable = ~torch.isfinite(distances) | (distances < 0)
        index = torch.nan_to_num(distances, nan=0.0, posinf=0.0, neginf=0.0).round().long()
        index = index.clamp(0, self.max_distance).masked_fill(unreachable, self.max_distance + 1)
        B, N, _ = index.shape
        full = index.new_full((B, N + 1, N + 1), self.max_distance + 2)  # CLS row and column
        full[:, 1:, 1:] = index
        # Indexing the (H, buckets) table directly: its backward is several times cheaper than
        # nn.Embedding's dense backward over B * N * N lookups.
        attn_bias = self.distance_bias.weight.T[:, full].transpose(0, 1)  # (B, H, 1 + N, 1 + N)
        return Encoded(tokens, valid, attn_bias)


ENCODERS: dict[str, type[nn.Module]] = {
    "text": TextEncoder,
    "tabular": TabularEncoder,
    "image": PatchEncoder,
    "graph": GraphEncoder,
}
