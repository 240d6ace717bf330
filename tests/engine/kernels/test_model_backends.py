"""The whole model gives the same outputs with QUORUM_KERNELS=triton as with torch.

On the CPU the Triton kernels run in the interpreter (see conftest.py); on a GPU natively.
The batch mixes rows with different LoRA adapters and rows with none, so the fused MoE
(both its per-pair and aligned paths) and multi-LoRA kernels all run inside one forward;
an int8-quantised model runs its linear layers through the int8 kernel.
"""

import pytest
import torch

from engine.kernels import triton_fused_moe, triton_int8, triton_multi_lora
from engine.lora import enable_multi_lora
from engine.model import MoETransformer
from engine.quant import quantize_model
from tests.engine.helpers import tiny_batch, tiny_config


def _outputs(model, batch, adapter_ids, backend, monkeypatch):
    monkeypatch.setenv("QUORUM_KERNELS", backend)
    with torch.no_grad():
        output = model(batch, adapter_ids=adapter_ids)
    return {"tokens": output.tokens, "pooled": output.pooled, **output.heads}


@pytest.mark.parametrize(
    ("encoder", "batch_size", "share_expert_projection"),
    [("text", 1, False), ("text", 4, True), ("graph", 3, False)],
)
def test_triton_backend_matches_torch_backend(device, monkeypatch, encoder, batch_size, share_expert_projection):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config(encoder, share_expert_projection=share_expert_projection)).eval()
    lora = enable_multi_lora(model, max_adapters=3, rank=4)
    for slot in range(3):
        for layer in lora.lora_layers.values():
            d_out, d_in = layer.base.weight.shape
            layer.set_slot(slot, torch.randn(4, d_in) * 0.3, torch.randn(d_out, 4) * 0.3, scaling=2.0)
    model.to(device)
    batch = {name: t.to(device) for name, t in tiny_batch(encoder, batch_size).items()}
    adapter_ids = torch.tensor([2, -1, 0, 1][:batch_size], device=device)

    kernel_calls: list[str] = []
    for module, name in ((triton_fused_moe, "fused_moe"), (triton_multi_lora, "multi_lora")):
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name):
            kernel_calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, name, counted)

    expected = _outputs(model, batch, adapter_ids, "torch", monkeypatch)
    assert kernel_calls == []
    actual = _outputs(model, batch, adapter_ids, "triton", monkeypatch)
    # One MoE per block, and every adapted projection went through the kernel.
    assert kernel_calls.count("fused_moe") == len(model.blocks)
    assert kernel_calls.count("multi_lora") == len(lora.lora_layers)
    for name, value in expected.items():
        torch.testing.assert_close(actual[name], value, atol=1e-4, rtol=1e-4, msg=f"output {name}")
    # The adapters change the outputs, so the comparison covers the multi-LoRA kernel.
    without_adapters = _outputs(model, batch, torch.full_like(adapter_ids, -1), "torch", monkeypatch)
    assert not torch.allclose(without_adapters["pooled"], expected["pooled"])


def test_int8_model_matches_between_backends(device, monkeypatch):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("text")).eval()
    quantize_model(model)
    model.to(device)
    batch = {name: t.to(device) for name, t in tiny_batch("text", 2).items()}
    int8_calls: list[int] = []
    original = triton_int8.int8_matmul

    def counted(*args):
        int8_calls.append(1)
        return original(*args)

    monkeypatch.setattr(triton_int8, "int8_matmul", counted)
    expected = _outputs(model, batch, None, "torch", monkeypatch)
    actual = _outputs(model, batch, None, "triton", monkeypatch)
    assert int8_calls, "no layer went through the int8 kernel"
    for name, value in expected.items():
        torch.testing.assert_close(actual[name], value, atol=1e-4, rtol=1e-4, msg=f"output {name}")
