"""What every engine benchmark shares: timing, the printed table, and the JSON + markdown record.

Each benchmark measures ours and its peer in one run, prints the setup, the numbers and the
ratio, and writes ``docs/benchmarks/<name>.json`` and ``<name>.md``.

Compute comparisons are timed in process CPU time on one torch thread (`cpu_time_setup`): the
build machine's two cores are shared by many processes, so wall time there measures the
neighbours as much as the code, while CPU time measures the work each method does. Latency
(the batcher) is wall time by nature and is reported as such.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"


def cpu_time_setup() -> None:
    """One torch thread, so process CPU time is the time one core spends on the work."""
    torch.set_num_threads(1)


def interleaved_medians(
    fns: dict[str, Callable[[], object]],
    repeats: int = 7,
    clock: Callable[[], float] = time.process_time,
) -> dict[str, float]:
    """Median ``clock`` time of each function, calling them in turn so drift hits all alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def markdown_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_report(
    name: str,
    title: str,
    setup: dict[str, Any],
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    notes: Sequence[str] = (),
    out_dir: Path = DOCS_DIR,
) -> dict[str, Any]:
    """Print the table and write ``<out_dir>/<name>.json`` and ``<name>.md``; the record."""
    record = {"benchmark": name, "title": title, "machine": machine(), "setup": setup, "results": list(rows), "notes": list(notes)}
    table = markdown_table(columns, rows)
    setup_lines = [f"- {key}: {value}" for key, value in {**record["machine"], **setup}.items()]
    text = "\n".join([f"# {title}", "", *setup_lines, "", table, "", *notes]).rstrip() + "\n"
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (out_dir / f"{name}.md").write_text(
        text + f"\nMeasured with `python -m engine.bench.{name}`.\n"
    )
    return record
