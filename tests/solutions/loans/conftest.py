"""Loans test fixtures: a tiny schema, synthetic applications, and a tiny model trained on them.

The model is trained once per test session with engine.train (a few seconds) and saved like a
shipped checkpoint, so the tests need nothing from ../shared.
"""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from solutions.loans.monitoring import reference_distributions
from solutions.loans.schema import Feature, FeatureSchema
from solutions.loans.scoring import Calibration, LoanScorer, fit_calibration
from solutions.loans.training import train_model

TINY_SIZES = {"d_model": 16, "n_layers": 1, "n_heads": 2, "n_experts": 2, "top_k": 1, "expert_hidden": 32, "dropout": 0.0}


def tiny_schema() -> FeatureSchema:
    return FeatureSchema(
        name="tiny",
        title="Tiny test loans",
        target="bad",
        features=(
            Feature("amount", "numeric", "Credit amount", "Amount requested is high", unit="EUR",
                    minimum=1, maximum=100_000, transform="signed_log1p"),
            Feature("age", "numeric", "Age", "Age", protected=True, unit="years", minimum=18,
                    maximum=100, integer=True),
            Feature("checking", "categorical", "Checking account", "Checking balance is low",
                    values={"low": "below zero", "mid": "0 to 200", "high": "200 or more"}),
            Feature("phone", "categorical", "Telephone", "No telephone registered", required=False,
                    values={"none": "none", "yes": "registered"}),
        ),
        age_feature="age",
    )


def synthetic_applications(n: int, seed: int, amount_scale: float = 1.0) -> tuple[list[dict], list[int]]:
    """Applications whose default risk rises with the amount and a low checking balance."""
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        amount = round(min(100_000, math.exp(rng.gauss(8.0, 1.0)) * amount_scale))
        checking = rng.choice(["low", "mid", "high"])
        row = {"amount": max(1.0, float(amount)), "age": float(rng.randint(18, 75)), "checking": checking,
               "phone": rng.choice(["none", "yes", None])}
        logit = 1.6 * (math.log(row["amount"]) - 8.0) + {"low": 1.5, "mid": 0.0, "high": -1.5}[checking] - 0.8
        rows.append(row)
        labels.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
    return rows, labels


@pytest.fixture
def schema() -> FeatureSchema:
    return tiny_schema()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding a tiny model as <root>/loans/german/ (the default model name)."""
    train = synthetic_applications(600, seed=1)
    valid = synthetic_applications(200, seed=2)
    schema = tiny_schema().with_statistics(train[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: extra threads only fight over the shared cores
    try:
        model, _ = train_model(schema, train, valid, TINY_SIZES, batch_size=64, epochs=6, lr=3e-3, patience=None, log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    raw = LoanScorer(model, schema, Calibration.identity()).raw_pd(valid[0])
    scorer = LoanScorer(model, schema, fit_calibration(raw, np.array(valid[1])))
    root = tmp_path_factory.mktemp("loan-models")
    directory = root / "loans" / "german"
    save_checkpoint(model, directory)
    scorer.save_extras(directory)
    reference = reference_distributions(schema, train[0], scorer.pd(train[0]))
    (directory / "reference.json").write_text(json.dumps(reference))
    (directory / "MODEL_CARD.md").write_text("# Tiny test model\n")
    return root


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir: Path) -> LoanScorer:
    return LoanScorer.load(tiny_model_dir / "loans" / "german")


@pytest.fixture
def loan_models(settings, tiny_model_dir: Path) -> Path:
    """Point the loans app at the tiny model for one test."""
    settings.QUORUM_MODELS_DIR = tiny_model_dir
    return tiny_model_dir

