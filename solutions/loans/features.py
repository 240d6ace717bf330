"""Validated applications to the engine's tabular batch.

The engine's tabular encoder takes `numeric` (B, Fn) float with NaN = missing and `categorical`
(B, Fc) long with 0 = missing/unknown. Numeric values are transformed and standardised with the
training statistics stored in the schema; a category's index is its position in the schema's
allowed values plus one.
"""

from typing import Any

import numpy as np
import torch

from solutions.loans.schema import FeatureSchema, transform_numeric


def category_index(schema: FeatureSchema) -> dict[str, dict[str, int]]:
    return {f.name: {code: i + 1 for i, code in enumerate(f.codes)} for f in schema.categorical}


def cardinalities(schema: FeatureSchema) -> list[int]:
    """Categories per categorical feature, the missing index 0 excluded (ModelConfig's convention)."""
    return [len(f.values) for f in schema.categorical]


def encode(schema: FeatureSchema, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Clean rows (from FeatureSchema.validate) -> {"numeric": (B, Fn), "categorical": (B, Fc)}."""
    numeric_features, categorical_features = schema.numeric, schema.categorical
    numeric = np.full((len(rows), len(numeric_features)), np.nan, dtype=np.float32)
    categorical = np.zeros((len(rows), len(categorical_features)), dtype=np.int64)
    index = category_index(schema)
    for b, row in enumerate(rows):
        for j, f in enumerate(numeric_features):
            value = row.get(f.name)
            if value is not None:
                numeric[b, j] = (transform_numeric(f, float(value)) - f.mean) / f.std
        for j, f in enumerate(categorical_features):
            value = row.get(f.name)
            if value is not None:
                categorical[b, j] = index[f.name].get(str(value), 0)
    return {"numeric": torch.from_numpy(numeric), "categorical": torch.from_numpy(categorical)}


def baseline_row(schema: FeatureSchema) -> dict[str, Any]:
    """The reference applicant of integrated gradients: training medians and modes."""
    return {f.name: f.baseline for f in schema.features}


def to_matrix(schema: FeatureSchema, rows: list[dict[str, Any]]) -> np.ndarray:
    """Rows as one float matrix for the classical baselines: raw numbers, category index, NaN missing."""
    index = category_index(schema)
    matrix = np.full((len(rows), len(schema.features)), np.nan)
    for b, row in enumerate(rows):
        for j, f in enumerate(schema.features):
            value = row.get(f.name)
            if value is None:
                continue
            matrix[b, j] = float(value) if f.kind == "numeric" else index[f.name].get(str(value), np.nan)
    return matrix
