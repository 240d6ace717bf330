"""PEFT LoRA adapters: round trips with plain PEFT, mixed-adapter batches, refused uploads."""

from __future__ import annotations

import copy
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file

from engine.lora import (
    AdapterError,
    attach_adapter,
    default_lora_config,
    enable_multi_lora,
    load_adapter_weights,
    save_adapter,
    trainable_fraction,
)
from engine.model import MoETransformer
from engine.train import fit
from tests.engine.helpers import tiny_batch, tiny_config


def _base(seed: int = 0, **overrides) -> MoETransformer:
    torch.manual_seed(seed)
    return MoETransformer(tiny_config("text", **overrides)).eval()


def _random_adapter(base: MoETransformer, seed: int, **overrides) -> PeftModel:
    """A PEFT adapter with non-zero A and B, as if trained (PEFT starts B at zero)."""
    torch.manual_seed(seed)
    options = {"r": 8, "lora_dropout": 0.0, "init_lora_weights": False, **overrides}
    config = default_lora_config(**options)
    return attach_adapter(copy.deepcopy(base), config).eval()


def _save(base: MoETransformer, directory: Path, seed: int, **overrides) -> Path:
    return save_adapter(_random_adapter(base, seed, **overrides), directory)


def _plain_peft_outputs(base: MoETransformer, directory: Path, batch: dict) -> dict[str, torch.Tensor]:
    peft_model = PeftModel.from_pretrained(copy.deepcopy(base), str(directory)).eval()
    with torch.no_grad():
        return peft_model(batch).heads


def _serve_mixed_and_compare(base: MoETransformer, directories: list[Path], batch: dict, slots: torch.Tensor,
                             **multi_options) -> tuple:
    """Serve `batch` with adapter `directories` in slots 0, 1, ... and check that each row equals
    its own adapter's output in plain PEFT (slot -1: the base model's). Returns (served model,
    MultiLoraModel, base outputs, each adapter's outputs)."""
    served = copy.deepcopy(base)
    multi = enable_multi_lora(served, **multi_options)
    for slot, directory in enumerate(directories):
        multi.load_directory(slot, directory)
    with torch.no_grad():
        mixed = served(batch, adapter_ids=slots).heads
        base_alone = base(batch).heads
    alone = [_plain_peft_outputs(base, d, batch) for d in directories]
    for row, slot in enumerate(slots.tolist()):
        reference = base_alone if slot < 0 else alone[slot]
        for name in reference:
            torch.testing.assert_close(mixed[name][row], reference[name][row])
    return served, multi, base_alone, alone


def test_defaults_follow_the_engine_spec():
    config = default_lora_config()
    assert (config.r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.1)
    assert set(config.target_modules) == {"q_proj", "v_proj"}
    with pytest.raises(AdapterError, match="rank"):
        default_lora_config(r=65)
    with pytest.raises(AdapterError, match="target_modules"):
        default_lora_config(target_modules=["q_proj", "gate_proj"])
    with pytest.raises(AdapterError, match="lora_dropout"):
        default_lora_config(lora_dropout=0.9)


def test_trainable_fraction_counts_only_the_lora_weights():
    base = _base()
    peft_model = attach_adapter(base, default_lora_config())
    trainable, total = trainable_fraction(peft_model)
    d_model, rank, layers = 32, 16, 2
    # q_proj and v_proj in every block: A (r, D) + B (D, r).
    assert trainable == layers * 2 * (rank * d_model * 2)
    assert total == sum(p.numel() for p in base.parameters())
    assert 0 < trainable / total < 0.5


