"""Shared fixtures live in tests/fixtures/: tenants and users, and the real Redis and worker."""

pytest_plugins = ["tests.fixtures.tenants", "tests.fixtures.workers"]
