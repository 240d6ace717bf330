"""Pure-torch references for the engine's kernels.

Each function here is the readable specification of one operation and also the CPU
production path, so it is written for speed on the CPU as well as for clarity. The Triton
kernels beside this module have exactly the same signatures and are tested against these.
All three are differentiable (the model trains through them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Up to this many (token, expert) pairs the MoE reference runs one vector-matrix product per
# pair; more pairs are sorted by expert and run as grouped matmuls. Chosen from CPU
# measurements: at 8 pairs and below the sort's fixed cost is what decides the time.
MOE_PER_PAIR_MAX_PAIRS = 8
# Up to this many pairs torch._grouped_mm (where usable) beats a loop of per-expert matmuls
# on the CPU; above it the loop wins (measured in float32 and bfloat16).
MOE_GROUPED_MM_MAX_PAIRS = 512

# Up to this many bfloat16 rows the CPU int8 reference uses torch's int8 weight kernel.
INT8_PACKED_MAX_ROWS = 8

_GROUPED_MM_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


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
    e = topk_ids[t, k]. The sum over k runs in (at least) float32.
    """
    tokens, width = x.shape
    pairs = topk_ids.numel()
    if pairs == 0:
        return x.new_zeros(tokens, width)
    if pairs <= MOE_PER_PAIR_MAX_PAIRS:
        return _moe_per_pair(x, w_gate_up, w_down, topk_ids, topk_weights)
    hidden = w_down.shape[1]
    if pairs <= MOE_GROUPED_MM_MAX_PAIRS and _grouped_mm_applies(
        x, (w_gate_up, w_down), row_widths=(width, hidden), others=(topk_weights,)
    ):
        return _moe_grouped_mm(x, w_gate_up, w_down, topk_ids, topk_weights)
    return _moe_grouped(x, w_gate_up, w_down, topk_ids, topk_weights)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    # Sums over experts and low-rank products run in at least float32.
    return torch.promote_types(dtype, torch.float32)


