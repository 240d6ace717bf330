"""train_base end to end on a tiny synthetic CUAD-format corpus: tokenizer, pretraining, the
wide read-out's fit, fine-tuning, threshold and a checkpoint the classifier loads."""

import csv
import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from solutions.contracts.classifier import WIDE_TOKENS, ClauseClassifier
from solutions.contracts.training import MODEL_NAME, train_base

CLAUSES = {
    "Governing Law": "This Agreement shall be governed by the laws of the State of {}.",
    "Cap on Liability": "In no event shall either party's aggregate liability exceed {} dollars.",
}
FILLER = [
    "The parties met on a {} to discuss the schedule.",
    "Each notice shall be delivered by hand to the address on {}.",
    "The headings are for convenience and describe the {} only.",
    "The supplier shall keep records of every shipment to {}.",
]
WORDS = ["Delaware", "Texas", "ten thousand", "five million", "Monday", "file", "section", "Ohio"]


def _contract(contract_id: int, rng: random.Random) -> dict:
    text, clauses = "", []
    for _ in range(12):
        if rng.random() < 0.35:
            category = rng.choice(sorted(CLAUSES))
            sentence = CLAUSES[category].format(rng.choice(WORDS))
            clauses.append({"category": category, "span_found": True, "start": len(text), "end": len(text) + len(sentence)})
        else:
            sentence = rng.choice(FILLER).format(rng.choice(WORDS))
        text += sentence + "\n\n"
    return {"contract_id": str(contract_id), "text": text, "clauses": clauses}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cuad")
    with open(root / "cuad_categories.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["category", "column_in_data"])
        writer.writeheader()
        writer.writerows({"category": name, "column_in_data": name} for name in CLAUSES)
    rng = random.Random(0)
    for split, count in (("train", 30), ("valid", 6)):
        with gzip.open(root / f"cuad_contracts_{split}.jsonl.gz", "wt", encoding="utf-8") as handle:
            for index in range(count):
                handle.write(json.dumps(_contract(index, rng)) + "\n")
    return root


def test_train_base_writes_a_wide_and_deep_model_that_finds_the_clauses(tiny_corpus, tmp_path):
    lines: list[str] = []
    metrics = train_base(tiny_corpus, tmp_path, lines.append, pretrain_windows=64, finetune_epochs=2)
    assert any("wide read-out: fitted alone by L-BFGS" in line for line in lines)
    classifier = ClauseClassifier.load(tmp_path / MODEL_NAME)
    assert classifier.model.config.wide_max_len == WIDE_TOKENS
    assert classifier.max_tokens == WIDE_TOKENS
    assert 0.0 < metrics["threshold"] < 1.0
    texts = [CLAUSES["Governing Law"].format("Utah"), CLAUSES["Cap on Liability"].format("two"), FILLER[0].format("Friday")]
    scores = classifier.scores(texts)  # (3, 2): columns in CLAUSES order
    assert np.argmax(scores[0]) == 0 and np.argmax(scores[1]) == 1
    assert scores[2].max() < min(scores[0, 0], scores[1, 1])
