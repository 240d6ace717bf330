"""The scenario series of `manage.py adapter_scenario molecules`: which held-out compounds a chemist holds."""

import csv

import pytest

from solutions.molecules.adapters import scenario

COMPOUNDS = {
    "CCC(=O)O": "acids",  # carboxylic acid
    "Cc1nn[nH]n1": "acids",  # tetrazole
    "CS(=O)(=O)Nc1ccccc1": "acids",  # sulfonamide NH
    "Oc1ccc(C)cc1": "phenols",
    "CCOC(C)=O": None,  # an ester: neither
    "CCN(CC)CC": None,  # a base: neither
}


@pytest.fixture
def data_dir(tmp_path):
    for split in ("valid", "test"):
        with open(tmp_path / f"lipophilicity_{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["smiles", "logD_pH7.4"])
            writer.writerows([smiles, 1.5] for smiles in COMPOUNDS)
    return tmp_path


@pytest.mark.parametrize("series", ["acids", "phenols"])
def test_a_series_holds_its_family_from_both_held_out_splits(data_dir, series):
    upload = scenario(data_dir, segment=series)
    rows = list(csv.DictReader(upload["data"].decode().splitlines()))
    expected = [smiles for smiles, family in COMPOUNDS.items() if family == series]
    assert [row["smiles"] for row in rows] == expected * 2
    assert upload["base_model"] == "screening"
