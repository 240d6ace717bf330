"""Router and MoE layer: top-k choice, gate weights, expert output, load balancing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.moe import MoELayer, Router, routed_expert_parameters, switch_aux_loss
from tests.engine.helpers import tiny_config


def skewed_tokens(n: int, d: int, seed: int) -> torch.Tensor:
    """Tokens clustered around one direction, so a few experts attract most of them."""
    centre = torch.randn(d, generator=torch.Generator().manual_seed(0)) * 3
    return centre + torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * 0.3


def overload(load: torch.Tensor) -> float:
    """Busiest expert's load relative to a perfectly even share (1.0 = balanced)."""
    return float(load.max() * load.numel())


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
def test_router_picks_top_k_by_biased_affinity_and_gates_without_the_bias(gate):
    torch.manual_seed(0)
    router = Router(d_model=16, n_experts=6, top_k=3, gate=gate)
    router.selection_bias[4] = 100.0  # forces expert 4 into every selection
    x = torch.randn(10, 16)
    routing = router(x)
    expected_ids = torch.topk(routing.affinity + router.selection_bias, 3).indices
    assert torch.equal(routing.topk_ids, expected_ids)
    assert (routing.topk_ids == 4).any(dim=1).all()
    chosen = routing.affinity.gather(1, routing.topk_ids)
    expected = torch.softmax(chosen, -1) if gate == "softmax" else torch.sigmoid(chosen) / torch.sigmoid(chosen).sum(-1, keepdim=True)
    torch.testing.assert_close(routing.topk_weights, expected)
    torch.testing.assert_close(routing.topk_weights.sum(-1), torch.ones(10))
    torch.testing.assert_close(routing.load, torch.bincount(routing.topk_ids.flatten(), minlength=6) / 30.0)


def test_moe_layer_is_the_gate_weighted_sum_of_chosen_experts_plus_shared():
    torch.manual_seed(0)
    config = tiny_config(share_expert_projection=True)
    layer = MoELayer(config)
    x = torch.randn(9, config.d_model)
    out, aux = layer(x)
    routing = layer.router(x)
    w_gate_up, w_down = layer.experts.w_gate_up, layer.experts.w_down[0]
    expected = layer.shared(x)
    for t in range(9):
        for e, w in zip(routing.topk_ids[t].tolist(), routing.topk_weights[t], strict=True):
            gate, up = (x[t] @ w_gate_up[e]).chunk(2)
            expected[t] = expected[t] + w * ((F.silu(gate) * up) @ w_down)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    assert float(aux) == 0.0  # balance="bias" adds no loss


def test_shared_down_projection_saves_parameters():
    shared, separate = tiny_config(share_expert_projection=True), tiny_config()
    saving = routed_expert_parameters(separate) - routed_expert_parameters(shared)
    assert saving == (separate.n_experts - 1) * separate.expert_hidden * separate.d_model
    count = lambda config: sum(p.numel() for p in MoELayer(config).experts.parameters())  # noqa: E731
    assert count(separate) - count(shared) == saving


def test_selection_bias_spreads_skewed_load():
    torch.manual_seed(0)
    router = Router(d_model=16, n_experts=8, top_k=2).train()
    tokens = skewed_tokens(256, 16, seed=1)
    before = overload(router(tokens).load)
    router.routed_counts.zero_()
    for step in range(200):
        router(skewed_tokens(256, 16, seed=100 + step))
        router.update_selection_bias(rate=0.02)
    after = overload(router.eval()(tokens).load)
    assert before > 3.5  # two experts take nearly all tokens
    assert after < 1.5


def test_switch_aux_loss_trains_the_router_towards_balance():
    torch.manual_seed(0)
    layer = MoELayer(tiny_config(balance="aux", n_experts=8, top_k=2, d_model=16, n_heads=4))
    tokens = skewed_tokens(256, 16, seed=1)
    _, aux = layer(tokens)
    before = overload(layer.last_load)
    assert aux > 2.0  # 1.0 at perfect balance
    optimizer = torch.optim.Adam(layer.router.parameters(), lr=0.003)
    for step in range(200):
        aux = switch_aux_loss(layer.router(skewed_tokens(256, 16, seed=100 + step)))
        optimizer.zero_grad()
        aux.backward()
        optimizer.step()
    _, aux = layer(tokens)
    assert before > 3.5
    assert overload(layer.last_load) < 1.5
    assert aux < 1.1


def test_bias_mode_model_updates_only_in_training():
    from engine.model import MoETransformer
    from tests.engine.helpers import tiny_batch

    model = MoETransformer(tiny_config("image"))
    model.eval()(tiny_batch("image"))
    model.update_router_biases()
    assert all(float(b.moe.router.selection_bias.abs().sum()) == 0 for b in model.blocks)
    model.train()(tiny_batch("image"))
    model.update_router_biases()
    assert all(float(b.moe.router.selection_bias.abs().sum()) > 0 for b in model.blocks)


def test_frozen_router_keeps_its_bias():
    router = Router(d_model=16, n_experts=8, top_k=2).train()
    router.requires_grad_(False)
    router(skewed_tokens(64, 16, seed=1))
    router.update_selection_bias(rate=0.1)
    assert float(router.selection_bias.abs().sum()) == 0.0
    assert float(router.routed_counts.sum()) == 0.0
