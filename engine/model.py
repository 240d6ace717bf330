"""MoETransformer: a modality encoder, pre-norm attention + MoE blocks, and task heads.

    model = MoETransformer(config)
    output = model(batch)                  # ModelOutput
    loss = model.loss(output, targets)     # sum of head losses (+ Switch aux loss)
    model.update_router_biases()           # after each optimizer step (aux-loss-free balancing)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from engine.config import ModelConfig
from engine.encoders import ENCODERS
from engine.heads import WIDE_HEAD_KINDS, NgramLogits, build_head
from engine.layers import Attention, adapter_ids_set, attention_mask_to_bias
from engine.moe import MoELayer


@dataclass
class ModelOutput:
    """Everything one forward pass produces; heads are what solutions read."""

    heads: dict[str, torch.Tensor]  # per head name, shapes as in engine.config.HeadSpec
    tokens: torch.Tensor  # (B, T, D) final token states without CLS
    pooled: torch.Tensor  # (B, D) final CLS state
    valid: torch.Tensor  # (B, T) bool, False for padding tokens
    aux_loss: torch.Tensor  # scalar; the weighted Switch loss, 0 unless balance == "aux"
    expert_load: list[torch.Tensor] = field(default_factory=list)  # per layer (E,), sums to 1


class Block(nn.Module):
    """x + attn(norm(x)), then x + moe(norm(x)); the MoE only sees real (unpadded) tokens."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.d_model)
        self.attn = Attention(config.d_model, config.n_heads, config.dropout)
        self.moe_norm = nn.RMSNorm(config.d_model)
        self.moe = MoELayer(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, attn_bias: torch.Tensor | None, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, D); attn_bias: (B, H or 1, T, T) incl. padding; valid: (B, T) bool
        x = x + self.dropout(self.attn(self.attn_norm(x), attn_bias))
        h = self.moe_norm(x)
        B, T, D = h.shape
        flat = h.reshape(B * T, D)
        if bool(valid.all()):
            update, aux = self.moe(flat)
        else:
            rows = valid.reshape(-1).nonzero().squeeze(1)  # padded tokens skip the experts
            moe_out, aux = self.moe(flat.index_select(0, rows))  # (N_valid, D)
            update = flat.new_zeros(B * T, D).index_copy(0, rows, moe_out.to(flat.dtype))
        return x + self.dropout(update.view(B, T, D).to(x.dtype)), aux


class MoETransformer(nn.Module):
    """Encoder (CLS + tokens) -> n_layers x [attention, MoE] -> RMSNorm -> heads."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ENCODERS[config.encoder](config)
        # Only built when used, so checkpoints without global features keep their state dict.
        self.global_projection = (
            nn.Linear(config.n_global_features, config.d_model) if config.n_global_features else None
        )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model)
        self.heads = nn.ModuleDict({spec.name: build_head(spec, config) for spec in config.heads})
        # Built only when configured, so older checkpoints keep their state dict.
        self.wide = nn.ModuleDict({
            spec.name: NgramLogits(config.wide_buckets, spec.n_outputs, config.wide_gain)
            for spec in config.heads if config.wide_buckets and spec.kind in WIDE_HEAD_KINDS
        })
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, batch: dict[str, torch.Tensor], adapter_ids: torch.Tensor | None = None) -> ModelOutput:
        """Run the batch; adapter_ids (B,) int64 (-1 = none) is read by engine.lora's layers."""
        with adapter_ids_set(adapter_ids):
            encoded = self.encoder(self._attention_batch(batch))
            x = encoded.tokens  # (B, 1 + T, D)
            if self.global_projection is not None:
                x = self._add_global_features(x, batch)
            attn_bias = attention_mask_to_bias(encoded.valid, encoded.attn_bias, x.dtype)
            aux_loss = x.new_zeros((), dtype=torch.float32)
            for block in self.blocks:
                x, aux = block(x, attn_bias, encoded.valid)
                aux_loss = aux_loss + aux
            x = self.norm(x)
            pooled, tokens = x[:, 0], x[:, 1:]
            heads = {name: head(pooled, tokens, encoded.features) for name, head in self.heads.items()}
            if self.wide:
                input_ids = batch["input_ids"]  # (B, T), T up to wide_max_len
                mask = batch.get("attention_mask")
                valid = torch.ones_like(input_ids, dtype=torch.bool) if mask is None else mask.bool()
                for name, wide in self.wide.items():
                    heads[name] = heads[name] + wide(input_ids, valid).to(heads[name].dtype)
        return ModelOutput(
            heads=heads,
            tokens=tokens,
            pooled=pooled,
            valid=encoded.valid[:, 1:],
            aux_loss=aux_loss * self.config.aux_loss_coef,
            expert_load=[block.moe.last_load for block in self.blocks],
        )

    def _attention_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch the encoder and blocks read: text longer than max_len (up to wide_max_len,
        which only the wide read-out reads whole) cut to its first max_len tokens."""
        input_ids = batch.get("input_ids")
        max_len = self.config.max_len
        if not self.config.wide_max_len or input_ids is None or input_ids.shape[1] <= max_len:
            return batch
        if input_ids.shape[1] > self.config.wide_max_len:
            raise ValueError(f"sequence length {input_ids.shape[1]} exceeds wide_max_len {self.config.wide_max_len}")
        cut = {key: batch[key][:, :max_len] for key in ("input_ids", "attention_mask") if key in batch}
        return {**batch, **cut}

    def _add_global_features(self, x: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """x (B, 1 + T, D) with the projection of batch["global_features"] (B, F) added to CLS."""
        features = batch.get("global_features")
        expected = (x.shape[0], self.config.n_global_features)
        if features is None or tuple(features.shape) != expected:
            found = "none" if features is None else tuple(features.shape)
            raise ValueError(f"the model needs global_features of shape {expected}, got {found}")
        # Unknown values sit at the standardised mean; infinities would poison the whole row.
        features = torch.nan_to_num(features.float(), nan=0.0, posinf=0.0, neginf=0.0)
        cls = x[:, :1] + self.global_projection(features.to(x.dtype))[:, None]  # (B, 1, D)
        return torch.cat([cls, x[:, 1:]], dim=1)

    def head_losses(self, output: ModelOutput, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss per head that has a target in `targets` (other heads are skipped)."""
        return {
            name: head.loss(output.heads[name], targets[name], output.valid)
            for name, head in self.heads.items()
            if name in targets
        }

    def loss(self, output: ModelOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted sum of the head losses plus the auxiliary balance loss."""
        losses = self.head_losses(output, targets)
        if not losses:
            raise ValueError(f"no targets for any head; heads are {list(self.heads)}")
        total = sum(self.heads[name].spec.weight * value for name, value in losses.items())
        return total + output.aux_loss

    def update_router_biases(self) -> None:
        """Nudge every router's selection bias against the load seen since the last call."""
        if self.config.balance != "bias":
            return
        for block in self.blocks:
            block.moe.router.update_selection_bias(self.config.bias_update_rate)

