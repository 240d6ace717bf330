"""Checkpoints: a round trip through safetensors + JSON gives identical outputs."""

from __future__ import annotations

import json

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.model import MoETransformer
from tests.engine.helpers import tiny_batch, tiny_config


@pytest.mark.parametrize("encoder", ["text", "graph"])
def test_round_trip_gives_identical_outputs(tmp_path, encoder):
    torch.manual_seed(0)
    wide_buckets = 64 if encoder == "text" else 0  # the wide n-gram read-out travels too
    model = MoETransformer(tiny_config(encoder, share_expert_projection=True, wide_buckets=wide_buckets)).eval()
    model.blocks[0].moe.router.selection_bias.copy_(torch.linspace(-0.5, 0.5, 4))  # state beyond parameters
    for wide in model.wide.values():
        torch.nn.init.normal_(wide.weight_bag.weight)
    save_checkpoint(model, tmp_path, extra_files={"tokenizer.json": "{}", "MODEL_CARD.md": "card"})
    loaded = load_checkpoint(tmp_path)
    batch = tiny_batch(encoder)
    expected, actual = model(batch), loaded(batch)
    for name in expected.heads:
        assert torch.equal(expected.heads[name], actual.heads[name])
    assert torch.equal(loaded.blocks[0].moe.router.selection_bias, model.blocks[0].moe.router.selection_bias)
    assert not loaded.training
    assert json.loads((tmp_path / "config.json").read_text())["encoder"] == encoder
    assert (tmp_path / "tokenizer.json").read_text() == "{}"


def test_checkpoint_folder_holds_only_json_and_safetensors(tmp_path):
    save_checkpoint(MoETransformer(tiny_config("tabular")), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_extra_file_names_cannot_escape_the_folder(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        save_checkpoint(MoETransformer(tiny_config("tabular")), tmp_path / "ckpt", extra_files={"../x": "no"})


def test_loading_a_folder_without_weights_says_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text(tiny_config("tabular").to_json())
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        load_checkpoint(tmp_path)
