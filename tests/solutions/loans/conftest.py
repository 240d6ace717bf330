"""A tiny loan schema for the loans tests: two numeric and two categorical features."""

import pytest

from solutions.loans.schema import Feature, FeatureSchema


def tiny_schema() -> FeatureSchema:
    return FeatureSchema(
        name="tiny",
        title="Tiny test loans",
        target="bad",
        features=(
            Feature("amount", "numeric", "Credit amount", "Amount requested is high", unit="EUR",
                    minimum=1, maximum=100_000, transform="signed_log1p"),
            Feature("age", "numeric", "Age", "Age", protected=True, unit="years", minimum=18,
                    maximum=100, integer=True),
            Feature("checking", "categorical", "Checking account", "Checking balance is low",
                    values={"low": "below zero", "mid": "0 to 200", "high": "200 or more"}),
            Feature("phone", "categorical", "Telephone", "No telephone registered", required=False,
                    values={"none": "none", "yes": "registered"}),
        ),
        age_feature="age",
    )


@pytest.fixture
def schema() -> FeatureSchema:
    return tiny_schema()
