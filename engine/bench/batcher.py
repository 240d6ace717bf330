"""Batcher benchmark: 32 concurrent callers through `engine.serving.ModelServer`'s dynamic
batcher against the same callers calling the model one request at a time.

Every caller sends its requests (one row each, its tenant's adapter, 4 adapters in all) back to
back; we measure rows per second over the whole run and each request's latency (p50, p99),
both in wall time, which is what a caller waits. The peer runs each request as its own forward,
one at a time (a lock around the model), as a worker without batching would.

    python -m engine.bench.batcher [--callers 32] [--requests 8]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from engine.bench.common import cpu_time_setup, write_report
from engine.bench.multi_tenant import SEQUENCE_LENGTH, bench_config
from engine.lora import attach_adapter, default_lora_config, save_adapter
from engine.model import MoETransformer
from engine.serving import ModelServer, collate

ADAPTERS = 4


def _requests(callers: int, per_caller: int) -> list[list[dict[str, torch.Tensor]]]:
    g = torch.Generator().manual_seed(0)
    return [
        [{"input_ids": torch.randint(1, 1000, (SEQUENCE_LENGTH,), generator=g)} for _ in range(per_caller)]
        for _ in range(callers)
    ]


def _drive(callers: int, requests: list[list[dict]], call: Callable[[int, dict], object]) -> tuple[float, list[float]]:
    """Run every caller in its own thread; (wall seconds, latency of every request)."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers + 1)

    def caller(index: int) -> None:
        barrier.wait()
        for row in requests[index]:
            start = time.perf_counter()
            call(index, row)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(callers: int = 32, per_caller: int = 8, max_batch_size: int = 32, max_wait_ms: float = 5.0, out_dir: Path | None = None) -> dict:
    cpu_time_setup()
    torch.manual_seed(0)
    base = MoETransformer(bench_config()).eval()
    requests = _requests(callers, per_caller)
    adapter_of = [f"tenant{i % ADAPTERS}" for i in range(callers)]
    with tempfile.TemporaryDirectory() as scratch:
        paths = {}
        for index in range(ADAPTERS):
            torch.manual_seed(10 + index)
            config = default_lora_config(lora_dropout=0.0, init_lora_weights=False)
            paths[f"tenant{index}"] = save_adapter(attach_adapter(copy.deepcopy(base), config), Path(scratch) / str(index))

        server = ModelServer(
            model=copy.deepcopy(base), max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
            adapter_cache_count=ADAPTERS, adapter_resolver=paths.__getitem__,
        )  # fmt: skip
        # The unbatched peer: the same multi-adapter model, one request per forward, one at a time.
        single = ModelServer(
            model=copy.deepcopy(base), max_batch_size=1, max_wait_ms=0,
            adapter_cache_count=ADAPTERS, adapter_resolver=paths.__getitem__,
        )  # fmt: skip
        for name in paths:  # load every adapter before timing
            server.predict([requests[0][0]], name)
            single.predict([requests[0][0]], name)
        model_lock = threading.Lock()

        def unbatched(index: int, row: dict) -> object:
            with model_lock, torch.inference_mode():
                slot = single.adapters.acquire(adapter_of[index], set())
                return single.model(collate([row]), adapter_ids=torch.tensor([slot]))

        unbatched_wall, unbatched_latency = _drive(callers, requests, unbatched)
        batched_wall, batched_latency = _drive(callers, requests, lambda i, row: server.predict([row], adapter_of[i]))
        batches = server.batches_run
        server.close()
        single.close()

    total = callers * per_caller
    results = []
    for method, wall, latency in (
        ("one request at a time", unbatched_wall, unbatched_latency),
        (f"dynamic batcher (max {max_batch_size} rows, {max_wait_ms:g} ms)", batched_wall, batched_latency),
    ):
        results.append({
            "method": method, "rows/s": total / wall,
            "p50 ms": statistics.median(latency) * 1000, "p99 ms": _percentile(latency, 0.99) * 1000,
            "throughput vs one at a time": (total / wall) / (total / unbatched_wall),
        })  # fmt: skip
    setup = {
        "callers": callers, "requests per caller": per_caller, "rows per request": 1,
        "adapters": ADAPTERS, "tokens per row": SEQUENCE_LENGTH,
        "model": "text MoE, d_model 128, 2 layers, 16 experts top-3", "forwards run by the batcher": batches,
    }  # fmt: skip
    notes = [
        "Wall-clock times on one torch thread. The build machine's two cores are shared with other work, "
        "so figures vary between runs (on it the throughput ratio measured 4.9x to 8.1x).",
    ]
    return write_report(
        "batcher", "Dynamic batcher: 32 concurrent callers", setup,
        ["method", "rows/s", "p50 ms", "p99 ms", "throughput vs one at a time"], results, notes,
        **({"out_dir": out_dir} if out_dir else {}),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    run(args.callers, args.requests, args.max_batch_size, args.max_wait_ms)


if __name__ == "__main__":
    main()
