"""Readers of SMILES, CSV, SDF and JSON libraries: one record per row, in order, errors as rows."""

import io

import pytest
from rdkit import Chem

from solutions.molecules.parsing import (
    MAX_LINE_BYTES,
    InputError,
    read_csv,
    read_json_items,
    read_json_lines,
    read_molecules,
    read_sdf,
    read_smiles_file,
)


def _stream(text: str | bytes) -> io.BytesIO:
    return io.BytesIO(text.encode() if isinstance(text, str) else text)


def _sdf(*named_smiles: tuple[str, str], v3000: bool = False) -> str:
    blocks = []
    for smiles, name in named_smiles:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        block = Chem.MolToV3KMolBlock(mol) if v3000 else Chem.MolToMolBlock(mol)
        blocks.append(block + "> <activity>\n7.5\n\n$$$$\n")
    return "".join(blocks)


def test_smiles_file_gives_one_record_per_line_with_names_and_errors_in_order():
    text = "smiles name\nCCO ethanol\nC1CC broken ring\n\n# comment\nc1ccccc1\n"
    records = list(read_smiles_file(_stream(text)))
    assert [r.index for r in records] == [0, 1, 2]
    assert [r.name for r in records] == ["ethanol", "broken ring", ""]
    assert records[0].mol is not None and records[0].error == ""
    assert records[1].mol is None
    assert records[1].error == "line 3: SMILES 'C1CC' could not be parsed: unclosed ring"
    assert records[2].location == "line 6"


def test_invalid_valence_message_comes_from_rdkit():
    (record,) = read_smiles_file(_stream("C(C)(C)(C)(C)C\n"))
    assert record.mol is None
    assert "Explicit valence for atom # 0 C, 5" in record.error


def test_a_10_mb_line_is_an_error_row_and_the_next_line_still_reads():
    text = b"CCO\n" + b"C" * (10 * 1024 * 1024) + b"\nCCN amine\n"
    records = list(read_smiles_file(_stream(text)))
    assert len(records) == 3
    assert records[1].mol is None
    assert f"longer than the {MAX_LINE_BYTES:,}-byte limit" in records[1].error
    assert records[1].text == ""
    assert records[2].name == "amine" and records[2].mol is not None


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n"])
def test_empty_smiles_file_is_a_job_level_error(content):
    with pytest.raises(InputError, match="no molecules"):
        list(read_smiles_file(_stream(content)))


def test_csv_finds_the_smiles_column_by_name_and_keeps_order():
    text = "compound_id,canonical_smiles,pIC50\nA1,CCO,5\nA2,not-a-smiles,6\nA3,c1ccccc1O,7\n"
    records = list(read_csv(_stream(text)))
    assert [(r.index, r.name) for r in records] == [(0, "A1"), (1, "A2"), (2, "A3")]
    assert [r.mol is not None for r in records] == [True, False, True]
    assert records[1].error.startswith("line 3: SMILES 'not-a-smiles' could not be parsed")


def test_csv_column_given_by_parameter_and_semicolons():
    text = "label;structure_in;other\nx;CCO;1\n"
    (record,) = read_csv(_stream(text), smiles_column="structure_in", name_column="label")
    assert record.name == "x" and Chem.MolToSmiles(record.mol) == "CCO"


def test_csv_without_a_smiles_column_is_a_job_level_error_naming_the_header():
    with pytest.raises(InputError, match="no SMILES column found: the header has 'id', 'formula'"):
        list(read_csv(_stream("id,formula\n1,C2H6O\n")))


def test_csv_with_a_named_column_that_is_missing_is_a_job_level_error():
    with pytest.raises(InputError, match="there is no SMILES column 'smi_x'"):
        list(read_csv(_stream("smiles\nCCO\n"), smiles_column="smi_x"))


def test_empty_csv_is_a_job_level_error():
    with pytest.raises(InputError, match="empty"):
        list(read_csv(_stream("")))


@pytest.mark.parametrize("v3000", [False, True])
def test_sdf_v2000_and_v3000_records_keep_names_and_data_fields(v3000):
    text = _sdf(("CCO", "ethanol"), ("c1ccccc1", "benzene"), v3000=v3000)
    records = list(read_sdf(_stream(text)))
    assert [r.name for r in records] == ["ethanol", "benzene"]
    assert Chem.MolToSmiles(records[1].mol) == "c1ccccc1"
    assert records[0].mol.GetProp("activity") == "7.5"


def test_truncated_sdf_record_is_an_error_row_after_the_good_ones():
    text = _sdf(("CCO", "ethanol"), ("CCN", "ethylamine"))
    truncated = text + _sdf(("c1ccccc1", "benzene"))[:120]
    records = list(read_sdf(_stream(truncated)))
    assert len(records) == 3
    assert [r.mol is not None for r in records] == [True, True, False]
    assert "truncated record" in records[2].error
    assert records[2].location.startswith("record 3 (line ")


def test_sdf_record_with_a_bad_atom_block_is_an_error_row():
    good = _sdf(("CCO", "ethanol"))
    bad = good.replace("    0.0000    0.0000    0.0000 C ", "    0.0000    0.0000    0.0000 Xx", 1)
    records = list(read_sdf(_stream(bad + good)))
    assert [r.mol is not None for r in records] == [False, True]
    assert records[0].error.startswith("record 1 (line 1): mol block could not be read")


def test_empty_sdf_is_a_job_level_error():
    with pytest.raises(InputError, match="no records"):
        list(read_sdf(_stream("")))


def test_json_items_accept_strings_and_objects_and_report_other_items():
    records = list(read_json_items(["CCO", {"smiles": "CCN", "name": "amine"}, 42]))
    assert [r.mol is not None for r in records] == [True, True, False]
    assert records[1].name == "amine"
    assert records[2].error == "item 3: expected a SMILES string or an object with a 'smiles' key"


def test_json_lines_stream_one_item_per_line():
    text = '"CCO"\n{"smiles": "C1CC", "name": "x"}\nnot json\n'
    records = list(read_json_lines(_stream(text)))
    assert [r.index for r in records] == [0, 1, 2]
    assert "unclosed ring" in records[1].error
    assert records[2].mol is None


def test_read_molecules_picks_the_reader_from_the_file_name():
    records = list(read_molecules(_stream("smiles,name\nCCO,e\n"), "library.CSV"))
    assert records[0].name == "e"
    with pytest.raises(InputError, match=r"unknown file type \.xlsx"):
        read_molecules(_stream(""), "library.xlsx")
