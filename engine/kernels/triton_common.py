"""Pieces shared by the engine's Triton kernels: tile sizes, a portable dot, small helpers.

The kernels call only Triton builtins and jit functions defined in this package, never the
jit functions of triton.language's standard library (tl.sum, tl.zeros, tl.cdiv,
tl.sigmoid): those are compiled-or-interpreted once, when triton is first imported, and
torch imports triton early (torch._dynamo), before a test can set TRITON_INTERPRET=1. Ours
are decorated when engine.kernels' modules are imported, which the tests control.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl


def tile(limit: int, size: int) -> int:
    """A power-of-two tile edge: at most `limit`, no larger than `size` needs, at least 16.

    16 is the smallest edge tl.dot accepts; not padding a small dimension up to a large
    tile keeps masked work (and the interpreter's time) down.
    """
    return max(16, min(limit, triton.next_power_of_2(size)))


def dot_precision(dtype: torch.dtype) -> str:
    """The tl.dot input precision: exact IEEE products for float32, native for 16-bit."""
    return "ieee" if dtype == torch.float32 else "tf32"


def upcast_16bit_dots() -> bool:
    """Whether kernels must upcast 16-bit dot operands to float32.

    Triton's CPU interpreter stores bfloat16 as raw uint16 and multiplies the bits in
    tl.dot, so under TRITON_INTERPRET=1 the operands are converted first; on a GPU the
    native 16-bit tensor-core dot runs.
    """
    return os.environ.get("TRITON_INTERPRET", "") == "1"


@triton.jit
def portable_dot(a, b, acc, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """acc + a @ b in a's dtype (b is converted, e.g. from int8), or in float32 when UPCAST.

    See upcast_16bit_dots for why UPCAST exists.
    """
    if UPCAST:
        acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    else:
        acc = tl.dot(a, b.to(a.dtype), acc, input_precision=PRECISION)
    return acc


@triton.jit
def grouped_tile(pid, num_blocks_m, num_blocks_n, GROUP_M: tl.constexpr):
    """The (row block, column block) of program `pid` in GROUP_M-row super-groups."""
    # Programs that run together share GROUP_M row blocks, so weight tiles are reused
    # from L2 instead of being fetched once per row block.
    programs_per_group = GROUP_M * num_blocks_n
    group = pid // programs_per_group
    first_m = group * GROUP_M
    group_size = tl.minimum(num_blocks_m - first_m, GROUP_M)
    pid_m = first_m + (pid % programs_per_group) % group_size
    pid_n = (pid % programs_per_group) // group_size
    return pid_m, pid_n


@triton.jit
def sum_along(x, AXIS: tl.constexpr):
    """The sum of x along AXIS: tl.sum's own reduction, called through the tl.reduce builtin.

    The interpreter recognises tl.sum's combine function and sums with numpy (a combine
    function of ours would run element by element in Python, minutes per test).
    """
    return tl.reduce(x, AXIS, tl.standard._sum_combine)


@triton.jit
def min_along(x, AXIS: tl.constexpr):
    """The minimum of x along AXIS, through tl.min's own combine function (see sum_along)."""
    return tl.reduce(x, AXIS, tl.standard._elementwise_min)


@triton.jit
def silu(x):
    """x * sigmoid(x), in float32."""
    return x / (1.0 + tl.exp(-x))


@triton.jit
def cdiv(a, b):
    """Ceiling division of non-negative integers."""
    return (a + b - 1) // b
