"""The test and validation metrics of the property tasks: RMSE for regressions, mean ROC-AUC
over the labelled columns for classifiers. NaN labels (a row's other datasets, an unmeasured
Tox21 assay) are skipped."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def mean_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC averaged over the columns that have both classes; NaN labels are skipped."""
    aucs = []
    for column in range(labels.shape[1]):
        present = ~np.isnan(labels[:, column])
        y = labels[present, column]
        if len(np.unique(y)) == 2:
            aucs.append(roc_auc_score(y, scores[present, column]))
    return float(np.mean(aucs)) if aucs else float("nan")


def rmse(labels: np.ndarray, predictions: np.ndarray) -> float:
    present = ~np.isnan(labels)
    return float(np.sqrt(np.mean((predictions[present] - labels[present]) ** 2)))


def task_metric(kind: str, labels: np.ndarray, predictions: np.ndarray) -> float:
    """RMSE of a regression, mean ROC-AUC of a classifier: labels and predictions (N, C)."""
    return rmse(labels, predictions) if kind == "regression" else mean_auc(labels, predictions)


def task_gain(kind: str, labels: np.ndarray, predictions: np.ndarray) -> float:
    """task_metric signed so that higher is better."""
    value = task_metric(kind, labels, predictions)
    return -value if kind == "regression" else value


def paired_bootstrap_share(
    kind: str, labels: np.ndarray, first: np.ndarray, second: np.ndarray, draws: int, seed: int = 0
) -> float:
    """The share of `draws` bootstrap resamples of the rows (the same rows for both) in which
    `first` scores better than `second`: how often a difference between two models holds up."""
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(draws):
        rows = rng.integers(0, len(labels), len(labels))
        wins += task_gain(kind, labels[rows], first[rows]) > task_gain(kind, labels[rows], second[rows])
    return wins / draws
