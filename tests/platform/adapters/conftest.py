"""Fixtures of the adapter tests: jobs run in process, adapter files in a temporary cache."""


import pytest


@pytest.fixture(autouse=True)
def adapter_cache(settings, tmp_path):
    settings.QUORUM_ADAPTER_CACHE_DIR = tmp_path / "adapter-cache"
    return settings.QUORUM_ADAPTER_CACHE_DIR
