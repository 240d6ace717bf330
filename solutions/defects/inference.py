"""The inspector model: its configuration, loading a checkpoint, and one batched prediction call.

One MoE transformer over image patches carries three heads: `label` (the defect class over
NEU-DET's and magnetic tile's classes plus "free"), `defect` (one logit: is the part
defective) and `map` (defect or clean per cell of the image, a dense head at 4-pixel cells). Pipeline, evaluation and benchmark all
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
from engine.ensemble import flip_averaged_heads
from engine.model import MoETransformer
from engine.serving import get_server
from quorum.adapters.storage import resolve_adapter
from solutions.defects.datasets import CLASSES, DEFECT_CLASSES
from solutions.defects.maps import BOX_THRESHOLD

MODEL_NAME = "inspector"
# Flipped views of each image averaged per prediction (engine.ensemble.flip_averaged_heads).
# Chosen on the valid split with the shipped checkpoint, one view against four: magnetic-tile
# defect ROC-AUC 0.972 -> 0.991, class accuracy 0.886 -> 0.949, pixel ROC-AUC of the map
# 0.865 -> 0.980 (a single view misses much of a few large defects that another view finds);
# the price is four forward passes per image.
VIEWS = 4
CLASSES_FILE = "classes.json"
VALIDATION_FILE = "validation.json"  # valid-split predictions, for choosing thresholds


def inspector_config(image_size: int = 224, patch_size: int = 16) -> ModelConfig:
    """The shipped inspector's shape: small enough to train and serve on two CPU cores.

    A three-step convolutional stem with a residual block per step (224 -> 28 px) feeds 2x2
    patches of its output to the transformer as 14x14 tokens, and the map head decodes those
    tokens with the stem's features back to 4-pixel cells (56x56), where a magnetic-tile
    blowhole or crack still covers a few cells. Each image is standardised first, so exposure
    and gain do not move the input. No dropout: on the CPU it forces the slow attention path.
    """
    return ModelConfig(
        d_model=64, n_layers=3, n_heads=4, n_experts=6, top_k=2, n_shared_experts=1,
        expert_hidden=128, dropout=0.0, encoder="image", image_size=image_size,
        patch_size=patch_size, channels=1, stem_channels=[16, 32, 64], stem_blocks=1,
        pixel_norm="image", dense_stride=4, decoder_channels=32,
        heads=[
            HeadSpec(name="label", kind="multiclass", n_outputs=len(CLASSES)),
            HeadSpec(name="defect", kind="multilabel", n_outputs=1),
            HeadSpec(name="map", kind="dense", n_outputs=2),
        ],
    )


def map_stride(config: ModelConfig) -> int:
    """Pixels per cell of the model's defect map: a patch, or dense_stride for a dense head."""
    kind = next(spec.kind for spec in config.heads if spec.name == "map")
    return config.dense_stride if kind == "dense" else config.patch_size


@dataclass
class Predictions:
    """Per image: class probabilities (B, n_classes), defect score (B,), cell maps (B, g, g)."""

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
    """Predicts through `forward` (a model's heads, or the engine's batching model server),
    averaging `views` flipped copies of each image."""

    def __init__(
        self, forward: HeadForward, config: ModelConfig, box_threshold: float = BOX_THRESHOLD, views: int = VIEWS
    ) -> None:
        self.forward = forward
        self.config = config
        self.views = views
        self.image_size = config.image_size
        self.grid = config.image_size // map_stride(config)
        self.box_threshold = box_threshold  # map probability where a defect region starts

    @classmethod
    def from_model(cls, model: MoETransformer, box_threshold: float = BOX_THRESHOLD) -> Inspector:
        model.eval()
        return cls(lambda batch: model(batch).heads, model.config, box_threshold)

    @torch.inference_mode()
    def predict(self, pixels: torch.Tensor | np.ndarray, batch_size: int = 32) -> Predictions:
        """pixels (B, 1, S, S) in [0, 1] at the model's input size; batch_size counts the rows of
        one forward, views included. On 2 CPU cores, four views of 128 images ran at 27, 25, 20
        and 17 images/s in forwards of 16, 32, 64 and 128 rows: small forwards stay in cache."""
        pixels = torch.as_tensor(pixels, dtype=torch.float32)
        images_per_forward = max(1, batch_size // self.views)
        probs, scores, maps = [], [], []
        for start in range(0, pixels.shape[0], images_per_forward):
            chunk = {"pixels": pixels[start : start + images_per_forward]}
            out = flip_averaged_heads(self.forward, chunk, self.config, self.views)
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
    return Inspector.from_model(load_checkpoint(model_dir), box_threshold(model_dir))


def served_inspector(model_dir: Path, adapter_id: str | None = None, **server_options: Any) -> Inspector:
    """An inspector over the process's shared model server (jobs of every tenant batch together)."""
    check_classes(model_dir)
    server = get_server(model_dir, adapter_resolver=resolve_adapter, **server_options)
    config = ModelConfig.load(model_dir / CONFIG_FILE)
    return Inspector(lambda batch: server.predict(batch, adapter_id), config, box_threshold(model_dir))


def read_validation(model_dir: Path) -> dict:
    """The valid-split predictions saved with the checkpoint: scores, classes, truth."""
    return json.loads((model_dir / VALIDATION_FILE).read_text())


def box_threshold(model_dir: Path) -> float:
    """The map threshold chosen for this checkpoint's boxes on valid (or the default)."""
    return float(read_validation(model_dir).get("box_threshold", BOX_THRESHOLD))
