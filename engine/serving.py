"""Serving: one base model per process, an LRU cache of tenant adapters, a dynamic batcher.

A Celery worker holds one `ModelServer` per checkpoint (`get_server`). Any number of threads
call ``server.predict(rows, adapter_id)``; the batcher thread gathers their rows until a batch
is full (``max_batch_size`` rows) or the oldest request has waited ``max_wait_ms``, puts every
adapter of the batch in a slot of the multi-LoRA model (loading it through the adapter cache
if needed), runs ONE forward with each row's slot, and hands each caller its own rows.

Adapters are keyed by their immutable version id; ``adapter_resolver(version_id)`` gives the
local directory holding that version's PEFT files (the platform fetches it from storage). A
server given no resolver uses the process-wide one set by `set_adapter_resolver`.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint import load_checkpoint
from engine.lora import (
    AdapterError,
    MultiLoraModel,
    adapter_nbytes,
    enable_multi_lora,
    load_adapter_weights,
)
from engine.quant import quantize_model

__all__ = [
    "AdapterCache",
    "AdapterResolver",
    "BatchRequest",
    "DynamicBatcher",
    "ModelServer",
    "ServerClosed",
    "collate",
    "get_server",
    "set_adapter_resolver",
    "split_rows",
]

Row = dict[str, torch.Tensor]
Batch = dict[str, torch.Tensor]
AdapterResolver = Callable[[str], "str | Path"]

# Sequence keys padded to the longest row, with what padding holds: 0 is the padding token and
# atom feature, False marks padding in masks, and an infinite distance means unreachable.
PAD_VALUES: dict[str, float | bool | int] = {
    "input_ids": 0,
    "attention_mask": False,
    "atom_features": 0,
    "atom_mask": False,
    "distances": math.inf,
}
# The mask that collate adds when rows of a sequence key differ in length and no mask was given.
_MASK_FOR = {"input_ids": "attention_mask", "atom_features": "atom_mask"}


# The resolver of servers created without one (the platform's adapters app sets it once per
# process, so solutions calling get_server need not know where adapters are stored).
_process_resolver: AdapterResolver | None = None


def set_adapter_resolver(resolver: AdapterResolver | None) -> None:
    """Set how servers without their own resolver find an adapter version's directory."""
    global _process_resolver
    _process_resolver = resolver


def _resolve_with_process_resolver(adapter_id: str) -> str | Path:
    # Without any resolver an adapter id is taken to be a local directory path.
    return _process_resolver(adapter_id) if _process_resolver is not None else Path(adapter_id)


class ServerClosed(RuntimeError):
    """The server (or batcher) was closed; it accepts no more requests."""


def split_rows(batch: Mapping[str, torch.Tensor]) -> list[Row]:
    """A batch dict (every tensor (B, ...)) as a list of B row dicts."""
    sizes = {key: value.shape[0] for key, value in batch.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"batch tensors disagree on the number of rows: {sizes}")
    count = next(iter(sizes.values()))
    return [{key: value[i] for key, value in batch.items()} for i in range(count)]


def row_length(row: Mapping[str, torch.Tensor]) -> int | None:
    """Tokens (or atoms) of a row of a sequence kind; None for fixed-size rows."""
    for key in ("input_ids", "atom_features"):
        if key in row:
            return int(row[key].shape[0])
    return None


def collate(rows: Sequence[Mapping[str, torch.Tensor]]) -> Batch:
    """Stack rows into a batch, padding sequence keys (tokens, atoms, distances) to the longest.

    A padding mask (``attention_mask`` / ``atom_mask``) is made when rows differ in length and
    none was given, so padding never counts as content. Other keys must agree in shape.
    """
    if not rows:
        raise ValueError("collate needs at least one row")
    keys = list(rows[0])
    for index, row in enumerate(rows):
        if list(row) != keys and set(row) != set(keys):
            raise ValueError(f"row {index} has keys {sorted(row)}, expected {sorted(keys)}")
    batch: Batch = {}
    for key in keys:
        tensors = [row[key] for row in rows]
        if key in PAD_VALUES:
            batch[key] = _pad_stack(tensors, PAD_VALUES[key])
            continue
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) != 1:
            raise ValueError(f"rows disagree on the shape of {key!r}: {sorted(shapes)}")
        batch[key] = torch.stack(tensors)
    for sequence_key, mask_key in _MASK_FOR.items():
        if sequence_key in batch and mask_key not in batch:
            lengths = torch.tensor([row[sequence_key].shape[0] for row in rows])
            if bool((lengths != lengths.max()).any()):
                positions = torch.arange(batch[sequence_key].shape[1])
                batch[mask_key] = positions[None, :] < lengths[:, None]
    return batch


