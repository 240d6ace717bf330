"""Fixtures of the job tests."""

import functools
from collections.abc import Callable

import pytest

from tests.fixtures.workers import WorkerProcess


@pytest.fixture
def echo_worker(
    celery_worker_process: Callable[..., WorkerProcess],
) -> Callable[..., WorkerProcess]:
    """Start workers that load only the echo test solution: they are ready in a few seconds,
    where importing every solution (and torch) takes tens."""
    return functools.partial(celery_worker_process, QUORUM_SOLUTIONS="")
