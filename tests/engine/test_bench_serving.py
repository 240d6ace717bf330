"""The multi-tenant, batcher and int8 benchmarks run end to end on small settings and record."""

from __future__ import annotations

import json

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from engine.bench import batcher, int8, multi_tenant


def test_multi_tenant_benchmark_checks_equal_outputs_and_writes_its_record(tmp_path):
    record = multi_tenant.run(rows=8, adapters=2, rank=2, repeats=1, out_dir=tmp_path)
    methods = {row["method"] for row in record["results"]}
    assert {"ours (one mixed forward)", "PEFT mixed batch (adapter_names=)", "PEFT set_adapter per tenant"} <= methods
    assert json.loads((tmp_path / "multi_tenant.json").read_text())["setup"]["adapters"] == 2
    assert "| whole model |" in (tmp_path / "multi_tenant.md").read_text()


def test_batcher_benchmark_answers_every_request(tmp_path):
    record = batcher.run(callers=4, per_caller=2, max_batch_size=4, max_wait_ms=1, out_dir=tmp_path)
    assert [row["method"].split(" (")[0] for row in record["results"]] == ["one request at a time", "dynamic batcher"]
    assert record["setup"]["forwards run by the batcher"] >= 2


def test_int8_benchmark_skips_the_metric_without_the_data(tmp_path):
    rows, setup = int8.loans_rows(tmp_path / "absent", epochs=1)
    assert rows == [] and "absent" in setup["loans data"]


def test_roc_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * labels, 1)  # rounding makes ties
    assert abs(int8.roc_auc(scores, labels) - roc_auc_score(labels, scores)) < 1e-12


def test_taiwan_reader_encodes_numeric_and_categorical_columns(tmp_path):
    header = ["id", *int8.NUMERIC, *int8.CATEGORICAL, int8.TARGET]
    for split, count in (("train", 6), ("valid", 2), ("test", 2)):
        lines = [",".join(header)]
        for i in range(count):
            lines.append(",".join([str(i), *[str(1000 * (i + 1))] * len(int8.NUMERIC), *[str(i % 3 - 1)] * len(int8.CATEGORICAL), str(i % 2)]))
        (tmp_path / f"taiwan_credit_default_{split}.csv").write_text("\n".join(lines) + "\n")
    splits = int8.load_taiwan(tmp_path)
    train = splits["train"]
    assert train["numeric"].shape == (6, len(int8.NUMERIC)) and torch.isfinite(train["numeric"]).all()
    assert train["categorical"].min() == 1 and train["categorical"].max() == 3
    assert splits["cardinalities"] == [3] * len(int8.CATEGORICAL)
