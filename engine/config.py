"""Model configuration: one dataclass that describes a MoETransformer, saved as config.json.

Every solution builds its model from a ModelConfig, and a checkpoint is this config plus the
weights, so everything here must survive a JSON round trip.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

EncoderKind = Literal["text", "tabular", "image", "graph"]
HeadKind = Literal["multiclass", "multilabel", "regression", "token", "dense"]
BalanceMode = Literal["bias", "aux"]
GateMode = Literal["softmax", "sigmoid"]

ENCODER_KINDS = ("text", "tabular", "image", "graph")
HEAD_KINDS = ("multiclass", "multilabel", "regression", "token", "dense")
PixelNorm = Literal["fixed", "image"]


@dataclass
class HeadSpec:
    """One output head.

    multiclass: logits (B, n_outputs) from the pooled (CLS) output; target (B,) long, -100 = missing.
    multilabel: logits (B, n_outputs); target (B, n_outputs) float 0/1, NaN = missing label.
    regression: (B, n_outputs, 2) = mean and log-variance; target (B, n_outputs) float, NaN = missing.
    token: per-token logits (B, T, n_outputs) over the encoder tokens without CLS (text tokens,
      image patches, atoms); target (B, T) long with -100 = ignore.
    dense: per-pixel logits (B, P, n_outputs) of an image at ModelConfig.dense_stride, the
      (image_size / dense_stride)**2 cells in row-major order, decoded from the patch tokens
      and the convolutional stem (engine.heads.DenseHead); target (B, P) long, -100 = ignore.
    """

    name: str
    kind: HeadKind
    n_outputs: int
    weight: float = 1.0  # multiplies this head's loss in MoETransformer.loss

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head {self.name!r}: kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if self.n_outputs < 1:
            raise ValueError(f"head {self.name!r}: n_outputs must be at least 1")


@dataclass
class ModelConfig:
    """Sizes of the transformer, its MoE layers, its encoder and its heads."""

    # Transformer trunk.
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.0

    # Mixture of experts (every block's feed-forward layer).
    n_experts: int = 8  # routed experts
    top_k: int = 3
    n_shared_experts: int = 1  # SwiGLU experts every token passes through (0 = none)
    expert_hidden: int = 256  # hidden width F of each expert's SwiGLU
    share_expert_projection: bool = False  # routed experts share one down projection (F, D)
    gate: GateMode = "softmax"  # gate weights: softmax or normalised sigmoid of chosen affinities
    balance: BalanceMode = "bias"  # "bias": aux-loss-free selection bias; "aux": Switch aux loss
    bias_update_rate: float = 1e-3  # step of the selection bias per update
    aux_loss_coef: float = 1e-2  # used when balance == "aux"

    # Encoder (front end) and its settings; only the fields of the chosen kind matter.
    encoder: EncoderKind = "text"
    vocab_size: int = 8000  # text
    max_len: int = 512  # text: tokens per sequence, CLS excluded
    ngram_buckets: int = 0  # text: hashed uni+bigram bag added to CLS (fastText-style); 0 = off
    # text: hashed uni+bigram buckets read linearly straight into the logits of every
    # multilabel/multiclass head (the "wide" half of wide & deep); 0 = off
    wide_buckets: int = 0
    # Multiplies the wide read-out: under Adam its logits then move `wide_gain` times as fast,
    # which the sparse n-gram weights (each updated only when its n-gram occurs) need.
    wide_gain: float = 1.0
    # text: tokens the wide read-out reads when longer than max_len: the bag then covers a whole
    # segment while attention (and the CLS bag) read its first max_len tokens; 0 = max_len
    wide_max_len: int = 0
    n_numeric: int = 0  # tabular
    categorical_cardinalities: list[int] = field(default_factory=list)  # tabular: categories per feature, 0 = missing excluded
    image_size: int = 64  # image (square)
    patch_size: int = 8  # image
    channels: int = 3  # image
    # image: widths of a convolutional stem (3x3, stride 2, GroupNorm, GELU each) before the
    # patch projection, so patches see local texture; empty = patches straight from pixels.
    stem_channels: list[int] = field(default_factory=list)
    # image: residual 3x3 convolution blocks after each stride-2 stem convolution (0 = none):
    # depth where texture is read, at a cost that stays linear in the pixels.
    stem_blocks: int = 0
    # image: "fixed" maps [0, 1] to [-1, 1]; "image" standardises each image to zero mean and
    # unit variance first, so another camera's exposure and gain leave the input unchanged.
    pixel_norm: PixelNorm = "fixed"
    dense_stride: int = 4  # image: pixels per cell of a "dense" head's map (a power of two)
    decoder_channels: int = 32  # image: width of a "dense" head's decoder
    atom_feature_cardinalities: list[int] = field(default_factory=list)  # graph: values per atom feature, 0 = padding excluded
    max_atoms: int = 64  # graph
    max_distance: int = 8  # graph: topological distances above this share one bias
    # Any encoder: width F of a per-example vector batch["global_features"] (B, F) float,
    # standardised by the solution (NaN = unknown, read as 0), projected and added to the CLS
    # token before the blocks (e.g. whole-molecule descriptors); 0 = no such input.
    n_global_features: int = 0

    heads: list[HeadSpec] = field(default_factory=list)
    # Copies of this model trained apart and averaged (engine.ensemble); 1 = a single model.
    ensemble_members: int = 1

    def __post_init__(self) -> None:
        self.heads = [h if isinstance(h, HeadSpec) else HeadSpec(**h) for h in self.heads]
        if self.encoder not in ENCODER_KINDS:
            raise ValueError(f"encoder must be one of {ENCODER_KINDS}, got {self.encoder!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not 1 <= self.top_k <= self.n_experts:
            raise ValueError(f"top_k {self.top_k} must be between 1 and n_experts {self.n_experts}")
        if self.balance not in ("bias", "aux"):
            raise ValueError(f"balance must be 'bias' or 'aux', got {self.balance!r}")
        if self.gate not in ("softmax", "sigmoid"):
            raise ValueError(f"gate must be 'softmax' or 'sigmoid', got {self.gate!r}")
        if self.encoder == "image" and self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.encoder == "image" and self.patch_size % 2 ** len(self.stem_channels):
            raise ValueError(
                f"patch_size {self.patch_size} is not a multiple of the stem's stride {2 ** len(self.stem_channels)}"
            )
        if self.pixel_norm not in ("fixed", "image"):
            raise ValueError(f"pixel_norm must be 'fixed' or 'image', got {self.pixel_norm!r}")
        if any(h.kind == "dense" for h in self.heads):
            if self.encoder != "image":
                raise ValueError(f"a dense head needs the image encoder, not {self.encoder!r}")
            stride = self.dense_stride
            if stride < 1 or stride & (stride - 1) or self.patch_size % stride:
                raise ValueError(f"dense_stride {stride} must be a power of two that divides patch_size {self.patch_size}")
        if self.ensemble_members < 1:
            raise ValueError(f"ensemble_members must be at least 1, got {self.ensemble_members}")
        if self.wide_buckets and self.encoder != "text":
            raise ValueError(f"wide_buckets needs the text encoder, not {self.encoder!r}")
        if self.wide_max_len and not self.wide_buckets:
            raise ValueError("wide_max_len needs wide_buckets")
        if self.wide_max_len and self.wide_max_len < self.max_len:
            raise ValueError(f"wide_max_len {self.wide_max_len} is shorter than max_len {self.max_len}")
        if self.n_global_features < 0:
            raise ValueError(f"n_global_features must not be negative, got {self.n_global_features}")
        names = [h.name for h in self.heads]
        if len(set(names)) != len(names):
            raise ValueError(f"head names must be unique, got {names}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {unknown}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        return cls.from_json(Path(path).read_text())
