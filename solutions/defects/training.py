"""Train the shipped inspector checkpoint on NEU-DET and magnetic tile with engine.train.fit.

`python manage.py train_base defects --data PATH` calls `train_base`, which writes
models/defects/inspector/ (config.json, model.safetensors, classes.json, validation.json with
the valid-split predictions the threshold page needs, MODEL_CARD.md).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import ModelConfig
from engine.model import MoETransformer
from engine.train import fit
from solutions.defects.datasets import (
    CLASSES,
    NEU_SIZE,
    DefectSet,
    augment,
    load_split,
    patch_targets,
)
from solutions.defects.inference import (
    CLASSES_FILE,
    MODEL_NAME,
    VALIDATION_FILE,
    Inspector,
    inspector_config,
    map_stride,
)
from solutions.defects.maps import BOX_THRESHOLD, choose_box_threshold

EPOCHS = int(os.environ.get("QUORUM_DEFECTS_EPOCHS", "40"))
# Magnetic-tile images are a third of the train split and their defects are small: each is
# seen this many times per epoch so the defect score and map learn them too.
TILE_REPEATS = int(os.environ.get("QUORUM_DEFECTS_TILE_REPEATS", "3"))
# "1": start from the weights already in models/defects/inspector (a further run of epochs).
CONTINUE = os.environ.get("QUORUM_DEFECTS_CONTINUE", "") == "1"
BATCH_SIZE = 32
SEED = 42


class DefectBatches:
    """Batches for engine.train.fit: pixels plus the targets of the three heads.

    With `augment_batches` every pass reshuffles and draws fresh augmentations from torch's
    global generator, which fit seeds per epoch, so a run is reproducible.
    """

    def __init__(
        self, data: DefectSet, map_stride: int, batch_size: int, augment_batches: bool, tile_repeats: int = 1
    ) -> None:
        self.data = data
        self.map_stride = map_stride  # pixels per cell of the map head's targets
        self.batch_size = batch_size
        self.augment_batches = augment_batches
        repeats = torch.tensor([tile_repeats if s == "magnetic_tile" else 1 for s in data.sources])
        self.pool = torch.repeat_interleave(torch.arange(len(data)), repeats)
        self.steel = torch.tensor([s == "neu_det" for s in data.sources])  # gets the camera changes

    def __len__(self) -> int:
        return (len(self.pool) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        n = len(self.pool)
        order = self.pool[torch.randperm(n)] if self.augment_batches else self.pool
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,))))
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            pixels, masks = self.data.pixels[index], self.data.masks[index]
            if self.augment_batches:
                pixels, masks = augment(pixels, masks, generator, robust=self.steel[index])
            yield {
                "pixels": pixels,
                "label": self.data.labels[index],
                "defect": self.data.defective[index][:, None],
                "map": patch_targets(masks, self.map_stride),
            }


def validation_metric(valid: DefectSet) -> Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], float]:
    """Mean of class accuracy, magnetic-tile defect ROC-AUC and patch-map ROC-AUC on valid.

    The defect AUC is over magnetic-tile images only: every NEU-DET image is defective, so over
    both sets it would mostly reward telling steel from tile.
    """
    tile = torch.tensor([source == "magnetic_tile" for source in valid.sources])

    def metric(heads: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
        accuracy = float((heads["label"].argmax(dim=1) == targets["label"]).float().mean())
        defect_auc = roc_auc_score(targets["defect"][tile, 0].numpy(), heads["defect"][tile, 0].float().numpy())
        known = targets["map"] != -100
        patch_scores = torch.softmax(heads["map"][known].float(), dim=-1)[:, 1].numpy()
        map_auc = roc_auc_score(targets["map"][known].numpy(), patch_scores)
        return (accuracy + defect_auc + map_auc) / 3.0

    return metric


def validation_record(inspector: Inspector, valid: DefectSet) -> dict:
    """What the threshold page and the boxes need from the valid split, saved next to the weights:
    the defect scores with their truth, and the map threshold whose boxes best match NEU-DET's."""
    predictions = inspector.predict(valid.pixels)
    neu = [i for i, source in enumerate(valid.sources) if source == "neu_det"]
    threshold, by_threshold = choose_box_threshold(
        predictions.patch_maps[neu], [valid.boxes[i] for i in neu], NEU_SIZE
    ) if neu else (BOX_THRESHOLD, {})
    return {
        "split": "valid",
        "defect_scores": [round(float(s), 6) for s in predictions.defect_scores],
        "defect_classes": predictions.defect_classes(),
        "is_defective": [bool(d) for d in valid.defective.tolist()],
        "labels": [CLASSES[i] for i in valid.labels.tolist()],
        "box_threshold": threshold,
        "box_recall_and_iou_by_threshold": by_threshold,
    }


