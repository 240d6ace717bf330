"""Dumb per-row loops that define what each kernel computes; the references must match them."""

import torch
import torch.nn.functional as F


def fused_moe_loop(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    w_down: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
) -> torch.Tensor:
    # Differentiable in float64, so it also checks the references' gradients.
    hidden = w_gate_up.shape[2] // 2
    rows = []
    for token in range(x.shape[0]):
        row = torch.zeros(x.shape[1], dtype=torch.float64)
        for slot in range(topk_ids.shape[1]):
            expert = int(topk_ids[token, slot])
            gate_up = x[token].double() @ w_gate_up[expert].double()
            act = F.silu(gate_up[:hidden]) * gate_up[hidden:]
            row = row + topk_weights[token, slot].double() * (act @ w_down[expert].double())
        rows.append(row)
    return torch.stack(rows) if rows else torch.zeros(x.shape, dtype=torch.float64)


def multi_lora_loop(
    x: torch.Tensor,
    base_out: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    adapter_ids: torch.Tensor,
    scaling: torch.Tensor,
) -> torch.Tensor:
    out = base_out.double().clone()
    for row in range(x.shape[0]):
        adapter = int(adapter_ids[row])
        if adapter >= 0:
            delta = (x[row].double() @ lora_a[adapter].double()) @ lora_b[adapter].double()
            out[row] += float(scaling[adapter]) * delta
    return out


def int8_matmul_loop(
    x: torch.Tensor, w_int8: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    out = torch.zeros(x.shape[0], w_int8.shape[0], dtype=torch.float64)
    for row in range(x.shape[0]):
        for col in range(w_int8.shape[0]):
            weight = w_int8[col].double() * float(scale[col])
            out[row, col] = x[row].double() @ weight + (float(bias[col]) if bias is not None else 0.0)
    return out
