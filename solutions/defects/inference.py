"""The inspector model: its configuration, loading a checkpoint, and one batched prediction call.

One MoE transformer over image patches carries three heads: `label` (the defect class over
NEU-DET's and magnetic tile's classes plus "free"), `defect` (one logit: is the part
defective) and `map` (per patch: defect or clean). Pipeline, evaluation and benchmark all
predict through `Inspector.predict`; jobs go through the engine's shared model server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoint import CONFIG_FILE, load_checkpoint
from engine.config import HeadSpec, ModelConfig
from engine.model import MoETransformer
from engine.serving import get_server
from quorum.adapters.storage import resolve_adapter
from solutions.defects.datasets import CLASSES, DEFECT_CLASSES

MODEL_NAME = "inspector"
CLASSES_FILE = "classes.json"
VALIDATION_FILE = "validation.json"  # valid-split predictions, for choosing thresholds


def inspector_config(image_size: int = 160, patch_size: int = 16) -> ModelConfig:
    """The shipped inspector's shape: small enough to train and serve on two CPU cores.

    A three-step convolutional stem (160 -> 20 px) feeds 2x2 patches of its output, so each of
    the 10x10 tokens sees local texture at a resolution where magnetic-tile blowholes and cracks
    still span a few pixels.
    """
    return ModelConfig(
        d_model=64, n_layers=3, n_heads=4, n_experts=6, top_k=2, n_shared_experts=1,
        expert_hidden=128, dropout=0.05, encoder="image", image_size=image_size,
        patch_size=patch_size, channels=1, stem_channels=[16, 32, 64],
        heads=[
            HeadSpec(name="label", kind="multiclass", n_outputs=len(CLASSES)),
            HeadSpec(name="defect", kind="multilabel", n_outputs=1),
            HeadSpec(name="map", kind="token", n_outputs=2),
        ],
    )


@dataclass
class Predictions:
    """Per image: class probabilities (B, n_classes), defect score (B,), patch maps (B, g, g)."""

    class_probs: np.ndarray
    defect_scores: np.ndarray
    patch_maps: np.ndarray

    def defect_classes(self) -> list[str]:
        """Most likely defect class per image, ignoring "free" (thresholds are per defect class)."""
        defect_probs = self.class_probs[:, : len(DEFECT_CLASSES)]
        return [DEFECT_CLASSES[i] for i in defect_probs.argmax(axis=1)]

    def top_classes(self) -> list[str]:
        return [CLASSES[i] for i in self.class_probs.argmax(axis=1)]


HeadForward = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class Inspector:
    """Predicts through `forward` (a model's heads, or the engine's batching model server)."""

    def __init__(self, forward: HeadForward, config: ModelConfig) -> None:
        self.forward = forward
        self.image_size = config.image_size
        self.grid = config.image_size // config.patch_size

    @classmethod
    def from_model(cls, model: MoETransformer) -> Inspector:
        model.eval()
        return cls(lambda batch: model(batch).heads, model.config)

    @torch.inference_mode()
    def predict(self, pixels: torch.Tensor | np.ndarray, batch_size: int = 64) -> Predictions:
        """pixels (B, 1, S, S) in [0, 1] at the model's input size."""
        pixels = torch.as_tensor(pixels, dtype=torch.float32)
        probs, scores, maps = [], [], []
        for start in range(0, pixels.shape[0], batch_size):
            out = self.forward({"pixels": pixels[start : start + batch_size]})
            probs.append(torch.softmax(out["label"].float(), dim=-1))
            scores.append(torch.sigmoid(out["defect"][:, 0].float()))
            patch = torch.softmax(out["map"].float(), dim=-1)[..., 1]  # (B, T)
            maps.append(patch.reshape(-1, self.grid, self.grid))
        if not probs:
            return Predictions(
                np.zeros((0, len(CLASSES)), np.float32), np.zeros((0,), np.float32),
                np.zeros((0, self.grid, self.grid), np.float32),
            )
        return Predictions(
            class_probs=torch.cat(probs).numpy(), defect_scores=torch.cat(scores).numpy(),
            patch_maps=torch.cat(maps).numpy(),
        )


def check_classes(model_dir: Path) -> None:
    classes = tuple(json.loads((model_dir / CLASSES_FILE).read_text()))
    if classes != CLASSES:
        raise ValueError(f"{model_dir} was trained for classes {classes}, this code expects {CLASSES}")


def load_inspector(model_dir: Path) -> Inspector:
    """An inspector over a checkpoint loaded into this caller (evaluation, benchmarks)."""
    check_classes(model_dir)
    return Inspector.from_model(load_checkpoint(model_dir))


def served_inspector(model_dir: Path, adapter_id: str | None = None, **server_options: Any) -> Inspector:
    """An inspector over the process's shared model server (jobs of every tenant batch together)."""
    check_classes(model_dir)
    server = get_server(model_dir, adapter_resolver=resolve_adapter, **server_options)
    config = ModelConfig.load(model_dir / CONFIG_FILE)
    return Inspector(lambda batch: server.predict(batch, adapter_id), config)


def read_validation(model_dir: Path) -> dict:
    """The valid-split predictions saved with the checkpoint: scores, classes, truth."""
    return json.loads((model_dir / VALIDATION_FILE).read_text())
