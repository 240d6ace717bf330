"""The registry that solutions plug into.

Each solution's AppConfig.ready() calls `register(Solution(...))`. The platform (job runner, API
router, dashboard, adapters) reads the registry and never imports a solution by name.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUEUES = ("cpu", "gpu", "training")


@dataclass(frozen=True)
class Solution:
    name: str  # URL slug and registry key: "molecules"
    title: str  # "Molecule screening"
    description: str
    input_kinds: tuple[str, ...]  # file extensions or media types accepted: (".smi", ".csv")
    # pipeline(ctx: quorum.jobs.runner.JobContext) -> dict (the job's result summary)
    pipeline: Callable[[Any], dict]
    queue: str = "cpu"
    # clear_results(job) deletes a job's result rows before an attempt, so reruns never duplicate.
    clear_results: Callable[[Any], None] | None = None
    api_urls: str | None = None  # dotted module with `urlpatterns`, mounted at /api/v1/<name>/
    web_urls: str | None = None  # dotted module with `urlpatterns`, mounted at /<name>/
    template_dir: str | None = None  # folder under templates/: "molecules"
    # result_url(job) -> path of the solution's result page for a job, or None.
    result_url: Callable[[Any], str | None] | None = None
    # train_base(data_dir, models_dir, log) trains the shipped base checkpoints from split files.
    train_base: Callable[[Path, Path, Callable[[str], None]], None] | None = None
    # evaluate(data_dir, models_dir, log) -> markdown report on the test splits, baselines beside.
    evaluate: Callable[[Path, Path, Callable[[str], None]], str] | None = None
    bench_module: str | None = None  # dotted module run by `make bench` (python -m ...)
    # Dotted module of the tenant adapter hooks (datasets, batches, holdout metric):
    # the protocol is quorum.adapters.spec.AdapterHooks.
    adapters: str | None = None
    # False for a platform job kind (adapter training) that is not a solution users pick.
    listed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ValueError(f"solution {self.name!r}: queue must be one of {QUEUES}")


_solutions: dict[str, Solution] = {}


def register(solution: Solution) -> Solution:
    existing = _solutions.get(solution.name)
    if existing is not None and existing is not solution:
        raise ValueError(f"solution {solution.name!r} is already registered")
    _solutions[solution.name] = solution
    return solution


def unregister(name: str) -> None:
    _solutions.pop(name, None)


def get(name: str) -> Solution:
    try:
        return _solutions[name]
    except KeyError:
        raise LookupError(f"no solution named {name!r} is registered") from None


def all_solutions() -> list[Solution]:
    return sorted((s for s in _solutions.values() if s.listed), key=lambda s: s.title)
