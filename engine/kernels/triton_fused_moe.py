"""Fused Mixture-of-Experts forward in Triton: routed SwiGLU experts with the gate combine.

Two paths compute the same thing as `reference.fused_moe`:

- Aligned path (many tokens). `align_pairs_to_blocks` sorts the (token, k) pairs by expert
  into blocks of BLOCK_M rows, each block padded so it holds one expert only. Then one
  grouped matmul kernel computes gate and up projections for a block against that expert's
  slice of the stacked weights and applies SwiGLU in registers, and a second kernel runs the
  down projection and multiplies each row by its gate weight.
- Pair path (few tokens). The alignment's fixed cost (a sort and several small launches)
  dominates when there are only a few pairs, so each (token, k) pair is handled directly as
  a matrix-vector product against its expert's weights; no sorting, no padding.

The combine: both paths write each pair's gate-weighted row into a (T, K, D) buffer that
is then summed over K. We chose this over atomic adds into the output because it is
deterministic (the same bits on every run, whatever the scheduling), needs no bfloat16
atomics (not available on every GPU nor in the interpreter), and its cost, one extra write
and read of T*K*D elements, is small next to the expert weights at small batches and next
to the matmul work at large ones.

Kernels use only Triton APIs present since 3.0 (written for 3.6 and 3.9). Tile sizes are
fixed heuristics per problem size, not autotuned and not yet tuned on a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from engine.kernels.triton_common import (
    cdiv,
    dot_precision,
    grouped_tile,
    portable_dot,
    silu,
    sum_along,
    tile,
    upcast_16bit_dots,
)

# Up to this many (token, k) pairs the per-pair path runs; above it, the aligned path.
PAIR_PATH_MAX_PAIRS = 32


def align_pairs_to_blocks(
    topk_ids: torch.Tensor, num_experts: int, block_m: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort (token, k) pairs by expert into blocks of `block_m` rows, one expert per block.

    Returns (sorted_pair_ids, block_expert_ids, num_pairs_post_padded):
    sorted_pair_ids (max_blocks * block_m,) int64 holds the flat pair index t*K + k, and
    the sentinel T*K in padding slots; block_expert_ids (max_blocks,) int64 is the expert of
    each block; num_pairs_post_padded (1,) int64 is how many slots are in use (blocks past it
    are skipped). Sizes are upper bounds so the host never waits for the device.
    """
    flat_ids = topk_ids.reshape(-1)
    num_pairs = flat_ids.numel()
    device = flat_ids.device
    counts = torch.bincount(flat_ids, minlength=num_experts)
    padded_counts = (counts + block_m - 1) // block_m * block_m
    padded_end = torch.cumsum(padded_counts, 0)
    padded_start = padded_end - padded_counts
    unpadded_start = torch.cumsum(counts, 0) - counts

    order = torch.argsort(flat_ids, stable=True)
    sorted_experts = flat_ids.index_select(0, order)
    rank_in_expert = torch.arange(num_pairs, device=device) - unpadded_start[sorted_experts]
    slot = padded_start[sorted_experts] + rank_in_expert

    # Each non-empty expert wastes less than one block to padding.
    max_blocks = triton.cdiv(num_pairs, block_m) + min(num_experts, num_pairs)
    sorted_pair_ids = torch.full((max_blocks * block_m,), num_pairs, dtype=torch.int64, device=device)
    sorted_pair_ids.index_copy_(0, slot, order)
    block_starts = torch.arange(max_blocks, device=device) * block_m
    block_expert_ids = torch.searchsorted(padded_end, block_starts, right=True)
    block_expert_ids.clamp_(max=num_experts - 1)
    return sorted_pair_ids, block_expert_ids, padded_end[-1:]


