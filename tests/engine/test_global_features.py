"""Optional per-example global features (ModelConfig.n_global_features) added to the CLS token."""

from __future__ import annotations

import json

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import ModelConfig
from engine.model import MoETransformer
from engine.serving import collate, split_rows
from tests.engine.helpers import tiny_batch, tiny_config, token_count

ENCODERS = ["text", "tabular", "image", "graph"]


def _with_features(encoder: str, features: torch.Tensor) -> dict[str, torch.Tensor]:
    return {**tiny_batch(encoder), "global_features": features}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_global_features_keep_every_output_shape(encoder):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config(encoder, n_global_features=5))
    output = model(_with_features(encoder, torch.randn(3, 5)))
    assert output.heads["value"].shape == (3, 1, 2)
    assert output.tokens.shape == (3, token_count(encoder), 32)
    assert output.pooled.shape == (3, 32)


def test_global_features_change_the_prediction_and_get_gradients():
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("graph", n_global_features=5)).eval()
    a = model(_with_features("graph", torch.zeros(3, 5)))
    b = model(_with_features("graph", torch.randn(3, 5)))
    assert not torch.allclose(a.heads["value"], b.heads["value"])
    b.heads["value"].sum().backward()
    assert model.global_projection.weight.grad.abs().sum() > 0


def test_missing_values_read_as_zero_and_never_give_nan():
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("graph", n_global_features=3)).eval()
    gaps = torch.tensor([[float("nan"), 1.0, float("inf")]] * 3)
    filled = torch.tensor([[0.0, 1.0, 0.0]] * 3)
    with_gaps = model(_with_features("graph", gaps)).heads["value"]
    torch.testing.assert_close(with_gaps, model(_with_features("graph", filled)).heads["value"])
    assert torch.isfinite(with_gaps).all()


def test_a_model_with_global_features_refuses_a_batch_without_them():
    model = MoETransformer(tiny_config("graph", n_global_features=4))
    with pytest.raises(ValueError, match=r"global_features of shape \(3, 4\), got none"):
        model(tiny_batch("graph"))
    with pytest.raises(ValueError, match=r"got \(3, 2\)"):
        model(_with_features("graph", torch.zeros(3, 2)))


def test_a_config_without_the_field_loads_an_old_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("graph")).eval()
    save_checkpoint(model, tmp_path)
    # A checkpoint written before the field existed has no such key in its config.json.
    config = json.loads((tmp_path / "config.json").read_text())
    del config["n_global_features"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = load_checkpoint(tmp_path)
    assert loaded.config.n_global_features == 0 and loaded.global_projection is None
    batch = tiny_batch("graph")
    torch.testing.assert_close(loaded(batch).heads["value"], model(batch).heads["value"])


def test_a_checkpoint_with_global_features_round_trips(tmp_path):
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("graph", n_global_features=4)).eval()
    save_checkpoint(model, tmp_path)
    loaded = load_checkpoint(tmp_path)
    batch = _with_features("graph", torch.randn(3, 4))
    torch.testing.assert_close(loaded(batch).heads["value"], model(batch).heads["value"])


def test_serving_rows_carry_global_features_through_collate():
    batch = _with_features("graph", torch.randn(3, 4))
    assert collate(split_rows(batch))["global_features"].shape == (3, 4)


def test_negative_width_is_refused():
    with pytest.raises(ValueError, match="n_global_features"):
        ModelConfig(n_global_features=-1)
