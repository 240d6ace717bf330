"""Training of the shipped loan models: one engine tabular model per dataset.

For each dataset: the schema with training statistics, a few small MoE configurations trained
with `engine.train.fit` (early stopping on validation ROC-AUC) and the best one kept, Platt or
isotonic calibration fitted on the validation split, and the training reference distributions
used by PSI monitoring. Everything lands in models/loans/<german|taiwan>/ beside a MODEL_CARD.md.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from engine.checkpoint import save_checkpoint
from engine.config import HeadSpec, ModelConfig
from engine.model import MoETransformer
from engine.train import fit
from solutions.loans.evaluation import DATASETS, metrics
from solutions.loans.features import cardinalities, encode
from solutions.loans.monitoring import reference_distributions
from solutions.loans.schema import FeatureSchema, read_split, shipped_schema
from solutions.loans.scoring import HEAD, Calibration, LoanScorer, fit_calibration

# Optional features are dropped at this rate while training, so the model has learned what a
# missing value means when an application leaves one out.
OPTIONAL_DROP_RATE = 0.1


class ApplicationDataset(Dataset):
    """Encoded rows with their labels; optional features randomly blanked when `drop_optional`."""

    def __init__(self, schema: FeatureSchema, rows: list[dict[str, Any]], labels: list[int], drop_optional: bool, seed: int = 0) -> None:
        self.batch = encode(schema, rows)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.optional_numeric = torch.tensor([not f.required for f in schema.numeric])
        self.optional_categorical = torch.tensor([not f.required for f in schema.categorical])
        self.drop_optional = drop_optional
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        numeric, categorical = self.batch["numeric"][i].clone(), self.batch["categorical"][i].clone()
        if self.drop_optional:
            drop_n = (torch.rand(numeric.shape, generator=self.generator) < OPTIONAL_DROP_RATE) & self.optional_numeric
            drop_c = (torch.rand(categorical.shape, generator=self.generator) < OPTIONAL_DROP_RATE) & self.optional_categorical
            numeric[drop_n] = float("nan")
            categorical[drop_c] = 0
        return {"numeric": numeric, "categorical": categorical, HEAD: self.labels[i]}


def default_probability(heads: dict[str, torch.Tensor]) -> np.ndarray:
    return torch.softmax(heads[HEAD].float(), dim=-1)[:, 1].numpy()


def valid_auc(heads: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    return metrics(targets[HEAD].numpy(), default_probability(heads))["roc_auc"]


SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 4, "n_experts": 4, "top_k": 2, "expert_hidden": 64, "dropout": 0.2}
MEDIUM = {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_experts": 4, "top_k": 2, "expert_hidden": 128, "dropout": 0.1}
# Per dataset: candidate sizes (the validation split picks one), batch size, epochs, learning
# rate, patience. Small enough for a shared 2-core CPU: Taiwan is 30 times German's rows.
SCHEDULE = {
    "german": ([MEDIUM, SMALL], 64, 60, 1e-3, 15),
    "taiwan": ([SMALL], 512, 20, 2e-3, 4),
}


def train_model(schema: FeatureSchema, train, valid, sizes: dict[str, Any], batch_size: int, epochs: int, lr: float,
                patience: int, log: Callable[[str], None], seed: int = 0) -> tuple[MoETransformer, float]:
    config = ModelConfig(
        **sizes, encoder="tabular", n_numeric=len(schema.numeric),
        categorical_cardinalities=cardinalities(schema), heads=[HeadSpec(HEAD, "multiclass", 2)],
    )
    torch.manual_seed(seed)
    model = MoETransformer(config)
    train_loader = DataLoader(ApplicationDataset(schema, *train, drop_optional=True, seed=seed), batch_size=batch_size, shuffle=True)
    valid_loader = DataLoader(ApplicationDataset(schema, *valid, drop_optional=False), batch_size=1024)

    def report(event: dict[str, Any]) -> None:
        if event["event"] == "epoch":
            log(f"  epoch {event['epoch']}: train loss {event['train_loss']:.4f}, valid AUC {event['metric']:.4f}")

    result = fit(model, train_loader, valid_loader, metric_fn=valid_auc, maximize=True, epochs=epochs, lr=lr,
                 weight_decay=0.05, warmup_steps=20, patience=patience, seed=seed, progress=report)
    return model.eval(), result.best_metric


def train_dataset(name: str, data_dir: Path, out_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    # These models are tiny: one thread is faster than several fighting over shared cores.
    torch.set_num_threads(1)
    base_schema = shipped_schema(name, data_dir)
    train = read_split(base_schema, data_dir, "train")
    schema = base_schema.with_statistics(train[0])
    valid, test = read_split(schema, data_dir, "valid"), read_split(schema, data_dir, "test")
    candidates, *schedule = SCHEDULE[name]
    best = None
    for sizes in candidates:
        log(f"{name}: training {sizes}")
        model, auc = train_model(schema, train, valid, sizes, *schedule, log)
        log(f"{name}: valid AUC {auc:.4f}")
        if best is None or auc > best[1]:
            best = (model, auc, sizes)
    model, auc, sizes = best
    raw_valid = LoanScorer(model, schema, Calibration.identity()).raw_pd(valid[0])
    calibration = fit_calibration(raw_valid, np.array(valid[1]))
    scorer = LoanScorer(model, schema, calibration)
    test_metrics = metrics(np.array(test[1]), scorer.pd(test[0]))
    out_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, out_dir)
    scorer.save_extras(out_dir)
    reference = reference_distributions(schema, train[0], scorer.pd(train[0]))
    (out_dir / "reference.json").write_text(json.dumps(reference) + "\n")
    summary = {"dataset": name, "sizes": sizes, "valid_auc": auc, "calibration": calibration.method,
               "test": test_metrics, "train_rows": len(train[1]), "valid_rows": len(valid[1]), "test_rows": len(test[1])}
    (out_dir / "MODEL_CARD.md").write_text(model_card(schema, summary))
    log(f"{name}: test {test_metrics}")
    return summary


DATA_NOTES = {
    "german": ("Statlog German Credit (Prof. Hans Hofmann, Universität Hamburg), UCI Machine Learning "
               "Repository, CC BY 4.0. 1,000 consumer loan applications, 20 attributes, 30 % bad."),
    "taiwan": ("Default of credit card clients, Taiwan 2005 (I-Cheng Yeh & Che-hui Lien, Expert Systems "
               "with Applications 36(2), 2009), UCI Machine Learning Repository, CC BY 4.0. 30,000 "
               "accounts, 22 % defaulted the next month."),
}


def model_card(schema: FeatureSchema, summary: dict[str, Any]) -> str:
    """MODEL_CARD.md: data, split, model, metrics, protected attributes and limitations."""
    test = summary["test"]
    protected = ", ".join(f.name for f in schema.protected) or "none"
    return f"""# Loan scoring model: {schema.title}

