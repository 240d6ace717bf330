"""A deep ensemble: K MoETransformers of one configuration, trained apart, read as one model.

    members = [train(MoETransformer(config), seed=k) for k in range(K)]
    model = EnsembleTransformer.from_members(members)   # config.ensemble_members == K
    output = model(batch)                                # ModelOutput, heads combined

Copies trained from different seeds make different mistakes; their average is more accurate
than any one of them, and their disagreement is an uncertainty a single model cannot give,
largest where the training data is thin (Lakshminarayanan et al., NeurIPS 2017). Heads combine
as mixtures: a regression head returns the mixture's mean and variance (mean of the members'
variances plus the variance of their means), a multi-label head the logit of the mean
probability, a multi-class or token head the log of the mean softmax. Losses, adapters (PEFT
finds every member's q_proj/v_proj and heads by suffix) and serving see one model.

`flip_averaged_heads` combines the same way over flipped copies of one image batch instead of
over members (test-time augmentation): one model, several views of the part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from engine.config import ModelConfig
from engine.heads import LOG_VAR_RANGE
from engine.model import ModelOutput, MoETransformer


class EnsembleTransformer(nn.Module):
    """config.ensemble_members MoETransformers whose outputs are combined head by head."""

    def __init__(self, config: ModelConfig, members: list[MoETransformer] | None = None) -> None:
        """Fresh members from `config`, or the given trained ones (see `from_members`)."""
        super().__init__()
        if config.ensemble_members < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {config.ensemble_members}")
        self.config = config
        if members is None:
            member_config = replace(config, ensemble_members=1)
            members = [MoETransformer(member_config) for _ in range(config.ensemble_members)]
        self.members = nn.ModuleList(members)

    @classmethod
    def from_members(cls, members: list[MoETransformer]) -> EnsembleTransformer:
        """An ensemble holding these trained models (all of one configuration)."""
        configs = {member.config.to_json() for member in members}
        if len(configs) != 1:
            raise ValueError("ensemble members must share one configuration")
        return cls(replace(members[0].config, ensemble_members=len(members)), members)

    @property
    def heads(self) -> nn.ModuleDict:
        """The first member's heads: their specs and losses are every member's."""
        return self.members[0].heads

    def forward(self, batch: dict[str, torch.Tensor], adapter_ids: torch.Tensor | None = None) -> ModelOutput:
        outputs = [member(batch, adapter_ids) for member in self.members]
        heads = {
            spec.name: combine_head(spec.kind, torch.stack([o.heads[spec.name] for o in outputs]))
            for spec in self.config.heads
        }
        return ModelOutput(
            heads=heads,
            tokens=torch.stack([o.tokens for o in outputs]).mean(0),
            pooled=torch.stack([o.pooled for o in outputs]).mean(0),
            valid=outputs[0].valid,
            aux_loss=torch.stack([o.aux_loss for o in outputs]).sum(),
            expert_load=[load for o in outputs for load in o.expert_load],
        )

    def head_losses(self, output: ModelOutput, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.members[0].head_losses(output, targets)

    def loss(self, output: ModelOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.members[0].loss(output, targets)

    def update_router_biases(self) -> None:
        for member in self.members:
            member.update_router_biases()


def combine_head(kind: str, stacked: torch.Tensor) -> torch.Tensor:
    """One head's output from the members' outputs stacked on a leading axis (K, ...)."""
    stacked = stacked.float()
    if kind == "regression":  # (K, B, n, 2): mean, log variance
        means, variances = stacked[..., 0], stacked[..., 1].exp()
        mean = means.mean(0)
        variance = (variances + means**2).mean(0) - mean**2
        log_var = variance.clamp_min(1e-12).log().clamp(*LOG_VAR_RANGE)
        return torch.stack([mean, log_var], dim=-1)
    if kind == "multilabel":
        return torch.logit(torch.sigmoid(stacked).mean(0), eps=1e-6)
    return torch.softmax(stacked, dim=-1).mean(0).clamp_min(1e-12).log()  # multiclass, token


def build_model(config: ModelConfig) -> MoETransformer | EnsembleTransformer:
    """The model a configuration describes: an ensemble when it has more than one member."""
    return EnsembleTransformer(config) if config.ensemble_members > 1 else MoETransformer(config)



# Views of an image for flip_averaged_heads, as the dims torch.flip reverses: the image as it is,
# mirrored left-right, upside down, and both.
IMAGE_FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-1, -2))
HeadsForward = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def flip_averaged_heads(
    forward: HeadsForward, batch: dict[str, torch.Tensor], config: ModelConfig, views: int = 4
) -> dict[str, torch.Tensor]:
    """Heads of an image model averaged over `views` flipped copies of batch["pixels"].

    All views go through one call of `forward` (a model's heads, or a model server), B rows
    per view, so they batch together. A per-cell head (token over patches, dense over map
    cells) is flipped back before the average, so each cell averages one place of the part;
    heads then combine as combine_head does for an ensemble's members.
    """
    if config.encoder != "image":
        raise ValueError(f"flipped views need the image encoder, not {config.encoder!r}")
    if not 1 <= views <= len(IMAGE_FLIPS):
        raise ValueError(f"views must be 1 to {len(IMAGE_FLIPS)}, got {views}")
    flips = IMAGE_FLIPS[:views]
    rows = batch["pixels"].shape[0]
    stacked = {key: torch.cat([value] * views) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
    stacked["pixels"] = torch.cat([batch["pixels"].flip(dims) if dims else batch["pixels"] for dims in flips])
    outputs = forward(stacked)
    heads = {}
    for spec in config.heads:
        parts = list(outputs[spec.name].split(rows))  # one (B, ...) per view
        if spec.kind in ("token", "dense"):
            cell = config.dense_stride if spec.kind == "dense" else config.patch_size
            parts = [_unflip_cells(part, dims, config.image_size // cell) for part, dims in zip(parts, flips, strict=True)]
        heads[spec.name] = combine_head(spec.kind, torch.stack(parts))
    return heads


def _unflip_cells(cells: torch.Tensor, dims: tuple[int, ...], side: int) -> torch.Tensor:
    # cells (B, side * side, n), row-major; an image dim -1 (width) is the grid's dim 2, -2 dim 1.
    if not dims:
        return cells
    B, _, n = cells.shape
    grid = cells.reshape(B, side, side, n).flip([{-1: 2, -2: 1}[d] for d in dims])
    return grid.reshape(B, side * side, n)
