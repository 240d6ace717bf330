"""Molecule test fixtures: a tiny untrained property model saved like the shipped checkpoint.

The weights are random (the tests check plumbing, not accuracy), so nothing from ../shared is
needed; the pipeline finds the model through settings.QUORUM_MODELS_DIR.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from engine.config import ModelConfig
from engine.model import MoETransformer
from solutions.molecules import predict
from solutions.molecules.features import GlobalFeatures, raw_descriptors
from solutions.molecules.tasks import TASKS, Task
from solutions.molecules.training import MODEL_NAME, Example, model_config, save_model

SAMPLES = Path(__file__).resolve().parents[3] / "solutions" / "molecules" / "samples"
TINY_SIZES = {"d_model": 16, "n_layers": 1, "n_heads": 2, "n_experts": 2, "top_k": 1,
              "expert_hidden": 32, "dropout": 0.0}  # fmt: skip
TRAINING_SMILES = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC"]


def training_examples(task: Task, mols: list[Chem.Mol]) -> list[Example]:
    """The molecules labelled in every column: i / 2 for a regression, alternating 0/1 else."""
    return [
        Example(
            Chem.MolToSmiles(mol),
            mol,
            np.full(len(task.columns), i / 2 if task.kind == "regression" else i % 2, dtype=float),
        )
        for i, mol in enumerate(mols)
    ]


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    mols = [Chem.MolFromSmiles(s) for s in TRAINING_SMILES]
    global_features = GlobalFeatures.fit(np.stack([raw_descriptors(m) for m in mols]))
    config = ModelConfig.from_dict(
        {**model_config(global_features.width).to_dict(), **TINY_SIZES}
    )
    save_model(
        MoETransformer(config),
        models_dir / "molecules" / MODEL_NAME,
        {"esol": {"mean": -3.0, "std": 2.0}, "lipophilicity": {"mean": 2.0, "std": 1.2}},
        {task.head: training_examples(task, mols) for task in TASKS},
        global_features,
    )
    return models_dir


@pytest.fixture
def tiny_model(settings, tiny_models_dir: Path) -> Path:
    """Point the pipeline at the tiny model for this test."""
    settings.QUORUM_MODELS_DIR = tiny_models_dir
    predict.load_predictor.cache_clear()
    yield tiny_models_dir / "molecules" / MODEL_NAME
    predict.load_predictor.cache_clear()
