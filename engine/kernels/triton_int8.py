"""Weight-only int8 matmul in Triton: x @ (w_int8 * scale[:, None]).T + bias.

The int8 weight tile is loaded (half the bytes of bfloat16), converted to the activation
dtype in registers and fed to tl.dot; the per-output-channel scale and the bias are
applied once to the float32 accumulator at the end. At small batches the time is the
weight read, so halving the bytes is the point. Same signature as `reference.int8_matmul`.
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
    tile,
    upcast_16bit_dots,
)


@triton.jit
def _int8_matmul_kernel(
    x_ptr, w_ptr, scale_ptr, bias_ptr, out_ptr, rows, d_in, d_out,
    stride_xn, stride_xk, stride_wo, stride_wk, stride_on, stride_oo,
    HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
):
    pid_m, pid_n = grouped_tile(
        tl.program_id(0), cdiv(rows, BLOCK_M), cdiv(d_out, BLOCK_N), GROUP_M
    )
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    m_ok = offs_m < rows
    n_ok = offs_n < d_out
    x_ptrs = x_ptr + offs_m[:, None] * stride_xn + offs_k[None, :] * stride_xk
    # The weight is (d_out, d_in); read it as a (BLOCK_K, BLOCK_N) tile of its transpose.
    w_ptrs = w_ptr + offs_n[None, :] * stride_wo + offs_k[:, None] * stride_wk
    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    for k0 in range(0, d_in, BLOCK_K):
        k_ok = offs_k < d_in - k0
        a = tl.load(x_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0)
        acc = portable_dot(a, w, acc, PRECISION, UPCAST)
        x_ptrs += BLOCK_K * stride_xk
        w_ptrs += BLOCK_K * stride_wk
    acc = acc * tl.load(scale_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_BIAS:
        acc = acc + tl.load(bias_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    out_ptrs = out_ptr + offs_m[:, None] * stride_on + offs_n[None, :] * stride_oo
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


def int8_matmul(
    x: torch.Tensor,
    w_int8: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """Triton version of `reference.int8_matmul` (same signature and meaning)."""
    rows, d_in = x.shape
    d_out = w_int8.shape[0]
    out = torch.empty(rows, d_out, dtype=x.dtype, device=x.device)
    if rows == 0:
        return out
    # Few rows: the time is the weight read, so narrow column tiles give enough programs to
    # keep every SM streaming (4096 columns -> 128 programs). Many rows: square tiles for
    # reuse. Heuristic sizes, not yet tuned on a GPU.
    if rows <= 16:
        block_m, block_n, block_k = tile(16, rows), tile(32, d_out), tile(256, d_in)
    elif rows <= 64:
        block_m, block_n, block_k = tile(64, rows), tile(64, d_out), tile(128, d_in)
    else:
        block_m, block_n = tile(128, rows), tile(128, d_out)
        block_k = tile(64 if x.element_size() <= 2 else 32, d_in)  # fits num_stages in smem
    grid = (triton.cdiv(rows, block_m) * triton.cdiv(d_out, block_n),)
    _int8_matmul_kernel[grid](
        x, w_int8, scale, bias if bias is not None else scale, out, rows, d_in, d_out,
        x.stride(0), x.stride(1), w_int8.stride(0), w_int8.stride(1),
        out.stride(0), out.stride(1),
        HAS_BIAS=bias is not None, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k,
        GROUP_M=8, PRECISION=dot_precision(x.dtype), UPCAST=upcast_16bit_dots(),
        num_warps=4 if block_m * block_n <= 64 * 64 else 8, num_stages=3,
    )
    return out
