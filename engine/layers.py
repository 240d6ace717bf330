"""Transformer building blocks: attention, the SwiGLU feed-forward, and the adapter-id hook.

Attention keeps its projections as plain `nn.Linear` modules named q_proj, k_proj, v_proj and
o_proj: those are the names PEFT's LoRA targets, and engine.lora swaps them for LoRA layers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

# Per-row adapter ids (B,) int64 (-1 = no adapter) of the forward pass running in this thread or
# task. MoETransformer.forward sets it; engine.lora's multi-adapter layers read it.
_adapter_ids: ContextVar[torch.Tensor | None] = ContextVar("quorum_adapter_ids", default=None)


def current_adapter_ids() -> torch.Tensor | None:
    """Adapter id per batch row (B,) of the forward pass in progress, or None."""
    return _adapter_ids.get()


@contextlib.contextmanager
def adapter_ids_set(adapter_ids: torch.Tensor | None) -> Iterator[None]:
    """Make `adapter_ids` visible to current_adapter_ids() for the duration of a forward pass."""
    token = _adapter_ids.set(adapter_ids)
    try:
        yield
    finally:
        _adapter_ids.reset(token)


def attention_mask_to_bias(
    key_valid: torch.Tensor | None, attn_bias: torch.Tensor | None, dtype: torch.dtype
) -> torch.Tensor | None:
    """Fold a key padding mask (B, T) bool (True = real token) into an additive bias.

    Returns (B, H or 1, T, T) float, or None when there is neither a mask nor a bias.
    """
    if key_valid is None or bool(key_valid.all()):
        # No padding: leaving the mask out lets SDPA pick its fused kernels.
        return None if attn_bias is None else attn_bias.to(dtype)
    # (B, 1, 1, T): padded keys get -inf so no query attends to them.
    padding = torch.zeros(key_valid.shape, dtype=dtype, device=key_valid.device)
    padding = padding.masked_fill(~key_valid, float("-inf"))[:, None, None, :]
    return padding if attn_bias is None else attn_bias.to(dtype) + padding


class Attention(nn.Module):
    """Multi-head self-attention with an optional additive bias (graph distances, padding)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, D); attn_bias: (B, H or 1, T, T) additive, -inf where attention is forbidden.
        B, T, D = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        if attn_bias is not None:
            attn_bias = attn_bias.to(q.dtype)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_bias, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, D))


class SwiGLU(nn.Module):
    """Feed-forward silu(x Wg) * (x Wu) Wd; the shared expert that every token passes through."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., D) -> (..., D)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
