"""engine.train.fit: learns a toy task, stops early, resumes exactly, reports progress;
engine.train.fit_wide: fits the wide read-out alone."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from engine.config import HeadSpec
from engine.model import MoETransformer
from engine.train import LengthBucketedBatches, fit, fit_wide, lr_at
from tests.engine.helpers import tiny_config


class SignDataset(Dataset):
    """Class = which of the two numeric features is larger; the categoricals are noise."""

    def __init__(self, size: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.numeric = torch.randn(size, 2, generator=g)
        self.categorical = torch.randint(0, 4, (size, 2), generator=g).clamp(max=torch.tensor([3, 4]))
        self.label = (self.numeric[:, 0] > self.numeric[:, 1]).long()

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"numeric": self.numeric[i], "categorical": self.categorical[i], "label": self.label[i]}


def accuracy(predictions, targets) -> float:
    return float((predictions["label"].argmax(-1) == targets["label"]).float().mean())


def toy_model() -> MoETransformer:
    torch.manual_seed(0)
    return MoETransformer(tiny_config("tabular", n_layers=1, heads=[HeadSpec("label", "multiclass", 2)]))


def loaders(train_size: int = 256) -> tuple[DataLoader, DataLoader]:
    return (
        DataLoader(SignDataset(train_size, seed=1), batch_size=32, shuffle=True),
        DataLoader(SignDataset(128, seed=2), batch_size=64),
    )


def test_fit_learns_a_toy_task():
    model = toy_model()
    train, valid = loaders()
    result = fit(model, train, valid, metric_fn=accuracy, maximize=True, epochs=6, lr=3e-3, warmup_steps=5)
    assert result.history[0]["train_loss"] > result.history[-1]["train_loss"]
    assert result.best_metric >= 0.9
    assert len(result.history) == 6
    assert result.history[-1]["expert_overload"] >= 1.0
    assert len(result.history[-1]["expert_load"]) == 1  # one layer
    assert float(model.blocks[0].moe.router.selection_bias.abs().sum()) > 0  # fit nudged the router


def test_best_epoch_weights_are_restored_and_early_stopping_stops():
    model = toy_model()
    train, valid = loaders(64)
    scores = iter([0.5, 0.9, 0.6, 0.7, 0.8, 0.95])
    result = fit(model, train, valid, metric_fn=lambda p, t: next(scores), epochs=6, patience=2)
    assert result.stopped_early
    assert [h["metric"] for h in result.history] == [0.5, 0.9, 0.6, 0.7]
    assert result.best_epoch == 1
    for name, value in model.state_dict().items():
        assert torch.equal(value, result.best_state[name])


class Killed(Exception):
    pass


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    train, valid = loaders(96)
    straight = toy_model()
    expected = fit(straight, train, valid, metric_fn=accuracy, epochs=3, lr=3e-3)

    def kill_after_first_epoch(event):
        if event["event"] == "epoch":
            raise Killed

    with pytest.raises(Killed):
        fit(toy_model(), train, valid, metric_fn=accuracy, epochs=3, lr=3e-3,
            checkpoint_dir=tmp_path, progress=kill_after_first_epoch)
    assert (tmp_path / "last" / "optimizer.safetensors").is_file()
    result = fit(toy_model(), train, valid, metric_fn=accuracy, epochs=3, lr=3e-3, checkpoint_dir=tmp_path)
    assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in expected.history]
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(result.best_state[name], value, rtol=0, atol=0)


def test_progress_reports_steps_and_epochs():
    events = []
    train, valid = loaders(64)
    fit(toy_model(), train, valid, epochs=2, progress=events.append, progress_every=1)
    assert [e["event"] for e in events].count("epoch") == 2
    assert [e["event"] for e in events].count("step") == 4
    assert events[-1]["percent"] == pytest.approx(100.0)
    assert "valid_loss" in events[-1]


def test_progress_exception_stops_training():
    class Cancelled(Exception):
        pass

    def cancel(event):
        raise Cancelled

    train, valid = loaders(64)
    with pytest.raises(Cancelled):
        fit(toy_model(), train, valid, epochs=2, progress=cancel, progress_every=1)


def test_bf16_autocast_trains():
    train, valid = loaders(128)
    result = fit(toy_model(), train, valid, metric_fn=accuracy, epochs=3, lr=3e-3, amp=True)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_learning_rate_warms_up_then_decays():
    assert lr_at(0, 1.0, warmup_steps=10, total_steps=100) == pytest.approx(0.1)
    assert lr_at(9, 1.0, warmup_steps=10, total_steps=100) == pytest.approx(1.0)
    assert lr_at(100, 1.0, warmup_steps=10, total_steps=100) == pytest.approx(0.1)
    assert lr_at(55, 1.0, 10, 100) < lr_at(30, 1.0, 10, 100)


def test_collected_token_predictions_keep_only_real_tokens():
    from engine.train import collect_predictions
    from tests.engine.helpers import tiny_batch

    torch.manual_seed(0)
    model = MoETransformer(tiny_config("text", heads=[HeadSpec("clause", "token", 2), HeadSpec("kind", "multiclass", 3)]))
    batch = tiny_batch("text")  # row 0 has 4 real tokens of 7
    batch["clause"] = torch.ones(3, 7, dtype=torch.long)
    predictions = collect_predictions(model, [batch, batch])
    real = 2 * int(batch["attention_mask"].sum())
    assert predictions.heads["clause"].shape == (real, 2)
    assert predictions.targets["clause"].shape == (real,)
    assert predictions.heads["kind"].shape == (6, 3)
    assert "kind" not in predictions.targets
    assert model.training  # restored after evaluation


def test_length_bucketed_batches_cover_every_row_once_and_trim_padding():
    lengths = torch.tensor([1, 7, 3, 8, 2, 5, 6, 4, 8, 1])
    input_ids = torch.zeros(10, 8, dtype=torch.long)
    for row, n in enumerate(lengths.tolist()):
        input_ids[row, :n] = row + 1
    rows = {"input_ids": input_ids, "attention_mask": input_ids != 0, "label": torch.arange(10)}
    batches = LengthBucketedBatches(rows, lengths, batch_size=3, pool_batches=2, seed=0)
    assert len(batches) == 4
    epochs = [list(batches), list(batches)]
    for epoch in epochs:
        assert sorted(torch.cat([b["label"] for b in epoch]).tolist()) == list(range(10))
        for batch in epoch:
            # Cut to the batch's longest row, and each row keeps its own tokens.
            assert batch["input_ids"].shape[1] == int(lengths[batch["label"]].max())
            assert torch.equal(batch["attention_mask"].sum(1), lengths[batch["label"]])
            assert torch.equal(batch["input_ids"][:, 0], batch["label"] + 1)
    assert [b["label"].tolist() for b in epochs[0]] != [b["label"].tolist() for b in epochs[1]]


def _keyword_rows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of random tokens and lengths; the label is the presence of token 9."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 50, (n, 12), generator=g)
    ids[ids == 9] = 10
    ids[::3, 5] = 9
    mask = torch.arange(12)[None] < torch.randint(6, 13, (n, 1), generator=g)
    ids = ids.masked_fill(~mask, 0)
    return ids, mask, (ids == 9).any(dim=1, keepdim=True).float()


def test_fit_wide_fits_the_read_out_and_bias_alone():
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("text", wide_buckets=211, heads=[HeadSpec("tags", "multilabel", 1), HeadSpec("label", "multiclass", 3)]))
    deep_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("wide.", "heads.tags.proj.bias"))}
    ids, mask, target = _keyword_rows(300, seed=1)
    objective = fit_wide(model, ids, mask, {"tags": target}, c=4.0)["tags"]
    assert objective < 0.3  # from log 2 = 0.69 at zero weights
    for key, value in model.state_dict().items():
        if key in deep_before:  # the deep half, the other head and its read-out are untouched
            assert torch.equal(value, deep_before[key]), key
    assert torch.count_nonzero(model.wide["label"].weight_bag.weight) == 0
    test_ids, test_mask, test_target = _keyword_rows(90, seed=2)
    with torch.no_grad():
        scores = model.wide["tags"](test_ids, test_mask) + model.heads["tags"].proj.bias  # (90, 1)
    positive = test_target[:, 0] > 0
    assert scores[positive].min() > scores[~positive].max()


def test_fit_wide_regularises_with_c():
    ids, mask, target = _keyword_rows(300, seed=1)
    norms = []
    for c in (0.05, 4.0):
        model = MoETransformer(tiny_config("text", wide_buckets=211, wide_gain=3.0, heads=[HeadSpec("tags", "multilabel", 1)]))
        fit_wide(model, ids, mask, {"tags": target}, c=c)
        norms.append(float((model.wide["tags"].gain * model.wide["tags"].weight_bag.weight).detach().norm()))
    assert norms[0] < 0.5 * norms[1]


def test_fit_wide_needs_a_target_for_a_read_out():
    model = MoETransformer(tiny_config("text", wide_buckets=211, heads=[HeadSpec("tags", "multilabel", 1), HeadSpec("value", "regression", 1)]))
    ids, mask, _ = _keyword_rows(10, seed=1)
    with pytest.raises(ValueError, match="no target for any wide read-out"):
        fit_wide(model, ids, mask, {"value": torch.zeros(10, 1)})


def test_fit_wide_on_an_adapter_fits_its_copy_and_pulls_it_towards_the_base_fit():
    from engine.lora import attach_adapter, default_lora_config, trained_copy

    ids, mask, target = _keyword_rows(300, seed=1)
    base = MoETransformer(tiny_config("text", wide_buckets=211, heads=[HeadSpec("tags", "multilabel", 1)]))
    fit_wide(base, ids, mask, {"tags": 1.0 - target})  # a base fit of the opposite label
    base_fit = base.wide["tags"].weight_bag.weight.detach().clone()
    moved = {}
    for c in (1e-4, 4.0):
        tenant = MoETransformer(base.config)
        tenant.load_state_dict(base.state_dict())
        peft_model = attach_adapter(tenant, default_lora_config(modules_to_save=["heads.tags", "wide.tags.weight_bag"]))
        fit_wide(peft_model, ids, mask, {"tags": target}, c=c)
        wrapper = peft_model.wide["tags"].weight_bag
        assert torch.equal(wrapper.original_module.weight, base_fit)  # the base model's own stays
        moved[c] = float((trained_copy(wrapper).weight - base_fit).detach().norm())
    assert 0 < moved[1e-4] < 0.1 * moved[4.0]  # a strong pull keeps the copy near the base fit
