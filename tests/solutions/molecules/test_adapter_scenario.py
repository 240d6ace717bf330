"""The scenario series of `manage.py adapter_scenario molecules`: which held-out compounds a chemist holds."""

import csv

import pytest

from solutions.molecules.adapters import parse_dataset, scenario

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


# logD at pH 7.4 and the chemist's value at pH 6.5 (FaSSIF) by the ionisation rule of thumb.
AT_PH_6_5 = {
    "CCC(=O)O": 2.4,  # a carboxylic acid, more neutral at the lower pH: higher
    "Cc1nn[nH]n1": 2.4,  # a tetrazole, the carboxylic acid's isostere
    "CCN(CC)CC": 0.6,  # a tertiary amine, more protonated: lower
    "NC1CCCCC1": 0.6,  # a primary amine
    "CN1CCOCC1": 1.5,  # morpholine, pKa near 7.4: left alone
    "Nc1ccccc1": 1.5,  # aniline, not basic
    "CC(=O)NC": 1.5,  # an amide
    "CS(=O)(=O)Nc1ccccc1": 1.5,  # a sulfonamide, a weak acid
    "Oc1ccc(C)cc1": 1.5,  # a phenol, neutral at both pH values
}


def test_a_chemist_measuring_at_ph_6_5_uploads_acids_higher_and_bases_lower(tmp_path):
    with open(tmp_path / "lipophilicity_valid.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "logD_pH7.4"])
        writer.writerows([smiles, 1.5] for smiles in AT_PH_6_5)
    (tmp_path / "lipophilicity_test.csv").write_text("smiles,logD_pH7.4\n")
    upload = scenario(tmp_path, segment="lipophilicity/ph6.5")
    rows = list(csv.DictReader(upload["data"].decode().splitlines()))
    assert {row["smiles"]: float(row["logD_pH7.4"]) for row in rows} == AT_PH_6_5
    assert upload["filename"] == "lipophilicity-ph6.5.csv"
    report = parse_dataset(upload["base_model"], upload["filename"], upload["data"])
    assert report.rejected == [] and len(report.rows) == len(AT_PH_6_5)
