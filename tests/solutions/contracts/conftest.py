"""Contract test fixtures: a tiny clause model (random trunk, tokenizer trained on the sample
contract) saved like the shipped checkpoint, and an in-process job runner. Nothing from
../shared is needed; the pipeline finds the model through settings.QUORUM_MODELS_DIR."""

import json
from pathlib import Path

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import HeadSpec
from engine.model import MoETransformer
from engine.tokenizer import TextTokenizer
from solutions.contracts.classifier import HEAD, LABELS_FILE
from solutions.contracts.training import MODEL_NAME, model_config

SAMPLES = Path(__file__).resolve().parents[3] / "solutions" / "contracts" / "samples"
CATEGORIES = ["Parties", "Governing Law", "Cap on Liability", "Uncapped Liability", "Renewal Term"]


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    tokenizer = TextTokenizer.train([(SAMPLES / "master_services_agreement.txt").read_text()], vocab_size=300, min_frequency=1)
    config = model_config(tokenizer.vocab_size, [HeadSpec(HEAD, "multilabel", len(CATEGORIES))])
    config = type(config).from_dict({**config.to_dict(), "d_model": 16, "n_layers": 1, "n_heads": 2, "n_experts": 2,
                                     "top_k": 1, "expert_hidden": 16})
    # Threshold 0: every segment gets every category, so the test sees findings whatever the weights.
    save_checkpoint(MoETransformer(config), models_dir / "contracts" / MODEL_NAME, extra_files={
        "tokenizer.json": tokenizer.to_json(), LABELS_FILE: json.dumps({"categories": CATEGORIES, "threshold": 0.0}),
    })
    return models_dir


@pytest.fixture
def tiny_model(settings, tiny_models_dir: Path, tmp_path: Path) -> Path:
    settings.QUORUM_MODELS_DIR = tiny_models_dir
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "media")},
    }}
    return tiny_models_dir / "contracts" / MODEL_NAME
