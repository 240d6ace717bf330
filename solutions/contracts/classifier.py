"""The clause classifier: the engine's text model tagging sentence segments with CUAD categories.

A checkpoint folder holds config.json + model.safetensors (engine.checkpoint), tokenizer.json
(engine.tokenizer) and clauses.json (the category names in head order and the decision
threshold chosen on the validation contracts).
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoint import load_checkpoint
from engine.tokenizer import TextTokenizer

HEAD = "clauses"
MAX_TOKENS = 64  # attention reads a segment's first 64 tokens; 160 (which a third of clause segments need) scored lower on valid
WIDE_TOKENS = 256  # the wide read-out reads up to 256: on valid its fit rose from 0.378 to 0.392 micro AUPR over 64
LABELS_FILE = "clauses.json"
BATCH_SIZE = 64


class ClauseClassifier:
    """Scores (N, n_categories) in [0, 1] for a list of segment texts."""

    def __init__(self, model: torch.nn.Module, tokenizer: TextTokenizer, categories: list[str], threshold: float) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.categories = categories
        self.threshold = threshold
        # What the checkpoint reads: the wide read-out's reach, else attention's (an older one may take fewer).
        self.max_tokens = model.config.wide_max_len or min(MAX_TOKENS, model.config.max_len)
        # An engine.serving.ModelServer when set: batches across jobs and applies tenant adapters.
        self.server: Any = None

    @classmethod
    def load(cls, directory: str | Path) -> "ClauseClassifier":
        directory = Path(directory)
        labels = json.loads((directory / LABELS_FILE).read_text())
        return cls(load_checkpoint(directory), TextTokenizer.load(directory), labels["categories"], float(labels["threshold"]))

    @torch.no_grad()
    def scores(self, texts: list[str], adapter_id: str | None = None) -> np.ndarray:
        """Per-category probabilities; `adapter_id` (a tenant adapter version) needs a server."""
        out = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        # Sorted by length so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), BATCH_SIZE):
            rows = order[begin : begin + BATCH_SIZE]
            batch = self.tokenizer.encode([texts[i] for i in rows], max_length=self.max_tokens)
            if batch["input_ids"].shape[1] == 0:
                continue
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            if self.server is not None:
                logits = self.server.predict(inputs, adapter_id)[HEAD]
            else:
                logits = self.model(inputs).heads[HEAD]
            out[rows] = torch.sigmoid(logits.float()).numpy()
        return out
