"""Tenant adapter hooks of contract review (the `quorum.adapters.spec.AdapterHooks` protocol).

A dataset is a JSONL file of labelled segments, one object per line:
{"text": "...", "categories": ["Cap on Liability", ...]} (an empty list = "no clause").
The reviewed corrections are the analyst's reviews of findings: an accepted finding labels its
segment with its (possibly relabelled) category, a rejected one says the segment is not that
category. The holdout metric is micro average precision (AUPR over every known segment/category
cell): it needs no threshold, so the base model and an adapter trained on the tenant's own base
rate are compared on ranking alone. The head and its wide n-gram read-out are saved with the
LoRA weights: the read-out carries much of the base model's signal, so a tenant's own words need
it to move. The adapter job fits it to the tenant's rows first and then freezes it
(quorum.adapters.training); left as the base model's, adapters lost to the base model.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from engine.config import ModelConfig
from quorum.adapters.spec import DatasetReport
from solutions.contracts import services
from solutions.contracts.classifier import HEAD, LABELS_FILE
from solutions.contracts.training import MODEL_NAME, micro_average_precision

metric_name = "micro AUPR"
maximize = True
dataset_kinds = (".jsonl",)
MAX_TEXT_CHARS = 5000


def base_models() -> list[str]:
    return [MODEL_NAME] if (services.model_dir() / "config.json").is_file() else []


def base_model_dir(base_model: str) -> Path:
    return services.model_dir()


def _categories() -> list[str]:
    return json.loads((services.model_dir() / LABELS_FILE).read_text())["categories"]


def _report(rows: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> DatasetReport:
    counts = Counter(c for row in rows for c, v in row["labels"].items() if v == 1)
    counts["no clause"] = sum(1 for row in rows if not any(v == 1 for v in row["labels"].values()))
    return DatasetReport(rows=rows, rejected=rejected, label_counts=dict(sorted(counts.items())))


def parse_dataset(base_model: str, filename: str, data: bytes) -> DatasetReport:
    """Validate JSONL labelled segments; each line is accepted or rejected with a reason."""
    known = set(_categories())
    rows, rejected = [], []
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        return DatasetReport(rows=[], rejected=[{"row": 0, "reason": "the file is not UTF-8 text"}])
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            rejected.append({"row": number, "reason": f"not JSON: {exc.msg}"})
            continue
        text, categories = (item.get("text"), item.get("categories")) if isinstance(item, dict) else (None, None)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            rejected.append({"row": number, "reason": f"text must be a non-empty string of at most {MAX_TEXT_CHARS} characters"})
        elif not isinstance(categories, list) or not all(c in known for c in categories):
            rejected.append({"row": number, "reason": "categories must be a list of clause category names"})
        else:
            rows.append({"text": text, "labels": {c: 1 for c in categories} | {c: 0 for c in known - set(categories)}})
    return _report(rows, rejected)


def corrections(tenant: Any, base_model: str) -> DatasetReport:
    """Reviewed findings as labelled segments: accepted = 1 for its category, rejected = 0."""
    from solutions.contracts.models import Finding, FindingStatus

    by_segment: dict[tuple[int, int, int], dict[str, Any]] = {}
    reviewed = Finding.objects.exclude(status=FindingStatus.PROPOSED).order_by("reviewed_at")
    for finding in reviewed:
        row = by_segment.setdefault((finding.document_id, finding.start, finding.end), {"text": finding.text, "labels": {}})
        if finding.status == FindingStatus.ACCEPTED:
            row["labels"][finding.final_category] = 1
            if finding.relabelled_category:
                row["labels"][finding.category] = 0
        else:
            row["labels"].setdefault(finding.category, 0)
    return _report(list(by_segment.values()), [])


def batches(base_model: str, rows: list[dict[str, Any]], batch_size: int) -> list[dict[str, torch.Tensor]]:
    classifier = services.get_classifier()
    categories = _categories()
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        encoded = classifier.tokenizer.encode([row["text"] for row in chunk], max_length=classifier.max_tokens)
        # Categories a review did not speak about stay unknown (NaN), so they add no loss.
        targets = torch.tensor([[float(row["labels"].get(c, math.nan)) for c in categories] for row in chunk])
        out.append({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], HEAD: targets})
    return out


metric = micro_average_precision


def modules_to_save(base_model: str) -> list[str]:
    """The clause head, and its wide n-gram read-out when the base model has one."""
    config = ModelConfig.load(services.model_dir() / "config.json")
    return [f"heads.{HEAD}"] + ([f"wide.{HEAD}.weight_bag"] if config.wide_buckets else [])


# Contract families a scenario tenant may hold: (title, word the CUAD file name must contain).
FAMILIES = {
    "licences": ("licence agreements", "LICENS"),
    "supply": ("supply and manufacturing agreements", "SUPPLY"),
    "services": ("service agreements", "SERVICE"),
}


def scenario(data_dir: Path, segment: str = "licences") -> dict[str, Any]:
    """The realistic tenant of the adapters evaluation: a legal team whose contracts are one
    family of CUAD agreements, every sentence segment labelled. Its data is that family's
    contracts among the shipped valid and test splits, contracts the base model never trained on."""
    from solutions.contracts.datasets import categories, contract_segments, read_contracts

    title, word = FAMILIES[segment]
    names = categories(data_dir)
    buffer = io.StringIO()
    n_contracts = 0
    for split in ("valid", "test"):
        for row in read_contracts(data_dir, split):
            if word not in row["filename"].upper():
                continue
            n_contracts += 1
            contract = contract_segments(row, names)
            for text, labels in zip(contract.segment_texts(), contract.labels, strict=True):
                if text.strip():
                    found = [names[i] for i in labels.nonzero()[0]]
                    buffer.write(json.dumps({"text": text[:MAX_TEXT_CHARS], "categories": found}) + "\n")
    return {
        "base_model": MODEL_NAME,
        "name": f"CUAD {title}",
        "description": f"A legal team whose contracts are CUAD {title} ({n_contracts} contracts, every segment labelled).",
        "filename": f"{segment}-segments.jsonl",
        "data": buffer.getvalue().encode(),
    }
