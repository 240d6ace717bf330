"""int8 benchmark: the metric change of int8 inference on a real task, and int8 vs fp32 speed.

1. Loans (Taiwan credit default, tabular, UCI, CC BY 4.0): a tabular MoE model trained in fp32,
   then served in int8 by post-training quantisation; and the same model trained with the
   progressive schedule (fp32 -> bf16 autocast -> int8 fake-quantised weights) then served in
   int8 with its learned ranges. Test ROC AUC of each against the fp32 model (aim: within 1%
   relative). Skipped when the data folder is absent.
   Both train with the engine's loop (`engine.train.fit`; `engine.quant.fit_progressive` runs
   it stage by stage).
2. A serving-size text model at batch 64: fp32 against int8 forward time and weight memory.

    python -m engine.bench.int8 [--data ../shared/data/loans] [--epochs 4]
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from engine.bench.common import cpu_time_setup, interleaved_medians, write_report
from engine.config import HeadSpec, ModelConfig
from engine.model import MoETransformer
from engine.quant import QuantSchedule, fit_progressive, quantize_model, weight_bytes
from engine.train import fit

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "loans"
TARGET = "default_next_month"
# Repayment status columns (-2..9) and the small categorical columns, as categories.
CATEGORICAL = ["SEX", "EDUCATION", "MARRIAGE", "PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
NUMERIC = ["LIMIT_BAL", "AGE"] + [f"BILL_AMT{i}" for i in range(1, 7)] + [f"PAY_AMT{i}" for i in range(1, 7)]
BATCH_SIZE = 256


def _read_split(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        records = list(reader)
    return {column: np.array([float(r[column]) for r in records]) for column in [*NUMERIC, *CATEGORICAL, TARGET]}


def load_taiwan(data_dir: Path) -> dict[str, dict[str, torch.Tensor]] | None:
    """Train/valid/test tensors of the Taiwan credit data, or None when the files are absent."""
    paths = {split: data_dir / f"taiwan_credit_default_{split}.csv" for split in ("train", "valid", "test")}
    if not all(p.is_file() for p in paths.values()):
        return None
    raw = {split: _read_split(path) for split, path in paths.items()}
    train = raw["train"]
    # Amounts span orders of magnitude: a signed log, then train-set standardisation.
    stats = {c: (np.mean(_signed_log(train[c])), np.std(_signed_log(train[c])) + 1e-6) for c in NUMERIC}
    lowest = {c: int(train[c].min()) for c in CATEGORICAL}
    highest = {c: int(max(raw[s][c].max() for s in raw)) for c in CATEGORICAL}
    splits = {}
    for split, columns in raw.items():
        numeric = np.stack([(_signed_log(columns[c]) - stats[c][0]) / stats[c][1] for c in NUMERIC], axis=1)
        # Category index = value - train minimum + 1; values below the train range are unknown (0).
        categorical = np.stack([np.clip(columns[c] - lowest[c] + 1, 0, None) for c in CATEGORICAL], axis=1)
        splits[split] = {
            "numeric": torch.tensor(numeric, dtype=torch.float32),
            "categorical": torch.tensor(categorical, dtype=torch.long),
            "default": torch.tensor(columns[TARGET], dtype=torch.long),
        }
    splits["cardinalities"] = [highest[c] - lowest[c] + 1 for c in CATEGORICAL]  # type: ignore[assignment]
    return splits


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def loans_config(cardinalities: list[int]) -> ModelConfig:
    return ModelConfig(
        d_model=64, n_layers=2, n_heads=4, n_experts=8, top_k=3, n_shared_experts=1, expert_hidden=64,
        encoder="tabular", n_numeric=len(NUMERIC), categorical_cardinalities=cardinalities,
        heads=[HeadSpec("default", "multiclass", 2)],
    )  # fmt: skip


class ShuffledBatches:
    """Batches of row tensors, reshuffled on every pass (fit seeds torch per epoch)."""

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, shuffle: bool) -> None:
        self.tensors = tensors
        self.rows = next(iter(tensors.values())).shape[0]
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = torch.randperm(self.rows) if self.shuffle else torch.arange(self.rows)
        for start in range(0, self.rows, self.batch_size):
            index = order[start : start + self.batch_size]
            yield {key: value[index] for key, value in self.tensors.items()}


def valid_auc(heads: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    scores = torch.softmax(heads["default"].float(), dim=-1)[:, 1].numpy()
    return roc_auc(scores, targets["default"].numpy())


def test_auc(model: MoETransformer, data: dict[str, torch.Tensor]) -> float:
    with torch.inference_mode():
        logits = torch.cat([
            model({k: v[i : i + 1024] for k, v in data.items()}).heads["default"]
            for i in range(0, data["default"].shape[0], 1024)
        ])  # fmt: skip
    scores = torch.softmax(logits.float(), dim=-1)[:, 1].numpy()
    return roc_auc(scores, data["default"].numpy())


def loans_rows(data_dir: Path, epochs: int) -> tuple[list[dict], dict]:
    splits = load_taiwan(data_dir)
    if splits is None:
        print(f"loans data not found under {data_dir}: skipping the metric comparison")
        return [], {"loans data": f"absent ({data_dir})"}
    cardinalities = splits.pop("cardinalities")
    config = loans_config(cardinalities)  # type: ignore[arg-type]
    train = ShuffledBatches(splits["train"], BATCH_SIZE, shuffle=True)
    valid = ShuffledBatches(splits["valid"], 1024, shuffle=False)
    options = {"metric_fn": valid_auc, "maximize": True, "lr": 2e-3, "seed": 0}
    torch.manual_seed(0)
    fp32 = MoETransformer(config)
    fit(fp32, train, valid, epochs=epochs, **options)
    torch.manual_seed(0)
    qat = MoETransformer(config)
    fit_progressive(qat, train, valid, epochs=epochs, schedule=QuantSchedule(), **options)
    fp32.eval()
    qat.eval()
    ptq = copy.deepcopy(fp32)
    quantize_model(ptq)
    quantize_model(qat)
    reference = test_auc(fp32, splits["test"])
    rows = []
    for name, model in (("fp32", fp32), ("int8, post-training quantised", ptq), ("int8, progressive QAT", qat)):
        auc = test_auc(model, splits["test"])
        rows.append({"part": "loans test ROC AUC", "model": name, "value": auc, "change vs fp32 (relative %)": 100 * (auc - reference) / reference})
    setup = {
        "loans data": "Taiwan credit default (UCI, CC BY 4.0): train 24,000 / test 3,000 rows",
        "loans model": "tabular MoE, d_model 64, 2 layers, 8 experts top-3",
        "training": (
            f"engine.train.fit, {epochs} epochs, batch {BATCH_SIZE}, lr 2e-3, best epoch by validation AUC; "
            f"QAT: engine.quant.fit_progressive, epochs split fp32/bf16/int8 = {QuantSchedule().stage_epochs(epochs)}"
        ),
    }
    return rows, setup


def serving_config() -> ModelConfig:
    return ModelConfig(
        d_model=512, n_layers=4, n_heads=8, n_experts=16, top_k=3, n_shared_experts=1, expert_hidden=512,
        encoder="text", vocab_size=8000, max_len=32, heads=[HeadSpec("label", "multiclass", 4)],
    )  # fmt: skip


def speed_rows(repeats: int) -> list[dict]:
    torch.manual_seed(0)
    fp32 = MoETransformer(serving_config()).eval()
    int8 = copy.deepcopy(fp32)
    report = quantize_model(int8)
    batch = {"input_ids": torch.randint(1, 8000, (64, 32)), "attention_mask": torch.ones(64, 32, dtype=torch.bool)}
    with torch.inference_mode():
        seconds = interleaved_medians({"fp32": lambda: fp32(batch), "int8": lambda: int8(batch)}, repeats)
    fp32_s, int8_s = seconds["fp32"], seconds["int8"]
    memory = (report["weight_bytes_before"], report["weight_bytes_after"])
    assert weight_bytes(int8) == memory[1]
    return [
        {"part": "batch 64 forward, CPU ms", "model": "fp32", "value": fp32_s * 1000, "ratio vs fp32": 1.0},
        {"part": "batch 64 forward, CPU ms", "model": "int8 (torch reference)", "value": int8_s * 1000, "ratio vs fp32": fp32_s / int8_s},
        {"part": "weight memory, MB", "model": "fp32", "value": memory[0] / 2**20, "ratio vs fp32": 1.0},
        {"part": "weight memory, MB", "model": "int8", "value": memory[1] / 2**20, "ratio vs fp32": memory[0] / memory[1]},
    ]


def run(data_dir: Path = DEFAULT_DATA, epochs: int = 4, repeats: int = 5, out_dir: Path | None = None) -> dict:
    cpu_time_setup()
    metric_rows, setup = loans_rows(Path(data_dir), epochs)
    for row in metric_rows:
        row["ratio vs fp32"] = row.pop("change vs fp32 (relative %)")
    rows = metric_rows + speed_rows(repeats)
    setup["speed model"] = "text MoE, d_model 512, 4 layers, 16 experts top-3, 64 rows x 32 tokens"
    notes = [
        "For the loans rows the last column is the relative change of test ROC AUC against fp32, in percent.",
        "For the speed rows it is fp32 time (or memory) divided by int8's: above 1 means int8 is better.",
        "On the CPU `int8_matmul` is the torch reference, which widens the int8 weights on every call and the "
        "routed experts are dequantised per forward, so int8 saves memory, not time; the weight-only int8 "
        "Triton kernel is what makes it faster on a GPU (see engine.bench.kernels).",
        "Times are process CPU time on one torch thread (see engine/bench/common.py).",
    ]
    return write_report(
        "int8", "int8 inference: metric change on loans, speed and weight memory", setup,
        ["part", "model", "value", "ratio vs fp32"], rows, notes, **({"out_dir": out_dir} if out_dir else {}),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run(args.data, args.epochs, args.repeats)


if __name__ == "__main__":
    main()
