"""Standardisation, descriptors, rules and structural alerts."""

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogEntry, SmartsMatcher

from solutions.molecules.chemistry import (
    AlertCatalog,
    FingerprintSet,
    Standardizer,
    alert_filter_catalog,
    analyse_molecule,
    evaluate_rules,
    morgan_fingerprint,
    nearest_per_group,
    packed_fingerprint,
    qed,
    tanimoto,
)


def _analyse(smiles: str, canonical_tautomer: bool = False):
    return analyse_molecule(Chem.MolFromSmiles(smiles), Standardizer(canonical_tautomer))


def test_sodium_salt_is_stripped_and_the_acid_neutralised():
    result = _analyse("CC(=O)Oc1ccccc1C(=O)[O-].[Na+]")
    assert result.canonical_smiles == "CC(=O)Oc1ccccc1C(=O)O"
    assert result.inchikey == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    assert any("fragments" in change for change in result.changes)
    assert "neutralised" in result.changes


def test_hydrochloride_amine_is_neutralised():
    result = _analyse("C[NH+](C)CCOC(c1ccccc1)c1ccccc1.[Cl-]")
    assert result.canonical_smiles == "CN(C)CCOC(c1ccccc1)c1ccccc1"


def test_nitro_group_is_normalised_by_cleanup():
    assert _analyse("C[N+](=O)[O-]").canonical_smiles == _analyse("CN(=O)=O").canonical_smiles


def test_canonical_tautomer_is_an_option():
    plain = _analyse("Oc1ccccn1")
    tautomer = _analyse("Oc1ccccn1", canonical_tautomer=True)
    assert plain.canonical_smiles == "Oc1ccccn1"
    assert tautomer.canonical_smiles == "O=c1cccc[nH]1"
    assert "canonical tautomer" in tautomer.changes


def test_descriptors_of_caffeine():
    d = _analyse("Cn1cnc2c1c(=O)n(C)c(=O)n2C").descriptors
    assert d["mw"] == pytest.approx(194.19, abs=0.01)
    assert d["hbd"] == 0 and d["aromatic_rings"] == 2
    assert 0 < d["qed"] < 1


def test_rules_flag_a_large_lipophilic_molecule():
    descriptors = {
        "mw": 720.0,
        "clogp": 7.1,
        "tpsa": 150.0,
        "hbd": 2,
        "hba": 8,
        "rotatable_bonds": 14,
        "fsp3": 0.1,
        "esol_logs": -8.0,
    }
    rules = evaluate_rules(descriptors)
    assert not rules["lipinski"]["pass"] and rules["lipinski"]["violations"] == [
        "mw 720 > 500",
        "clogp 7.1 > 5",
    ]
    assert not rules["veber"]["pass"] and not rules["egan"]["pass"]
    assert set(rules["radar"]["violations"]) == {
        "LIPO",
        "SIZE",
        "POLAR",
        "INSOLU",
        "INSATU",
        "FLEX",
    }


@pytest.mark.parametrize(
    ("smiles", "catalog", "alert"),
    [
        ("O=C1C(=Cc2ccccc2)SC(=S)N1", "PAINS_A", "ene_rhod_A(235)"),  # 5-benzylidene rhodanine
        ("O=C1C=CC(=O)C=C1", "PAINS_A", "quinone_A(370)"),  # p-benzoquinone
        ("Oc1ccc(C)cc1O", "PAINS_B", "catechol_A(92)"),  # 4-methylcatechol
        ("c1ccc(N=Nc2ccccc2)cc1", "PAINS_A", "azo_A(324)"),  # azobenzene
    ],
)
def test_known_pains_molecules_match_their_alert_with_atoms(smiles, catalog, alert):
    result = _analyse(smiles)
    matches = [a for a in result.alerts if a["catalog"] == catalog and a["name"] == alert]
    assert matches, result.alerts
    atoms = matches[0]["atoms"]
    assert atoms and max(atoms) < result.mol.GetNumAtoms()


def test_alert_atoms_index_the_canonical_smiles_atoms():
    result = _analyse("S=C1NC(=O)C(=Cc2ccccc2)S1")
    thiocarbonyl = next(a for a in result.alerts if a["name"] == "Thiocarbonyl_group")
    redrawn = Chem.MolFromSmiles(result.canonical_smiles)
    assert sorted(redrawn.GetAtomWithIdx(i).GetSymbol() for i in thiocarbonyl["atoms"]) == [
        "C",
        "S",
    ]


