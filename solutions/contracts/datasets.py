"""CUAD split files read as sentence segments with multi-hot clause labels.

A segment carries category c when it overlaps a labelled excerpt of c by at least half of the
shorter of the two (so a sentence inside a long excerpt counts, and so does a sentence holding a
short party name); a segment that overlaps nothing is the "no clause" row (all zeros).
Training, evaluation and the baseline all read segments through this one module.
"""

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solutions.contracts.segmentation import segment

CATEGORIES_FILE = "cuad_categories.csv"
MIN_OVERLAP = 0.5


@dataclass
class ContractSegments:
    contract_id: int
    text: str
    spans: list[tuple[int, int]]  # sentence segments
    labels: np.ndarray  # (n_segments, n_categories) 0/1
    excerpts: dict[str, list[tuple[int, int]]]  # category -> labelled [start, end) spans

    def segment_texts(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]


def categories(data_dir: Path) -> list[str]:
    with open(Path(data_dir) / CATEGORIES_FILE, newline="") as handle:
        return [row["column_in_data"] for row in csv.DictReader(handle)]


def read_contracts(data_dir: Path, split: str) -> Iterator[dict]:
    with gzip.open(Path(data_dir) / f"cuad_contracts_{split}.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def overlap_labels(spans: list[tuple[int, int]], excerpts: dict[str, list[tuple[int, int]]],
                   category_names: list[str]) -> np.ndarray:
    """Multi-hot labels of each span by the half-of-the-shorter overlap rule."""
    labels = np.zeros((len(spans), len(category_names)), dtype=np.float32)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    for column, name in enumerate(category_names):
        for ex_start, ex_end in excerpts.get(name, ()):
            overlap = np.minimum(ends, ex_end) - np.maximum(starts, ex_start)
            shorter = np.minimum(ends - starts, ex_end - ex_start).clip(min=1)
            labels[(overlap / shorter) >= MIN_OVERLAP, column] = 1.0
    return labels


def contract_segments(row: dict, category_names: list[str]) -> ContractSegments:
    text = row["text"]
    spans = [(s.start, s.end) for s in segment(text).sentences]
    excerpts: dict[str, list[tuple[int, int]]] = {}
    for clause in row["clauses"]:
        if clause.get("span_found") and clause.get("start") is not None:
            # Excerpts CUAD cut into pieces count piece by piece.
            for start, end in clause.get("pieces") or [(clause["start"], clause["end"])]:
                excerpts.setdefault(clause["category"], []).append((int(start), int(end)))
    return ContractSegments(row["contract_id"], text, spans, overlap_labels(spans, excerpts, category_names), excerpts)


def load_split(data_dir: Path, split: str, category_names: list[str], limit: int | None = None) -> list[ContractSegments]:
    contracts = []
    for index, row in enumerate(read_contracts(data_dir, split)):
        if limit is not None and index >= limit:
            break
        contracts.append(contract_segments(row, category_names))
    return contracts
