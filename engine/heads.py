"""Output heads and their losses: multi-class, multi-label, regression with uncertainty, per-token.

Missing targets are part of the data in every solution (unlabelled assays, unknown outcomes),
so each loss averages only over the targets that are present.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import HeadSpec, ModelConfig
from engine.encoders import ConvBlock, hashed_ngrams

IGNORE_INDEX = -100  # class target meaning "no label" for multiclass and token heads
LOG_VAR_RANGE = (-10.0, 10.0)  # keeps the Gaussian NLL finite early in training
WIDE_HEAD_KINDS = ("multilabel", "multiclass")  # heads whose logits an NgramLogits path can join


class Head(nn.Module):
    """A linear read-out of the pooled output (B, D) or of the tokens (B, T, D)."""

    def __init__(self, spec: HeadSpec, d_model: int) -> None:
        super().__init__()
        self.spec = spec
        width = 2 * spec.n_outputs if spec.kind == "regression" else spec.n_outputs
        self.proj = nn.Linear(d_model, width)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor, features: list[torch.Tensor] | None = None) -> torch.Tensor:
        # pooled: (B, D); tokens: (B, T, D) without CLS; features: only dense heads read them
        if self.spec.kind == "token":
            return self.proj(tokens)  # (B, T, n)
        out = self.proj(pooled)  # (B, n) or (B, 2n)
        if self.spec.kind == "regression":
            mean, log_var = out.view(out.shape[0], self.spec.n_outputs, 2).unbind(-1)
            return torch.stack([mean, log_var.clamp(*LOG_VAR_RANGE)], dim=-1)  # (B, n, 2)
        return out

    def loss(self, output: torch.Tensor, target: torch.Tensor, valid_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss over the present targets; 0 (still in the graph) when none is present."""
        kind = self.spec.kind
        if kind in ("multiclass", "token", "dense"):
            target = target.long()
            if kind == "token" and valid_tokens is not None:
                target = target.masked_fill(~valid_tokens, IGNORE_INDEX)
            if (target != IGNORE_INDEX).any():
                return F.cross_entropy(output.reshape(-1, output.shape[-1]).float(), target.reshape(-1), ignore_index=IGNORE_INDEX)
            return output.sum() * 0.0
        present = ~torch.isnan(target)
        if not present.any():
            return output.sum() * 0.0
        if kind == "multilabel":
            losses = F.binary_cross_entropy_with_logits(output.float(), torch.nan_to_num(target).float(), reduction="none")
        else:
            mean, log_var = output.float().unbind(-1)
            losses = gaussian_nll(mean, log_var, torch.nan_to_num(target).float())
        return losses[present].mean()


class DenseHead(Head):
    """Per-pixel logits of an image at config.dense_stride: the patch tokens decoded back up.

    The token grid (stride patch_size) is upsampled by factors of two; at each stride where the
    convolutional stem has a stage, that stage's features join through a 1x1 projection (a
    U-Net skip), and a residual block refines the sum. Attention gives every cell the whole
    part's context; the stem gives it the fine edges that a 16-pixel patch blurs.
    tokens (B, g*g, D), features per engine.encoders.Encoded -> (B, P, n_outputs), P row-major.
    """

    def __init__(self, spec: HeadSpec, config: ModelConfig) -> None:
        nn.Module.__init__(self)  # Head's loss, but layers of its own instead of one projection
        self.spec = spec
        self.grid = config.image_size // config.patch_size
        width = config.decoder_channels
        self.project = nn.Conv2d(config.d_model, width, 1)
        stage_strides = {2 ** (i + 1): i for i in range(len(config.stem_channels))}
        self.stages: list[int | None] = []  # per upsampling step, the stem stage joined (or none)
        self.skips = nn.ModuleDict()
        self.refine = nn.ModuleList()
        stride = config.patch_size
        while stride > config.dense_stride:
            stride //= 2
            stage = stage_strides.get(stride)
            self.stages.append(stage)
            if stage is not None:
                self.skips[str(stage)] = nn.Conv2d(config.stem_channels[stage], width, 1)
            self.refine.append(ConvBlock(width))
        self.out_norm = nn.GroupNorm(min(8, width), width)
        self.out = nn.Conv2d(width, spec.n_outputs, 1)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor, features: list[torch.Tensor] | None = None) -> torch.Tensor:
        B, _, D = tokens.shape
        x = self.project(tokens.transpose(1, 2).reshape(B, D, self.grid, self.grid))  # (B, W, g, g)
        for stage, refine in zip(self.stages, self.refine, strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            if stage is not None:
                if features is None or len(features) <= stage:
                    raise ValueError("a dense head needs the stem features of the image encoder")
                x = x + self.skips[str(stage)](features[stage].to(x.dtype))
            x = refine(x)
        logits = self.out(F.gelu(self.out_norm(x)))  # (B, n, H / s, W / s)
        return logits.flatten(2).transpose(1, 2)  # (B, P, n)


def build_head(spec: HeadSpec, config: ModelConfig) -> Head:
    """The head module for one HeadSpec of a model."""
    return DenseHead(spec, config) if spec.kind == "dense" else Head(spec, config.d_model)


class NgramLogits(nn.Module):
    """The "wide" half of a wide & deep text model: a linear read-out of the length-normalised
    hashed unigram+bigram bag added straight to a head's logits, trained with the transformer
    or fitted alone first (engine.train.fit_wide).

    It learns what a bag-of-words logistic regression learns, which the pooled transformer
    output (the "deep" half) carries only through a D-wide bottleneck.
    input_ids, valid: (B, T) -> (B, n_outputs); starts at zero, so it adds nothing untrained.
    gain: a constant factor on the output (ModelConfig.wide_gain).
    """

    def __init__(self, buckets: int, n_outputs: int, gain: float = 1.0) -> None:
        super().__init__()
        self.buckets, self.gain = buckets, gain
        self.weight_bag = nn.EmbeddingBag(buckets, n_outputs, mode="sum")
        nn.init.zeros_(self.weight_bag.weight)

    def forward(self, input_ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] == 0:
            return self.weight_bag.weight.new_zeros(input_ids.shape[0], self.weight_bag.embedding_dim)
        ngram_ids, weights = hashed_ngrams(input_ids, valid, self.buckets, scale="distinct")
        return self.gain * self.weight_bag(ngram_ids, per_sample_weights=weights.to(self.weight_bag.weight.dtype))

    def packed_bags(self, input_ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows' bags without their padding, in EmbeddingBag's 1-D form: (ids, offsets,
        weights), so that gain * weight_bag(ids, offsets, per_sample_weights=weights) equals
        forward() at a fraction of the work when most rows are short (engine.train.fit_wide)."""
        ngram_ids, weights = hashed_ngrams(input_ids, valid, self.buckets, scale="distinct")
        keep = weights > 0
        counts = keep.sum(dim=1)
        return ngram_ids[keep], torch.cumsum(counts, 0) - counts, weights[keep]


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-element negative log-likelihood of target under N(mean, exp(log_var)), constant dropped."""
    return 0.5 * (log_var + (target - mean) ** 2 * torch.exp(-log_var))


def regression_mean_std(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a regression head's (B, n, 2) output into mean (B, n) and standard deviation (B, n)."""
    mean, log_var = output.unbind(-1)
    return mean, torch.exp(0.5 * log_var)
