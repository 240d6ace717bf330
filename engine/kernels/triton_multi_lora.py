"""Multi-LoRA in Triton: each row of a batch gets its own adapter's low-rank update.

Two kernels compute what `reference.multi_lora` computes, indexed per row so the batch
never has to be sorted or grouped by adapter:

- shrink: s[row] = x[row] @ A[adapter_of_row], kept in float32 (N, R_PAD), the rank
  padded up to a tile (at least 16) with the padding masked to zero;
- expand: out[row] = base_out[row] + scaling[a] * s[row] @ B[a], the add done in float32
  and written once in the output dtype.

Rows whose adapter id is -1 do no LoRA work at all: shrink skips them and expand copies
their base output through. Each row is a matrix-vector product against a small adapter
(Din x R), so the adapters stay in L2 across the rows that share them.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from engine.kernels.triton_common import (
    sum_along,
    tile,
)


@triton.jit
def _shrink_kernel(
    x_ptr, a_ptr, s_ptr, adapter_ids_ptr, d_in, rank,
    stride_xn, stride_xd, stride_al, stride_ad, stride_ar, stride_sn,
    BLOCK_K: tl.constexpr, RANK_PAD: tl.constexpr,
):
    row = tl.program_id(0)
    adapter = tl.load(adapter_ids_ptr + row)
    if adapter >= 0:
        offs_r = tl.arange(0, RANK_PAD)
        r_ok = offs_r < rank
        offs_k = tl.arange(0, BLOCK_K)
        x_ptrs = x_ptr + row * stride_xn + offs_k * stride_xd
        a_ptrs = a_ptr + adapter * stride_al + offs_k[:, None] * stride_ad + offs_r[None, :] * stride_ar
        acc = tl.full((RANK_PAD,), 0.0, dtype=tl.float32)
        for k0 in range(0, d_in, BLOCK_K):
            k_ok = offs_k < d_in - k0
            xk = tl.load(x_ptrs, mask=k_ok, other=0.0).to(tl.float32)
            a = tl.load(a_ptrs, mask=k_ok[:, None] & r_ok[None, :], other=0.0).to(tl.float32)
            acc += sum_along(xk[:, None] * a, 0)
            x_ptrs += BLOCK_K * stride_xd
            a_ptrs += BLOCK_K * stride_ad
        tl.store(s_ptr + row * stride_sn + offs_r, acc)


@triton.jit
def _expand_kernel(
    s_ptr, b_ptr, base_ptr, out_ptr, adapter_ids_ptr, scaling_ptr, d_out, rank,
    stride_sn, stride_bl, stride_br, stride_bd, stride_basen, stride_based,
    stride_outn, stride_outd,
    BLOCK_N: tl.constexpr, RANK_PAD: tl.constexpr,
):
    row = tl.program_id(0)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < d_out
    base = tl.load(base_ptr + row * stride_basen + offs_n * stride_based, mask=n_ok, other=0.0)
    out_ptrs = out_ptr + row * stride_outn + offs_n * stride_outd
    adapter = tl.load(adapter_ids_ptr + row)
    if adapter >= 0:
        offs_r = tl.arange(0, RANK_PAD)
        r_ok = offs_r < rank
        s = tl.load(s_ptr + row * stride_sn + offs_r)
        b_ptrs = b_ptr + adapter * stride_bl + offs_r[:, None] * stride_br + offs_n[None, :] * stride_bd
        b = tl.load(b_ptrs, mask=r_ok[:, None] & n_ok[None, :], other=0.0).to(tl.float32)
        delta = sum_along(s[:, None] * b, 0) * tl.load(scaling_ptr + adapter).to(tl.float32)
        updated = base.to(tl.float32) + delta
        tl.store(out_ptrs, updated.to(out_ptr.dtype.element_ty), mask=n_ok)
    else:
        tl.store(out_ptrs, base, mask=n_ok)


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
    shrunk = torch.empty(rows, rank_pad, dtype=torch.float32, device=x.device)
    _shrink_kernel[(rows,)](
        x, lora_a, shrunk, adapter_ids, d_in, rank,
        x.stride(0), x.stride(1), *lora_a.stride(), shrunk.stride(0),
        BLOCK_K=tile(128, d_in), RANK_PAD=rank_pad,
    )
    block_n = tile(128, d_out)
    _expand_kernel[(rows, triton.cdiv(d_out, block_n))](
        shrunk, lora_b, base_out, out, adapter_ids, scaling, d_out, rank,
        shrunk.stride(0), *lora_b.stride(), base_out.stride(0), base_out.stride(1),
        out.stride(0), out.stride(1),
        BLOCK_N=block_n, RANK_PAD=rank_pad,
    )
    return out
