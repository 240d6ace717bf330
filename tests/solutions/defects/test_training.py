"""train_base end to end on a tiny synthetic set in the shipped data's split format: both
datasets read, the map trained at the head's stride, the box threshold chosen on valid and a
checkpoint the inspector loads."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from solutions.defects import training
from solutions.defects.datasets import NEU_CLASSES, TILE_CLASSES, load_split
from solutions.defects.inference import MODEL_NAME, VALIDATION_FILE, load_inspector, read_validation
from solutions.defects.maps import BOX_THRESHOLD_CHOICES
from solutions.defects.synthetic import brushed_texture


def _part(rng: np.random.Generator, size: tuple[int, int], box: tuple[int, int, int, int] | None) -> Image.Image:
    image = brushed_texture(rng, max(size)).crop((0, 0, *size))
    if box:
        ImageDraw.Draw(image).ellipse(box, fill=20)
    return image


def _write_split(root: Path, split: str, per_class: int, rng: np.random.Generator) -> None:
    neu, tile = root / "neu_det", root / "magnetic_tile"
    for folder in (neu / "images", tile / "images", tile / "masks"):
        folder.mkdir(parents=True, exist_ok=True)
    with open(neu / f"{split}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "annotation", "label", "width", "height", "n_boxes", "boxes"])
        for label in NEU_CLASSES:
            for n in range(per_class):
                x, y = (int(v) for v in rng.integers(20, 120, 2))
                name = f"images/{label}_{split}_{n}.jpg"
                _part(rng, (200, 200), (x, y, x + 50, y + 50)).save(neu / name)
                writer.writerow([name, "", label, 200, 200, 1, json.dumps([[label, x, y, x + 50, y + 50]])])
    with open(tile / f"{split}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "mask", "label", "is_defective", "width", "height", "defect_pixels", "defect_bbox"])
        for label in (*TILE_CLASSES, "free", "free"):
            for n in range(per_class):
                box = None if label == "free" else tuple(int(v) for v in (*rng.integers(10, 60, 2), 0, 0))
                if box:
                    box = (box[0], box[1], box[0] + 20, box[1] + 30)
                name = f"{label}_{split}_{n}"
                _part(rng, (110, 140), box).save(tile / "images" / f"{name}.jpg")
                mask = Image.new("L", (110, 140), 0)
                if box:
                    ImageDraw.Draw(mask).ellipse(box, fill=255)
                mask.save(tile / "masks" / f"{name}.png")
                pixels = int((np.asarray(mask) > 127).sum())
                writer.writerow([f"images/{name}.jpg", f"masks/{name}.png", label, int(label != "free"),
                                 110, 140, pixels, json.dumps(list(box) if box else [])])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("defects")
    rng = np.random.default_rng(0)
    _write_split(root, "train", 2, rng)
    _write_split(root, "valid", 1, rng)
    return root


def test_train_base_writes_an_inspector_with_its_box_threshold(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(training, "EPOCHS", 1)
    lines: list[str] = []
    training.train_base(tiny_data, tmp_path, lines.append)
    out = tmp_path / MODEL_NAME
    assert {"config.json", "model.safetensors", "classes.json", VALIDATION_FILE, "MODEL_CARD.md"} <= {
        p.name for p in out.iterdir()
    }
    record = read_validation(out)
    assert record["box_threshold"] in BOX_THRESHOLD_CHOICES
    assert sorted(record["box_recall_and_iou_by_threshold"]) == sorted(str(t) for t in BOX_THRESHOLD_CHOICES)
    assert len(record["defect_scores"]) == 6 + 7  # one valid image per class, two free tiles
    assert any(line.startswith("box threshold") for line in lines)

    inspector = load_inspector(out)
    assert inspector.box_threshold == record["box_threshold"]
    valid = load_split(tiny_data, "valid", inspector.image_size)
    predictions = inspector.predict(valid.pixels)
    assert predictions.patch_maps.shape[1:] == (inspector.grid, inspector.grid)
    np.testing.assert_allclose(predictions.defect_scores, record["defect_scores"], atol=1e-5)