def _swiglu(gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up


def _moe_per_pair(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    # A handful of pairs: one vector-matrix product each beats sorting or copying weights.
    tokens, width = x.shape
    top_k = topk_ids.shape[1]
    experts = topk_ids.reshape(-1).tolist()
    gate_up = torch.stack([x[pair // top_k] @ w_gate_up[e] for pair, e in enumerate(experts)])
    hidden = _swiglu(gate_up)  # (T*K, F)
    expert_out = torch.stack([hidden[pair] @ w_down[e] for pair, e in enumerate(experts)])
    acc_dtype = _accumulation_dtype(x.dtype)
    weighted = expert_out.view(tokens, top_k, width).to(acc_dtype) * topk_weights.to(acc_dtype).unsqueeze(-1)
    return weighted.sum(dim=1).to(x.dtype)


def _grouped_mm_applies(
    x: torch.Tensor,
    stacked: tuple[torch.Tensor, ...],
    row_widths: tuple[int, ...],
    others: tuple[torch.Tensor, ...] = (),
) -> bool:
    # torch._grouped_mm is the fastest CPU path for inference, but its backward is not
    # dependable and it needs 16-byte aligned strides: those of the stacked (G, K, N)
    # operands and the widths of the row blocks it is given. Elsewhere a per-group loop
    # runs. `others` are further inputs whose gradients would be needed.
    if not hasattr(torch, "_grouped_mm") or x.device.type != "cpu" or x.dtype not in _GROUPED_MM_DTYPES:
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, *stacked, *others)):
        return False
    size = x.element_size()
    return all((width * size) % 16 == 0 for width in row_widths) and all(
        (stride * size) % 16 == 0 for t in stacked for stride in t.stride() if stride != 1
    )


def _sort_pairs_by_expert(
    topk_ids: torch.Tensor, num_experts: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # order[i]: the flat (t*K + k) index of the i-th pair in expert order; its token; and
    # how many pairs each expert received.
    flat_ids = topk_ids.reshape(-1)
    order = torch.argsort(flat_ids, stable=True)
    counts = torch.bincount(flat_ids, minlength=num_experts)
    return order, order // topk_ids.shape[1], counts


def _scatter_combine(
    expert_out: torch.Tensor,
    order: torch.Tensor,
    token_of_row: torch.Tensor,
    topk_weights: torch.Tensor,
    tokens: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    # expert_out rows are in expert order; weight each by its gate and add it to its token.
    acc_dtype = _accumulation_dtype(dtype)
    weights = topk_weights.reshape(-1).index_select(0, order).to(acc_dtype).unsqueeze(1)
    combined = expert_out.new_zeros(tokens, expert_out.shape[1], dtype=acc_dtype)
    combined = combined.index_add(0, token_of_row, expert_out.to(acc_dtype) * weights)
    return combined.to(dtype)


def _moe_grouped_mm(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    order, token_of_row, counts = _sort_pairs_by_expert(topk_ids, w_gate_up.shape[0])
    group_ends = counts.cumsum(0).to(torch.int32)
    sorted_x = x.index_select(0, token_of_row)
    hidden = _swiglu(torch._grouped_mm(sorted_x, w_gate_up, offs=group_ends))
    expert_out = torch._grouped_mm(hidden, w_down, offs=group_ends)
    return _scatter_combine(expert_out, order, token_of_row, topk_weights, x.shape[0], x.dtype)


def _moe_grouped(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    # One matmul per expert over its contiguous slice of the expert-sorted rows.
    order, token_of_row, counts = _sort_pairs_by_expert(topk_ids, w_gate_up.shape[0])
    sorted_x = x.index_select(0, token_of_row)
    outputs = []
    start = 0
    for expert, count in enumerate(counts.tolist()):
        if count == 0:
            continue
        rows = sorted_x[start : start + count]
        outputs.append(_swiglu(rows @ w_gate_up[expert]) @ w_down[expert])
        start += count
    expert_out = torch.cat(outputs)
    return _scatter_combine(expert_out, order, token_of_row, topk_weights, x.shape[0], x.dtype)


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
    # Group rows by adapter, then one pair of small matmuls per adapter present.
    sorted_ids, order = torch.sort(ids, stable=True)
    rows = selected.index_select(0, order)
    counts = torch.bincount(ids, minlength=lora_a.shape[0])
    acc_dtype = _accumulation_dtype(x.dtype)
    x_rows = x.index_select(0, rows).to(acc_dtype)
    a_acc, b_acc = lora_a.to(acc_dtype), lora_b.to(acc_dtype)
    row_scaling = scaling.to(acc_dtype).index_select(0, sorted_ids).unsqueeze(1)
    if _grouped_mm_applies(x_rows, (a_acc, b_acc), row_widths=(x.shape[1], lora_a.shape[2]), others=(scaling,)):
        group_ends = counts.cumsum(0).to(torch.int32)
        shrunk = torch._grouped_mm(x_rows, a_acc, offs=group_ends)
        delta = torch._grouped_mm(shrunk * row_scaling, b_acc, offs=group_ends)
    else:
        deltas = []
        start = 0
        for adapter, count in enumerate(counts.tolist()):
            if count == 0:
                continue
            deltas.append((x_rows[start : start + count] @ a_acc[adapter]) @ b_acc[adapter])
            start += count
        delta = torch.cat(deltas) * row_scaling
    updated = base_out.index_select(0, rows).to(acc_dtype) + delta
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
    if _int8_packed_applies(x, w_int8, scale):
        out = torch._weight_int8pack_mm(x, w_int8, scale.to(x.dtype))
    else:
        out = (x @ w_int8.to(x.dtype).t()) * scale.to(x.dtype)
    if bias is not None:
        out = out + bias.to(x.dtype)
    return out


def _int8_packed_applies(x: torch.Tensor, w_int8: torch.Tensor, scale: torch.Tensor) -> bool:
    # torch's int8 weight kernel skips converting the whole weight, 3-4x faster for a few
    # bfloat16 rows on the CPU (slower for more rows or float32). It reads out of bounds
    # unless Din is a multiple of 16, so it runs only inside that measured envelope.
    return (
        hasattr(torch, "_weight_int8pack_mm")
        and x.device.type == "cpu"
        and x.dtype == torch.bfloat16
        and x.shape[0] <= INT8_PACKED_MAX_ROWS
        and x.shape[1] % 16 == 0
        and x.is_contiguous()
        and w_int8.is_contiguous()
        and not (torch.is_grad_enabled() and (x.requires_grad or scale.requires_grad))
    )