def _pad_stack(tensors: Sequence[torch.Tensor], value: float | bool | int) -> torch.Tensor:
    ndims = {t.dim() for t in tensors}
    if len(ndims) != 1:
        raise ValueError("rows disagree on the number of dimensions of a sequence key")
    shape = [max(t.shape[d] for t in tensors) for d in range(tensors[0].dim())]
    out = tensors[0].new_full((len(tensors), *shape), value)
    for i, tensor in enumerate(tensors):
        out[(i, *(slice(0, size) for size in tensor.shape))] = tensor
    return out


@dataclass
class BatchRequest:
    """One caller's rows and adapter, and the Future its result is delivered through."""

    rows: list[Row]
    adapter_id: str | None
    future: Future = field(default_factory=Future)


class DynamicBatcher:
    """Gathers requests from many threads into batches run by one worker thread.

    ``run_batch(requests)`` gets the requests of one batch and returns one result per request,
    in order (a result may be an exception, which is raised to that caller only). A batch
    closes when it holds ``max_batch_size`` rows or ``max_wait_ms`` after its first request.
    """

    def __init__(
        self,
        run_batch: Callable[[list[BatchRequest]], list[Any]],
        *,
        max_batch_size: int,
        max_wait_ms: float,
        name: str = "quorum-batcher",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self._run_batch = run_batch
        self._queue: queue.Queue[BatchRequest | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, rows: list[Row], adapter_id: str | None) -> Future:
        """Queue rows (at most max_batch_size) for one adapter; a Future of their result."""
        if not rows:
            raise ValueError("a request needs at least one row")
        if len(rows) > self.max_batch_size:
            raise ValueError(f"a request holds at most {self.max_batch_size} rows")
        request = BatchRequest(rows, adapter_id)
        with self._lock:
            if self._closed:
                raise ServerClosed("the batcher is closed")
            self._queue.put(request)
        return request.future

    def close(self) -> None:
        """Finish every queued request, then stop the worker thread and wait for it."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        carried: BatchRequest | None = None
        while True:
            first = carried if carried is not None else self._queue.get()
            carried = None
            if first is None:
                return
            batch, rows = [first], len(first.rows)
            deadline = time.monotonic() + self.max_wait
            stop = False
            while rows < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    request = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    stop = True
                    break
                if rows + len(request.rows) > self.max_batch_size:
                    carried = request  # starts the next batch
                    break
                batch.append(request)
                rows += len(request.rows)
            self._deliver(batch)
            if stop:
                # Requests queued before close() came earlier in the queue and are done.
                return

    def _deliver(self, batch: list[BatchRequest]) -> None:
        try:
            results = self._run_batch(batch)
        except Exception as exc:  # a failed forward fails this batch's callers only
            results = [exc] * len(batch)
        for request, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)


@dataclass
class _CachedAdapter:
    slot: int
    nbytes: int


class AdapterCache:
    """Adapter versions loaded in the slots of a multi-LoRA model, least recently used first out.

    Bounded by the number of adapters (the model's slots, ``max_count``) and by the bytes of
    their weights (``max_bytes``). Adapters in ``pinned`` (the batch being assembled) are never
    evicted. Used only from the batcher thread.
    """

    def __init__(
        self, multi: MultiLoraModel, resolver: AdapterResolver, *, max_count: int, max_bytes: int
    ) -> None:
        self.multi = multi
        self.resolver = resolver
        self.max_count = min(max_count, multi.max_adapters)
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _CachedAdapter] = OrderedDict()
        self.loads = 0

    def __contains__(self, adapter_id: str) -> bool:
        return adapter_id in self._entries

    def cached_ids(self) -> list[str]:
        """Adapter ids held, least recently used first."""
        return list(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def acquire(self, adapter_id: str, pinned: set[str]) -> int | None:
        """The slot holding ``adapter_id``, loading it if needed; None if it cannot fit beside
        the pinned adapters (the caller then runs what it has and retries). Raises
        `engine.lora.AdapterError` or OSError for an adapter that cannot be loaded."""
        entry = self._entries.get(adapter_id)
        if entry is not None:
            self._entries.move_to_end(adapter_id)
            return entry.slot
        config, tensors = load_adapter_weights(self.resolver(adapter_id), self.multi.model)
        nbytes = adapter_nbytes(tensors)
        if nbytes > self.max_bytes:
            raise AdapterError(
                f"adapter {adapter_id} needs {nbytes} bytes, more than this server's adapter cache holds ({self.max_bytes})"
            )
        while len(self._entries) >= self.max_count or self.nbytes + nbytes > self.max_bytes:
            victim = next((key for key in self._entries if key not in pinned), None)
            if victim is None:
                return None
            self.multi.clear(self._entries.pop(victim).slot)
        used = {entry.slot for entry in self._entries.values()}
        slot = next(s for s in range(self.multi.max_adapters) if s not in used)
        self.multi.load(slot, config, tensors)
        self._entries[adapter_id] = _CachedAdapter(slot, nbytes)
        self.loads += 1
        return slot


@dataclass
class PendingPrediction:
    """The outputs of a submitted request, delivered by the batcher thread."""

    futures: list[Future]
    token_heads: set[str]

    def result(self, timeout: float | None = None) -> dict[str, torch.Tensor]:
        """Head outputs (rows first); blocks until every part has run."""
        parts = [future.result(timeout=timeout) for future in self.futures]
        return parts[0] if len(parts) == 1 else _concat_outputs(parts, self.token_heads)


class ModelServer:
    """A base checkpoint served to many threads with per-row adapters and dynamic batching.

    ``predict(rows, adapter_id)`` blocks until the caller's rows are done and returns the
    model's head outputs for those rows only (per-token heads trimmed to the caller's longest
    row). ``rows`` is a list of row dicts (tensors without the batch dimension) or a batch
    dict; ``adapter_id`` is an adapter version id, or None for the base model.
    """

    def __init__(
        self,
        checkpoint_dir: str | Path | None = None,
        *,
        model: torch.nn.Module | None = None,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        adapter_cache_count: int = 16,
        adapter_cache_bytes: int = 256 * 2**20,
        adapter_resolver: AdapterResolver | None = None,
        device: str | torch.device = "cpu",
        int8: bool = False,
    ) -> None:
        if (checkpoint_dir is None) == (model is None):
            raise ValueError("give either checkpoint_dir or model")
        if model is None:
            model = load_checkpoint(checkpoint_dir, map_location=device)  # type: ignore[arg-type]
        self.model = model.eval()
        self.device = torch.device(device)
        self.multi = enable_multi_lora(self.model, max_adapters=adapter_cache_count)
        if int8:
            quantize_model(self.model)
        self.adapters = AdapterCache(
            self.multi,
            adapter_resolver or _resolve_with_process_resolver,
            max_count=adapter_cache_count,
            max_bytes=adapter_cache_bytes,
        )
        heads = getattr(getattr(self.model, "config", None), "heads", [])
        self._token_heads = {spec.name for spec in heads if spec.kind == "token"}
        self.batches_run = 0
        self._batcher = DynamicBatcher(self._run_batch, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)

    @property
    def max_batch_size(self) -> int:
        return self._batcher.max_batch_size

    @property
    def closed(self) -> bool:
        return self._batcher.closed

    def submit(self, rows: Sequence[Row] | Mapping[str, torch.Tensor], adapter_id: str | None = None) -> PendingPrediction:
        """Queue ``rows`` under ``adapter_id`` and return at once; the caller can go on working
        (the forward runs on the batcher thread) and read the outputs from the result later."""
        row_list = split_rows(rows) if isinstance(rows, Mapping) else list(rows)
        if not row_list:
            raise ValueError("predict needs at least one row")
        size = self.max_batch_size
        futures = [self._batcher.submit(row_list[i : i + size], adapter_id) for i in range(0, len(row_list), size)]
        return PendingPrediction(futures, self._token_heads)

    def predict(
        self,
        rows: Sequence[Row] | Mapping[str, torch.Tensor],
        adapter_id: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, torch.Tensor]:
        """Head outputs (rows first) for ``rows`` under ``adapter_id``; blocks until done."""
        return self.submit(rows, adapter_id).result(timeout)

    def close(self) -> None:
        """Finish queued requests and stop the batcher thread."""
        self._batcher.close()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_batch(self, requests: list[BatchRequest]) -> list[Any]:
        results: list[Any] = [None] * len(requests)
        group: list[int] = []
        slots: dict[str | None, int] = {None: -1}
        unusable: dict[str, Exception] = {}  # adapters that failed to load in this batch
        for index, request in enumerate(requests):
            adapter_id = request.adapter_id
            if adapter_id in unusable:
                results[index] = unusable[adapter_id]
                continue
            if adapter_id not in slots:
                try:
                    slot = self.adapters.acquire(adapter_id, pinned={k for k in slots if k is not None})
                    if slot is None:
                        # The batch so far holds every slot the cache may use: run it first.
                        self._forward_group(requests, group, slots, results)
                        group, slots = [], {None: -1}
                        slot = self.adapters.acquire(adapter_id, pinned=set())
                except Exception as exc:  # this caller's adapter cannot be served
                    unusable[adapter_id] = exc  # type: ignore[index]
                    results[index] = exc
                    continue
                slots[adapter_id] = slot  # type: ignore[assignment]
            group.append(index)
        self._forward_group(requests, group, slots, results)
        return results

    def _forward_group(
        self, requests: list[BatchRequest], group: list[int], slots: Mapping[str | None, int], results: list[Any]
    ) -> None:
        if not group:
            return
        members = [requests[i] for i in group]
        try:
            outputs = self._forward(members, slots)
        except Exception as exc:
            for i in group:
                results[i] = exc
            return
        for i, output in zip(group, outputs, strict=True):
            results[i] = output

    def _forward(self, members: list[BatchRequest], slots: Mapping[str | None, int]) -> list[dict[str, torch.Tensor]]:
        rows = [row for request in members for row in request.rows]
        batch = {key: value.to(self.device) for key, value in collate(rows).items()}
        row_slots = torch.tensor(
            [slots[request.adapter_id] for request in members for _ in request.rows], dtype=torch.int64
        )
        with torch.inference_mode():
            output = self.model(batch, adapter_ids=row_slots.to(self.device))
        heads = output.heads if hasattr(output, "heads") else output
        self.batches_run += 1
        per_request = []
        start = 0
        for request in members:
            stop = start + len(request.rows)
            longest = max((row_length(row) or 0) for row in request.rows)
            per_request.append(
                {
                    name: _trim(value[start:stop], longest if name in self._token_heads else 0).cpu()
                    for name, value in heads.items()
                }
            )
            start = stop
        return per_request


def _trim(value: torch.Tensor, length: int) -> torch.Tensor:
    # Per-token outputs come padded to the batch's longest row; a caller gets its own length.
    return value[:, :length] if length else value


def _concat_outputs(parts: list[dict[str, torch.Tensor]], token_heads: set[str]) -> dict[str, torch.Tensor]:
    merged = {}
    for name in parts[0]:
        values = [part[name] for part in parts]
        if name in token_heads:
            longest = max(v.shape[1] for v in values)
            values = [torch.nn.functional.pad(v, (0, 0, 0, longest - v.shape[1])) for v in values]
        merged[name] = torch.cat(values)
    return merged


# Keyed by process id too: a forked worker child has no batcher thread of its parent's server.
_SERVERS: dict[tuple[int, Path], ModelServer] = {}
_SERVERS_LOCK = threading.Lock()


def get_server(checkpoint_dir: str | Path, **options: Any) -> ModelServer:
    """The process's server for ``checkpoint_dir``, created on first use with ``options``.

    Later calls return the same server (their options are not applied again), so a worker
    holds each model once however many jobs use it; a closed server is replaced.
    """
    key = (os.getpid(), Path(checkpoint_dir).resolve())
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is None or server.closed:
            server = ModelServer(key[1], **options)
            _SERVERS[key] = server
        return server
