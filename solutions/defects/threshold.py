"""Decision thresholds: per-class defect-score thresholds chosen for a target false-reject rate.

A part's decision uses its defect score (probability that it is defective) and its most likely
defect class c: fail when score >= threshold[c], review when it falls in the band just below,
pass otherwise. Thresholds are chosen on the validation split so that, within every class, no
more than the target fraction of good parts is rejected; so the overall false-reject rate on
that split meets the target too, and the escape rate (defective parts passed) is as low as
that allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

PASS, FAIL, REVIEW = "pass", "fail", "review"
DECISIONS = (PASS, FAIL, REVIEW)


@dataclass(frozen=True)
class ThresholdChoice:
    """Thresholds for a target, with the rates they give on the set they were chosen on."""

    target_false_reject_rate: float
    thresholds: dict[str, float]  # defect class -> score threshold
    default_threshold: float  # classes with no good parts on the set
    false_reject_rate: float  # good parts that fail
    escape_rate: float  # defective parts that pass
    n_good: int
    n_defective: int

    def to_dict(self) -> dict:
        return asdict(self)


def lowest_threshold_for(good_scores: np.ndarray, target_rate: float) -> float:
    """The lowest threshold that rejects at most `target_rate` of these good parts' scores."""
    if good_scores.size == 0:
        return 0.5
    allowed = int(np.floor(target_rate * good_scores.size + 1e-9))
    if allowed >= good_scores.size:
        return 0.0
    ranked = np.sort(good_scores)[::-1]
    # Any threshold at or below the (allowed+1)-th highest good score rejects one part too many.
    return float(np.nextafter(np.float32(ranked[allowed]), np.float32(np.inf)))


def apply_thresholds(
    scores: np.ndarray, classes: Sequence[str], thresholds: dict[str, float], default: float
) -> np.ndarray:
    """Boolean array: which parts fail (score at or above their class's threshold)."""
    limits = np.array([thresholds.get(c, default) for c in classes], dtype=np.float64)
    return np.asarray(scores, dtype=np.float64) >= limits


def measure_rates(
    scores: np.ndarray, classes: Sequence[str], is_defective: np.ndarray,
    thresholds: dict[str, float], default: float,
) -> tuple[float, float]:
    """(false-reject rate, escape rate) of the thresholds on a labelled set."""
    fails = apply_thresholds(scores, classes, thresholds, default)
    defective = np.asarray(is_defective, dtype=bool)
    good = ~defective
    false_reject = float(fails[good].mean()) if good.any() else 0.0
    escape = float((~fails[defective]).mean()) if defective.any() else 0.0
    return false_reject, escape


def choose_thresholds(
    scores: np.ndarray, classes: Sequence[str], is_defective: np.ndarray,
    class_names: Sequence[str], target_false_reject_rate: float,
) -> ThresholdChoice:
    """Per-class thresholds meeting the target false-reject rate on this labelled set.

    scores: (N,) defect scores; classes: each part's most likely defect class; is_defective: (N,)
    truth. A class with no good parts on the set gets the threshold chosen over all good parts.
    """
    if not 0.0 <= target_false_reject_rate <= 1.0:
        raise ValueError("the target false-reject rate must be between 0 and 1")
    scores = np.asarray(scores, dtype=np.float64)
    classes = list(classes)
    good = ~np.asarray(is_defective, dtype=bool)
    default = lowest_threshold_for(scores[good], target_false_reject_rate)
    thresholds = {}
    for name in class_names:
        in_class = good & np.array([c == name for c in classes], dtype=bool)
        thresholds[name] = (
            lowest_threshold_for(scores[in_class], target_false_reject_rate) if in_class.any() else default
        )
    false_reject, escape = measure_rates(scores, classes, ~good, thresholds, default)
    return ThresholdChoice(
        target_false_reject_rate=target_false_reject_rate, thresholds=thresholds,
        default_threshold=default, false_reject_rate=false_reject, escape_rate=escape,
        n_good=int(good.sum()), n_defective=int((~good).sum()),
    )


def decide(score: float, threshold: float, review_margin: float) -> str:
    """pass / fail / review for one part: review is the band [threshold - margin, threshold)."""
    if score >= threshold:
        return FAIL
    if score >= threshold - review_margin:
        return REVIEW
    return PASS
