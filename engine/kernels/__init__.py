"""The engine's fused operations, dispatched to a Triton kernel or the torch reference.

Model code calls only these three functions. On CUDA tensors the Triton kernels run; on
anything else the torch references in `engine.kernels.reference` run. The environment
variable ``QUORUM_KERNELS`` forces a choice: ``torch`` always uses the references,
``triton`` always uses the kernels (on the CPU that needs ``TRITON_INTERPRET=1``, Triton's
interpreter, which is how the tests run them). The Triton kernels are forward-only, so
whenever autograd records a graph through these inputs the reference runs instead.
"""

from __future__ import annotations

import os

import torch

from engine.kernels import reference

__all__ = ["fused_moe", "int8_matmul", "kernel_backend", "multi_lora"]

_BACKENDS = ("torch", "triton")


def kernel_backend(device: torch.device) -> str:
    """The backend ("torch" or "triton") the dispatchers use for tensors on ``device``."""
    forced = os.environ.get("QUORUM_KERNELS", "").strip().lower()
    if forced and forced not in _BACKENDS:
        raise ValueError(f"QUORUM_KERNELS={forced!r}: expected one of {', '.join(_BACKENDS)}")
    if forced == "torch":
        return "torch"
    interpreted = os.environ.get("TRITON_INTERPRET", "") == "1"
    if forced == "triton":
        if device.type != "cuda" and not interpreted:
            raise RuntimeError(
                "QUORUM_KERNELS=triton needs CUDA tensors, or TRITON_INTERPRET=1 set before "
                "triton is imported to run the kernels in Triton's CPU interpreter; "
                "unset QUORUM_KERNELS to use the torch reference on the CPU."
            )
        return "triton"
    return "triton" if device.type == "cuda" else "torch"


def _use_triton(*tensors: torch.Tensor | None) -> bool:
    first = next(t for t in tensors if t is not None)
    if kernel_backend(first.device) != "triton":
        return False
    # The kernels have no backward; training goes through the differentiable reference.
    return not (
        torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    )


def fused_moe(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    """Routed SwiGLU experts combined with their gate weights; see `reference.fused_moe`.

    x (T, D), w_gate_up (E, D, 2F), w_down (E, F, D), topk_ids (T, K) int64,
    topk_weights (T, K) -> (T, D).
    """
    if _use_triton(x, w_gate_up, w_down, topk_weights):
        from engine.kernels import triton_fused_moe

        return triton_fused_moe.fused_moe(x, w_gate_up, w_down, topk_ids, topk_weights)
    return reference.fused_moe(x, w_gate_up, w_down, topk_ids, topk_weights)


def multi_lora(
    x: torch.Tensor,
    base_out: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    adapter_ids: torch.Tensor,
    scaling: torch.Tensor,
) -> torch.Tensor:
    """base_out plus each row's own LoRA delta; see `reference.multi_lora`.

    x (N, Din), base_out (N, Dout), lora_a (L, Din, R), lora_b (L, R, Dout),
    adapter_ids (N,) int64 (-1 = none), scaling (L,) -> (N, Dout).
    """
    if _use_triton(x, base_out, lora_a, lora_b, scaling):
        from engine.kernels import triton_multi_lora

        return triton_multi_lora.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling)
    return reference.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling)


def int8_matmul(
    x: torch.Tensor,
    w_int8: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weight-only int8 linear layer; see `reference.int8_matmul`.

    x (N, Din), w_int8 (Dout, Din) int8, scale (Dout,), bias (Dout,) or None -> (N, Dout).
    """
    if _use_triton(x, scale, bias):
        from engine.kernels import triton_int8

        return triton_int8.int8_matmul(x, w_int8, scale, bias)
    return reference.int8_matmul(x, w_int8, scale, bias)
