"""Property predictions with the shipped multi-task model, each with uncertainty and domain flag.

The model runs through engine.serving (one model per worker process, requests batched across
jobs, the tenant's adapter applied per row). The applicability domain is the nearest training
neighbour's Tanimoto similarity on Morgan fingerprints, per dataset: a molecule whose nearest
neighbour in that dataset's training set is below `DOMAIN_THRESHOLD` is flagged out of domain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.conf import settings
from rdkit import Chem
from safetensors.numpy import load_file

from engine.heads import regression_mean_std
from engine.serving import PendingPrediction, get_server
from quorum.adapters.storage import resolve_adapter
from solutions.molecules.chemistry import FingerprintSet, nearest_per_group
from solutions.molecules.features import GlobalFeatures, MolGraph, featurise
from solutions.molecules.neighbours import NeighbourBlend, neighbour_estimates
from solutions.molecules.tasks import endpoint_key
from solutions.molecules.training import (
    FINGERPRINTS_FILE,
    LABELS_FILE,
    MODEL_NAME,
    TARGETS_FILE,
    served_values,
    widened_probability,
    widened_std,
)

# Below this nearest-neighbour Tanimoto similarity (Morgan r=2, 2048 bits) a molecule is out of
# the training domain; evaluation.py reports the metrics on both sides of it.
DOMAIN_THRESHOLD = 0.35


def default_checkpoint_dir() -> Path:
    return Path(settings.QUORUM_MODELS_DIR) / "molecules" / MODEL_NAME


class PropertyPredictor:
    """Predicts every endpoint of the checkpoint for a list of standardised molecules."""

    def __init__(self, checkpoint_dir: Path, blend_neighbours: bool = True) -> None:
        """blend_neighbours=False serves the model's values alone (the evaluation's comparison)."""
        self.checkpoint_dir = checkpoint_dir
        targets = json.loads((checkpoint_dir / TARGETS_FILE).read_text())
        self.tasks: list[dict[str, Any]] = targets["tasks"]
        self.scaling: dict[str, dict[str, float]] = targets["scaling"]
        # Absent from checkpoints trained before it: the model's own uncertainty alone.
        self.domain_widening: dict[str, float] = targets.get("domain_widening", {})
        stored = load_file(str(checkpoint_dir / FINGERPRINTS_FILE))
        # One set of every dataset's training fingerprints, searched once per molecule.
        self.fingerprint_heads = list(stored)
        self.training_fingerprints = FingerprintSet(
            np.concatenate([stored[h] for h in self.fingerprint_heads])
        )
        self.fingerprint_group_starts = np.cumsum(
            [0] + [len(stored[h]) for h in self.fingerprint_heads[:-1]]
        )
        self.fingerprint_groups = {
            head: slice(start, start + len(stored[head]))
            for head, start in zip(
                self.fingerprint_heads, self.fingerprint_group_starts.tolist(), strict=True
            )
        }
        labels_path = checkpoint_dir / LABELS_FILE
        self.training_labels = load_file(str(labels_path)) if labels_path.is_file() else {}
        # Absent from checkpoints trained before it: the model's values alone.
        self.neighbour_blend = {
            head: NeighbourBlend.from_json(blend)
            for head, blend in targets.get("neighbour_blend", {}).items()
            if blend_neighbours
        }
        self.global_features = GlobalFeatures.load(checkpoint_dir)
        # Tenant adapters are fetched from storage by version id (quorum.adapters).
        self.server = get_server(checkpoint_dir, adapter_resolver=resolve_adapter)

    def endpoints(self) -> list[dict[str, str]]:
        """Every endpoint the model predicts: key, dataset head, label column and unit."""
        return [
            {"key": endpoint_key(t["head"], c, len(t["columns"])), "head": t["head"],
             "column": c, "unit": t["unit"], "kind": t["kind"]}
            for t in self.tasks for c in t["columns"]
        ]  # fmt: skip

    def neighbour_estimates(self, similarity: np.ndarray) -> dict[str, np.ndarray]:
        """Per blended head: (M, C) the neighbours' label estimates from the similarity (M, N)
        of M molecules to every training molecule."""
        return {
            head: neighbour_estimates(
                similarity[:, self.fingerprint_groups[head]],
                self.training_labels[head],
                blend.k,
                blend.power,
            )
            for head, blend in self.neighbour_blend.items()
        }

    def predict(
        self,
        mols: list[Chem.Mol],
        fingerprints: list[bytes],
        adapter_id: str | None = None,
    ) -> list[dict[str, dict[str, Any]]]:
        """For each molecule: endpoint key -> value, uncertainty, in_domain, nearest_similarity."""
        return self.submit(mols, fingerprints, adapter_id).result()

    def submit(
        self,
        mols: list[Chem.Mol],
        fingerprints: list[bytes],
        adapter_id: str | None = None,
    ) -> PendingProperties:
        """Start the predictions of `predict`: the model runs on the server's thread while the
        caller goes on (a screening job analyses its next chunk); `.result()` gives them."""
        if not mols:
            return PendingProperties(self, [], [], {}, None)
        graphs = [featurise(mol, self.global_features) for mol in mols]
        rows = [
            {
                "atom_features": torch.from_numpy(g.atom_features),
                "atom_mask": torch.ones(g.atom_features.shape[0], dtype=torch.bool),
                "distances": torch.from_numpy(g.distances),
                **(
                    {"global_features": torch.from_numpy(g.global_features)}
                    if g.global_features is not None
                    else {}
                ),
            }
            for g in graphs
        ]
        pending = self.server.submit(rows, adapter_id)
        similarity = self.training_fingerprints.similarity_matrix(fingerprints)  # (M, N)
        nearest = nearest_per_group(similarity, self.fingerprint_group_starts)
        similarities = [
            dict(zip(self.fingerprint_heads, row, strict=True)) for row in nearest.tolist()
        ]
        return PendingProperties(
            self, graphs, similarities, self.neighbour_estimates(similarity), pending
        )

    def assemble(
        self,
        graphs: list[MolGraph],
        similarities: list[dict[str, float]],
        estimates: dict[str, np.ndarray],
        outputs: dict[str, torch.Tensor],
    ) -> list[dict[str, dict[str, Any]]]:
        """Per molecule and endpoint: value, uncertainty and domain, from the model's outputs
        and, for a blended head, the neighbours' estimates."""
        per_head = {}
        for task in self.tasks:
            head = task["head"]
            output = outputs[head].float()
            distance = 1.0 - np.array([[s[head]] for s in similarities])  # (B, 1)
            width = self.domain_widening.get(head, 0.0)
            values = served_values(task["kind"], output, self.scaling.get(head))
            if head in estimates:
                values = self.neighbour_blend[head].apply(values, estimates[head])
            if task["kind"] == "regression":
                _, std = regression_mean_std(output)
                spread = widened_std(std.numpy(), distance, width) * self.scaling[head]["std"]
            else:
                spread = _binary_entropy(widened_probability(values, distance, width))
            per_head[head] = (values, spread)
        results = []
        for row, (graph, similarity) in enumerate(zip(graphs, similarities, strict=True)):
            predictions = {}
            for task in self.tasks:
                head = task["head"]
                values, spread = per_head[head]
                for column_index, column in enumerate(task["columns"]):
                    key = endpoint_key(head, column, len(task["columns"]))
                    predictions[key] = {
                        "value": round(float(values[row, column_index]), 4),
                        "uncertainty": round(float(spread[row, column_index]), 4),
                        "nearest_similarity": round(similarity[head], 3),
                        "in_domain": similarity[head] >= DOMAIN_THRESHOLD,
                        **({"truncated": True} if graph.truncated else {}),
                        **_neighbour_field(estimates.get(head), row, column_index),
                    }
            results.append(predictions)
        return results


