"""The Mixture-of-Experts feed-forward layer: router, stacked routed experts, shared expert.

A token's affinity to an expert is the scaled dot product of the (projected) token with the
expert's learned key. The top-k experts by affinity + selection bias are chosen; their gate
weights are the normalised affinities of the chosen experts (the bias only steers selection).
The selection bias is nudged after each optimizer step against over- and under-loaded experts
(aux-loss-free balancing); the Switch auxiliary loss is the alternative (config.balance).
The routed experts' weights are stacked so engine.kernels.fused_moe runs them in one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from engine import kernels
from engine.config import ModelConfig
from engine.layers import SwiGLU


@dataclass
class Routing:
    """What the router decided for N tokens."""

    topk_ids: torch.Tensor  # (N, K) int64 chosen experts
    topk_weights: torch.Tensor  # (N, K) gate weights, each row sums to 1
    affinity: torch.Tensor  # (N, E) scaled dot products, before the selection bias
    load: torch.Tensor  # (E,) share of the N*K routing slots each expert received (sums to 1)


class Router(nn.Module):
    """Chooses top-k experts per token from token-key affinities; keeps the balancing state."""

    def __init__(self, d_model: int, n_experts: int, top_k: int, gate: str = "softmax") -> None:
        super().__init__()
        self.top_k = top_k
        self.gate = gate
        self.scale = 1.0 / math.sqrt(d_model)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.expert_keys = nn.Parameter(torch.randn(n_experts, d_model))  # (E, D)
        # Used only to pick experts, never in the gate weights; saved with the checkpoint.
        self.register_buffer("selection_bias", torch.zeros(n_experts))
        # Assignments counted since the last bias update (training only); not saved.
        self.register_buffer("routed_counts", torch.zeros(n_experts), persistent=False)

    @property
    def n_experts(self) -> int:
        return self.expert_keys.shape[0]

    def forward(self, x: torch.Tensor) -> Routing:
        # x: (N, D)
        affinity = (self.proj(x) @ self.expert_keys.T).float() * self.scale  # (N, E)
        with torch.no_grad():
            topk_ids = torch.topk(affinity + self.selection_bias, self.top_k, dim=-1).indices  # (N, K)
            counts = torch.bincount(topk_ids.reshape(-1), minlength=self.n_experts).float()
            if self.training:
                self.routed_counts += counts
        chosen = affinity.gather(1, topk_ids)  # (N, K), differentiable
        if self.gate == "softmax":
            weights = torch.softmax(chosen, dim=-1)
        else:
            chosen = torch.sigmoid(chosen)
            weights = chosen / chosen.sum(dim=-1, keepdim=True)
        load = counts / counts.sum().clamp_min(1.0)
        return Routing(topk_ids, weights.to(x.dtype), affinity, load)

    @torch.no_grad()
    def update_selection_bias(self, rate: float) -> None:
        """Raise the bias of under-loaded experts and lower it for over-loaded ones, by `rate`.

        Under torch.distributed the counts are summed over ranks first, so every rank applies
        the same update and the biases stay identical without broadcasting. A frozen router
        (a LoRA adapter trained on a fixed base) keeps its bias: the base must stay as served.
        """
        counts = self.routed_counts
        if not self.expert_keys.requires_grad:
            counts.zero_()
            return
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
        total = counts.sum()
        if total > 0:
            load = counts / total
            self.selection_bias += rate * torch.sign(1.0 / self.n_experts - load)
            self.selection_bias -= self.selection_bias.mean()  # only differences matter to top-k
        counts.zero_()


def switch_aux_loss(routing: Routing) -> torch.Tensor:
    """Switch Transformer balance loss: E * sum_e (share of slots to e) * (mean router prob of e)."""
    probs = torch.softmax(routing.affinity, dim=-1)  # (N, E)
    n_experts = probs.shape[1]
    return n_experts * torch.sum(routing.load.to(probs.dtype) * probs.mean(dim=0))


class RoutedExperts(nn.Module):
    """E SwiGLU experts as stacked weights: w_gate_up (E, D, 2F), w_down (E, F, D).

    With share_down_projection the experts keep their own gate/up projections but share one
    down projection (1, F, D), saving (E - 1) * F * D parameters per layer.
    """

    def __init__(self, n_experts: int, d_model: int, hidden: int, share_down_projection: bool) -> None:
        super().__init__()
        self.n_experts = n_experts
        self.w_gate_up = nn.Parameter(torch.randn(n_experts, d_model, 2 * hidden) * 0.02)
        down_count = 1 if share_down_projection else n_experts
        self.w_down = nn.Parameter(torch.randn(down_count, hidden, d_model) * 0.02)

    def forward(self, x: torch.Tensor, topk_ids: torch.Tensor, topk_weights: torch.Tensor) -> torch.Tensor:
        # x: (N, D); topk_ids, topk_weights: (N, K) -> (N, D)
        w_down = self.w_down.expand(self.n_experts, -1, -1)  # a view when shared, no copy
        return kernels.fused_moe(x, self.w_gate_up, w_down, topk_ids, topk_weights)


def routed_expert_parameters(config: ModelConfig) -> int:
    """Parameters of one layer's routed experts under this config (for reporting the saving)."""
    gate_up = config.n_experts * config.d_model * 2 * config.expert_hidden
    downs = 1 if config.share_expert_projection else config.n_experts
    return gate_up + downs * config.expert_hidden * config.d_model


class MoELayer(nn.Module):
    """Routed experts (top-k of E) plus shared experts that every token passes through."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.balance = config.balance
        self.router = Router(config.d_model, config.n_experts, config.top_k, config.gate)
        self.experts = RoutedExperts(
            config.n_experts, config.d_model, config.expert_hidden, config.share_expert_projection
        )
        self.shared = (
            SwiGLU(config.d_model, config.expert_hidden * config.n_shared_experts)
            if config.n_shared_experts > 0
            else None
        )
        self.last_load: torch.Tensor | None = None  # (E,) from the latest forward, for reporting

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (N, D) real tokens only -> output (N, D) and the aux loss (0 unless balance == "aux")
        routing = self.router(x)
        self.last_load = routing.load
        out = self.experts(x, routing.topk_ids, routing.topk_weights)
        if self.shared is not None:
            out = out + self.shared(x)
        if self.balance == "aux" and x.shape[0] > 0:
            aux = switch_aux_loss(routing)
        else:
            aux = x.new_zeros((), dtype=torch.float32)
        return out, aux

