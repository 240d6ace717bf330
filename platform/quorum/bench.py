"""`make bench`: every benchmark in one run — the engine's, then each registered solution's.

Each benchmark is a module run as `python -m <module>` that prints its table with ratios and
writes JSON + markdown under docs/benchmarks/. A failing benchmark is reported and the run goes
on; the exit status says whether all of them ran.
"""

import os
import subprocess
import sys

import django


def benchmark_modules() -> list[str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    django.setup()
    from solutions import registry

    modules = ["engine.bench"]
    modules += [s.bench_module for s in registry.all_solutions() if s.bench_module]
    modules += ["quorum.loadtest"]
    return modules


def main() -> int:
    failed = []
    for module in benchmark_modules():
        print(f"\n=== python -m {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
