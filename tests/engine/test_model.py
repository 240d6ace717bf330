"""MoETransformer: output shapes per encoder and head, gradients, padding, config round trip."""

from __future__ import annotations

import pytest
import torch

from engine.config import HeadSpec, ModelConfig
from engine.model import MoETransformer
from tests.engine.helpers import tiny_batch, tiny_config, token_count

ENCODERS = ["text", "tabular", "image", "graph"]


def _targets(batch_size: int, tokens: int) -> dict[str, torch.Tensor]:
    return {
        "label": torch.arange(batch_size) % 3,
        "tags": torch.tensor([[1.0, float("nan")]] * batch_size),
        "value": torch.randn(batch_size, 1),
        "per_token": torch.zeros(batch_size, tokens, dtype=torch.long),
    }


@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_head_has_its_shape(encoder):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config(encoder))
    output = model(tiny_batch(encoder))
    T = token_count(encoder)
    assert output.heads["label"].shape == (3, 3)
    assert output.heads["tags"].shape == (3, 2)
    assert output.heads["value"].shape == (3, 1, 2)
    assert output.heads["per_token"].shape == (3, T, 2)
    assert output.tokens.shape == (3, T, 32)
    assert output.pooled.shape == (3, 32)
    assert len(output.expert_load) == 2
    for load in output.expert_load:
        assert load.shape == (4,)
        torch.testing.assert_close(load.sum(), torch.tensor(1.0))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_loss_reaches_every_trainable_parameter(encoder):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config(encoder))
    output = model(tiny_batch(encoder))
    loss = model.loss(output, _targets(3, token_count(encoder)))
    loss.backward()
    assert torch.isfinite(loss)
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_padding_does_not_change_real_tokens():
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("text")).eval()
    ids = torch.randint(1, 50, (1, 5))
    short = model({"input_ids": ids, "attention_mask": torch.ones(1, 5, dtype=torch.bool)})
    padded_ids = torch.cat([ids, torch.randint(1, 50, (1, 3))], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    padded = model({"input_ids": padded_ids, "attention_mask": mask})
    torch.testing.assert_close(padded.pooled, short.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded.tokens[:, :5], short.tokens, atol=1e-5, rtol=1e-5)


def test_config_survives_json_round_trip():
    config = tiny_config("graph", heads=[HeadSpec("active", "multilabel", 12, weight=0.5)])
    again = ModelConfig.from_json(config.to_json())
    assert again == config
    assert isinstance(again.heads[0], HeadSpec)


def test_config_rejects_impossible_settings():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="top_k"):
        ModelConfig(n_experts=2, top_k=3)
    with pytest.raises(ValueError, match="kind"):
        HeadSpec("x", "ranking", 2)
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"d_model": 32, "colour": "blue"})


def test_adapter_ids_are_visible_during_forward_only():
    from engine.layers import current_adapter_ids

    seen = []
    model = MoETransformer(tiny_config("tabular"))
    model.blocks[0].attn.q_proj.register_forward_hook(lambda *_: seen.append(current_adapter_ids()))
    ids = torch.tensor([0, -1, 2])
    model(tiny_batch("tabular"), adapter_ids=ids)
    assert seen[0] is ids
    assert current_adapter_ids() is None


def test_aux_balance_mode_adds_the_weighted_switch_loss():
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("image", balance="aux", aux_loss_coef=0.5))
    output = model(tiny_batch("image"))
    assert float(output.aux_loss.detach()) > 0.5 * 2 * 0.9  # two layers, each about 1 or more
    head_only = sum(model.head_losses(output, {"label": torch.tensor([0, 1, 2])}).values())
    torch.testing.assert_close(model.loss(output, {"label": torch.tensor([0, 1, 2])}), head_only + output.aux_loss)
    biased = MoETransformer(tiny_config("image"))
    assert float(biased(tiny_batch("image")).aux_loss) == 0.0
