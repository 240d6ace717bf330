"""train_base and evaluate on a tiny synthetic copy of the split files (no ../shared needed)."""

import csv
import json
import random

import pytest
from rdkit import Chem

from solutions.molecules import evaluation, training
from solutions.molecules.chemistry import packed_fingerprint
from solutions.molecules.predict import PropertyPredictor
from solutions.molecules.tasks import ENDPOINTS, TASKS

SMILES = [
    "CCO", "CCCO", "CCCCO", "CCN", "CCCN", "c1ccccc1", "Cc1ccccc1", "Oc1ccccc1", "Nc1ccccc1",
    "CC(=O)O", "CCC(=O)O", "c1ccncc1", "C1CCCCC1", "C1CCNCC1", "CC(C)O", "CCOC(C)=O",
]  # fmt: skip


def write_splits(folder):
    rng = random.Random(0)
    for task in TASKS:
        for split in ("train", "valid", "test"):
            with open(folder / f"{task.file_prefix}_{split}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["smiles", *task.columns])
                for i, smiles in enumerate(SMILES):
                    if task.kind == "regression":
                        labels = [round(len(smiles) / 4 + rng.gauss(0, 0.3), 2)]
                    else:
                        labels = [
                            (i + k) % 2 if (i + k) % 5 else "" for k in range(len(task.columns))
                        ]
                    writer.writerow([smiles, *labels])


@pytest.mark.slow
def test_train_base_writes_a_loadable_model_and_evaluate_reports_it_beside_the_forest(
    tmp_path, monkeypatch
):
    data, models = tmp_path / "data", tmp_path / "models"
    data.mkdir()
    write_splits(data)
    monkeypatch.setattr(evaluation, "RF_TREES", 10)
    messages = []
    training.train_base(data, models, messages.append, epochs=1, fit_dir=tmp_path / "fit")
    out = models / training.MODEL_NAME
    for name in (
        "config.json",
        "model.safetensors",
        "targets.json",
        "training_fingerprints.safetensors",
    ):
        assert (out / name).is_file()
    scaling = json.loads((out / "targets.json").read_text())["scaling"]
    assert set(scaling) == {"esol", "lipophilicity"}
    config = json.loads((out / "config.json").read_text())
    assert config["ensemble_members"] == training.ENSEMBLE_MEMBERS > 1
    assert any("epoch 1/1" in m for m in messages)
    # every dataset's training fingerprints are stored: a training molecule is its own nearest
    ethanol = Chem.MolFromSmiles("CCO")
    (served,) = PropertyPredictor(out).predict([ethanol], [packed_fingerprint(ethanol)])
    nearest = {task.head: served[key]["nearest_similarity"] for key, task, _ in ENDPOINTS}
    assert nearest == {task.head: 1.0 for task in TASKS}

    report = evaluation.evaluate(data, models, messages.append)
    assert "| esol | 16 | RMSE" in report and "| tox21 | 16 | mean ROC-AUC over 12 assays" in report
    assert "## Applicability domain" in report


def test_domain_widening_is_fitted_only_when_errors_grow_with_distance():
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    distance = rng.uniform(0, 1, 2000)
    esol = TASKS[0]
    # The model says std 0.5 everywhere; the real errors grow with the distance.
    output = torch.stack([torch.zeros(2000, 1), torch.full((2000, 1), 2 * np.log(0.5))], -1)
    growing = rng.normal(0, np.sqrt(0.25 + (2.0 * distance) ** 2))[:, None]
    constant = rng.normal(0, 0.5, 2000)[:, None]
    assert 1.6 < training.fit_domain_widening(esol, output, growing, distance) < 2.4
    assert training.fit_domain_widening(esol, output, constant, distance) < 0.3
