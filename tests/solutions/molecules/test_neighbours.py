"""Neighbour evidence: the k-nearest label estimate and the validation-fitted blend."""

import numpy as np
import pytest

from solutions.molecules.metrics import paired_bootstrap_share
from solutions.molecules.neighbours import NeighbourBlend, fit_neighbour_blend, neighbour_estimates


def test_estimates_weight_the_k_most_similar_measured_labels():
    similarity = np.array([[0.9, 0.5, 0.1, 0.8], [0.0, 0.0, 0.0, 0.0]])
    labels = np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan], [7.0, 4.0, np.nan], [np.nan, 6.0, np.nan]])
    estimates = neighbour_estimates(similarity, labels, k=2, power=1.0)
    # Column 0: rows 0 (0.9) and 1 (0.5) are the two nearest measured (row 3 is not measured).
    assert estimates[0, 0] == pytest.approx((0.9 * 1 + 0.5 * 3) / 1.4)
    # Column 1: rows 3 (0.8) and 1 (0.5).
    assert estimates[0, 1] == pytest.approx((0.8 * 6 + 0.5 * 2) / 1.3)
    # No similar molecule at all: a plain mean of k; no measured molecule: NaN.
    pair_means = (2.0, 4.0, 5.0)  # of two of the measured labels 1, 3, 7
    assert min(abs(estimates[1, 0] - mean) for mean in pair_means) < 1e-6
    assert np.isnan(estimates[:, 2]).all()
    sharper = neighbour_estimates(similarity, labels, k=2, power=3.0)
    assert abs(sharper[0, 0] - 1.0) < abs(estimates[0, 0] - 1.0)  # closer to the nearest's label


def test_a_column_without_neighbours_keeps_the_model_value():
    blend = NeighbourBlend(k=5, power=1.0, weight=0.3)
    served = blend.apply(np.array([[0.2, 0.4]]), np.array([[1.0, np.nan]]))
    np.testing.assert_allclose(served, [[0.7 * 0.2 + 0.3 * 1.0, 0.4]])
    assert NeighbourBlend.from_json(blend.to_json()) == blend


def _neighbourhood(rng, n_train=400, n_valid=300):
    """Valid molecules each close to one training molecule, with that molecule's label."""
    train_labels = rng.integers(0, 2, (n_train, 1)).astype(float)
    twin = rng.integers(0, n_train, n_valid)
    similarity = rng.uniform(0.0, 0.3, (n_valid, n_train))
    similarity[np.arange(n_valid), twin] = 0.9
    return similarity, train_labels, train_labels[twin]


def test_the_blend_is_fitted_when_the_neighbours_know_better():
    rng = np.random.default_rng(0)
    similarity, train_labels, valid_labels = _neighbourhood(rng)
    weak_model = np.clip(0.5 + 0.3 * (valid_labels - 0.5) + rng.normal(0, 0.3, valid_labels.shape), 0, 1)
    blend = fit_neighbour_blend("multilabel", similarity, train_labels, valid_labels, weak_model)
    assert blend is not None and blend.weight > 0


def test_no_blend_when_the_neighbours_are_noise():
    rng = np.random.default_rng(1)
    similarity, train_labels, _ = _neighbourhood(rng)
    valid_labels = rng.integers(0, 2, (similarity.shape[0], 1)).astype(float)  # unrelated to them
    good_model = np.clip(valid_labels * 0.6 + 0.2 + rng.normal(0, 0.2, valid_labels.shape), 0, 1)
    assert fit_neighbour_blend("multilabel", similarity, train_labels, valid_labels, good_model) is None
    regression = valid_labels + rng.normal(0, 0.1, valid_labels.shape)
    assert fit_neighbour_blend("regression", similarity, train_labels, valid_labels, regression) is None


@pytest.mark.parametrize("missing", [0.2, 0.97])  # 0.97: most columns fall back to a full sort
def test_estimates_equal_a_full_sort_per_column(missing):
    rng = np.random.default_rng(2)
    similarity = rng.permutation(np.linspace(0.01, 1.0, 40 * 300)).reshape(40, 300)  # no ties
    labels = rng.normal(size=(300, 5))
    labels[rng.uniform(size=labels.shape) < missing] = np.nan
    labels[:, 4] = np.nan
    labels[7, 4] = 2.5  # one measured molecule: every query's estimate is its label
    estimates = neighbour_estimates(similarity, labels, k=10, power=3.0)
    for row in range(40):
        for column in range(5):
            measured = np.flatnonzero(~np.isnan(labels[:, column]))
            top = measured[np.argsort(-similarity[row, measured])[:10]]
            weights = similarity[row, top] ** 3.0 + 1e-9
            expected = (weights * labels[top, column]).sum() / weights.sum()
            assert estimates[row, column] == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(estimates[:, 4], 2.5)


def test_paired_bootstrap_share_tells_a_real_difference_from_noise():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, (400, 1)).astype(float)
    informed = labels + rng.normal(0, 0.5, labels.shape)
    other_informed = labels + rng.normal(0, 0.5, labels.shape)
    noise = rng.normal(0, 1, labels.shape)
    assert paired_bootstrap_share("multilabel", labels, informed, noise, draws=100) == 1.0
    assert paired_bootstrap_share("multilabel", labels, noise, informed, draws=100) == 0.0
    assert 0.05 < paired_bootstrap_share("multilabel", labels, informed, other_informed, draws=100) < 0.95
    # RMSE: lower is better, so the closer predictions win.
    assert paired_bootstrap_share("regression", labels, informed, labels + 1.0, draws=50) == 1.0
