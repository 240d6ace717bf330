"""The committed base checkpoints and the samples: they load, validate and score."""

import io
import json
from pathlib import Path

import pytest

from solutions.loans.parsing import read_applications
from solutions.loans.schema import FeatureSchema
from solutions.loans.scoring import LoanScorer, PolicySettings

ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "models" / "loans"
SAMPLES = ROOT / "solutions" / "loans" / "samples"


def test_sample_portfolio_has_exactly_the_documented_bad_rows():
    schema = FeatureSchema.load(MODELS / "german" / "schema.json")
    rows = list(read_applications("p.csv", io.BytesIO((SAMPLES / "german_portfolio.csv").read_bytes())))
    errors = {}
    for row in rows:
        application = {k: v for k, v in row.application.items() if k != "application_id"}
        field_errors = schema.validate(application)[1]
        if field_errors:
            errors[row.application["application_id"]] = set(field_errors)
    assert errors == {"DEMO-007": {"age_years"}, "DEMO-008": {"checking_account_status"}, "DEMO-009": {"credit_amount"}}


@pytest.mark.parametrize("name", ["german", "taiwan"])
def test_shipped_model_scores_its_sample_application_with_reasons(name):
    scorer = LoanScorer.load(MODELS / name)
    sample = json.loads((SAMPLES / f"{name}_application.json").read_text())
    sample.pop("application_id")
    clean, errors = scorer.schema.validate(sample)
    assert errors == {}
    (score,) = scorer.score([clean], PolicySettings())
    assert 0 < score.pd < 1
    assert score.reasons and all(not scorer.schema.feature(r.feature).protected for r in score.reasons)
    assert scorer.reference is not None and scorer.model_card.startswith("# Loan scoring model")
