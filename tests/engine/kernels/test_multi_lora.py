"""The Triton multi-LoRA kernels against the torch reference."""

import pytest
import torch

from engine.kernels import reference, triton_multi_lora
from tests.engine.kernels.inputs import lora_inputs

TOLERANCE = {torch.float32: {"atol": 1e-4, "rtol": 1e-4}, torch.bfloat16: {"atol": 2e-2, "rtol": 2e-2}}


def _check(device, rows, d_in, d_out, adapters, rank, dtype):
    inputs = [t.to(device) for t in lora_inputs(rows, d_in, d_out, adapters, rank, dtype)]
    out = triton_multi_lora.multi_lora(*inputs)
    assert out.dtype == dtype
    torch.testing.assert_close(out, reference.multi_lora(*inputs), **TOLERANCE[dtype])
    base_out, adapter_ids = inputs[1], inputs[4]
    assert torch.equal(out[adapter_ids < 0], base_out[adapter_ids < 0])


@pytest.mark.parametrize(
    ("rows", "d_in", "d_out", "adapters", "rank", "dtype"),
    [
        (1, 32, 48, 1, 4, torch.float32),
        (33, 64, 40, 16, 8, torch.bfloat16),
        (33, 511, 24, 4, 16, torch.float32),  # width not a multiple of the tile
        (257, 24, 96, 5, 3, torch.float32),  # rank 3 padded to 16
        (257, 48, 33, 16, 16, torch.bfloat16),
    ],
)
def test_multi_lora_kernel_matches_reference(device, rows, d_in, d_out, adapters, rank, dtype):
    _check(device, rows, d_in, d_out, adapters, rank, dtype)


def test_batch_without_any_adapter_returns_the_base_output(device):
    x, base_out, lora_a, lora_b, adapter_ids, scaling = (
        t.to(device) for t in lora_inputs(17, 16, 24, 2, 4, torch.float32)
    )
    adapter_ids = torch.full_like(adapter_ids, -1)
    out = triton_multi_lora.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling)
    assert torch.equal(out, base_out)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: native Triton kernels")
def test_multi_lora_kernel_at_model_sizes_on_gpu():
    _check(torch.device("cuda"), 4096, 2048, 2048, 32, 16, torch.bfloat16)
