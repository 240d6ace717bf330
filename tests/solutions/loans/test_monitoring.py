"""Monitoring: PSI on known shifts, calibration bands and the four-fifths rule."""

import numpy as np
import pytest

from solutions.loans.monitoring import (
    calibration_report,
    fairness_report,
    psi,
    reference_distributions,
    stability_report,
)
from tests.solutions.loans.conftest import synthetic_applications


def test_psi_of_identical_distributions_is_zero():
    assert psi(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == pytest.approx(0.0, abs=1e-12)


def test_stability_same_population_is_stable_and_shifted_is_flagged(schema):
    train, _ = synthetic_applications(3000, seed=1)
    fitted = schema.with_statistics(train)
    pds = np.linspace(0.01, 0.9, len(train))
    reference = reference_distributions(fitted, train, pds)

    same, _ = synthetic_applications(3000, seed=7)
    report = stability_report(reference, fitted, same, list(np.linspace(0.01, 0.9, len(same))))
    by_feature = {f["feature"]: f for f in report["features"]}
    assert by_feature["amount"]["psi"] < 0.02
    assert by_feature["amount"]["status"] == "stable"
    assert report["pd"]["psi"] < 0.02

    shifted, _ = synthetic_applications(3000, seed=7, amount_scale=5.0)
    report = stability_report(reference, fitted, shifted, list(np.linspace(0.5, 0.99, len(shifted))))
    by_feature = {f["feature"]: f for f in report["features"]}
    assert by_feature["amount"]["psi"] > 0.25
    assert by_feature["amount"]["status"] == "shift"
    assert by_feature["checking"]["psi"] < 0.02  # unchanged feature stays stable
    assert report["pd"]["psi"] > 0.25
    assert report["features"][0]["feature"] == "amount"  # sorted, largest shift first


def test_calibration_bands_compare_predicted_with_observed():
    report = calibration_report([0.1, 0.1, 0.9, 0.9], [False, False, True, False], bands=2)
    assert report["bands"] == [{"n": 2, "predicted": 0.1, "observed": 0.0}, {"n": 2, "predicted": 0.9, "observed": 0.5}]
    assert report["observed_rate"] == 0.25


def test_four_fifths_rule_flags_the_disadvantaged_group(schema):
    rows = [{"age": 22.0}] * 10 + [{"age": 40.0}] * 10
    decisions = ["approve"] * 5 + ["decline"] * 5 + ["approve"] * 9 + ["decline"]
    (age,) = fairness_report(schema, rows, decisions)
    groups = {g["group"]: g for g in age["groups"]}
    assert groups["18-24"]["approval_rate"] == 0.5
    assert groups["18-24"]["ratio"] == pytest.approx(0.5 / 0.9)
    assert groups["18-24"]["flagged"] and not groups["35-49"]["flagged"]
    assert age["flagged"]
