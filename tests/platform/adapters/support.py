"""Synthetic loan datasets and small helpers for the adapter tests (no ../shared needed)."""

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

from django.conf import settings

BASE_MODEL = "german"


def german_schema() -> dict[str, Any]:
    return json.loads((Path(settings.QUORUM_MODELS_DIR) / "loans" / BASE_MODEL / "schema.json").read_text())


def synthetic_rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Valid German-credit applications whose label follows a rule of this lender's own:
    long loans for new cars (purpose A40) default."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        row: dict[str, Any] = {}
        for feature in german_schema()["features"]:
            if feature["kind"] == "categorical":
                row[feature["name"]] = rng.choice(list(feature["values"]))
            else:
                low, high = feature["minimum"], min(feature["maximum"], feature["minimum"] + 60)
                row[feature["name"]] = rng.randint(low, high)
        row["credit_amount"] = rng.randint(500, 15000)
        row["bad_credit"] = int(row["purpose"] == "A40" or row["duration_months"] > 45)
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()



def base_model_dir() -> Path:
    return Path(settings.QUORUM_MODELS_DIR) / "loans" / BASE_MODEL


def peft_adapter_files(seed: int, *, rank: int = 4, model: Any = None) -> dict[str, bytes]:
    """A LoRA adapter made with plain PEFT (not the engine's helpers) on the german base model,
    both LoRA matrices random so it changes the outputs: {file name: bytes}."""
    import tempfile

    import torch
    from peft import LoraConfig, get_peft_model

    from engine.checkpoint import load_checkpoint

    torch.manual_seed(seed)
    base = model if model is not None else load_checkpoint(base_model_dir())
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    with tempfile.TemporaryDirectory() as folder:
        peft_model.save_pretrained(folder, safe_serialization=True)
        return {name: (Path(folder) / name).read_bytes()
                for name in ("adapter_config.json", "adapter_model.safetensors")}


def zipped(files: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
