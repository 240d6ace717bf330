"""Fixtures of the adapter tests: jobs run in process, adapter files in a temporary cache."""

import contextlib

import pytest

from quorum.jobs import runner


@pytest.fixture(autouse=True)
def adapter_cache(settings, tmp_path):
    settings.QUORUM_ADAPTER_CACHE_DIR = tmp_path / "adapter-cache"
    return settings.QUORUM_ADAPTER_CACHE_DIR


@pytest.fixture
def in_process_runner(monkeypatch):
    """Run jobs inside the test's transaction: the runner's connection housekeeping (closing
    stale connections, a heartbeat thread closing its own) would close the test database,
    whose in-memory SQLite connection every thread shares."""
    monkeypatch.setattr(runner, "heartbeat", lambda *args: contextlib.nullcontext())
    monkeypatch.setattr(runner, "close_old_connections", lambda: None)
