"""Deep ensembles: heads combine as mixtures, checkpoints round-trip, adapters serve per row;
flipped views of an image combine the same way."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import HeadSpec
from engine.ensemble import IMAGE_FLIPS, EnsembleTransformer, combine_head, flip_averaged_heads
from engine.lora import attach_adapter, default_lora_config, enable_multi_lora, save_adapter
from engine.model import MoETransformer
from engine.quant import Int8Linear
from engine.serving import ModelServer
from engine.train import fit
from tests.engine.helpers import tiny_batch, tiny_config


def _members(count: int, encoder: str = "graph") -> list[MoETransformer]:
    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        members.append(MoETransformer(tiny_config(encoder)).eval())
    return members


def test_a_regression_head_is_the_mixture_of_the_members_gaussians():
    # Two members, one row: N(1, 1) and N(3, 4) -> mean 2, variance (1 + 1 + 4 + 9) / 2 - 4 = 3.5
    stacked = torch.tensor([[[[1.0, 0.0]]], [[[3.0, torch.log(torch.tensor(4.0))]]]])  # (K, B, n, 2)
    combined = combine_head("regression", stacked)
    assert combined.shape == (1, 1, 2)
    assert combined[0, 0, 0].item() == pytest.approx(2.0)
    assert combined[0, 0, 1].exp().item() == pytest.approx(3.5)


def test_classifier_heads_average_probabilities():
    logits = torch.tensor([[[2.0, -1.0]], [[0.0, 1.0]]])  # (K, B, n)
    multilabel = combine_head("multilabel", logits)
    torch.testing.assert_close(torch.sigmoid(multilabel), torch.sigmoid(logits).mean(0))
    multiclass = combine_head("multiclass", logits)
    torch.testing.assert_close(multiclass.exp(), torch.softmax(logits, -1).mean(0))


def test_an_ensemble_of_identical_members_predicts_as_one_member():
    member = _members(1)[0]
    ensemble = EnsembleTransformer.from_members([member, copy.deepcopy(member)]).eval()
    batch = tiny_batch("graph")
    alone, together = member(batch).heads, ensemble(batch).heads
    for spec in member.config.heads:
        expected, actual = alone[spec.name], together[spec.name]
        if spec.kind in ("multiclass", "token"):  # the ensemble returns log-probabilities
            expected, actual = expected.softmax(-1), actual.exp()
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_members_that_disagree_widen_the_regression_uncertainty():
    members = _members(3)
    ensemble = EnsembleTransformer.from_members(members).eval()
    batch = tiny_batch("graph")
    log_vars = torch.stack([m(batch).heads["value"][..., 1] for m in members])  # (K, B, 1)
    combined = ensemble(batch).heads["value"][..., 1]
    assert (combined.exp() >= log_vars.exp().mean(0) - 1e-6).all()


def test_members_of_different_configurations_are_refused():
    one = MoETransformer(tiny_config("graph"))
    other = MoETransformer(tiny_config("graph", d_model=16))
    with pytest.raises(ValueError, match="one configuration"):
        EnsembleTransformer.from_members([one, other])


def test_checkpoint_round_trip_rebuilds_the_ensemble(tmp_path):
    ensemble = EnsembleTransformer.from_members(_members(3)).eval()
    save_checkpoint(ensemble, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["ensemble_members"] == 3
    loaded = load_checkpoint(tmp_path)
    assert isinstance(loaded, EnsembleTransformer) and len(loaded.members) == 3
    batch = tiny_batch("graph")
    for name, expected in ensemble(batch).heads.items():
        assert torch.equal(loaded(batch).heads[name], expected)


def test_an_adapter_on_an_ensemble_trains_and_serves_per_row(tmp_path):
    base = EnsembleTransformer.from_members(_members(2, "text")).eval()
    config = default_lora_config(r=4, lora_dropout=0.0, modules_to_save=["heads.value"])
    peft_model = attach_adapter(copy.deepcopy(base), config)
    adapted = [name for name, _ in peft_model.named_modules() if name.endswith("q_proj.lora_A.default")]
    assert len(adapted) == 2 * base.config.n_layers  # every member's layers

    batch = tiny_batch("text", batch_size=4)
    batch["value"] = torch.tensor([[2.0], [-1.0], [0.5], [1.5]])
    result = fit(peft_model, [batch] * 4, [batch], epochs=3, lr=3e-2, seed=0)
    assert result.history[-1]["valid_loss"] < result.history[0]["valid_loss"]

    directory = save_adapter(peft_model, tmp_path / "adapter")
    served = copy.deepcopy(base)
    multi = enable_multi_lora(served, max_adapters=2, rank=4)
    multi.load_directory(0, directory)
    inputs = {k: v for k, v in batch.items() if k != "value"}
    slots = torch.tensor([0, -1, 0, -1])
    peft_model.eval()
    with torch.no_grad():
        mixed = served(inputs, adapter_ids=slots).heads["value"]
        with_adapter = peft_model(inputs).heads["value"]
        without = base(inputs).heads["value"]
    for row, slot in enumerate(slots.tolist()):
        torch.testing.assert_close(mixed[row], (with_adapter if slot == 0 else without)[row])


def test_an_int8_server_of_an_ensemble_stays_close_to_the_float_one():
    ensemble = EnsembleTransformer.from_members(_members(2, "text")).eval()
    batch = tiny_batch("text", batch_size=4)
    with torch.no_grad():
        expected = ensemble(batch).heads["value"]
    with ModelServer(model=copy.deepcopy(ensemble), int8=True, max_batch_size=8, max_wait_ms=0) as server:
        served = server.predict(batch)["value"]
    assert isinstance(server.model.members[1].blocks[0].attn.q_proj.base, Int8Linear)  # under the LoRA slots
    torch.testing.assert_close(served[..., 0], expected[..., 0], atol=0.05, rtol=0.05)


def _image_config(**overrides):
    settings = dict(image_size=16, patch_size=8, stem_channels=[4], dense_stride=4, heads=[
        HeadSpec("label", "multiclass", 3), HeadSpec("defect", "multilabel", 1),
        HeadSpec("cells", "token", 2), HeadSpec("map", "dense", 2),
    ])
    settings.update(overrides)
    return tiny_config("image", **settings)


def test_flip_averaged_heads_average_the_views_with_every_cell_in_its_place():
    torch.manual_seed(0)
    config = _image_config()
    model = MoETransformer(config).eval()
    pixels = torch.rand(2, 3, 16, 16)
    calls = []

    def forward(batch):
        calls.append(batch["pixels"].shape[0])
        return model(batch).heads

    with torch.no_grad():
        averaged = flip_averaged_heads(forward, {"pixels": pixels}, config, views=4)
        views = [model({"pixels": pixels.flip(dims) if dims else pixels}).heads for dims in IMAGE_FLIPS]
    assert calls == [8]  # one forward for the four views of two images
    label = torch.softmax(torch.stack([v["label"] for v in views]), -1).mean(0)
    torch.testing.assert_close(torch.softmax(averaged["label"], -1), label)
    # The dense map of the left-right view, flipped back, is the one that enters the average.
    mirrored = views[1]["map"].reshape(2, 4, 4, 2).flip(2).reshape(2, 16, 2)
    expected = torch.softmax(torch.stack([views[0]["map"], mirrored]), -1).mean(0)
    two = flip_averaged_heads(lambda b: model(b).heads, {"pixels": pixels}, config, views=2)
    torch.testing.assert_close(torch.softmax(two["map"], -1), expected)
    assert averaged["cells"].shape == (2, 4, 2) and averaged["map"].shape == (2, 16, 2)


def test_a_model_that_mirrors_its_input_gives_a_flip_averaged_map_that_matches_it():
    # A "model" whose map is the image itself: each flipped view, flipped back, is the same map,
    # so the average is the image's own map, not a blur of its mirror images.
    config = _image_config(heads=[HeadSpec("map", "dense", 2)], dense_stride=4)

    def forward(batch):
        cells = torch.nn.functional.avg_pool2d(batch["pixels"][:, :1], 4).flatten(1)  # (B, 16)
        return {"map": torch.stack([torch.zeros_like(cells), cells * 10], -1)}

    pixels = torch.zeros(1, 3, 16, 16)
    pixels[0, :, 0:4, 12:16] = 1.0  # top-right cell
    averaged = torch.softmax(flip_averaged_heads(forward, {"pixels": pixels}, config)["map"], -1)[0, :, 1]
    assert int(averaged.argmax()) == 3


def test_flip_averaged_heads_need_an_image_model_and_a_known_number_of_views():
    with pytest.raises(ValueError, match="image encoder"):
        flip_averaged_heads(lambda b: {}, {"input_ids": torch.ones(1, 2)}, tiny_config("text"))
    with pytest.raises(ValueError, match="views"):
        flip_averaged_heads(lambda b: {}, {"pixels": torch.rand(1, 3, 16, 16)}, _image_config(), views=5)