def test_adapter_saved_here_loads_in_plain_peft_with_equal_outputs(tmp_path):
    base = _base()
    trained = _random_adapter(base, seed=1, modules_to_save=["heads.label", "heads.per_token"])
    directory = save_adapter(trained, tmp_path / "adapter")
    assert sorted(p.name for p in directory.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    batch = tiny_batch("text")
    with torch.no_grad():
        expected = trained(batch).heads
        base_out = base(batch).heads
    loaded = _plain_peft_outputs(base, directory, batch)
    for name in expected:
        torch.testing.assert_close(loaded[name], expected[name])
    assert not torch.allclose(loaded["label"], base_out["label"])


def test_adapter_trained_with_the_engine_loop_serves_on_the_untouched_base(tmp_path):
    base = _base()
    untouched = copy.deepcopy(base.state_dict())
    peft_model = attach_adapter(copy.deepcopy(base), default_lora_config(modules_to_save=["heads.label"]))
    batches = []
    for seed in range(3):
        batch = tiny_batch("text", batch_size=6, generator=torch.Generator().manual_seed(seed))
        batch["label"] = torch.arange(6) % 3
        batches.append(batch)
    fit(peft_model, batches, batches[:1], epochs=2, lr=1e-2)
    peft_model.eval()
    directory = save_adapter(peft_model, tmp_path / "trained")

    for key, value in base.state_dict().items():
        assert torch.equal(value, untouched[key]), key
    batch = batches[0]
    with torch.no_grad():
        trained = peft_model(batch).heads
        served = copy.deepcopy(base)
        enable_multi_lora(served, max_adapters=1).load_directory(0, directory)
        here = served(batch, adapter_ids=torch.zeros(6, dtype=torch.long)).heads
    plain = _plain_peft_outputs(base, directory, batch)
    for name in ("label", "per_token"):
        torch.testing.assert_close(plain[name], trained[name])
        torch.testing.assert_close(here[name], trained[name])


def test_adapter_made_in_plain_peft_loads_here_with_equal_outputs(tmp_path):
    base = _base()
    torch.manual_seed(2)
    plain = get_peft_model(
        copy.deepcopy(base),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False),
    ).eval()
    plain.save_pretrained(tmp_path / "plain")
    # An upload carries PEFT's two files; the model card PEFT writes beside them is not part of it.
    upload = tmp_path / "upload"
    upload.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(tmp_path / "plain" / name, upload / name)
    config, tensors = load_adapter_weights(upload, base)
    assert config.r == 4 and len(tensors) == 2 * 4 * 2

    served = copy.deepcopy(base)
    multi = enable_multi_lora(served, max_adapters=2)
    multi.load(1, config, tensors)
    batch = tiny_batch("text")
    with torch.no_grad():
        expected = plain(batch).heads
        got = served(batch, adapter_ids=torch.tensor([1, 1, 1])).heads
    for name in expected:
        torch.testing.assert_close(got[name], expected[name])


