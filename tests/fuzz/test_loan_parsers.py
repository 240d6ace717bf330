"""Loan application readers (CSV, JSON) and the schema check on hostile input: only
UnreadableFile escapes the readers, and validation answers errors per field, never raises."""

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solutions.loans.parsing import InputRow, UnreadableFile, read_applications
from solutions.loans.schema import taiwan_schema
from tests.fuzz.mutations import hostile_files, sample_bytes

SAMPLES = sample_bytes("loans", ".csv", ".json")
SCHEMA = taiwan_schema()
FUZZ = settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
FIELD_NAMES = st.sampled_from([feature.name for feature in SCHEMA.features] + ["other", ""])


def read_all(data: bytes, filename: str) -> list[InputRow]:
    try:
        rows = list(read_applications(filename, io.BytesIO(data)))
    except UnreadableFile as error:
        assert str(error)
        return []
    for row in rows:
        assert isinstance(row.application, dict)
        assert isinstance(row.error, str)
    return rows


@FUZZ
@given(data=hostile_files(SAMPLES), suffix=st.sampled_from([".csv", ".json", ".CSV", ".txt"]))
def test_readers_take_any_bytes(data: bytes, suffix: str) -> None:
    read_all(data, f"portfolio{suffix}")


@FUZZ
@given(document=JSON_VALUES)
def test_any_json_document(document: object) -> None:
    read_all(json.dumps(document).encode(), "applications.json")


@FUZZ
@given(
    application=st.one_of(
        JSON_VALUES, st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=len(SCHEMA.features))
    )
)
def test_validation_answers_errors_per_field(application: object) -> None:
    clean, errors = SCHEMA.validate(application)
    assert isinstance(clean, dict)
    assert all(isinstance(messages, list) and messages for messages in errors.values())
    assert all(isinstance(message, str) for messages in errors.values() for message in messages)
