"""The torch references against dumb per-row loops: the specifications must be right first."""

import pytest
import torch

from engine.kernels import reference
from tests.engine.kernels.inputs import int8_inputs, lora_inputs, moe_inputs
from tests.engine.kernels.naive import fused_moe_loop, int8_matmul_loop, multi_lora_loop

# float32 references against float64 loops; bfloat16 within a few bf16 steps.
TOLERANCE = {torch.float32: {"atol": 1e-4, "rtol": 1e-4}, torch.bfloat16: {"atol": 5e-2, "rtol": 5e-2}}


@pytest.mark.parametrize(
    ("tokens", "experts", "top_k", "dtype"),
    [
        (1, 4, 1, torch.float32),  # per-pair strategy
        (2, 16, 4, torch.float32),  # per-pair strategy at its size limit
        (33, 16, 3, torch.float32),  # grouped matmul strategy
        (257, 64, 2, torch.float32),  # grouped, many experts idle
        (33, 4, 4, torch.bfloat16),
    ],
)
def test_fused_moe_reference_matches_loop(tokens, experts, top_k, dtype):
    inputs = moe_inputs(tokens, 24, 16, experts, top_k, dtype)
    expected = fused_moe_loop(*inputs)
    out = reference.fused_moe(*inputs)
    assert out.shape == (tokens, 24) and out.dtype == dtype
    torch.testing.assert_close(out.double(), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("width", [32, 33], ids=["aligned", "unaligned"])
def test_fused_moe_strategies_agree(width):
    inputs = moe_inputs(12, width, 20, 8, 3, torch.float32)
    expected = reference._moe_grouped(*inputs)
    torch.testing.assert_close(reference._moe_per_pair(*inputs), expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(reference.fused_moe(*inputs), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("operation", "inputs", "expected_calls"),
    [
        ("fused_moe", moe_inputs(12, 32, 16, 8, 3, torch.float32), 2),
        ("fused_moe", moe_inputs(12, 33, 16, 8, 3, torch.float32), 0),  # row stride not 16-byte aligned
        ("multi_lora", lora_inputs(40, 32, 16, 4, 8, torch.float32), 2),
        ("multi_lora", lora_inputs(40, 32, 16, 4, 3, torch.float32), 0),  # rank 3: unaligned rows
    ],
    ids=["moe", "moe-unaligned", "lora", "lora-unaligned"],
)
def test_inference_uses_grouped_mm_where_its_strides_allow(monkeypatch, operation, inputs, expected_calls):
    if not hasattr(torch, "_grouped_mm"):
        pytest.skip("this torch has no torch._grouped_mm")
    calls = []
    grouped_mm = torch._grouped_mm

    def counted(*args, **kwargs):
        calls.append(1)
        return grouped_mm(*args, **kwargs)

    monkeypatch.setattr(torch, "_grouped_mm", counted)
    with torch.no_grad():
        getattr(reference, operation)(*inputs)
    assert len(calls) == expected_calls


def test_fused_moe_reference_with_a_shared_down_projection():
    x, w_gate_up, w_down, topk_ids, topk_weights = moe_inputs(20, 16, 8, 4, 2, torch.float32)
    shared_down = w_down[:1].expand(4, -1, -1)  # a stride-0 view, as the model passes it
    expected = fused_moe_loop(x, w_gate_up, shared_down, topk_ids, topk_weights)
    for tokens in (1, 20):
        out = reference.fused_moe(x[:tokens], w_gate_up, shared_down, topk_ids[:tokens], topk_weights[:tokens])
        torch.testing.assert_close(out.double(), expected[:tokens], atol=1e-5, rtol=1e-5)


def test_fused_moe_reference_with_no_tokens():
    inputs = moe_inputs(0, 8, 4, 4, 2, torch.float32)
    assert reference.fused_moe(*inputs).shape == (0, 8)


def test_fused_moe_reference_gradients_match_loop():
    x, w_gate_up, w_down, topk_ids, topk_weights = moe_inputs(20, 8, 6, 4, 2, torch.float64)
    params = [t.requires_grad_() for t in (x, w_gate_up, w_down, topk_weights)]
    reference.fused_moe(x, w_gate_up, w_down, topk_ids, topk_weights).square().sum().backward()
    ours = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    fused_moe_loop(x, w_gate_up, w_down, topk_ids, topk_weights).square().sum().backward()
    for mine, theirs in zip(ours, [p.grad for p in params], strict=True):
        torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize(
    ("rows", "adapters", "rank", "dtype"),
    [(1, 1, 3, torch.float32), (33, 16, 8, torch.float32), (257, 3, 16, torch.bfloat16)],
)
def test_multi_lora_reference_matches_loop(rows, adapters, rank, dtype):
    inputs = lora_inputs(rows, 40, 24, adapters, rank, dtype)
    out = reference.multi_lora(*inputs)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), multi_lora_loop(*inputs), **TOLERANCE[dtype])


def test_multi_lora_reference_leaves_rows_without_adapter_untouched():
    x, base_out, lora_a, lora_b, adapter_ids, scaling = lora_inputs(30, 16, 12, 4, 4, torch.float32)
    adapter_ids[::3] = -1
    out = reference.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling)
    assert torch.equal(out[adapter_ids < 0], base_out[adapter_ids < 0])
    assert not torch.equal(out[adapter_ids >= 0], base_out[adapter_ids >= 0])
    adapter_ids[:] = -1
    assert torch.equal(reference.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling), base_out)


def test_multi_lora_reference_trains_the_adapters():
    x, base_out, lora_a, lora_b, adapter_ids, scaling = lora_inputs(16, 8, 6, 3, 2, torch.float32)
    adapter_ids[:] = torch.tensor([0, 2] * 8)
    lora_a.requires_grad_()
    lora_b.requires_grad_()
    reference.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling).sum().backward()
    # Adapter 1 serves no row, so it gets no gradient; the used ones do.
    assert lora_b.grad[1].abs().sum() == 0
    assert lora_b.grad[0].abs().sum() > 0 and lora_b.grad[2].abs().sum() > 0


@pytest.mark.parametrize(("rows", "dtype", "with_bias"), [(1, torch.float32, True), (33, torch.float32, False), (5, torch.bfloat16, True)])
def test_int8_matmul_reference_matches_loop(rows, dtype, with_bias):
    inputs = int8_inputs(rows, 48, 20, dtype, with_bias)
    out = reference.int8_matmul(*inputs)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), int8_matmul_loop(*inputs), **TOLERANCE[dtype])


@pytest.mark.parametrize("rows", [1, 8, 9])
def test_int8_matmul_reference_strategies_agree_in_bfloat16(rows):
    # Up to 8 rows with a width multiple of 16 the packed int8 kernel runs; else dequantise.
    x, w_int8, scale, bias = int8_inputs(rows, 64, 24, torch.bfloat16, True)
    dequantised = x.float() @ (w_int8.float() * scale[:, None]).T + bias
    out = reference.int8_matmul(x, w_int8, scale, bias)
    torch.testing.assert_close(out.float(), dequantised, atol=5e-2, rtol=5e-2)
