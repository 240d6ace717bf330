"""Validation of one application against a feature schema, and the schema's JSON round trip."""

import math

from solutions.loans.features import encode
from solutions.loans.schema import FeatureSchema

GOOD = {"amount": 2500, "age": 35, "checking": "mid", "phone": "yes"}


def test_valid_application_is_clean(schema):
    clean, errors = schema.validate(GOOD)
    assert errors == {}
    assert clean == {"amount": 2500.0, "age": 35.0, "checking": "mid", "phone": "yes"}


def test_unknown_field_is_named(schema):
    _, errors = schema.validate({**GOOD, "income": 10})
    assert list(errors) == ["income"]
    assert "Unknown field 'income'" in errors["income"][0]


def test_missing_required_field(schema):
    _, errors = schema.validate({k: v for k, v in GOOD.items() if k != "checking"})
    assert errors == {"checking": ["This field is required (Checking account)."]}


def test_wrong_type_for_number_and_category(schema):
    _, errors = schema.validate({**GOOD, "amount": "a lot", "checking": 3.5})
    assert errors["amount"] == ["Expected a number (EUR), got 'a lot'."]
    assert "Expected one of the codes low, mid, high" in errors["checking"][0]


def test_out_of_range_and_unknown_code(schema):
    _, errors = schema.validate({**GOOD, "age": 16, "checking": "gold"})
    assert errors["age"] == ["16 is below the minimum 18 (years)."]
    assert "'gold' is not an allowed value" in errors["checking"][0]
    assert "low = below zero" in errors["checking"][0]


def test_whole_number_required(schema):
    _, errors = schema.validate({**GOOD, "age": 35.5})
    assert errors == {"age": ["Expected a whole number (years), got 35.5."]}


def test_missing_optional_is_accepted_and_encoded_as_missing(schema):
    clean, errors = schema.validate({k: v for k, v in GOOD.items() if k != "phone"})
    assert errors == {}
    assert clean["phone"] is None
    batch = encode(schema.with_statistics([clean]), [clean])
    assert batch["categorical"].tolist() == [[2, 0]]  # mid is the second code; 0 = missing


def test_numbers_from_csv_strings(schema):
    clean, errors = schema.validate({"amount": "2,500", "age": "35", "checking": "low", "phone": ""})
    assert errors == {}
    assert clean["amount"] == 2500.0 and clean["phone"] is None


def test_not_an_object(schema):
    _, errors = schema.validate(["amount", 1])
    assert "non_field_errors" in errors


def test_statistics_standardise_and_round_trip(schema, tmp_path):
    rows = [schema.validate({**GOOD, "amount": a})[0] for a in (100, 1000, 10000)]
    fitted = schema.with_statistics(rows)
    numeric = encode(fitted, rows)["numeric"]
    assert math.isclose(float(numeric[:, 0].mean()), 0.0, abs_tol=1e-6)
    assert fitted.feature("amount").baseline == 1000.0
    assert fitted.feature("checking").baseline == "mid"
    fitted.save(tmp_path / "schema.json")
    assert FeatureSchema.load(tmp_path / "schema.json") == fitted
