"""The committed molecules checkpoint: a five-model ensemble that loads and ranks as chemistry says."""

from pathlib import Path

from rdkit import Chem

from engine.ensemble import EnsembleTransformer
from solutions.molecules.chemistry import Standardizer, packed_fingerprint
from solutions.molecules.predict import PropertyPredictor
from solutions.molecules.training import ENSEMBLE_MEMBERS

CHECKPOINT = Path(__file__).resolve().parents[3] / "models" / "molecules" / "screening"


def test_the_shipped_ensemble_ranks_solubility_and_lipophilicity_the_right_way_round():
    predictor = PropertyPredictor(CHECKPOINT)
    assert isinstance(predictor.server.model, EnsembleTransformer)
    assert len(predictor.server.model.members) == ENSEMBLE_MEMBERS
    assert (CHECKPOINT / "MODEL_CARD.md").read_text().startswith("# Molecule screening property model")
    standardizer = Standardizer()
    # Ethanol dissolves (logS about 1), anthracene hardly (about -6.4); hexane is far more
    # lipophilic than glycine, and lipophilicity is measured as logD at pH 7.4.
    smiles = ["CCO", "c1ccc2cc3ccccc3cc2c1", "CCCCCC", "NCC(=O)O"]
    mols = [standardizer.standardize(Chem.MolFromSmiles(s))[0] for s in smiles]
    ethanol, anthracene, hexane, glycine = predictor.predict(mols, [packed_fingerprint(m) for m in mols])
    assert ethanol["esol"]["value"] > anthracene["esol"]["value"] + 2
    assert hexane["lipophilicity"]["value"] > glycine["lipophilicity"]["value"] + 1
    assert all(p["uncertainty"] > 0 for p in ethanol.values())


def test_the_shipped_checkpoint_blends_tox21_with_its_measured_neighbours():
    predictor = PropertyPredictor(CHECKPOINT)
    assert set(predictor.neighbour_blend) == {"tox21"}  # the head that passed its validation test
    for head, labels in predictor.training_labels.items():
        rows = predictor.fingerprint_groups[head]
        assert labels.shape[0] == rows.stop - rows.start  # one label row per training fingerprint
    mol = Standardizer().standardize(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))[0]
    (served,) = predictor.predict([mol], [packed_fingerprint(mol)])
    assert 0 <= served["tox21_SR-p53"]["neighbour_estimate"] <= 1
    assert "neighbour_estimate" not in served["bbbp"]