def test_mixed_batch_equals_each_adapter_alone(tmp_path):
    base = _base()
    directories = [
        _save(base, tmp_path / "a", seed=11),
        _save(base, tmp_path / "b", seed=12, r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
        _save(base, tmp_path / "c", seed=13, modules_to_save=["heads.label", "heads.per_token"]),
    ]
    batch = tiny_batch("text", batch_size=7, generator=torch.Generator().manual_seed(5))
    slots = torch.tensor([0, -1, 2, 1, 0, 2, -1])

    # Slots start at rank 2 and grow to the largest adapter loaded (8).
    _serve_mixed_and_compare(base, directories, batch, slots, max_adapters=4, rank=2)


def test_cleared_slot_serves_the_base_model(tmp_path):
    base = _base()
    served = copy.deepcopy(base)
    multi = enable_multi_lora(served, max_adapters=1)
    multi.load_directory(0, _save(base, tmp_path / "a", seed=3, modules_to_save=["heads.label", "heads.per_token"]))
    multi.clear(0)
    batch = tiny_batch("text")
    with torch.no_grad():
        torch.testing.assert_close(
            served(batch, adapter_ids=torch.zeros(3, dtype=torch.long)).heads["label"], base(batch).heads["label"]
        )


def test_refuses_a_directory_with_an_extra_file(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    (directory / "README.md").write_text("model card")
    with pytest.raises(AdapterError, match=r"other than .*README\.md"):
        load_adapter_weights(directory)


def test_refuses_a_pickled_weights_file(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    tensors = load_file(directory / "adapter_model.safetensors")
    (directory / "adapter_model.safetensors").write_bytes(pickle.dumps({k: v.tolist() for k, v in tensors.items()}))
    with pytest.raises(AdapterError, match="pickle"):
        load_adapter_weights(directory)


def test_refuses_a_pickle_beside_the_adapter(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    (directory / "adapter_model.bin").write_bytes(pickle.dumps({}))
    with pytest.raises(AdapterError, match=r"adapter_model\.bin"):
        load_adapter_weights(directory)


def test_refuses_shapes_that_do_not_fit_the_base(tmp_path):
    directory = _save(_base(d_model=48, n_heads=4), tmp_path / "wide", seed=1)
    load_adapter_weights(directory)  # well formed on its own
    with pytest.raises(AdapterError, match="do not fit"):
        load_adapter_weights(directory, _base())


def test_refuses_tensors_of_another_rank_than_configured(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    config = json.loads((directory / "adapter_config.json").read_text())
    config["r"] = 4
    (directory / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="rank r=4"):
        load_adapter_weights(directory)


@pytest.mark.parametrize("rank", [0, 65, "16"])
def test_refuses_a_rank_out_of_bounds(tmp_path, rank):
    directory = _save(_base(), tmp_path / "a", seed=1)
    config = json.loads((directory / "adapter_config.json").read_text())
    config["r"] = rank
    (directory / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match=r"outside the allowed 1\.\.64"):
        load_adapter_weights(directory)


def test_refuses_an_unknown_target_module(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    config = json.loads((directory / "adapter_config.json").read_text())
    config["target_modules"] = ["q_proj", "gate_proj_that_does_not_exist"]
    (directory / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="does not exist in the base"):
        load_adapter_weights(directory, _base())


def test_refuses_a_tensor_for_a_module_the_base_lacks(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    path = directory / "adapter_model.safetensors"
    tensors = load_file(path)
    tensors["base_model.model.blocks.9.attn.q_proj.lora_A.weight"] = torch.zeros(8, 32)
    tensors["base_model.model.blocks.9.attn.q_proj.lora_B.weight"] = torch.zeros(32, 8)
    save_file(tensors, path)
    with pytest.raises(AdapterError, match=r"blocks\.9\.attn\.q_proj"):
        load_adapter_weights(directory, _base())


def test_refuses_dora(tmp_path):
    directory = _save(_base(), tmp_path / "a", seed=1)
    config = json.loads((directory / "adapter_config.json").read_text())
    config["use_dora"] = True
    (directory / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="use_dora"):
        load_adapter_weights(directory)


def test_refuses_lora_on_layers_the_server_does_not_adapt(tmp_path):
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "gate_proj"], init_lora_weights=False)
    directory = save_adapter(get_peft_model(_base(), config), tmp_path / "a")
    with pytest.raises(AdapterError, match=r"gate_proj.*only q_proj"):
        load_adapter_weights(directory)


def test_an_adapter_that_saves_the_wide_read_out_serves_it_per_row(tmp_path):
    base = _base(wide_buckets=64)
    with torch.no_grad():
        for wide in base.wide.values():
            wide.weight_bag.weight.normal_()
    directories = []
    for seed, saved in ((21, ["heads.tags", "wide.tags.weight_bag"]), (22, ["heads.label"])):
        adapter = _random_adapter(base, seed, modules_to_save=saved)
        with torch.no_grad():  # a tenant's own n-gram weights, as if trained
            for name, param in adapter.named_parameters():
                if "modules_to_save.default" in name and "wide" in name:
                    param.normal_()
        directories.append(save_adapter(adapter, tmp_path / str(seed)))
    batch = tiny_batch("text", batch_size=5, generator=torch.Generator().manual_seed(6))
    slots = torch.tensor([0, 1, -1, 0, 1])
    served, multi, base_alone, alone = _serve_mixed_and_compare(base, directories, batch, slots, max_adapters=2)
    assert not torch.allclose(alone[0]["tags"], base_alone["tags"])  # the saved bag counts
    multi.clear(0)
    with torch.no_grad():
        torch.testing.assert_close(served(batch, adapter_ids=slots).heads["tags"][0], base_alone["tags"][0])
