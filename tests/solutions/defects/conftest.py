"""Defect test fixtures: a tiny untrained inspector saved like the shipped checkpoint.

Its weights are random (the tests check plumbing, not accuracy), its validation record is
synthetic, so nothing from ../shared is needed; the pipeline finds it through
settings.QUORUM_MODELS_DIR.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import ModelConfig
from engine.model import MoETransformer
from solutions.defects.datasets import CLASSES, DEFECT_CLASSES
from solutions.defects.inference import CLASSES_FILE, MODEL_NAME, VALIDATION_FILE, inspector_config

SAMPLES = Path(__file__).resolve().parents[3] / "solutions" / "defects" / "samples"
TINY_SIZES = {"d_model": 16, "n_layers": 1, "n_heads": 2, "n_experts": 2, "top_k": 1,
              "n_shared_experts": 0, "expert_hidden": 16, "dropout": 0.0, "image_size": 32,
              "patch_size": 8}  # fmt: skip


def synthetic_validation(seed: int = 0, n: int = 400) -> dict:
    rng = np.random.default_rng(seed)
    defective = rng.random(n) < 0.5
    scores = np.clip(np.where(defective, rng.beta(5, 2, n), rng.beta(2, 5, n)), 0, 1)
    return {
        "split": "valid", "defect_scores": scores.round(6).tolist(),
        "defect_classes": rng.choice(DEFECT_CLASSES, n).tolist(),
        "is_defective": defective.tolist(), "labels": ["free"] * n,
    }


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    config = ModelConfig.from_dict({**inspector_config().to_dict(), **TINY_SIZES})
    save_checkpoint(MoETransformer(config), models_dir / "defects" / MODEL_NAME, extra_files={
        CLASSES_FILE: json.dumps(list(CLASSES)),
        VALIDATION_FILE: json.dumps(synthetic_validation()),
    })
    return models_dir


@pytest.fixture
def tiny_model(settings, tiny_models_dir: Path, tmp_path: Path) -> Path:
    """Point the app at the tiny model, and storage at a fresh folder, for one test."""
    settings.QUORUM_MODELS_DIR = tiny_models_dir
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media")},
    }}
    return tiny_models_dir / "defects" / MODEL_NAME
