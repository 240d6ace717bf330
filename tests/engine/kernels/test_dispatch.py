"""engine.kernels picks the reference or the Triton kernel as QUORUM_KERNELS says."""

import pytest
import torch

from engine import kernels
from engine.kernels import reference, triton_fused_moe, triton_int8, triton_multi_lora
from tests.engine.kernels.inputs import int8_inputs, lora_inputs, moe_inputs


@pytest.fixture
def calls(monkeypatch):
    """Records which implementation of each operation ran."""
    ran: list[str] = []
    for module, label in ((reference, "torch"), (triton_fused_moe, "triton"),
                          (triton_multi_lora, "triton"), (triton_int8, "triton")):
        for name in ("fused_moe", "multi_lora", "int8_matmul"):
            original = getattr(module, name, None)
            if original is None:
                continue

            def spy(*args, _original=original, _label=label, _name=name):
                ran.append(f"{_name}:{_label}")
                return _original(*args)

            monkeypatch.setattr(module, name, spy)
    return ran


def _run_all(device: torch.device, requires_grad: bool = False) -> None:
    moe = [t.to(device) for t in moe_inputs(5, 16, 8, 4, 2, torch.float32)]
    moe[0].requires_grad_(requires_grad)
    kernels.fused_moe(*moe)
    kernels.multi_lora(*(t.to(device) for t in lora_inputs(5, 16, 8, 2, 4, torch.float32)))
    kernels.int8_matmul(*(t.to(device) for t in int8_inputs(5, 16, 8, torch.float32, True)))


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_quorum_kernels_forces_the_backend(monkeypatch, calls, device, backend):
    monkeypatch.setenv("QUORUM_KERNELS", backend)
    _run_all(device)
    assert calls == [f"{name}:{backend}" for name in ("fused_moe", "multi_lora", "int8_matmul")]


def test_cpu_tensors_use_the_reference_by_default(monkeypatch, calls):
    monkeypatch.delenv("QUORUM_KERNELS", raising=False)
    _run_all(torch.device("cpu"))
    assert all(call.endswith(":torch") for call in calls) and len(calls) == 3


def test_autograd_goes_through_the_differentiable_reference(monkeypatch, calls, device):
    monkeypatch.setenv("QUORUM_KERNELS", "triton")
    _run_all(device, requires_grad=True)
    assert calls[0] == "fused_moe:torch"


def test_forcing_triton_on_the_cpu_without_the_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("QUORUM_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        kernels.int8_matmul(*int8_inputs(2, 8, 4, torch.float32, False))


def test_unknown_backend_is_rejected(monkeypatch):
    monkeypatch.setenv("QUORUM_KERNELS", "cuda")
    with pytest.raises(ValueError, match="QUORUM_KERNELS='cuda'"):
        kernels.kernel_backend(torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: default dispatch on CUDA")
def test_cuda_tensors_use_triton_by_default(monkeypatch):
    monkeypatch.delenv("QUORUM_KERNELS", raising=False)
    assert kernels.kernel_backend(torch.device("cuda")) == "triton"


def test_empty_batches_give_empty_outputs_on_both_backends(monkeypatch, device):
    for backend in ("torch", "triton"):
        monkeypatch.setenv("QUORUM_KERNELS", backend)
        moe = [t.to(device) for t in moe_inputs(0, 16, 8, 4, 2, torch.float32)]
        assert kernels.fused_moe(*moe).shape == (0, 16)
        lora = [t.to(device) for t in lora_inputs(0, 16, 8, 2, 4, torch.float32)]
        assert kernels.multi_lora(*lora).shape == (0, 8)
        int8 = [t.to(device) for t in int8_inputs(0, 16, 8, torch.float32, True)]
        assert kernels.int8_matmul(*int8).shape == (0, 8)
