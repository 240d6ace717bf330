"""Tenant adapter hooks of defect inspection (the `quorum.adapters.spec.AdapterHooks` protocol).

A plant's dataset is a ZIP of part images plus ``labels.csv`` (columns ``filename,label``; the
label is one of the inspector's classes, ``free`` for a good part). Images go through the same
intake as inspection uploads (ZIP-bomb and path checks, grayscale, the model's input size) and are
stored as 8-bit pixels in the rows. Reviewed corrections are the engineers' verdicts in the review
queue. The holdout metric is the accuracy of the class head.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.conf import settings
from django.core.files.storage import default_storage

from quorum.adapters.spec import DatasetReport
from solutions.defects.datasets import CLASSES, GOOD_CLASS
from solutions.defects.imaging import IntakeError, decode_image, read_zip, to_model_array

LABELS_FILE = "labels.csv"
metric_name = "accuracy"
maximize = True
dataset_kinds = (".zip",)


def base_model_dir(base_model: str) -> Path:
    return Path(settings.QUORUM_MODELS_DIR) / "defects" / base_model


def base_models() -> list[str]:
    folder = Path(settings.QUORUM_MODELS_DIR) / "defects"
    return sorted(p.name for p in folder.iterdir() if (p / "config.json").is_file()) if folder.is_dir() else []


def _image_size(base_model: str) -> int:
    return int(json.loads((base_model_dir(base_model) / "config.json").read_text())["image_size"])


def _row(pixels: np.ndarray, label: str) -> dict[str, Any]:
    gray = np.clip(np.rint(pixels[0] * 255.0), 0, 255).astype(np.uint8)
    return {"pixels": base64.b64encode(gray.tobytes()).decode(), "size": gray.shape[0], "label": label}


def parse_dataset(base_model: str, filename: str, data: bytes) -> DatasetReport:
    """Validate a ZIP of images with labels.csv; each image is accepted or rejected with a reason."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            labels_member = next((n for n in archive.namelist() if Path(n).name == LABELS_FILE), None)
            if labels_member is None or archive.getinfo(labels_member).file_size > 1 << 20:
                return DatasetReport(rows=[], rejected=[{"row": 0, "reason": f"the ZIP needs a {LABELS_FILE} "
                                                         "(filename,label) of at most 1 MB"}])
            text = archive.read(labels_member).decode("utf-8-sig")
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as exc:
        return DatasetReport(rows=[], rejected=[{"row": 0, "reason": f"not a readable ZIP with a labels file: {exc}"}])
    labels = {Path(r.get("filename", "")).name: (r.get("label") or "").strip() for r in csv.DictReader(io.StringIO(text))}
    size = _image_size(base_model)
    rows, rejected = [], []
    for number, item in enumerate(read_zip(data, filename), start=1):
        name = Path(item.filename).name
        if name == LABELS_FILE:
            continue
        label = labels.get(name)
        if not item.ok:
            rejected.append({"row": number, "reason": f"{name}: {item.error}"})
        elif label is None:
            rejected.append({"row": number, "reason": f"{name} has no line in {LABELS_FILE}"})
        elif label not in CLASSES:
            rejected.append({"row": number, "reason": f"{name}: unknown class {label!r}; use one of {', '.join(CLASSES)}"})
        else:
            rows.append(_row(to_model_array(item.image, size), label))
    counts = Counter(row["label"] for row in rows)
    return DatasetReport(rows=rows, rejected=rejected, label_counts=dict(sorted(counts.items())))


def corrections(tenant: Any, base_model: str) -> DatasetReport:
    """The parts engineers reviewed, with the class they confirmed or corrected."""
    from solutions.defects.services import labelled_examples

    size = _image_size(base_model)
    rows, rejected = [], []
    for number, example in enumerate(labelled_examples(), start=1):
        if example["label"] not in CLASSES:
            rejected.append({"row": number, "reason": f"review of result {example['result']} has no class"})
            continue
        try:
            with default_storage.open(example["image"], "rb") as handle:
                image = decode_image(handle.read())
        except (OSError, IntakeError) as exc:
            rejected.append({"row": number, "reason": f"image of result {example['result']}: {exc}"})
            continue
        rows.append(_row(to_model_array(image, size), example["label"]))
    counts = Counter(row["label"] for row in rows)
    return DatasetReport(rows=rows, rejected=rejected, label_counts=dict(sorted(counts.items())))


def batches(base_model: str, rows: list[dict[str, Any]], batch_size: int) -> list[dict[str, torch.Tensor]]:
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        pixels = np.stack([
            np.frombuffer(base64.b64decode(row["pixels"]), dtype=np.uint8).reshape(row["size"], row["size"])
            for row in chunk
        ]).astype(np.float32)[:, None] / 255.0
        out.append({
            "pixels": torch.from_numpy(pixels),
            "label": torch.tensor([CLASSES.index(row["label"]) for row in chunk], dtype=torch.long),
            "defect": torch.tensor([[float(row["label"] != GOOD_CLASS)] for row in chunk]),
        })
    return out


def metric(heads: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    return float((heads["label"].argmax(-1) == targets["label"]).float().mean())


def modules_to_save(base_model: str) -> list[str]:
    return ["heads.label", "heads.defect"]


# Plants a scenario tenant may run: (title, dataset folder under the defects data, the plant's
# own labels for some classes). A plant's acceptance standard is its own: one whose customers
# take uneven tile surfaces as cosmetic labels those parts good, which no base model can know.
PLANTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "magnetic-tile": (
        "a magnetic tile line (blowholes, breaks, cracks, frays, uneven surfaces and good parts)", "magnetic_tile", {},
    ),
    "steel-strip": ("a hot-rolled steel strip line (the six NEU surface defect classes)", "neu_det", {}),
    "tile-uneven-passes": (
        "a magnetic tile line whose customers accept uneven surfaces as cosmetic, so it labels them good",
        "magnetic_tile", {"uneven": GOOD_CLASS},
    ),
}


def scenario(data_dir: Path, segment: str = "tile-uneven-passes") -> dict[str, Any]:
    """The realistic tenant of the adapters evaluation: a plant whose parts are one family of the
    shipped defect data, as a ZIP of images with labels.csv, labelled by the plant's standard.
    Its images are that family's valid and test splits, images the base model's weights never
    trained on."""
    title, folder, own_labels = PLANTS[segment]
    source = Path(data_dir) / folder
    buffer = io.BytesIO()
    labels = io.StringIO()
    writer = csv.writer(labels)
    writer.writerow(["filename", "label"])
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for split in ("valid", "test"):
            with open(source / f"{split}.csv", newline="") as handle:
                for number, row in enumerate(csv.DictReader(handle)):
                    name = f"{split}-{number:04d}{Path(row['image']).suffix}"  # file names repeat across classes
                    archive.write(source / row["image"], name)
                    writer.writerow([name, own_labels.get(row["label"], row["label"])])
        archive.writestr(LABELS_FILE, labels.getvalue())
    return {
        "base_model": base_models()[0],
        "name": f"{segment} plant",
        "description": f"A plant running {title}.",
        "filename": f"{segment}.zip",
        "data": buffer.getvalue(),
    }