@triton.jit
def _aligned_gate_up_kernel(
    x_ptr, w_ptr, h_ptr, sorted_pair_ids_ptr, block_expert_ids_ptr, num_padded_ptr,
    num_pairs, top_k, width, hidden, num_blocks_m,
    stride_xt, stride_xd, stride_we, stride_wd, stride_wn, stride_hp, stride_hf,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):
    # h[pair, n] = silu(x[token] @ Wg[e])[n] * (x[token] @ Wu[e])[n] for a block of pairs.
    pid_m, pid_n = grouped_tile(
        tl.program_id(0), num_blocks_m, cdiv(hidden, BLOCK_N), GROUP_M
    )
    if pid_m * BLOCK_M >= tl.load(num_padded_ptr):
        return
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    pair = tl.load(sorted_pair_ids_ptr + offs_m)
    row_ok = pair < num_pairs
    token = pair // top_k
    expert = tl.load(block_expert_ids_ptr + pid_m).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = offs_n < hidden
    offs_k = tl.arange(0, BLOCK_K)

    a_ptrs = x_ptr + token[:, None] * stride_xt + offs_k[None, :] * stride_xd
    gate_ptrs = w_ptr + expert * stride_we + offs_k[:, None] * stride_wd + offs_n[None, :] * stride_wn
    up_ptrs = gate_ptrs + hidden * stride_wn
    acc_gate = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    acc_up = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    for k0 in range(0, width, BLOCK_K):
        k_ok = offs_k < width - k0
        a = tl.load(a_ptrs, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w_mask = k_ok[:, None] & col_ok[None, :]
        gate_w = tl.load(gate_ptrs, mask=w_mask, other=0.0)
        up_w = tl.load(up_ptrs, mask=w_mask, other=0.0)
        acc_gate = portable_dot(a, gate_w, acc_gate, PRECISION, UPCAST)
        acc_up = portable_dot(a, up_w, acc_up, PRECISION, UPCAST)
        a_ptrs += BLOCK_K * stride_xd
        gate_ptrs += BLOCK_K * stride_wd
        up_ptrs += BLOCK_K * stride_wd

    h = silu(acc_gate) * acc_up
    h_ptrs = h_ptr + pair[:, None] * stride_hp + offs_n[None, :] * stride_hf
    tl.store(h_ptrs, h.to(h_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def _aligned_down_kernel(
    h_ptr, w_ptr, y_ptr, topk_weights_ptr, sorted_pair_ids_ptr, block_expert_ids_ptr,
    num_padded_ptr, num_pairs, width, hidden, num_blocks_m,
    stride_hp, stride_hf, stride_we, stride_wf, stride_wd, stride_yp, stride_yd,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):
    # y[pair, n] = gate_weight[pair] * (h[pair] @ Wd[e])[n] for a block of pairs.
    pid_m, pid_n = grouped_tile(tl.program_id(0), num_blocks_m, cdiv(width, BLOCK_N), GROUP_M)
    if pid_m * BLOCK_M >= tl.load(num_padded_ptr):
        return
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    pair = tl.load(sorted_pair_ids_ptr + offs_m)
    row_ok = pair < num_pairs
    expert = tl.load(block_expert_ids_ptr + pid_m).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = offs_n < width
    offs_k = tl.arange(0, BLOCK_K)

    a_ptrs = h_ptr + pair[:, None] * stride_hp + offs_k[None, :] * stride_hf
    w_ptrs = w_ptr + expert * stride_we + offs_k[:, None] * stride_wf + offs_n[None, :] * stride_wd
    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        k_ok = offs_k < hidden - k0
        a = tl.load(a_ptrs, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc = portable_dot(a, w, acc, PRECISION, UPCAST)
        a_ptrs += BLOCK_K * stride_hf
        w_ptrs += BLOCK_K * stride_wf

    gate_weight = tl.load(topk_weights_ptr + pair, mask=row_ok, other=0.0).to(tl.float32)
    acc = acc * gate_weight[:, None]
    y_ptrs = y_ptr + pair[:, None] * stride_yp + offs_n[None, :] * stride_yd
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def _pair_gate_up_kernel(
    x_ptr, w_ptr, h_ptr, topk_ids_ptr, top_k, width, hidden,
    stride_xt, stride_xd, stride_we, stride_wd, stride_wn, stride_hp, stride_hf,
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # One (token, k) pair per program row: a matrix-vector product against its expert.
    pair = tl.program_id(0)
    token = pair // top_k
    expert = tl.load(topk_ids_ptr + pair).to(tl.int64)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = offs_n < hidden
    offs_k = tl.arange(0, BLOCK_K)
    x_ptrs = x_ptr + token * stride_xt + offs_k * stride_xd
    gate_ptrs = w_ptr + expert * stride_we + offs_k[:, None] * stride_wd + offs_n[None, :] * stride_wn
    up_ptrs = gate_ptrs + hidden * stride_wn
    acc_gate = tl.full((BLOCK_N,), 0.0, dtype=tl.float32)
    acc_up = tl.full((BLOCK_N,), 0.0, dtype=tl.float32)
    for k0 in range(0, width, BLOCK_K):
        k_ok = offs_k < width - k0
        xk = tl.load(x_ptrs, mask=k_ok, other=0.0).to(tl.float32)
        w_mask = k_ok[:, None] & col_ok[None, :]
        gate_w = tl.load(gate_ptrs, mask=w_mask, other=0.0).to(tl.float32)
        up_w = tl.load(up_ptrs, mask=w_mask, other=0.0).to(tl.float32)
        acc_gate += sum_along(xk[:, None] * gate_w, 0)
        acc_up += sum_along(xk[:, None] * up_w, 0)
        x_ptrs += BLOCK_K * stride_xd
        gate_ptrs += BLOCK_K * stride_wd
        up_ptrs += BLOCK_K * stride_wd
    h = silu(acc_gate) * acc_up
    tl.store(h_ptr + pair * stride_hp + offs_n * stride_hf, h.to(h_ptr.dtype.element_ty), mask=col_ok)


@triton.jit
def _pair_down_kernel(
    h_ptr, w_ptr, y_ptr, topk_ids_ptr, topk_weights_ptr, width, hidden,
    stride_hp, stride_hf, stride_we, stride_wf, stride_wd, stride_yp, stride_yd,
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pair = tl.program_id(0)
    expert = tl.load(topk_ids_ptr + pair).to(tl.int64)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = offs_n < width
    offs_k = tl.arange(0, BLOCK_K)
    h_ptrs = h_ptr + pair * stride_hp + offs_k * stride_hf
    w_ptrs = w_ptr + expert * stride_we + offs_k[:, None] * stride_wf + offs_n[None, :] * stride_wd
    acc = tl.full((BLOCK_N,), 0.0, dtype=tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        k_ok = offs_k < hidden - k0
        hk = tl.load(h_ptrs, mask=k_ok, other=0.0).to(tl.float32)
        w = tl.load(w_ptrs, mask=k_ok[:, None] & col_ok[None, :], other=0.0).to(tl.float32)
        acc += sum_along(hk[:, None] * w, 0)
        h_ptrs += BLOCK_K * stride_hf
        w_ptrs += BLOCK_K * stride_wf
    acc = acc * tl.load(topk_weights_ptr + pair).to(tl.float32)
    tl.store(y_ptr + pair * stride_yp + offs_n * stride_yd, acc.to(y_ptr.dtype.element_ty), mask=col_ok)


def _aligned_block_m(num_pairs: int, num_experts: int) -> int:
    pairs_per_expert = num_pairs / num_experts
    if pairs_per_expert <= 16:
        return 16
    if pairs_per_expert <= 48:
        return 32
    if pairs_per_expert <= 192:
        return 64
    return 128


def fused_moe(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    """Triton version of `reference.fused_moe` (same signature and meaning)."""
    tokens, width = x.shape
    num_experts, _, two_hidden = w_gate_up.shape
    hidden = two_hidden // 2
    top_k = topk_ids.shape[1]
    num_pairs = tokens * top_k
    if num_pairs == 0:
        return x.new_zeros(tokens, width)
    flat_ids = topk_ids.reshape(-1).contiguous()
    flat_weights = topk_weights.reshape(-1).contiguous()
    h = torch.empty(num_pairs, hidden, dtype=x.dtype, device=x.device)
    y = torch.empty(num_pairs, width, dtype=x.dtype, device=x.device)
    precision = dot_precision(x.dtype)
    upcast = upcast_16bit_dots()

    if num_pairs <= PAIR_PATH_MAX_PAIRS:
        block_k = tile(64, max(width, hidden))
        block_n = tile(64, hidden)
        _pair_gate_up_kernel[(num_pairs, triton.cdiv(hidden, block_n))](
            x, w_gate_up, h, flat_ids, top_k, width, hidden,
            x.stride(0), x.stride(1), *w_gate_up.stride(), h.stride(0), h.stride(1),
            BLOCK_N=block_n, BLOCK_K=block_k,
        )
        block_n = tile(64, width)
        _pair_down_kernel[(num_pairs, triton.cdiv(width, block_n))](
            h, w_down, y, flat_ids, flat_weights, width, hidden,
            h.stride(0), h.stride(1), *w_down.stride(), y.stride(0), y.stride(1),
            BLOCK_N=block_n, BLOCK_K=block_k,
        )
    else:
        block_m = _aligned_block_m(num_pairs, num_experts)
        sorted_pair_ids, block_expert_ids, num_padded = align_pairs_to_blocks(
            topk_ids, num_experts, block_m
        )
        num_blocks_m = block_expert_ids.numel()
        # Shared memory holds num_stages copies of the A and B tiles: halve BLOCK_K for
        # 4-byte inputs so 128-row blocks still fit. The gate/up kernel keeps two
        # accumulators, so its column tile is half the down kernel's.
        k_limit = 64 if x.element_size() <= 2 else 32
        num_warps = 8 if block_m >= 128 else 4
        block_n = tile(64, hidden)
        _aligned_gate_up_kernel[(num_blocks_m * triton.cdiv(hidden, block_n),)](
            x, w_gate_up, h, sorted_pair_ids, block_expert_ids, num_padded,
            num_pairs, top_k, width, hidden, num_blocks_m,
            x.stride(0), x.stride(1), *w_gate_up.stride(), h.stride(0), h.stride(1),
            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=tile(k_limit, width), GROUP_M=8,
            PRECISION=precision, UPCAST=upcast, num_warps=num_warps, num_stages=3,
        )
        block_n = tile(128 if block_m >= 64 else 64, width)
        _aligned_down_kernel[(num_blocks_m * triton.cdiv(width, block_n),)](
            h, w_down, y, flat_weights, sorted_pair_ids, block_expert_ids, num_padded,
            num_pairs, width, hidden, num_blocks_m,
            h.stride(0), h.stride(1), *w_down.stride(), y.stride(0), y.stride(1),
            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=tile(k_limit, hidden), GROUP_M=8,
            PRECISION=precision, UPCAST=upcast, num_warps=num_warps, num_stages=3,
        )
    # The (token, k) rows are adjacent, so the combine is a sum over k.
    return y.view(tokens, top_k, width).sum(dim=1)
