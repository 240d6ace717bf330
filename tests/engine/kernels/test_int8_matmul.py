"""The Triton int8 weight-only matmul against the torch reference."""

import pytest
import torch

from engine.kernels import reference, triton_int8
from tests.engine.kernels.inputs import int8_inputs

TOLERANCE = {torch.float32: {"atol": 1e-4, "rtol": 1e-4}, torch.bfloat16: {"atol": 3e-2, "rtol": 3e-2}}


def _check(device, rows, d_in, d_out, dtype, with_bias):
    inputs = [t.to(device) if t is not None else None for t in int8_inputs(rows, d_in, d_out, dtype, with_bias)]
    out = triton_int8.int8_matmul(*inputs)
    assert out.shape == (rows, d_out) and out.dtype == dtype
    torch.testing.assert_close(out, reference.int8_matmul(*inputs), **TOLERANCE[dtype])


@pytest.mark.parametrize(
    ("rows", "d_in", "d_out", "dtype", "with_bias"),
    [
        (1, 32, 48, torch.float32, True),
        (33, 511, 40, torch.bfloat16, False),  # width not a multiple of the tile
        (33, 64, 96, torch.float32, False),
        (257, 24, 30, torch.bfloat16, True),
        (257, 40, 17, torch.float32, True),
    ],
)
def test_int8_matmul_kernel_matches_reference(device, rows, d_in, d_out, dtype, with_bias):
    _check(device, rows, d_in, d_out, dtype, with_bias)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: native Triton kernels")
@pytest.mark.parametrize("rows", [1, 16, 1024])
def test_int8_matmul_kernel_at_model_sizes_on_gpu(rows):
    _check(torch.device("cuda"), rows, 4096, 4096, torch.bfloat16, True)