def model_card(
    config: ModelConfig, history: list[dict], best_epoch: int, train: DefectSet, valid: DefectSet, minutes: float,
    threads: int,
) -> str:
    best = history[best_epoch]
    best_epoch += 1  # the card counts epochs from 1, as the training log does
    size, patch, grid = config.image_size, config.patch_size, config.image_size // config.patch_size
    stride = map_stride(config)
    stem = " -> ".join(str(c) for c in config.stem_channels)
    blocks = f", each followed by {config.stem_blocks} residual 3x3 block(s)" if config.stem_blocks else ""
    norm = "each image standardised to zero mean and unit variance" if config.pixel_norm == "image" else "pixels mapped to [-1, 1]"
    return f"""# Defect inspector (base checkpoint)

One MoE transformer over the {grid}x{grid} patches ({patch}x{patch} pixels) of a {size}x{size}
grayscale image ({norm}): engine PatchEncoder with a convolutional stem (3x3 stride-2
convolutions of {stem} channels, GroupNorm, GELU{blocks}) and a patch projection, then
{config.n_layers} blocks, d_model {config.d_model}, {config.n_experts} routed experts top-{config.top_k} +
{config.n_shared_experts} shared; three heads: `label` (12 classes: NEU-DET's six steel defects,
magnetic tile's five defects, and `free` = defect-free tile), `defect` (defect score, one
logit) and `map` (defect or clean per {stride}x{stride}-pixel cell: a {size // stride}x{size // stride} map,
{"decoded from the patch tokens with the stem's features as skip connections (engine DenseHead)" if stride != patch else "one cell per patch"}).

## Data
- NEU-DET steel surface defects (K. Song, Y. Yan, Applied Surface Science 285, 2013; boxes from
  Y. He et al., IEEE TIM 69(4), 2020): boxes rasterised to per-cell targets.
- Magnetic-tile surface defects (Y. Huang, C. Qiu, K. Yuan, The Visual Computer 36, 2020):
  pixel masks to per-cell targets; 4 `uneven` images with empty masks have no map target.
- Split: the fixed split files of `../shared/data/defects` (stratified, seed 42): trained on
  train ({len(train)} images), best epoch and box threshold chosen on valid ({len(valid)} images);
  test untouched.
- Augmentations (datasets.augment): steel images get another camera's changes (rotations in
  90-degree steps and +-15 degrees, flips, zoom 0.75-1, brightness, contrast, gamma, blur,
  down-scaling to 40-90 % and back, noise); magnetic-tile images get exact flips only, since
  their defects are a few faint pixels that blur and resampling erase.

## License
Both datasets are distributed for research use by their authors with **no explicit license**.
This checkpoint is derived from them: research use only; check the authors' terms before any
commercial use, and cite the papers above.

## Training
`python manage.py train_base defects --data ../shared/data/defects` (engine.train.fit),
{len(history)} epochs, batch {BATCH_SIZE}, seed {SEED}, {threads} torch thread(s), magnetic-tile images
repeated {TILE_REPEATS}x per epoch{"; this run continued from the previous checkpoint's weights (QUORUM_DEFECTS_CONTINUE=1)" if CONTINUE else ""}; {minutes:.0f} minutes on the shared
2-core CPU. Best epoch {best_epoch} (valid metric {best["metric"]:.4f} = mean of class accuracy,
magnetic-tile defect ROC-AUC and map-cell ROC-AUC).
Test metrics: docs/evaluation/defects.md (`python manage.py evaluate defects`).
"""


def train_base(data_dir: Path, models_dir: Path, log: Callable[[str], None]) -> None:
    """Train the inspector on the train split, select on valid, write models_dir/inspector/."""
    # At most two threads: past the cores of the machine, extra threads only spin.
    threads = max(1, min(2, torch.get_num_threads()))
    torch.set_num_threads(threads)
    started = time.monotonic()
    config = inspector_config()
    log(f"loading {data_dir} at {config.image_size} px")
    train = load_split(data_dir, "train", config.image_size)
    valid = load_split(data_dir, "valid", config.image_size)
    log(f"train {len(train)} images, valid {len(valid)}")
    torch.manual_seed(SEED)
    out_dir = models_dir / MODEL_NAME
    if CONTINUE:
        model = load_checkpoint(out_dir).train()
        log(f"continuing from the weights in {out_dir}")
    else:
        model = MoETransformer(config)

    def report(event: dict) -> None:
        if event["event"] == "epoch":
            log(f"epoch {event['epoch'] + 1}/{event['epochs']}: train loss {event['train_loss']:.4f}, "
                f"valid loss {event['valid_loss']:.4f}, metric {event['metric']:.4f} "
                f"({event['seconds']:.0f}s)")

    result = fit(
        model,
        DefectBatches(train, map_stride(config), BATCH_SIZE, augment_batches=True, tile_repeats=TILE_REPEATS),
        DefectBatches(valid, map_stride(config), 128, augment_batches=False),
        metric_fn=validation_metric(valid), maximize=True, epochs=EPOCHS, lr=1e-3 if CONTINUE else 2e-3,
        weight_decay=0.05, warmup_steps=20 if CONTINUE else 100, seed=SEED, progress=report,
    )
    inspector = Inspector.from_model(model)
    record = validation_record(inspector, valid)
    log(f"box threshold {record['box_threshold']} (recall at IoU 0.5, mean IoU: {record['box_recall_and_iou_by_threshold']})")
    save_checkpoint(model, out_dir, extra_files={
        CLASSES_FILE: json.dumps(list(CLASSES)) + "\n",
        VALIDATION_FILE: json.dumps(record) + "\n",
        "MODEL_CARD.md": model_card(
            config, result.history, result.best_epoch, train, valid, (time.monotonic() - started) / 60, threads
        ),
    })
    log(f"wrote {out_dir} (best epoch {result.best_epoch + 1}, valid metric {result.best_metric:.4f})")


def main() -> None:
    """Train from the command line without Django: python -m solutions.defects.training DATA OUT."""
    import sys

    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/defects")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("models/defects")
    np.seterr(all="ignore")
    train_base(data, out, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
