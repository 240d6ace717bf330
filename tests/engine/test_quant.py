"""Quantisation: fake-quant gradients and ranges, the schedule, int8 export and inference."""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.model import MoETransformer
from engine.quant import (
    FakeQuantInt8,
    Int8Linear,
    Int8RoutedExperts,
    QuantSchedule,
    attach_fake_quant,
    export_int8,
    fit_progressive,
    quantize_model,
    quantize_per_channel,
)
from tests.engine.helpers import tiny_batch, tiny_config


def _model(encoder: str = "text") -> MoETransformer:
    torch.manual_seed(0)
    return MoETransformer(tiny_config(encoder)).eval()


def test_per_channel_quantisation_round_trips_within_half_a_step():
    weight = torch.randn(33, 511) * torch.linspace(0.01, 3.0, 33)[:, None]
    weight_int8, scale = quantize_per_channel(weight)
    assert weight_int8.dtype == torch.int8 and scale.shape == (33, 1)
    assert weight_int8.abs().amax(dim=1).eq(127).all()
    error = (weight_int8.float() * scale - weight).abs()
    assert (error <= scale / 2 + 1e-6).all()


def test_fake_quant_puts_weights_on_the_int8_grid_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    linear = nn.Linear(16, 8)
    attach_fake_quant(linear)
    fake = linear.parametrizations.weight[0]
    assert isinstance(fake, FakeQuantInt8)
    linear.eval()
    on_grid = linear.weight / (fake.absmax / 127)
    torch.testing.assert_close(on_grid, on_grid.round(), atol=1e-4, rtol=0)

    x = torch.randn(5, 16)
    grad_out = torch.randn(5, 8)
    linear(x).backward(grad_out)
    # Straight through: the gradient of the float weight is that of an unquantised layer.
    torch.testing.assert_close(linear.parametrizations.weight.original.grad, grad_out.t() @ x)


def test_fake_quant_stops_gradients_of_weights_outside_the_range():
    weight = nn.Parameter(torch.tensor([[0.5, -0.2, 1.0]]))
    fake = FakeQuantInt8(weight.detach())
    fake.absmax.fill_(0.4)
    fake.eval()
    fake(weight).sum().backward()
    assert weight.grad.tolist() == [[0.0, 1.0, 0.0]]


def test_ranges_follow_the_weights_as_an_ema_in_training():
    linear = nn.Linear(4, 2)
    with torch.no_grad():
        linear.weight.fill_(1.0)
    attach_fake_quant(linear, momentum=0.5)
    fake = linear.parametrizations.weight[0]
    with torch.no_grad():
        linear.parametrizations.weight.original.fill_(3.0)
    linear.train()
    linear(torch.randn(1, 4))
    torch.testing.assert_close(fake.absmax.squeeze(1), torch.tensor([2.0, 2.0]))
    linear.eval()
    linear(torch.randn(1, 4))
    torch.testing.assert_close(fake.absmax.squeeze(1), torch.tensor([2.0, 2.0]))


def test_schedule_splits_the_epochs_into_fp32_half_and_int8_stages():
    assert QuantSchedule().stage_epochs(10) == (3, 3, 4)
    assert QuantSchedule(half_from=0.25, int8_from=0.5).stage_epochs(4) == (1, 1, 2)
    assert QuantSchedule().stage_epochs(1) == (0, 0, 1)


def test_progressive_training_ends_fake_quantised_and_serves_the_same_in_int8():
    model = _model("tabular")
    batches = []
    for seed in range(3):
        batch = tiny_batch("tabular", batch_size=8, generator=torch.Generator().manual_seed(seed))
        batch["label"] = torch.arange(8) % 3
        batches.append(batch)
    stages = fit_progressive(model, batches, batches[:1], epochs=3, lr=1e-2)
    assert len(stages) == 3
    fakes = [m for m in model.modules() if isinstance(m, FakeQuantInt8)]
    # 2 blocks x (4 attention + 3 shared-expert projections + 2 expert stacks); heads stay float.
    assert len(fakes) == 2 * 9
    with torch.no_grad():
        fake_quantized = model(batches[0]).heads["label"]
        quantize_model(model)
        torch.testing.assert_close(model(batches[0]).heads["label"], fake_quantized, atol=1e-5, rtol=1e-4)


def test_int8_model_stays_close_to_fp32_and_uses_less_memory():
    model = _model()
    batch = tiny_batch("text")
    with torch.no_grad():
        expected = model(batch).heads
    quantized = copy.deepcopy(model)
    report = quantize_model(quantized)
    assert any(isinstance(m, Int8Linear) for m in quantized.modules())
    assert any(isinstance(m, Int8RoutedExperts) for m in quantized.modules())
    float_linears = {name.split(".")[0] for name, m in quantized.named_modules() if isinstance(m, nn.Linear)}
    assert float_linears <= {"heads", "blocks"}
    assert not any(isinstance(m, nn.Linear) for m in quantized.blocks[0].attn.modules())
    assert report["weight_bytes_after"] < 0.6 * report["weight_bytes_before"]
    with torch.no_grad():
        got = quantized(batch).heads
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=2e-2, rtol=5e-2)


def test_quantised_inference_matches_the_fake_quantised_training_model():
    model = _model("tabular")
    batch = tiny_batch("tabular")
    attach_fake_quant(model)
    model.train()
    model(batch)  # one training forward moves the ranges
    model.eval()
    with torch.no_grad():
        fake_quantized = model(batch).heads
    quantize_model(model)
    with torch.no_grad():
        int8 = model(batch).heads
    for name in fake_quantized:
        torch.testing.assert_close(int8[name], fake_quantized[name], atol=1e-5, rtol=1e-4)


def test_exported_state_loads_into_a_fresh_int8_model():
    model = _model()
    state = export_int8(model)
    assert state["blocks.0.attn.q_proj.weight_int8"].dtype == torch.int8
    assert state["blocks.0.moe.experts.w_gate_up_int8"].dtype == torch.int8
    fresh = MoETransformer(model.config).eval()
    quantize_model(fresh)
    fresh.load_state_dict(state)
    reference = copy.deepcopy(model)
    quantize_model(reference)
    batch = tiny_batch("text")
    with torch.no_grad():
        torch.testing.assert_close(fresh(batch).heads["label"], reference(batch).heads["label"])
