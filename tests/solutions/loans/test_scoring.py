"""Scoring: the PD follows the model, reasons agree with it, and the policy decides."""

import math

import numpy as np
import pytest

from solutions.loans.scoring import (
    MAX_REASONS,
    Calibration,
    PolicySettings,
    decide,
    fit_calibration,
    grade,
    score_points,
)

RISKY = {"amount": 40_000.0, "age": 30.0, "checking": "low", "phone": "yes"}


def test_pd_rises_with_amount_as_in_the_data(tiny_scorer):
    small, large = tiny_scorer.pd([{**RISKY, "amount": 500.0}, RISKY])
    assert large > small


def test_top_reason_moved_to_the_safe_side_lowers_the_pd(tiny_scorer):
    (reasons,) = tiny_scorer.reasons([RISKY])
    assert 1 <= len(reasons) <= MAX_REASONS
    top = reasons[0].feature
    safe = {"amount": 500.0, "checking": "high", "phone": "none" if RISKY["phone"] == "yes" else "yes"}[top]
    before, after = tiny_scorer.pd([RISKY, {**RISKY, top: safe}])
    assert after < before
    assert all(r.contribution > 0 for r in reasons)


def test_protected_attributes_are_never_reasons(tiny_scorer):
    for reasons in tiny_scorer.reasons([{**RISKY, "age": 19.0}, {**RISKY, "age": 99.0}]):
        assert "age" not in {r.feature for r in reasons}


def test_missing_optional_value_is_scored(tiny_scorer):
    (score,) = tiny_scorer.score([{**RISKY, "phone": None}], PolicySettings())
    assert 0 < score.pd < 1
    assert score.decision in {"approve", "refer", "decline"}


def test_attributions_add_up_to_the_logit_change(tiny_scorer):
    import torch

    from solutions.loans.features import baseline_row, encode

    contributions = tiny_scorer.attributions([RISKY], steps=64)
    with torch.no_grad():
        change = tiny_scorer.default_logit(encode(tiny_scorer.schema, [RISKY])) - tiny_scorer.default_logit(
            encode(tiny_scorer.schema, [baseline_row(tiny_scorer.schema)]))
    # Top-k routing is piecewise, so completeness holds only approximately.
    assert contributions.sum() == pytest.approx(float(change[0]), abs=0.25 * abs(float(change[0])) + 0.05)


def test_minimum_age_declines_whatever_the_pd(tiny_scorer):
    policy = PolicySettings(min_age=21)
    decision, rules = decide(0.01, {**RISKY, "age": 19.0}, tiny_scorer.schema, policy)
    assert decision == "decline"
    assert "minimum age of 21" in rules[0]


def test_pd_cut_offs(tiny_scorer):
    policy = PolicySettings(approve_max_pd=0.1, decline_min_pd=0.3)
    assert decide(0.05, RISKY, tiny_scorer.schema, policy)[0] == "approve"
    assert decide(0.2, RISKY, tiny_scorer.schema, policy)[0] == "refer"
    assert decide(0.3, RISKY, tiny_scorer.schema, policy)[0] == "decline"


def test_maximum_age_refers_an_otherwise_approved_applicant(tiny_scorer):
    decision, rules = decide(0.01, {**RISKY, "age": 80.0}, tiny_scorer.schema, PolicySettings(max_age=75))
    assert decision == "refer" and "older than 75" in rules[0]


def test_points_to_double_the_odds():
    policy = PolicySettings(base_score=600, base_odds=50, pdo=20)
    at_base = score_points(1 / 51, policy)  # odds 50:1
    assert at_base == 600
    assert score_points(1 / 101, policy) == 620  # odds doubled (100:1)
    assert score_points(0.5, policy) < at_base


def test_grade_bands():
    policy = PolicySettings(grade_bands=[["A", 0.05], ["B", 0.2], ["C", 1.0]])
    assert [grade(p, policy) for p in (0.01, 0.05, 0.1, 0.9)] == ["A", "A", "B", "C"]


