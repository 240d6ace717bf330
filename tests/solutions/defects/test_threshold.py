"""Threshold selection meets its false-reject target on a synthetic set and keeps escapes low."""

import numpy as np
import pytest

from solutions.defects.threshold import (
    FAIL,
    PASS,
    REVIEW,
    choose_thresholds,
    decide,
    lowest_threshold_for,
    measure_rates,
)

CLASSES = ["scratch", "pit", "crack"]


def synthetic_set(seed=0, n=3000):
    """Good parts score low, defective parts high, with overlap that differs per class."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(CLASSES, size=n)
    defective = rng.random(n) < 0.4
    shift = {"scratch": 0.0, "pit": 0.1, "crack": 0.2}
    base = np.array([shift[c] for c in classes])
    scores = np.where(defective, rng.beta(6, 2, n), rng.beta(2, 6, n) + base)
    return np.clip(scores, 0, 1), classes, defective


@pytest.mark.parametrize("target", [0.01, 0.05, 0.10, 0.25])
def test_chosen_thresholds_meet_the_target_on_their_set(target):
    scores, classes, defective = synthetic_set()
    choice = choose_thresholds(scores, classes, defective, CLASSES, target)
    assert choice.false_reject_rate <= target
    frr, escape = measure_rates(scores, classes, defective, choice.thresholds, choice.default_threshold)
    assert (frr, escape) == (choice.false_reject_rate, choice.escape_rate)
    # Close to the target, not far below it: thresholds are the lowest that meet it.
    assert choice.false_reject_rate > target - 0.02


def test_a_looser_target_lets_fewer_defects_escape():
    scores, classes, defective = synthetic_set(seed=1)
    strict = choose_thresholds(scores, classes, defective, CLASSES, 0.01)
    loose = choose_thresholds(scores, classes, defective, CLASSES, 0.10)
    assert loose.escape_rate < strict.escape_rate


def test_classes_whose_good_parts_score_higher_get_higher_thresholds():
    scores, classes, defective = synthetic_set(seed=2)
    choice = choose_thresholds(scores, classes, defective, CLASSES, 0.05)
    assert choice.thresholds["scratch"] < choice.thresholds["pit"] < choice.thresholds["crack"]


def test_class_without_good_parts_falls_back_to_the_overall_threshold():
    scores, classes, defective = synthetic_set(seed=3)
    choice = choose_thresholds(scores, classes, defective, [*CLASSES, "blowhole"], 0.05)
    assert choice.thresholds["blowhole"] == choice.default_threshold


def test_ties_never_push_the_rate_over_the_target():
    good = np.array([0.9] * 5 + [0.1] * 95)
    threshold = lowest_threshold_for(good, 0.03)
    assert (good >= threshold).mean() <= 0.03
    assert threshold > 0.9


def test_decision_bands():
    assert decide(0.8, 0.7, 0.1) == FAIL
    assert decide(0.65, 0.7, 0.1) == REVIEW
    assert decide(0.5, 0.7, 0.1) == PASS
