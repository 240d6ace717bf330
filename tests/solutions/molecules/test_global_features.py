"""Whole-molecule features for the CLS token: descriptor CDFs and Morgan counts."""

import math

import numpy as np
import pytest
from rdkit import Chem

from solutions.molecules.features import (
    DESCRIPTOR_NAMES,
    GlobalFeatures,
    collate_graphs,
    featurise,
    raw_descriptors,
)

SMILES = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "OC(=O)CCCCC(=O)O"]


def _fitted() -> GlobalFeatures:
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    return GlobalFeatures.fit(np.stack([raw_descriptors(m) for m in mols]))


def test_descriptors_are_bounded_and_counts_are_log_counts():
    features = _fitted()
    vector = features(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert vector.shape == (features.width,) and vector.dtype == np.float32
    descriptors, counts = vector[: len(DESCRIPTOR_NAMES)], vector[len(DESCRIPTOR_NAMES) :]
    assert np.all(np.abs(descriptors[~np.isnan(descriptors)]) <= math.sqrt(3) + 1e-6)
    assert counts.min() == 0 and counts.max() > 0
    # A molecule far outside the training range saturates instead of exploding.
    huge = features(Chem.MolFromSmiles("C" * 60))
    assert np.nanmax(np.abs(huge[: len(DESCRIPTOR_NAMES)])) <= math.sqrt(3) + 1e-6


def test_a_descriptor_this_rdkit_lacks_is_unknown_not_an_error():
    features = _fitted()
    features.descriptor_names = ("NoSuchDescriptor", *features.descriptor_names[1:])
    vector = features(Chem.MolFromSmiles("CCO"))
    assert math.isnan(vector[0]) and not np.isnan(vector[1:]).any()


def test_the_fitted_form_round_trips_through_json():
    features = _fitted()
    again = GlobalFeatures.from_json(features.to_json())
    mol = Chem.MolFromSmiles("c1ccncc1")
    np.testing.assert_allclose(again(mol), features(mol), atol=1e-5)


def test_graphs_with_global_features_collate_into_the_batch_key():
    features = _fitted()
    batch = collate_graphs([featurise(Chem.MolFromSmiles(s), features) for s in ("CCO", "CCN")])
    assert batch["global_features"].shape == (2, features.width)
    assert "global_features" not in collate_graphs([featurise(Chem.MolFromSmiles("CCO"))])


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1O", "[Na+].[Cl-]", "OC(=O)c1ccncc1"])
def test_estate_summaries_read_once_equal_rdkits_own(smiles):
    from solutions.molecules.features import _DESCRIPTOR_FUNCTIONS, _ESTATE_SUMMARIES

    mol = Chem.MolFromSmiles(smiles)
    values = raw_descriptors(mol)
    for name in _ESTATE_SUMMARIES:
        assert values[DESCRIPTOR_NAMES.index(name)] == pytest.approx(_DESCRIPTOR_FUNCTIONS[name](mol))