def test_inconsistent_policy_is_refused():
    with pytest.raises(ValueError, match="cut-offs"):
        PolicySettings(approve_max_pd=0.5, decline_min_pd=0.2)
    with pytest.raises(ValueError, match="grade bands"):
        PolicySettings(grade_bands=[["A", 0.5], ["B", 0.2]])


def test_calibration_fixes_a_miscalibrated_score_and_round_trips():
    rng = np.random.default_rng(0)
    true_pd = rng.uniform(0.02, 0.6, 4000)
    labels = (rng.random(4000) < true_pd).astype(int)
    raw = 1 / (1 + np.exp(-(2.0 * np.log(true_pd / (1 - true_pd)) + 1.0)))  # overconfident, biased
    calibration = fit_calibration(raw, labels)
    brier_raw = np.mean((raw - labels) ** 2)
    brier_calibrated = np.mean((calibration.apply(raw) - labels) ** 2)
    assert brier_calibrated < brier_raw
    again = Calibration.from_dict(calibration.to_dict())
    assert np.allclose(again.apply(raw), calibration.apply(raw))
    assert math.isclose(float(Calibration.identity().apply(np.array([0.3]))[0]), 0.3, rel_tol=1e-9)


def test_pd_through_the_engine_server_matches_the_direct_model(tiny_scorer, tiny_model_dir):
    from engine.serving import ModelServer
    from solutions.loans.scoring import LoanScorer

    rows = [RISKY, {**RISKY, "amount": 900.0, "phone": None}]
    with ModelServer(tiny_model_dir / "loans" / "german", max_wait_ms=1.0) as server:
        served = LoanScorer(tiny_scorer.model, tiny_scorer.schema, tiny_scorer.calibration, server=server)
        assert np.allclose(served.pd(rows), tiny_scorer.pd(rows), atol=1e-5)


def test_ks_and_auc_of_a_perfect_and_a_useless_score():
    from solutions.loans.evaluation import metrics

    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = metrics(labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))
    assert perfect["roc_auc"] == 1.0 and perfect["ks"] == 1.0
    useless = metrics(labels, np.full(6, 0.5))
    assert useless["roc_auc"] == 0.5 and useless["ks"] == 0.0 and useless["brier"] == 0.25


def test_a_tenant_adapter_id_reaches_the_engine_server(tiny_scorer):
    import torch

    from solutions.loans.scoring import HEAD, LoanScorer

    asked = []

    class RecordingServer:
        def predict(self, batch, adapter_id=None):
            asked.append(adapter_id)
            return {HEAD: torch.zeros(len(batch["numeric"]), 2)}

    served = LoanScorer(tiny_scorer.model, tiny_scorer.schema, Calibration.identity(), server=RecordingServer())
    (score,) = served.score([RISKY], PolicySettings(), adapter_id="version-7")
    assert asked == ["version-7"] and score.pd == pytest.approx(0.5)
    with pytest.raises(ValueError, match="ModelServer"):
        tiny_scorer.pd([RISKY], adapter_id="version-7")


def test_an_adapter_pd_is_the_adapter_head_without_the_base_calibration(tiny_scorer):
    import torch

    from solutions.loans.scoring import HEAD, LoanScorer

    class FixedServer:
        def predict(self, batch, adapter_id=None):
            logits = torch.zeros(len(batch["numeric"]), 2)
            logits[:, 1] = 0.0 if adapter_id is None else 1.0
            return {HEAD: logits}

    shifted = Calibration("platt", a=1.0, b=-1.0)  # lowers every PD
    served = LoanScorer(tiny_scorer.model, tiny_scorer.schema, shifted, server=FixedServer())
    raw_adapter = served.raw_pd([RISKY], "version-7")
    assert served.pd([RISKY], "version-7") == pytest.approx(raw_adapter)
    assert served.pd([RISKY]) == pytest.approx(shifted.apply(served.raw_pd([RISKY])))
    assert served.pd([RISKY]) != pytest.approx(served.raw_pd([RISKY]))
