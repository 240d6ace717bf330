"""Tenant adapter hooks of loan risk scoring (the `quorum.adapters.spec.AdapterHooks` protocol).

A lender's dataset is a CSV of applications in the base model's fields plus its label column
(``bad_credit`` for german, ``default_next_month`` for taiwan: the schema's ``target``, 1 =
default). Its reviewed corrections are the observed outcomes it uploaded for scored
applications. The holdout metric is ROC AUC of the default head; the head trains alongside the
LoRA weights, since a lender's base rate differs from the base model's.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from quorum.adapters.spec import DatasetReport
from solutions.loans import services
from solutions.loans.features import encode
from solutions.loans.parsing import UnreadableFile, read_csv
from solutions.loans.schema import FeatureSchema
from solutions.loans.scoring import HEAD
from solutions.loans.training import valid_auc

LABEL = "label"  # key of the 0/1 outcome in a stored row
metric_name = "AUC"
maximize = True
dataset_kinds = (".csv",)


def base_models() -> list[str]:
    return sorted(p.name for p in services.models_dir().iterdir() if (p / "config.json").is_file()) if services.models_dir().is_dir() else []


def base_model_dir(base_model: str) -> Path:
    return services.models_dir() / base_model


def _schema(base_model: str) -> FeatureSchema:
    return FeatureSchema.load(base_model_dir(base_model) / "schema.json")


def _label(raw: Any) -> int | None:
    text = str(raw).strip().lower()
    if text in ("1", "1.0", "true", "yes", "default", "bad"):
        return 1
    if text in ("0", "0.0", "false", "no", "repaid", "good"):
        return 0
    return None


def _report(schema: FeatureSchema, labelled: list[tuple[int, dict[str, Any], Any]],
            rejected: list[dict[str, Any]] | None = None) -> DatasetReport:
    rows: list[dict[str, Any]] = []
    rejected = list(rejected or [])
    for number, application, raw_label in labelled:
        label = _label(raw_label)
        if label is None:
            rejected.append({"row": number, "reason": f"{schema.target} must be 0 or 1, got {raw_label!r}"})
            continue
        clean, errors = schema.validate(application)
        if errors:
            field, messages = next(iter(errors.items()))
            rejected.append({"row": number, "reason": f"{field}: {messages[0]}"})
            continue
        rows.append({**clean, LABEL: label})
    counts = Counter("default" if row[LABEL] else "repaid" for row in rows)
    return DatasetReport(rows=rows, rejected=rejected, label_counts=dict(sorted(counts.items())))


def parse_dataset(base_model: str, filename: str, data: bytes) -> DatasetReport:
    """Validate a CSV of labelled applications; each row is accepted or rejected with a reason."""
    schema = _schema(base_model)
    try:
        text = io.StringIO(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return DatasetReport(rows=[], rejected=[{"row": 0, "reason": "the file is not UTF-8 text"}])
    labelled, unreadable = [], []
    try:
        for number, row in enumerate(read_csv(text), start=1):
            if row.error:
                unreadable.append({"row": number, "reason": row.error})
                continue
            application = dict(row.application)
            raw_label = application.pop(schema.target, None)
            application.pop(services.REFERENCE_FIELD, None)
            labelled.append((number, application, raw_label))
    except UnreadableFile as exc:
        return DatasetReport(rows=[], rejected=[{"row": 0, "reason": str(exc)}])
    if labelled and all(raw is None for _, _, raw in labelled):
        return DatasetReport(rows=[], rejected=[{"row": 0, "reason": f"the CSV has no {schema.target} column"}])
    return _report(schema, labelled, unreadable)


def corrections(tenant: Any, base_model: str) -> DatasetReport:
    """The outcomes the lender recorded for applications scored with ``base_model``."""
    from solutions.loans.models import Outcome

    schema = _schema(base_model)
    outcomes = Outcome.objects.filter(application__model_name=base_model).select_related("application")
    labelled = []
    for number, outcome in enumerate(outcomes.order_by("uploaded_at"), start=1):
        application = dict(outcome.application.input) if isinstance(outcome.application.input, dict) else {}
        application.pop(services.REFERENCE_FIELD, None)
        labelled.append((number, application, int(outcome.defaulted)))
    return _report(schema, labelled)


def batches(base_model: str, rows: list[dict[str, Any]], batch_size: int) -> list[dict[str, torch.Tensor]]:
    schema = _schema(base_model)
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = encode(schema, chunk)
        batch[HEAD] = torch.tensor([row[LABEL] for row in chunk], dtype=torch.long)
        out.append(batch)
    return out


def metric(heads: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    return float(valid_auc(heads, targets))


def modules_to_save(base_model: str) -> list[str]:
    return [f"heads.{HEAD}"]



# Segments of the Taiwan accounts a scenario tenant may hold: (title, test on a clean row).
SEGMENTS: dict[str, tuple[str, Any]] = {
    "all": ("accounts", lambda row: True),
    "current": ("accounts not behind on their latest payment (PAY_0 <= 0)",
                lambda row: row["PAY_0"] is not None and float(row["PAY_0"]) <= 0),
    "delinquent": ("accounts behind on their latest payment (PAY_0 >= 1)",
                   lambda row: row["PAY_0"] is not None and float(row["PAY_0"]) >= 1),
    "high-school": ("holders whose education is high school (EDUCATION = 3)",
                    lambda row: str(row["EDUCATION"]) == "3"),
    "small-limit": ("accounts with a credit limit under NT$50,000",
                    lambda row: row["LIMIT_BAL"] is not None and float(row["LIMIT_BAL"]) < 50000),
}
# A lender's own definition of default, beside the shipped one: (title, outcome of a clean row
# given the shipped label). An issuer with a materiality threshold, as the EU's definition of
# default has one for retail credit (Delegated Regulation (EU) 2018/171: at most EUR 100 past
# due), counts a missed payment on a statement balance of NT$3,000 or less (about EUR 75 in
# 2005) as no default; the base model, trained on every missed payment, cannot know that.
MATERIAL_BALANCE = 3000
DEFINITIONS: dict[str, tuple[str, Any]] = {
    "material": (
        f"counting a default only on a latest statement balance above NT${MATERIAL_BALANCE:,}",
        lambda row, label: int(label == 1 and row["BILL_AMT1"] is not None
                               and float(row["BILL_AMT1"]) > MATERIAL_BALANCE),
    ),
}


def scenario(data_dir: Path, segment: str = "all/material") -> dict[str, Any]:
    """The realistic tenant of the adapters evaluation: a card issuer whose book is one segment
    of the Taiwan accounts (``SEGMENTS``), where the base model might rank worse than overall,
    or a book with its own definition of default, ``<segment>/<definition>`` (``DEFINITIONS``).
    Its data is the segment's rows of the shipped valid and test splits, rows the base
    model's weights never trained on."""
    from solutions.loans.schema import read_split

    segment_name, _, definition = segment.partition("/")
    title, in_segment = SEGMENTS[segment_name]
    own_title, own_label = DEFINITIONS[definition] if definition else ("", lambda row, label: label)
    schema = _schema("taiwan")
    rows: list[dict[str, Any]] = []
    for split in ("valid", "test"):
        split_rows, labels = read_split(schema, data_dir, split)
        rows += [{**row, schema.target: own_label(row, label)} for row, label in zip(split_rows, labels, strict=True)
                 if in_segment(row)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in schema.features] + [schema.target])
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return {
        "base_model": "taiwan",
        "name": f"Taiwan {segment} accounts",
        "description": f"A card issuer whose portfolio is the Taiwan credit-card {title}"
                       + (f", {own_title}." if own_title else "."),
        "filename": f"{segment.replace('/', '-')}-accounts.csv",
        "data": buffer.getvalue().encode(),
    }
