"""Predictions: every endpoint with a value, an uncertainty and an applicability-domain flag."""

import pytest
from rdkit import Chem

from solutions.molecules.chemistry import packed_fingerprint
from solutions.molecules.features import (
    ATOM_FEATURE_CARDINALITIES,
    MAX_ATOMS,
    collate_graphs,
    featurise,
)
from solutions.molecules.neighbours import NeighbourBlend
from solutions.molecules.predict import DOMAIN_THRESHOLD, PropertyPredictor
from solutions.molecules.tasks import ENDPOINT_KEYS


def test_atom_features_are_in_range_and_distances_topological():
    graph = featurise(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert graph.atom_features.shape == (13, len(ATOM_FEATURE_CARDINALITIES))
    assert (graph.atom_features >= 1).all()
    assert (graph.atom_features <= ATOM_FEATURE_CARDINALITIES).all()
    assert graph.distances[0, 1] == 1 and graph.distances[0, 0] == 0
    assert not graph.truncated


def test_large_molecules_keep_the_first_max_atoms_and_are_flagged():
    graph = featurise(Chem.MolFromSmiles("C" * (MAX_ATOMS + 10)))
    assert graph.atom_features.shape[0] == MAX_ATOMS and graph.truncated


def test_collate_pads_with_zero_features_and_unreachable_distances():
    batch = collate_graphs([featurise(Chem.MolFromSmiles(s)) for s in ("CCO", "c1ccccc1")])
    assert batch["atom_features"].shape[:2] == (2, 6)
    assert batch["atom_mask"][0].tolist() == [True] * 3 + [False] * 3
    assert (batch["atom_features"][0, 3:] == 0).all()
    assert batch["distances"][0, 0, 5] == float("inf")


def test_predictions_carry_uncertainty_and_domain_flags(tiny_model):
    predictor = PropertyPredictor(tiny_model)
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "O=C1NC(=S)SC1=Cc1ccc(Br)cc1")]
    results = predictor.predict(mols, [packed_fingerprint(m) for m in mols])
    assert set(results[0]) == ENDPOINT_KEYS
    ethanol, rhodanine = results
    assert ethanol["esol"]["nearest_similarity"] == 1.0 and ethanol["esol"]["in_domain"]
    assert rhodanine["esol"]["nearest_similarity"] < DOMAIN_THRESHOLD
    assert not rhodanine["esol"]["in_domain"]
    assert ethanol["esol"]["uncertainty"] > 0
    assert 0 <= ethanol["bbbp"]["value"] <= 1 and 0 <= ethanol["bbbp"]["uncertainty"] <= 1


def test_the_uncertainty_grows_with_the_distance_to_the_training_set(tiny_model):
    predictor = PropertyPredictor(tiny_model)
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "O=C1NC(=S)SC1=Cc1ccc(Br)cc1")]
    fingerprints = [packed_fingerprint(m) for m in mols]
    predictor.domain_widening = {"esol": 0.0, "bbbp": 0.0}
    own = predictor.predict(mols, fingerprints)
    predictor.domain_widening = {"esol": 2.0, "bbbp": 2.0}
    widened = predictor.predict(mols, fingerprints)
    # Ethanol is a training molecule (distance 0): unchanged; the rhodanine is far: wider.
    assert widened[0]["esol"]["uncertainty"] == own[0]["esol"]["uncertainty"]
    assert widened[1]["esol"]["uncertainty"] > own[1]["esol"]["uncertainty"]
    assert widened[1]["bbbp"]["uncertainty"] >= own[1]["bbbp"]["uncertainty"]
    assert widened[1]["bbbp"]["value"] == own[1]["bbbp"]["value"]


def test_a_blended_head_serves_the_neighbours_labels_in_its_share(tiny_model):
    predictor = PropertyPredictor(tiny_model)
    # The tiny model's training molecules are labelled esol i / 2 and Tox21 i % 2 (conftest).
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC")]
    fingerprints = [packed_fingerprint(m) for m in mols]
    alone = predictor.predict(mols, fingerprints)
    predictor.neighbour_blend = {"esol": NeighbourBlend(1, 1.0, 1.0), "tox21": NeighbourBlend(1, 1.0, 0.5)}
    blended = predictor.predict(mols, fingerprints)
    # Each molecule is its own nearest training neighbour.
    assert [row["esol"]["value"] for row in blended] == [0.0, 0.5, 1.0, 1.5]
    for i, (own, mixed) in enumerate(zip(alone, blended, strict=True)):
        expected = 0.5 * own["tox21_SR-p53"]["value"] + 0.5 * (i % 2)
        assert mixed["tox21_SR-p53"]["value"] == pytest.approx(expected, abs=1e-4)
        assert mixed["bbbp"] == own["bbbp"]  # not blended
        assert mixed["tox21_SR-p53"]["neighbour_estimate"] == i % 2
        assert "neighbour_estimate" not in own["esol"] and "neighbour_estimate" not in mixed["bbbp"]
