"""The protocol of a solution's tenant adapter hooks.

A solution names a module of hooks in its registration
(``Solution(adapters="solutions.<name>.adapters")``). The platform (`quorum.adapters`) stores
datasets, splits them, trains, stores versions and serves them; the hooks only say how the
solution's data looks. Rows are plain JSON-serialisable dicts (what `parse_dataset` accepted),
so the platform can store and split them without knowing the solution's format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch


@dataclass
class DatasetReport:
    """What a dataset upload gave: accepted rows, rejected rows with the reason, label counts."""

    rows: list[dict[str, Any]]
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"row": n (1-based), "reason": str}
    label_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The validation report stored with the dataset (rejections capped for display)."""
        return {
            "accepted": len(self.rows),
            "rejected": len(self.rejected),
            "rejections": self.rejected[:200],
            "label_counts": self.label_counts,
        }


class AdapterHooks(Protocol):
    """A solution's adapter hooks.

    - ``metric_name`` ("AUC"), ``maximize`` (higher is better): the holdout metric.
    - ``dataset_kinds``: upload extensions accepted for a dataset (".csv", ".zip", ".jsonl").
    - ``base_models()``: names of the base checkpoints an adapter can be trained on.
    - ``base_model_dir(name)``: the checkpoint folder of a base model.
    - ``parse_dataset(base_model, filename, data)``: validate an upload in the solution's
      natural format; every input row is accepted or rejected with a reason.
    - ``corrections(tenant, base_model)``: the tenant's reviewed corrections as a dataset, or
      None when the solution has no review corrections.
    - ``batches(base_model, rows, batch_size)``: encoded model inputs with targets under the
      head names (what engine.train.fit takes).
    - ``metric(heads, targets)``: the holdout metric of collected predictions.
    - ``modules_to_save(base_model)``: heads trained alongside the LoRA weights ([] for none).
    - optional ``scenario(data_dir, segment=...)``: the realistic tenant of `manage.py adapter_scenario`, a
      dict with base_model, name, description, filename and data (an upload from shipped data).
    """

    metric_name: str
    maximize: bool
    dataset_kinds: tuple[str, ...]

    def base_models(self) -> list[str]: ...

    def base_model_dir(self, base_model: str) -> Path: ...

    def parse_dataset(self, base_model: str, filename: str, data: bytes) -> DatasetReport: ...

    def corrections(self, tenant: Any, base_model: str) -> DatasetReport | None: ...

    def batches(self, base_model: str, rows: list[dict[str, Any]], batch_size: int) -> list[dict[str, torch.Tensor]]: ...

    def metric(self, heads: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float: ...

    def modules_to_save(self, base_model: str) -> list[str]: ...
