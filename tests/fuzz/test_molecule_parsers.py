"""Molecule library readers (SMILES, CSV/TSV, SDF, JSON, JSON lines) on hostile input: the
only exception is InputError (the file as a whole), and every row is a molecule or a row with
a readable error, in input order."""

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solutions.molecules.parsing import (
    FORMAT_BY_SUFFIX,
    InputError,
    mol_from_smiles,
    read_json_items,
    read_molecules,
)
from tests.fuzz.mutations import hostile_files, sample_bytes

SAMPLES = sample_bytes("molecules", ".smi", ".csv", ".sdf")
SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-\\/%0123456789.*H:$ \t"
# Any characters but line breaks (control characters, line and paragraph separators).
ONE_LINE_OF_ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Zl", "Zp")), max_size=80
)
FUZZ = settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def read_all(data: bytes, filename: str) -> list:
    try:
        records = list(read_molecules(io.BytesIO(data), filename))
    except InputError as error:
        assert str(error), "an InputError must say what is wrong"
        return []
    for position, record in enumerate(records):
        assert record.index == position
        assert (record.mol is None) == bool(record.error), record
        assert record.location
    return records


@FUZZ
@given(data=hostile_files(SAMPLES), suffix=st.sampled_from(sorted(FORMAT_BY_SUFFIX)))
def test_every_reader_takes_any_bytes(data: bytes, suffix: str) -> None:
    read_all(data, f"library{suffix}")


@FUZZ
@given(smiles=st.one_of(st.text(alphabet=SMILES_ALPHABET, max_size=80), ONE_LINE_OF_ANY_TEXT))
def test_any_smiles_text_is_a_molecule_or_a_reason(smiles: str) -> None:
    mol, reason = mol_from_smiles(smiles)
    assert (mol is None) == bool(reason)
    records = read_all(smiles.encode() + b"\n", "one.smi")
    assert len(records) <= 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["smiles", "name", "id", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(items=st.lists(JSON_VALUES, max_size=6))
def test_json_items_of_any_shape(items: list) -> None:
    try:
        records = list(read_json_items(items))
    except InputError:
        assert items == []
        return
    assert len(records) == len(items)
    assert all((r.mol is None) == bool(r.error) for r in records)
    read_all(json.dumps(items).encode(), "items.json")
    read_all("\n".join(json.dumps(item) for item in items).encode(), "items.jsonl")
