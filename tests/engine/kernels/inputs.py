"""Random kernel inputs with realistic scales (outputs of order one), built on the CPU."""

import torch


def moe_inputs(
    tokens: int, width: int, hidden: int, experts: int, top_k: int, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    x = torch.randn(tokens, width).to(dtype)
    w_gate_up = (torch.randn(experts, width, 2 * hidden) / width**0.5).to(dtype)
    w_down = (torch.randn(experts, hidden, width) / hidden**0.5).to(dtype)
    # Distinct experts per token, as a router's top-k gives.
    topk_ids = torch.rand(tokens, experts).argsort(dim=1)[:, :top_k].contiguous()
    topk_weights = torch.rand(tokens, top_k).softmax(dim=1)
    return x, w_gate_up, w_down, topk_ids, topk_weights


def lora_inputs(
    rows: int, d_in: int, d_out: int, adapters: int, rank: int, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    x = torch.randn(rows, d_in).to(dtype)
    base_out = torch.randn(rows, d_out).to(dtype)
    lora_a = (torch.randn(adapters, d_in, rank) / d_in**0.5).to(dtype)
    lora_b = (torch.randn(adapters, rank, d_out) / rank**0.5).to(dtype)
    # About a quarter of the rows carry no adapter (-1).
    adapter_ids = torch.randint(-1, adapters, (rows,))
    adapter_ids[torch.rand(rows) < 0.2] = -1
    scaling = torch.rand(adapters) + 0.5
    return x, base_out, lora_a, lora_b, adapter_ids, scaling


def int8_inputs(
    rows: int, d_in: int, d_out: int, dtype: torch.dtype, with_bias: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    x = torch.randn(rows, d_in).to(dtype)
    w_int8 = torch.randint(-127, 128, (d_out, d_in), dtype=torch.int8)
    scale = torch.rand(d_out) / (127 * d_in**0.5) + 1e-4
    bias = torch.randn(d_out) if with_bias else None
    return x, w_int8, scale, bias