@dataclass
class PendingProperties:
    """Predictions under way (`PropertyPredictor.submit`)."""

    predictor: PropertyPredictor
    graphs: list[MolGraph]
    similarities: list[dict[str, float]]
    estimates: dict[str, np.ndarray]  # per blended head, (M, C) neighbour estimates
    pending: PendingPrediction | None  # None for no molecules

    def result(self) -> list[dict[str, dict[str, Any]]]:
        if self.pending is None:
            return []
        return self.predictor.assemble(
            self.graphs, self.similarities, self.estimates, self.pending.result()
        )


def _neighbour_field(estimates: np.ndarray | None, row: int, column: int) -> dict[str, float]:
    """The neighbours' own estimate beside a blended value, so a chemist sees both sides."""
    if estimates is None or np.isnan(estimates[row, column]):
        return {}
    return {"neighbour_estimate": round(float(estimates[row, column]), 4)}


def _binary_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Predictive entropy in bits: 0 for a certain call, 1 for a coin toss."""
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


@lru_cache(maxsize=4)
def load_predictor(checkpoint_dir: Path | None = None) -> PropertyPredictor | None:
    """The process's predictor, or None when no checkpoint has been trained and committed."""
    directory = checkpoint_dir or default_checkpoint_dir()
    if not (directory / TARGETS_FILE).is_file():
        return None
    return PropertyPredictor(directory)
