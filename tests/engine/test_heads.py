"""Head losses: missing labels are ignored, regression gives a positive variance; the wide
n-gram read-out joins the classification heads; a dense head maps an image at its stride."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.config import HeadSpec
from engine.encoders import hashed_ngrams
from engine.heads import Head, NgramLogits, gaussian_nll, regression_mean_std
from engine.model import MoETransformer
from tests.engine.helpers import tiny_batch, tiny_config

NAN = float("nan")


def test_multilabel_loss_ignores_missing_labels():
    head = Head(HeadSpec("tox", "multilabel", 3), d_model=8)
    logits = torch.randn(2, 3, requires_grad=True)
    target = torch.tensor([[1.0, NAN, 0.0], [NAN, NAN, 1.0]])
    loss = head.loss(logits, target)
    present = ~torch.isnan(target)
    expected = F.binary_cross_entropy_with_logits(logits[present], target[present])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert (logits.grad[~present] == 0).all()
    assert (logits.grad[present] != 0).all()


def test_all_missing_targets_give_zero_loss_in_the_graph():
    head = Head(HeadSpec("tox", "multilabel", 2), d_model=8)
    logits = torch.randn(2, 2, requires_grad=True)
    loss = head.loss(logits, torch.full((2, 2), NAN))
    assert float(loss.detach()) == 0.0
    loss.backward()


def test_multiclass_loss_skips_unlabelled_rows():
    head = Head(HeadSpec("grade", "multiclass", 4), d_model=8)
    logits = torch.randn(3, 4)
    loss = head.loss(logits, torch.tensor([2, -100, 0]))
    torch.testing.assert_close(loss, F.cross_entropy(logits[[0, 2]], torch.tensor([2, 0])))


def test_regression_head_outputs_mean_and_positive_std():
    torch.manual_seed(0)
    head = Head(HeadSpec("default_rate", "regression", 2), d_model=8)
    pooled = torch.randn(5, 8) * 100  # extreme inputs: the log-variance is clamped
    out = head(pooled, tokens=torch.zeros(5, 1, 8))
    mean, std = regression_mean_std(out)
    assert out.shape == (5, 2, 2) and mean.shape == (5, 2)
    assert (std > 0).all() and torch.isfinite(std).all()


def test_gaussian_nll_prefers_the_variance_that_matches_the_error():
    mean, target = torch.zeros(1), torch.full((1,), 2.0)  # squared error 4
    losses = [float(gaussian_nll(mean, torch.log(torch.tensor([v])), target)) for v in (1.0, 4.0, 16.0)]
    assert losses[1] < losses[0] and losses[1] < losses[2]


def test_regression_loss_ignores_missing_targets():
    head = Head(HeadSpec("y", "regression", 2), d_model=4)
    out = torch.tensor([[[1.0, 0.0], [5.0, 0.0]]])
    loss = head.loss(out, torch.tensor([[1.0, NAN]]))
    assert float(loss) == 0.0  # exact mean, unit variance, the missing target's error not counted


def test_token_loss_ignores_padding_and_ignore_index():
    head = Head(HeadSpec("clause", "token", 3), d_model=8)
    logits = torch.randn(2, 4, 3)
    target = torch.tensor([[0, 1, 2, 1], [2, -100, 0, 0]])
    valid = torch.tensor([[True, True, True, False], [True, True, True, True]])
    loss = head.loss(logits, target, valid)
    keep = valid & (target != -100)
    torch.testing.assert_close(loss, F.cross_entropy(logits[keep], target[keep]))


def test_ngram_logits_read_a_length_normalised_bag_and_ignore_padding():
    wide = NgramLogits(buckets=101, n_outputs=2)
    with torch.no_grad():
        wide.weight_bag.weight.copy_(torch.randn(101, 2, generator=torch.Generator().manual_seed(0)))
    ids = torch.tensor([[5, 6, 7, 0, 0]])
    mask = ids != 0
    out = wide(ids, mask)  # (1, 2)
    torch.testing.assert_close(out, wide(ids[:, :3], mask[:, :3]))
    ngram_ids, _ = hashed_ngrams(ids[:, :3], mask[:, :3], 101)  # 3 unigrams + 2 bigrams, each 1/sqrt(5)
    torch.testing.assert_close(out[0], wide.weight_bag.weight[ngram_ids[0]].sum(dim=0) / 5**0.5)
    assert not torch.allclose(out, wide(torch.tensor([[7, 6, 5]]), torch.ones(1, 3, dtype=torch.bool)))


def test_a_model_with_a_wide_path_adds_it_to_classification_heads_only():
    model = MoETransformer(tiny_config("text", wide_buckets=64)).eval()
    assert set(model.wide) == {"label", "tags"}  # not the regression or the per-token head
    batch = tiny_batch("text")
    before = model(batch).heads
    with torch.no_grad():
        model.wide["tags"].weight_bag.weight.fill_(1.0)
    after = model(batch).heads
    torch.testing.assert_close(after["label"], before["label"])
    torch.testing.assert_close(after["value"], before["value"])
    # Each distinct n-gram bucket weighs 1/sqrt(k) for a row with k of them: the sum is sqrt(k).
    ngram_ids, weights = hashed_ngrams(batch["input_ids"], batch["attention_mask"].bool(), 64)
    distinct = torch.tensor([float(len(set(row[w > 0].tolist()))) for row, w in zip(ngram_ids, weights, strict=True)])
    torch.testing.assert_close(after["tags"] - before["tags"], distinct.sqrt()[:, None].expand(-1, 2))


def test_a_wide_path_needs_the_text_encoder():
    with pytest.raises(ValueError, match="wide_buckets needs the text encoder"):
        tiny_config("image", wide_buckets=64)


def test_the_wide_path_learns_a_keyword_the_model_has_not_seen_before():
    """A label that is the presence of one token: the wide read-out alone (the deep half frozen)
    learns it in a few steps, as a bag-of-words model would."""
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("text", wide_buckets=211, heads=[HeadSpec("tags", "multilabel", 1)]))
    ids = torch.randint(2, 50, (64, 8), generator=torch.Generator().manual_seed(1))
    ids[ids == 9] = 10
    ids[::2, 3] = 9  # the keyword, in every other row
    target = (ids == 9).any(dim=1, keepdim=True).float()
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool)}
    optimiser = torch.optim.Adam(model.wide.parameters(), lr=0.1)
    for _ in range(30):
        loss = model.loss(model(batch), {"tags": target})
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    scores = model(batch).heads["tags"][:, 0]
    assert scores[target[:, 0] == 1].min() > scores[target[:, 0] == 0].max()


def test_the_wide_gain_scales_the_read_out():
    plain, fast = NgramLogits(31, 2), NgramLogits(31, 2, gain=5.0)
    with torch.no_grad():
        plain.weight_bag.weight.normal_()
        fast.weight_bag.weight.copy_(plain.weight_bag.weight)
    ids = torch.tensor([[3, 4, 5]])
    torch.testing.assert_close(fast(ids, ids > 0), 5.0 * plain(ids, ids > 0))


def test_a_repeated_n_gram_counts_once_in_the_wide_bag():
    """A line of underscores weighs no more than one underscore: the bag is binary, unit length."""
    wide = NgramLogits(buckets=101, n_outputs=1)
    with torch.no_grad():
        wide.weight_bag.weight.copy_(torch.randn(101, 1, generator=torch.Generator().manual_seed(0)))
    repeated = torch.tensor([[5, 5, 5, 5, 6, 0]])
    once = torch.tensor([[5, 5, 6]])  # the same distinct n-grams: 5, 6, (5, 5), (5, 6)
    torch.testing.assert_close(wide(repeated, repeated != 0), wide(once, once != 0))
    ngram_ids, weights = hashed_ngrams(repeated, repeated != 0, 101, scale="distinct")
    assert int((weights > 0).sum()) == 4
    torch.testing.assert_close(weights[weights > 0], torch.full((4,), 0.5))
    assert set(ngram_ids[weights > 0].tolist()) == set(hashed_ngrams(once, once != 0, 101)[0][0].tolist())


def test_packed_bags_read_the_same_as_the_padded_forward():
    wide = NgramLogits(buckets=101, n_outputs=3, gain=2.0)
    with torch.no_grad():
        wide.weight_bag.weight.copy_(torch.randn(101, 3, generator=torch.Generator().manual_seed(1)))
    ids = torch.tensor([[4, 9, 9, 2, 0], [0, 0, 0, 0, 0], [7, 7, 7, 7, 7]])  # 101 buckets: no collisions here
    valid = ids != 0
    flat_ids, offsets, weights = wide.packed_bags(ids, valid)
    assert offsets.tolist() == [0, 6, 6]  # row 0: 3 distinct unigrams + 3 bigrams; row 1 empty; row 2: 7 and (7, 7)
    assert len(flat_ids) == 8
    packed = wide.gain * wide.weight_bag(flat_ids, offsets, per_sample_weights=weights)
    torch.testing.assert_close(packed, wide(ids, valid))
    assert torch.equal(packed[1], torch.zeros(3))


def test_the_wide_read_out_reads_past_max_len_and_attention_does_not():
    model = MoETransformer(tiny_config("text", max_len=8, wide_buckets=97, wide_max_len=12)).eval()
    ids = torch.randint(1, 50, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids, dtype=torch.bool)
    changed = ids.clone()
    changed[:, 10] = (ids[:, 10] % 49) + 1  # a token past max_len
    with torch.no_grad():
        model.wide["tags"].weight_bag.weight.normal_()
        first, second = model({"input_ids": ids, "attention_mask": mask}), model({"input_ids": changed, "attention_mask": mask})
    torch.testing.assert_close(first.pooled, second.pooled)  # attention read the first 8 tokens
    assert first.tokens.shape[1] == 8
    torch.testing.assert_close(first.heads["label"], second.heads["label"])  # its wide weights are still zero
    assert not torch.allclose(first.heads["tags"], second.heads["tags"])  # the wide read-out read token 10
    with pytest.raises(ValueError, match="exceeds wide_max_len 12"):
        model({"input_ids": torch.ones(1, 13, dtype=torch.long)})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"wide_max_len": 32}, "wide_max_len needs wide_buckets"),
    ({"wide_buckets": 64, "wide_max_len": 8}, "wide_max_len 8 is shorter than max_len 16"),
])
def test_wide_max_len_is_checked(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config("text", **overrides)


def _dense_config(**overrides):
    settings = dict(
        image_size=16, patch_size=8, stem_channels=[4, 8], dense_stride=2,
        heads=[HeadSpec("label", "multiclass", 3), HeadSpec("map", "dense", 2)],
    )
    settings.update(overrides)
    return tiny_config("image", **settings)


def test_dense_head_gives_one_cell_per_stride_in_row_major_order():
    model = MoETransformer(_dense_config())
    assert model(tiny_batch("image", batch_size=2)).heads["map"].shape == (2, 8 * 8, 2)  # 16 px / stride 2
    coarse = MoETransformer(_dense_config(dense_stride=8))  # the stride of a patch: no upsampling
    assert coarse(tiny_batch("image", batch_size=2)).heads["map"].shape == (2, 2 * 2, 2)


def test_dense_head_learns_a_mask_finer_than_its_patches():
    torch.manual_seed(0)
    model = MoETransformer(_dense_config())
    pixels = torch.rand(8, 3, 16, 16) * 0.2
    target = torch.zeros(8, 8, 8, dtype=torch.long)
    for i in range(8):  # a bright square at a different place in each image
        r, c = (i * 3) % 6, (i * 5) % 6
        pixels[i, :, 2 * r : 2 * r + 4, 2 * c : 2 * c + 4] = 1.0
        target[i, r : r + 2, c : c + 2] = 1
    target = target.flatten(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = model.loss(model({"pixels": pixels}), {"map": target})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    predicted = model.eval()({"pixels": pixels}).heads["map"].argmax(-1)
    # The best a map that is constant over each 8-pixel patch (4x4 cells) could do:
    patches = target.reshape(8, 2, 4, 2, 4).float().mean(dim=(2, 4))  # share of defect cells
    patch_best = float(torch.maximum(patches, 1 - patches).mean())
    assert patch_best < 0.95
    assert float((predicted == target).float().mean()) > 0.97
    assert int(((predicted == 1) & (target == 1)).sum()) > 0.8 * int(target.sum())


def test_dense_heads_need_the_image_encoder_and_a_stride_that_divides_the_patch():
    with pytest.raises(ValueError, match="image encoder"):
        tiny_config("text", heads=[HeadSpec("map", "dense", 2)])
    with pytest.raises(ValueError, match="dense_stride"):
        _dense_config(dense_stride=3)
    with pytest.raises(ValueError, match="dense_stride"):
        _dense_config(dense_stride=16)
