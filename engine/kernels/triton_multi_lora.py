"""Multi-LoRA in Triton: each row of a batch gets its own adapter's low-rank update.

Two kernels compute what `reference.multi_lora` computes, indexed per row so the batch
never has to be sorted or grouped by adapter:

- shrink: s[row] = x[row] @ A[adapter_of_row], kept in float32 (N, R_PAD), the rank
  padded up to a tile (at least 16) with the padding masked to zero;
- expand: out[row] = base_out[row] + scaling[a] * s[row] @ B[a], the add done in float32
  and written once in the output dtype.

Each program takes a block of consecutive rows and loops over the adapters that occur in
it, in increasing id order: one tensor-core product per adapter, with the block's other
rows masked out (masked rows load nothing). A request's tokens are consecutive rows with
one adapter, so a block usually meets one or two adapters and reads each adapter's
weights once per block rather than once per row. Rows whose adapter id is -1 take part in
no product: their base output is copied through unchanged.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from engine.kernels.triton_common import (
    dot_precision,
    min_along,
    portable_dot,
    tile,
    upcast_16bit_dots,
)

# Larger than any adapter id: "no adapter left in this block".
_NO_ADAPTER = 2**31 - 1


@triton.jit
def _next_adapter(ids, after, NO_ADAPTER: tl.constexpr):
    # The smallest adapter id in the block above `after`, or NO_ADAPTER.
    return min_along(tl.where(ids > after, ids, NO_ADAPTER), 0)


@triton.jit
def _shrink_kernel(
    x_ptr, a_ptr, s_ptr, adapter_ids_ptr, rows, d_in, rank,
    stride_xn, stride_xd, stride_al, stride_ad, stride_ar, stride_sn,
    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, RANK_PAD: tl.constexpr,
    NO_ADAPTER: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = offs_m < rows
    ids = tl.load(adapter_ids_ptr + offs_m, mask=m_ok, other=-1)
    offs_r = tl.arange(0, RANK_PAD)
    r_ok = offs_r < rank
    offs_k = tl.arange(0, BLOCK_K)
    shrunk = tl.full((BLOCK_M, RANK_PAD), 0.0, dtype=tl.float32)
    adapter = _next_adapter(ids, -1, NO_ADAPTER)
    while adapter < NO_ADAPTER:
        use = ids == adapter
        x_ptrs = x_ptr + offs_m[:, None] * stride_xn + offs_k[None, :] * stride_xd
        a_ptrs = a_ptr + adapter.to(tl.int64) * stride_al + offs_k[:, None] * stride_ad + offs_r[None, :] * stride_ar
        acc = tl.full((BLOCK_M, RANK_PAD), 0.0, dtype=tl.float32)
        for k0 in range(0, d_in, BLOCK_K):
            k_ok = offs_k < d_in - k0
            xk = tl.load(x_ptrs, mask=use[:, None] & k_ok[None, :], other=0.0)
            ak = tl.load(a_ptrs, mask=k_ok[:, None] & r_ok[None, :], other=0.0)
            acc = portable_dot(xk, ak, acc, PRECISION, UPCAST)
            x_ptrs += BLOCK_K * stride_xd
            a_ptrs += BLOCK_K * stride_ad
        shrunk = tl.where(use[:, None], acc, shrunk)
        adapter = _next_adapter(ids, adapter, NO_ADAPTER)
    tl.store(s_ptr + offs_m[:, None] * stride_sn + offs_r[None, :], shrunk, mask=m_ok[:, None])


@triton.jit
def _expand_kernel(
    s_ptr, b_ptr, base_ptr, out_ptr, adapter_ids_ptr, scaling_ptr, rows, d_out, rank,
    stride_sn, stride_bl, stride_br, stride_bd, stride_basen, stride_based,
    stride_outn, stride_outd,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, RANK_PAD: tl.constexpr,
    NO_ADAPTER: tl.constexpr, UPCAST: tl.constexpr,
):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = offs_m < rows
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < d_out
    tile_ok = m_ok[:, None] & n_ok[None, :]
    ids = tl.load(adapter_ids_ptr + offs_m, mask=m_ok, other=-1)
    base_ptrs = base_ptr + offs_m[:, None] * stride_basen + offs_n[None, :] * stride_based
    out = tl.load(base_ptrs, mask=tile_ok, other=0.0).to(tl.float32)
    offs_r = tl.arange(0, RANK_PAD)
    r_ok = offs_r < rank
    adapter = _next_adapter(ids, -1, NO_ADAPTER)
    while adapter < NO_ADAPTER:
        use = ids == adapter
        # The float32 intermediate meets B in float32: exact products for the low rank.
        s = tl.load(s_ptr + offs_m[:, None] * stride_sn + offs_r[None, :], mask=use[:, None], other=0.0)
        b_ptrs = b_ptr + adapter.to(tl.int64) * stride_bl + offs_r[:, None] * stride_br + offs_n[None, :] * stride_bd
        b = tl.load(b_ptrs, mask=r_ok[:, None] & n_ok[None, :], other=0.0)
        delta = portable_dot(s, b, tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32), "ieee", UPCAST)
        out += delta * tl.load(scaling_ptr + adapter).to(tl.float32)
        adapter = _next_adapter(ids, adapter, NO_ADAPTER)
    out_ptrs = out_ptr + offs_m[:, None] * stride_outn + offs_n[None, :] * stride_outd
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty), mask=tile_ok)


def multi_lora(
    x: torch.Tensor,
    base_out: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    adapter_ids: torch.Tensor,
    scaling: torch.Tensor,
) -> torch.Tensor:
    """Triton version of `reference.multi_lora` (same signature and meaning)."""
    rows, d_in = x.shape
    d_out = base_out.shape[1]
    rank = lora_a.shape[2]
    out = torch.empty_like(base_out)
    if rows == 0:
        return out
    adapter_ids = adapter_ids.contiguous()
    rank_pad = tile(rank, rank)
    block_m = tile(32 if rows > 256 else 16, rows)
    upcast = upcast_16bit_dots()
    shrunk = torch.empty(rows, rank_pad, dtype=torch.float32, device=x.device)
    _shrink_kernel[(triton.cdiv(rows, block_m),)](
        x, lora_a, shrunk, adapter_ids, rows, d_in, rank,
        x.stride(0), x.stride(1), *lora_a.stride(), shrunk.stride(0),
        BLOCK_M=block_m, BLOCK_K=tile(128, d_in), RANK_PAD=rank_pad, NO_ADAPTER=_NO_ADAPTER,
        PRECISION=dot_precision(x.dtype), UPCAST=upcast,
    )
    block_n = tile(128, d_out)
    _expand_kernel[(triton.cdiv(rows, block_m), triton.cdiv(d_out, block_n))](
        shrunk, lora_b, base_out, out, adapter_ids, scaling, rows, d_out, rank,
        shrunk.stride(0), *lora_b.stride(), base_out.stride(0), base_out.stride(1),
        out.stride(0), out.stride(1),
        BLOCK_M=block_m, BLOCK_N=block_n, RANK_PAD=rank_pad, NO_ADAPTER=_NO_ADAPTER,
        UPCAST=upcast,
    )
    return out
