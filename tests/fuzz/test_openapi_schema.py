"""schemathesis against the published OpenAPI schema (/api/v1/schema/) with a real API key,
in-process through the WSGI app: no 5xx, and every response conforms to the schema (status
codes, content types, bodies). Bounded to a few examples per operation.

Not checked: that every schema-valid request is accepted. Create endpoints take "files or a
JSON list" and similar rules a schema cannot say, so schema-valid bodies are rightly refused
with a 400 problem.
"""

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from quorum.jobs import services as job_services
from quorum.wsgi import application


@pytest.fixture
def wsgi_keeps_test_database(db: None) -> Iterator[None]:
    """Calling the WSGI app directly would close the test's database connection at the end of
    each request; Django's test client avoids that the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_keeps_test_database: None) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


@pytest.fixture
def no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs the API accepts are not sent to a broker: this tests the API, not the workers."""
    monkeypatch.setattr(job_services, "enqueue_job", lambda job: None)


EXAMPLES = settings(
    max_examples=6, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)


def test_api_answers_as_its_schema_says(api_schema, api_key_a, no_queue) -> None:
    headers = {"Authorization": f"Api-Key {api_key_a.raw_key}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 10, "the schema lists too few operations"
    for operation in operations:

        @EXAMPLES
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            call()
        except (Exception, BaseExceptionGroup) as failure:  # collect them all, then report
            failures[operation.label] = str(failure)[:1500]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