def test_screened_alerts_equal_the_filter_catalog_matches():
    catalog = alert_filter_catalog()
    screened = AlertCatalog(catalog)
    assert len(screened._unscreened) < len(screened.entries) // 10  # the screen covers the catalog
    samples = Path(__file__).parents[3] / "solutions" / "molecules" / "samples" / "drugs.smi"
    smiles = [line.split()[0] for line in samples.read_text().splitlines() if line.strip()]
    smiles += [
        "O=C1C(=Cc2ccccc2)SC(=S)N1", "O=C1C=CC(=O)C=C1", "Oc1ccc(C)cc1O", "c1ccc(N=Nc2ccccc2)cc1",
        # ring-size alerts ([r7], [r8]) on fused and bridged rings, after standardisation
        "CN1C2CC(OC(=O)C(CO)c3ccccc3)CC1C1OC12", "CN(C)CCCn1c2c(c3ccccc31)CCCCCC2",
        "C[N+]1(C)[C@@H]2C[C@@H](OC(=O)C(O)(c3cccs3)c3cccs3)C[C@H]1[C@@H]1O[C@@H]12",
    ]  # fmt: skip
    standardizer, compared = Standardizer(), 0
    for text in smiles:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            continue
        result = analyse_molecule(mol, standardizer)  # the screening row's own path
        parent = Chem.MolFromSmiles(result.canonical_smiles)
        expected = [e.GetDescription() for e in catalog.GetMatches(parent)]  # before any screen
        assert [e.GetDescription() for e in screened.matches(parent)] == expected, text
        assert [a["name"] for a in result.alerts] == expected, text
        compared += 1
    assert compared >= 20


def test_qed_equals_rdkits_qed():
    samples = Path(__file__).parents[3] / "solutions" / "molecules" / "samples" / "drugs.smi"
    mols = [Chem.MolFromSmiles(line.split()[0]) for line in samples.read_text().splitlines()[1:]]
    mols = [m for m in mols if m is not None]
    mols.append(Chem.AddHs(Chem.MolFromSmiles("Oc1ccc(C=CC(=O)c2ccccc2)cc1")))  # explicit hydrogens
    for mol in mols:
        assert qed(mol) == pytest.approx(QED.qed(mol), abs=1e-12), Chem.MolToSmiles(mol)
        assert qed(mol, Crippen.MolLogP(mol)) == pytest.approx(QED.qed(mol), abs=1e-12)
    assert len(mols) >= 20


def test_an_alert_that_matches_on_absence_is_never_screened_out():
    catalog = FilterCatalog()
    catalog.AddEntry(FilterCatalogEntry("no nitrogen", SmartsMatcher("no nitrogen", "[#7]", 0, 0)))
    catalog.AddEntry(FilterCatalogEntry("nitrile", SmartsMatcher("nitrile", "C#N", 1)))
    screened = AlertCatalog(catalog)
    assert len(screened._unscreened) == 1
    assert [e.GetDescription() for e in screened.matches(Chem.MolFromSmiles("CCO"))] == ["no nitrogen"]
    assert [e.GetDescription() for e in screened.matches(Chem.MolFromSmiles("CC#N"))] == ["nitrile"]


def test_clean_drug_has_no_pains_alert():
    assert not [
        a for a in _analyse("CC(C)Cc1ccc(C(C)C(=O)O)cc1").alerts if a["catalog"].startswith("PAINS")
    ]


def test_tanimoto_is_one_for_itself_and_lower_for_a_neighbour():
    aspirin = packed_fingerprint(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    others = np.stack(
        [
            np.frombuffer(packed_fingerprint(Chem.MolFromSmiles(s)), dtype=np.uint8)
            for s in ("CC(=O)Oc1ccccc1C(=O)O", "OC(=O)c1ccccc1O", "CCCCCCCC")
        ]
    )
    similarity = tanimoto(aspirin, others)
    assert similarity[0] == pytest.approx(1.0)
    assert 0.2 < similarity[1] < 1.0
    assert similarity[2] < 0.1


def test_fingerprint_set_similarities_equal_rdkit_bulk_tanimoto():
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "OC(=O)c1ccccc1O", "CCCCCCCC", "c1ccncc1", "CN1CCC[C@H]1c1cccnc1",
              "O=C(O)CCc1ccccc1", "Clc1ccc(Cl)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"]  # fmt: skip
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    training = FingerprintSet(np.stack([np.frombuffer(packed_fingerprint(m), np.uint8) for m in mols[2:]]))
    for query in mols[:2]:
        expected = DataStructs.BulkTanimotoSimilarity(
            morgan_fingerprint(query), [morgan_fingerprint(m) for m in mols[2:]]
        )
        np.testing.assert_allclose(training.similarity(packed_fingerprint(query)), expected)
    empty = FingerprintSet(np.zeros((0, 256), np.uint8))
    assert empty.similarity_matrix([packed_fingerprint(mols[0])]).shape == (1, 0)


def test_nearest_per_group_is_each_groups_own_nearest():
    smiles = ["CCCCCCCC", "c1ccncc1", "CN1CCC[C@H]1c1cccnc1", "O=C(O)CCc1ccccc1", "Clc1ccc(Cl)cc1"]
    rows = np.stack([np.frombuffer(packed_fingerprint(Chem.MolFromSmiles(s)), np.uint8) for s in smiles])
    query = packed_fingerprint(Chem.MolFromSmiles("OC(=O)c1ccccc1O"))
    groups = [rows[:2], rows[2:2], rows[2:]]  # the middle group is empty
    similarity = FingerprintSet(rows).similarity_matrix([query, query])
    assert similarity.shape == (2, len(smiles))
    nearest = nearest_per_group(similarity, np.array([0, 2, 2]))
    expected = [FingerprintSet(g).similarity(query).max(initial=0.0) for g in groups]
    np.testing.assert_allclose(nearest, [expected, expected])
    assert nearest[0, 1] == 0.0 and nearest[0, 2] > nearest[0, 0]