- **Data:** {DATA_NOTES.get(schema.name, schema.name)}
- **Split:** the fixed stratified split (seed 42) of `../shared/data/loans`: train {summary['train_rows']},
  valid {summary['valid_rows']}, test {summary['test_rows']} rows. Training statistics (standardisation,
  baselines, PSI reference bins) come from train only.
- **Model:** Quorum MoE transformer, tabular encoder (one token per feature), sizes {summary['sizes']},
  binary head `{HEAD}` (class 1 = default). Chosen on validation ROC-AUC ({summary['valid_auc']:.3f}).
  Optional features were blanked 10 % of the time in training so missing values score sensibly.
- **Calibration:** {summary['calibration']}, fitted on the validation split (`calibration.json`).
- **Test metrics (calibrated PD):** ROC-AUC {test['roc_auc']:.3f}, KS {test['ks']:.3f}, Brier {test['brier']:.4f}.
  Baselines beside it: `docs/evaluation/loans.md`.
- **Protected attributes:** {protected}. They are model inputs (as in the source data) but are never
  given as a principal reason; monitor approval-rate ratios with the fairness report.
- **Files:** `config.json` + `model.safetensors` (engine checkpoint), `schema.json` (features, codes,
  ranges, training statistics), `calibration.json`, `reference.json` (binned training distributions).
- **Limitations:** small, old, single-country data ({schema.name}); the population a lender scores will
  differ, so watch PSI and calibration against uploaded outcomes, and retrain or adapt per tenant.
  Reasons are integrated-gradient attributions relative to the training median/mode applicant.
"""


def train_base(data_dir: Path, models_dir: Path, log: Callable[[str], None]) -> None:
    """Train, calibrate and write both shipped models under models_dir/<dataset>/."""
    for name in DATASETS:
        train_dataset(name, Path(data_dir), Path(models_dir) / name, log)
