"""`python -m engine.bench`: every engine benchmark in one run, each printing its table.

Runs the MoE layer, the kernels, multi-tenant LoRA, int8 and the batcher benchmarks in turn;
each writes its JSON + markdown under docs/benchmarks/. A benchmark that fails is reported and
the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable

# (module, how to run it with its defaults); the kernels benchmark takes an argv list.
BENCHMARKS: list[tuple[str, Callable[[object], object]]] = [
    ("engine.bench.moe_layer", lambda module: module.run()),
    ("engine.bench.kernels", lambda module: module.main([])),
    ("engine.bench.multi_tenant", lambda module: module.run()),
    ("engine.bench.int8", lambda module: module.run()),
    ("engine.bench.batcher", lambda module: module.run()),
]


def main() -> int:
    failed = []
    for name, start in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        try:
            start(importlib.import_module(name))
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"\nengine benchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
