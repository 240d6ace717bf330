"""Head losses: missing labels are ignored, regression gives a positive variance."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.config import HeadSpec
from engine.heads import Head, gaussian_nll, regression_mean_std

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
