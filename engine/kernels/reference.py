"""Pure-torch references for the engine's kernels.

Each function here is the readable specification of one operation and also the CPU
production path, so it is written for speed on the CPU as well as for clarity. The Triton
kernels beside this module have exactly the same signatures and are tested against these.
All three are differentiable (the model trains through them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Below this many (token, expert) pairs the MoE reference gathers the chosen experts'
# weights per pair and runs one batched matmul; above it, pairs are grouped by expert.
# Chosen from CPU measurements (engine/bench/kernels.py reports both strategies).
MOE_GATHER_MAX_PAIRS = 8


def fused_moe(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    """Routed SwiGLU experts, gate-weighted and summed per token.

    x (T, D); w_gate_up (E, D, 2F) with the gate in [:, :, :F] and the up projection in
    [:, :, F:]; w_down (E, F, D); topk_ids (T, K) int64; topk_weights (T, K).
    Returns (T, D): out[t] = sum_k w[t,k] * (silu(x[t] @ Wg_e) * (x[t] @ Wu_e)) @ Wd_e,
    e = topk_ids[t, k].
    """
    tokens, width = x.shape
    top_k = topk_ids.shape[1]
    pairs = tokens * top_k
    if pairs == 0:
        return x.new_zeros(tokens, width)
    if pairs <= MOE_GATHER_MAX_PAIRS:
        return _moe_gathered(x, w_gate_up, w_down, topk_ids, topk_weights)
    return _moe_grouped(x, w_gate_up, w_down, topk_ids, topk_weights)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    # Sums over experts and low-rank products run in at least float32.
    return torch.promote_types(dtype, torch.float32)


def _swiglu(gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up


def _moe_gathered(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    # Few pairs: copying each pair's expert weights is cheaper than the bookkeeping of
    # sorting, and one bmm covers all pairs.
    tokens, width = x.shape
    top_k = topk_ids.shape[1]
    flat_ids = topk_ids.reshape(-1)
    rows = x.repeat_interleave(top_k, dim=0).unsqueeze(1)  # (T*K, 1, D)
    hidden = _swiglu(torch.bmm(rows, w_gate_up[flat_ids]))  # (T*K, 1, F)
    expert_out = torch.bmm(hidden, w_down[flat_ids]).view(tokens, top_k, width)
    acc_dtype = _accumulation_dtype(x.dtype)
    weights = topk_weights.to(acc_dtype).unsqueeze(-1)
    return (expert_out.to(acc_dtype) * weights).sum(dim=1).to(x.dtype)


def _moe_grouped(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    # Sort the (token, k) pairs by expert so each expert runs one matmul over a contiguous
    # slice of rows, then scatter-add the gate-weighted rows back to their tokens.
    tokens, width = x.shape
    top_k = topk_ids.shape[1]
    num_experts = w_gate_up.shape[0]
    flat_ids = topk_ids.reshape(-1)
    order = torch.argsort(flat_ids, stable=True)
    token_of_row = order // top_k
    counts = torch.bincount(flat_ids, minlength=num_experts).tolist()
    sorted_x = x.index_select(0, token_of_row)
    outputs = []
    start = 0
    for expert, count in enumerate(counts):
        if count == 0:
            continue
        rows = sorted_x[start : start + count]
        outputs.append(_swiglu(rows @ w_gate_up[expert]) @ w_down[expert])
        start += count
    acc_dtype = _accumulation_dtype(x.dtype)
    expert_out = torch.cat(outputs).to(acc_dtype)
    weights = topk_weights.reshape(-1).index_select(0, order).to(acc_dtype)
    combined = torch.zeros(tokens, width, dtype=acc_dtype, device=x.device)
    combined = combined.index_add(0, token_of_row, expert_out * weights.unsqueeze(1))
    return combined.to(x.dtype)


def multi_lora(
    x: torch.Tensor,
    base_out: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    adapter_ids: torch.Tensor,
    scaling: torch.Tensor,
) -> torch.Tensor:
    """Each row's own LoRA adapter added to the base layer's output.

    x (N, Din); base_out (N, Dout); lora_a (L, Din, R); lora_b (L, R, Dout);
    adapter_ids (N,) int64 with -1 for rows without an adapter; scaling (L,).
    Returns base_out + scaling[a] * (x @ lora_a[a]) @ lora_b[a] per row with a >= 0, the
    low-rank product computed in float32. Rows with -1 are returned unchanged.
    """
    selected = torch.nonzero(adapter_ids >= 0).squeeze(1)
    if selected.numel() == 0:
        return base_out.clone()
    ids = adapter_ids.index_select(0, selected)
    # Group rows by adapter: one pair of small matmuls per adapter present in the batch.
    order = torch.argsort(ids, stable=True)
    rows = selected.index_select(0, order)
    counts = torch.bincount(ids, minlength=lora_a.shape[0]).tolist()
    acc_dtype = _accumulation_dtype(x.dtype)
    x_rows = x.index_select(0, rows).to(acc_dtype)
    deltas = []
    start = 0
    for adapter, count in enumerate(counts):
        if count == 0:
            continue
        shrunk = x_rows[start : start + count] @ lora_a[adapter].to(acc_dtype)
        expanded = shrunk @ lora_b[adapter].to(acc_dtype)
        deltas.append(expanded * scaling[adapter].to(acc_dtype))
        start += count
    updated = base_out.index_select(0, rows).to(acc_dtype) + torch.cat(deltas)
    return base_out.index_copy(0, rows, updated.to(base_out.dtype))


def int8_matmul(
    x: torch.Tensor,
    w_int8: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """Weight-only int8 linear layer: x @ (w_int8 * scale[:, None]).T + bias.

    x (N, Din); w_int8 (Dout, Din) int8; scale (Dout,) per output channel; bias (Dout,) or
    None. The scale is applied to the product's columns, which equals scaling the weight
    rows and saves a pass over the weight.
    """
    out = (x @ w_int8.to(x.dtype).t()) * scale.to(x.dtype)
    if bias is not None:
        out = out + bias.to(x.dtype)
    return out
