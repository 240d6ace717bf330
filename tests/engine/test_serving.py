"""Serving: collation, the dynamic batcher under concurrency, the adapter LRU cache, the server."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.lora import (
    AdapterError,
    attach_adapter,
    default_lora_config,
    enable_multi_lora,
    save_adapter,
)
from engine.model import MoETransformer
from engine.serving import (
    AdapterCache,
    DynamicBatcher,
    ModelServer,
    ServerClosed,
    collate,
    get_server,
    set_adapter_resolver,
    split_rows,
)
from tests.engine.helpers import tiny_config

THREADS = 32


def _base() -> MoETransformer:
    torch.manual_seed(0)
    return MoETransformer(tiny_config("text")).eval()


def _adapter(base: MoETransformer, directory: Path, seed: int, rank: int = 8, **overrides) -> Path:
    torch.manual_seed(seed)
    config = default_lora_config(r=rank, lora_dropout=0.0, init_lora_weights=False, **overrides)
    return save_adapter(attach_adapter(copy.deepcopy(base), config), directory)


def _text_rows(count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 10, (count,), generator=g).tolist()
    return [{"input_ids": torch.randint(1, 50, (n,), generator=g)} for n in lengths]


def test_collate_pads_sequences_and_adds_their_masks():
    batch = collate([{"input_ids": torch.tensor([5, 6, 7]), "label": torch.tensor(1)}, {"input_ids": torch.tensor([8]), "label": torch.tensor(0)}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["label"].tolist() == [1, 0]


def test_collate_pads_graphs_with_unreachable_distances():
    rows = [
        {"atom_features": torch.ones(2, 3, dtype=torch.long), "atom_mask": torch.ones(2, dtype=torch.bool), "distances": torch.zeros(2, 2)},
        {"atom_features": torch.ones(3, 3, dtype=torch.long), "atom_mask": torch.ones(3, dtype=torch.bool), "distances": torch.zeros(3, 3)},
    ]
    batch = collate(rows)
    assert batch["atom_features"].shape == (2, 3, 3) and batch["atom_features"][0, 2].tolist() == [0, 0, 0]
    assert batch["atom_mask"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["distances"][0, 2, 0] == float("inf") and batch["distances"][0, 1, 1] == 0


def test_collate_refuses_rows_of_different_fixed_shapes():
    with pytest.raises(ValueError, match="'pixels'"):
        collate([{"pixels": torch.zeros(3, 4, 4)}, {"pixels": torch.zeros(3, 8, 8)}])


def test_split_rows_inverts_collate_for_equal_lengths():
    batch = {"numeric": torch.randn(3, 2), "categorical": torch.ones(3, 2, dtype=torch.long)}
    assert torch.equal(collate(split_rows(batch))["numeric"], batch["numeric"])


def _echo_batcher(max_batch_size: int, sizes: list[int], max_wait_ms: float = 20.0) -> DynamicBatcher:
    def run_batch(requests):
        sizes.append(sum(len(r.rows) for r in requests))
        return [torch.stack([row["x"] for row in r.rows]) * 2 for r in requests]

    return DynamicBatcher(run_batch, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)


def test_every_caller_gets_its_own_rows_under_concurrency():
    sizes: list[int] = []
    batcher = _echo_batcher(max_batch_size=8, sizes=sizes)
    barrier = threading.Barrier(THREADS)

    def call(caller: int) -> tuple[int, torch.Tensor]:
        rows = [{"x": torch.tensor([caller, i], dtype=torch.float32)} for i in range(1 + caller % 3)]
        barrier.wait()
        return caller, batcher.submit(rows, None).result(timeout=30)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(call, range(THREADS)))
    batcher.close()
    for caller, output in results:
        expected = torch.tensor([[caller, i] for i in range(1 + caller % 3)], dtype=torch.float32) * 2
        assert torch.equal(output, expected)
    assert max(sizes) <= 8
    assert len(sizes) < THREADS  # requests were batched together
    assert sum(sizes) == sum(1 + c % 3 for c in range(THREADS))


def test_close_finishes_queued_work_and_refuses_new_requests():
    sizes: list[int] = []
    batcher = _echo_batcher(max_batch_size=4, sizes=sizes, max_wait_ms=50.0)
    futures = [batcher.submit([{"x": torch.tensor([float(i)])}], None) for i in range(10)]
    batcher.close()
    assert all(f.done() for f in futures)
    assert [f.result().item() for f in futures] == [2.0 * i for i in range(10)]
    assert not batcher._thread.is_alive()
    with pytest.raises(ServerClosed):
        batcher.submit([{"x": torch.tensor([1.0])}], None)


def test_a_failing_batch_fails_only_its_callers():
    def run_batch(requests):
        if any(r.adapter_id == "poison" for r in requests):
            raise RuntimeError("forward failed")
        return ["ok"] * len(requests)

    batcher = DynamicBatcher(run_batch, max_batch_size=1, max_wait_ms=0)
    poisoned = batcher.submit([{}], "poison")
    healthy = batcher.submit([{}], None)
    batcher.close()
    with pytest.raises(RuntimeError, match="forward failed"):
        poisoned.result()
    assert healthy.result() == "ok"


def _sized_adapters(tmp_path: Path, base: MoETransformer) -> dict[str, Path]:
    return {
        "a": _adapter(base, tmp_path / "a", seed=1, rank=4),
        "b": _adapter(base, tmp_path / "b", seed=2, rank=4),
        "c": _adapter(base, tmp_path / "c", seed=3, rank=4),
    }


def test_adapter_cache_evicts_the_least_recently_used_by_count(tmp_path):
    base = _base()
    paths = _sized_adapters(tmp_path, base)
    cache = AdapterCache(enable_multi_lora(base, 2), paths.__getitem__, max_count=2, max_bytes=2**30)
    slot_a = cache.acquire("a", set())
    cache.acquire("b", set())
    assert cache.acquire("a", set()) == slot_a  # a is now the most recent
    cache.acquire("c", set())
    assert cache.cached_ids() == ["a", "c"]
    assert cache.loads == 3


def test_adapter_cache_evicts_by_bytes_and_never_evicts_pinned(tmp_path):
    base = _base()
    paths = _sized_adapters(tmp_path, base)
    multi = enable_multi_lora(base, 4)
    probe = AdapterCache(multi, paths.__getitem__, max_count=4, max_bytes=2**30)
    probe.acquire("a", set())
    one = probe.nbytes
    multi.clear(0)

    cache = AdapterCache(multi, paths.__getitem__, max_count=4, max_bytes=2 * one)
    cache.acquire("a", set())
    cache.acquire("b", set())
    cache.acquire("c", set())
    assert cache.cached_ids() == ["b", "c"] and cache.nbytes == 2 * one
    assert cache.acquire("a", pinned={"b", "c"}) is None
    assert cache.cached_ids() == ["b", "c"]


def test_server_serves_mixed_adapters_to_concurrent_callers_as_if_alone(tmp_path):
    base = _base()
    paths = _sized_adapters(tmp_path, base)
    paths["d"] = _adapter(base, tmp_path / "d", seed=4, modules_to_save=["heads.label"])
    reference = copy.deepcopy(base)
    reference_multi = enable_multi_lora(reference, 4)
    slot_of = {}
    for slot, (name, path) in enumerate(paths.items()):
        reference_multi.load_directory(slot, path)
        slot_of[name] = slot

    adapter_of = [None, "a", "b", "c", "d"]
    server = ModelServer(model=copy.deepcopy(base), max_batch_size=16, max_wait_ms=20, adapter_cache_count=4, adapter_resolver=paths.__getitem__)
    barrier = threading.Barrier(THREADS)

    def call(caller: int):
        rows = _text_rows(1 + caller % 4, seed=caller)
        barrier.wait()
        return caller, rows, server.predict(rows, adapter_of[caller % 5])

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(call, range(THREADS)))
    server.close()
    assert server.batches_run < THREADS
    for caller, rows, output in results:
        adapter = adapter_of[caller % 5]
        slots = torch.full((len(rows),), -1 if adapter is None else slot_of[adapter])
        with torch.no_grad():
            alone = reference(collate(rows), adapter_ids=slots).heads
        assert set(output) == set(alone)
        for name, value in alone.items():
            assert output[name].shape == value.shape
            torch.testing.assert_close(output[name], value, atol=1e-5, rtol=1e-4)


def test_a_missing_adapter_fails_only_its_caller(tmp_path):
    base = _base()
    _adapter(base, tmp_path / "a", seed=1)
    # Two requests of 2 rows fill a batch of 4, so both run in the same batch.
    server = ModelServer(model=base, max_batch_size=4, max_wait_ms=2000, adapter_cache_count=2, adapter_resolver=lambda v: tmp_path / v)
    with ThreadPoolExecutor(2) as pool:
        good = pool.submit(server.predict, _text_rows(2, 0), "a")
        bad = pool.submit(server.predict, _text_rows(2, 1), "missing")
        assert good.result()["label"].shape == (2, 3)
        with pytest.raises(AdapterError, match="does not exist"):
            bad.result()
    server.close()
    assert server.batches_run == 1


def test_predict_splits_requests_larger_than_a_batch():
    base = _base()
    rows = _text_rows(11, seed=3)
    with ModelServer(model=copy.deepcopy(base), max_batch_size=4, max_wait_ms=0) as server:
        output = server.predict(rows)
    batch = collate(rows)
    with torch.no_grad():
        expected = base(batch).heads
    # Per-token outputs at padding positions mean nothing; compare the real tokens.
    real = batch["attention_mask"]
    torch.testing.assert_close(output.pop("per_token")[real], expected.pop("per_token")[real], atol=1e-5, rtol=1e-4)
    for name, value in expected.items():
        torch.testing.assert_close(output[name], value, atol=1e-5, rtol=1e-4)


def test_submit_returns_before_the_forward_and_its_result_equals_predict():
    base = _base()
    rows = _text_rows(6, seed=4)
    release = threading.Event()

    class Gated(torch.nn.Module):  # a model whose forward waits until the caller lets it run
        def __init__(self) -> None:
            super().__init__()
            self.inner = copy.deepcopy(base)
            self.config = base.config

        def forward(self, batch, adapter_ids=None):
            assert release.wait(timeout=10)
            return self.inner(batch, adapter_ids=adapter_ids)

    with ModelServer(model=Gated(), max_batch_size=4, max_wait_ms=0) as server:
        pending = server.submit(rows)  # returns although the forward cannot run yet
        assert not any(future.done() for future in pending.futures)
        release.set()
        submitted = pending.result(timeout=10)
        predicted = server.predict(rows)
    for name, value in predicted.items():
        torch.testing.assert_close(submitted[name], value)


def test_get_server_holds_one_model_per_checkpoint(tmp_path):
    save_checkpoint(_base(), tmp_path / "ckpt")
    server = get_server(tmp_path / "ckpt", max_batch_size=4, max_wait_ms=1)
    try:
        assert get_server(str(tmp_path / "ckpt")) is server
        assert server.predict(_text_rows(1, 0))["label"].shape == (1, 3)
    finally:
        server.close()
    replacement = get_server(tmp_path / "ckpt")
    assert replacement is not server and not replacement.closed
    replacement.close()


def test_int8_server_applies_adapters_close_to_the_fp32_server(tmp_path):
    base = _base()
    paths = {"a": _adapter(base, tmp_path / "a", seed=1, modules_to_save=["heads.label"])}
    rows = _text_rows(3, seed=7)
    outputs = []
    for int8 in (False, True):
        with ModelServer(model=copy.deepcopy(base), max_batch_size=8, max_wait_ms=0, adapter_resolver=paths.__getitem__, int8=int8) as server:
            outputs.append(server.predict(rows, "a"))
    assert any(type(m).__name__ == "Int8Linear" for m in server.model.modules())
    torch.testing.assert_close(outputs[1]["label"], outputs[0]["label"], atol=2e-2, rtol=5e-2)


def test_servers_without_a_resolver_use_the_process_resolver(tmp_path):
    base = _base()
    _adapter(base, tmp_path / "version-7", seed=1)
    set_adapter_resolver(lambda version: tmp_path / f"version-{version}")
    try:
        with ModelServer(model=copy.deepcopy(base), max_batch_size=4, max_wait_ms=0) as server:
            adapted = server.predict(_text_rows(2, 0), "7")
            plain = server.predict(_text_rows(2, 0))
    finally:
        set_adapter_resolver(None)
    assert server.adapters.cached_ids() == ["7"]
    assert not torch.allclose(adapted["label"], plain["label"])


def test_a_batch_with_more_adapters_than_slots_runs_in_several_forwards(tmp_path):
    base = _base()
    paths = _sized_adapters(tmp_path, base)
    reference = copy.deepcopy(base)
    reference_multi = enable_multi_lora(reference, 3)
    for slot, path in enumerate(paths.values()):
        reference_multi.load_directory(slot, path)
    rows = {name: _text_rows(1, seed=i) for i, name in enumerate(paths)}
    # Three one-row requests fill a batch of 3, but only two adapters fit in the cache at once.
    server = ModelServer(model=copy.deepcopy(base), max_batch_size=3, max_wait_ms=2000, adapter_cache_count=2, adapter_resolver=paths.__getitem__)
    with ThreadPoolExecutor(3) as pool:
        futures = {name: pool.submit(server.predict, rows[name], name) for name in paths}
        outputs = {name: future.result() for name, future in futures.items()}
    server.close()
    assert server.batches_run == 2
    for slot, name in enumerate(paths):
        with torch.no_grad():
            alone = reference(collate(rows[name]), adapter_ids=torch.tensor([slot])).heads["label"]
        torch.testing.assert_close(outputs[name]["label"], alone, atol=1e-5, rtol=1e-4)
