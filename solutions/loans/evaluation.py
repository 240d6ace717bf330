"""Test-split evaluation of the loan models with classical baselines trained in the same run.

For each dataset (German Credit, Taiwan): the shipped engine model (calibrated PD), logistic
regression, LightGBM tuned on the validation split, and a random forest, all on the fixed
train/valid/test split. Metrics: ROC-AUC, KS (max distance between the score distributions of
defaulters and non-defaulters) and Brier score.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from solutions.loans.features import encode, to_matrix
from solutions.loans.schema import FeatureSchema, read_split, shipped_schema

DATASETS = ("german", "taiwan")
ENGINE_LABEL = "Quorum MoE (engine, calibrated)"


def ks_statistic(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.max(tpr - fpr))


def metrics(labels: np.ndarray, pd: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(labels, pd)),
        "ks": ks_statistic(labels, pd),
        "brier": float(brier_score_loss(labels, pd)),
    }


def linear_features(schema: FeatureSchema, rows: list[dict[str, Any]]) -> np.ndarray:
    """Standardised numbers (missing = mean) and one-hot categories, for logistic regression."""
    batch = encode(schema, rows)
    numeric = np.nan_to_num(batch["numeric"].numpy(), nan=0.0)
    blocks = [numeric]
    for j, f in enumerate(schema.categorical):
        blocks.append(np.eye(len(f.values) + 1)[batch["categorical"][:, j].numpy()][:, 1:])
    return np.concatenate(blocks, axis=1)


def logistic_regression(schema, train, valid, test) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    best, best_auc = None, -1.0
    for c in (0.01, 0.1, 1.0, 10.0):
        fitted = LogisticRegression(C=c, max_iter=2000).fit(linear_features(schema, train[0]), train[1])
        auc = metrics(np.array(valid[1]), fitted.predict_proba(linear_features(schema, valid[0]))[:, 1])["roc_auc"]
        if auc > best_auc:
            best, best_auc = fitted, auc
    return best.predict_proba(linear_features(schema, test[0]))[:, 1]


def lightgbm(schema, train, valid, test) -> np.ndarray:
    import lightgbm as lgb

    categorical = [j for j, f in enumerate(schema.features) if f.kind == "categorical"]
    x_train, x_valid = to_matrix(schema, train[0]), to_matrix(schema, valid[0])
    best, best_auc = None, -1.0
    for leaves in (4, 8, 16, 31):
        for rate in (0.02, 0.05):
            for min_child in (10, 40):
                fitted = lgb.LGBMClassifier(
                    n_estimators=2000, learning_rate=rate, num_leaves=leaves, min_child_samples=min_child,
                    subsample=0.8, subsample_freq=1, colsample_bytree=0.8, verbose=-1, n_jobs=1, random_state=0,
                ).fit(
                    x_train, np.array(train[1]), eval_set=[(x_valid, np.array(valid[1]))], eval_metric="auc",
                    categorical_feature=categorical, callbacks=[lgb.early_stopping(100, verbose=False)],
                )
                auc = metrics(np.array(valid[1]), fitted.predict_proba(x_valid)[:, 1])["roc_auc"]
                if auc > best_auc:
                    best, best_auc = fitted, auc
    return best.predict_proba(to_matrix(schema, test[0]))[:, 1]


def random_forest(schema, train, valid, test) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier

    def matrix(rows):
        return np.nan_to_num(to_matrix(schema, rows), nan=-1.0)

    best, best_auc = None, -1.0
    for min_leaf in (3, 20):
        fitted = RandomForestClassifier(n_estimators=200, min_samples_leaf=min_leaf, n_jobs=1, random_state=0)
        fitted.fit(matrix(train[0]), train[1])
        auc = metrics(np.array(valid[1]), fitted.predict_proba(matrix(valid[0]))[:, 1])["roc_auc"]
        if auc > best_auc:
            best, best_auc = fitted, auc
    return best.predict_proba(matrix(test[0]))[:, 1]


BASELINES: dict[str, Callable] = {
    "Logistic regression": logistic_regression,
    "LightGBM (tuned on valid)": lightgbm,
    "Random forest": random_forest,
}


def evaluate(data_dir: Path, models_dir: Path, log: Callable[[str], None]) -> str:
    """Markdown table of test metrics: the shipped engine models beside the baselines."""
    from solutions.loans.scoring import LoanScorer

    lines = [
        "# Loan risk scoring: test-split evaluation",
        "",
        f"Data: `{data_dir}` (fixed stratified splits, seed 42). Command: "
        "`python manage.py evaluate loans --data PATH`. Baselines are trained and scored in the same run.",
        "",
        "| dataset | model | test ROC-AUC | KS | Brier |",
        "| --- | --- | --- | --- | --- |",
    ]
    verdicts: list[str] = []
    for name in DATASETS:
        checkpoint = Path(models_dir) / name
        schema = FeatureSchema.load(checkpoint / "schema.json") if (checkpoint / "schema.json").exists() \
            else shipped_schema(name, data_dir).with_statistics(read_split(shipped_schema(name, data_dir), data_dir, "train")[0])
        train, valid, test = (read_split(schema, data_dir, split) for split in ("train", "valid", "test"))
        labels = np.array(test[1])
        results = {}
        if (checkpoint / "config.json").exists():
            results[ENGINE_LABEL] = LoanScorer.load(checkpoint).pd(test[0])
        else:
            log(f"{name}: no checkpoint under {checkpoint}; run train_base first")
        for label, baseline in BASELINES.items():
            log(f"{name}: {label}")
            results[label] = baseline(schema, train, valid, test)
        scored = {label: metrics(labels, pd) for label, pd in results.items()}
        for label, m in scored.items():
            lines.append(f"| {name} | {label} | {m['roc_auc']:.3f} | {m['ks']:.3f} | {m['brier']:.4f} |")
        if ENGINE_LABEL in scored:
            best_label = max(BASELINES, key=lambda label: scored[label]["roc_auc"])
            ours, best = scored[ENGINE_LABEL], scored[best_label]
            verdicts.append(
                f"- {name}: engine ROC-AUC {ours['roc_auc']:.3f} vs best baseline ({best_label}) {best['roc_auc']:.3f} "
                f"({'met' if ours['roc_auc'] >= best['roc_auc'] else 'not met'}); Brier {ours['brier']:.4f} vs "
                f"{best['brier']:.4f} ({'better' if ours['brier'] < best['brier'] else 'not better'})."
            )
    lines += ["", "Aim: at least the best baseline's ROC-AUC with a better Brier score.", *verdicts]
    return "\n".join(lines) + "\n"
