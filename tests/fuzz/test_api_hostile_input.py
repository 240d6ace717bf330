"""Hostile input through the REST API: every solution's create endpoint given garbage files
(under each name its uploads accept) and garbage fields, and the real-time loan score given
arbitrary JSON, answer 2xx or 4xx with problem details, never 5xx."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorum.jobs import services as job_services
from solutions import registry
from tests.fuzz.mutations import hostile_files, sample_bytes
from tests.platform.faults.submissions import solutions_with_uploads

API_FUZZ = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)


@pytest.fixture
def no_queue(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Accepted jobs are only recorded: this tests the request path, not the workers."""
    queued: list[str] = []
    monkeypatch.setattr(job_services, "enqueue_job", lambda job: queued.append(str(job.pk)))
    return queued


def assert_answered_cleanly(response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/problem+json")


def accepted_names(solution: registry.Solution) -> list[str]:
    suffixes = [kind for kind in solution.input_kinds if kind.startswith(".")]
    return [f"upload{suffix}" for suffix in suffixes] + ["upload.exe", "no-extension"]


@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
@pytest.mark.django_db
def test_create_endpoints_answer_garbage_without_5xx(solution, api_client_a, no_queue) -> None:
    originals = sample_bytes(solution.name, *solution.input_kinds) or [b"x"]

    @API_FUZZ
    @given(
        body=hostile_files(originals),
        name=st.sampled_from(accepted_names(solution)),
        fields=st.dictionaries(
            st.sampled_from(["model", "smiles_column", "x"]), st.text(max_size=8)
        ),
    )
    def submit(body: bytes, name: str, fields: dict[str, str]) -> None:
        upload = SimpleUploadedFile(name, body, content_type="application/octet-stream")
        response = api_client_a.post(
            f"/api/v1/{solution.name}/jobs/", {**fields, "files": [upload]}, format="multipart"
        )
        assert_answered_cleanly(response)

    submit()


@pytest.mark.django_db
def test_create_endpoints_answer_garbage_json_without_5xx(api_client_a, no_queue) -> None:
    @API_FUZZ
    @given(solution=st.sampled_from(solutions_with_uploads()), document=JSON_VALUES)
    def submit(solution: registry.Solution, document: object) -> None:
        response = api_client_a.post(f"/api/v1/{solution.name}/jobs/", document, format="json")
        assert_answered_cleanly(response)

    submit()


@pytest.mark.django_db
def test_real_time_loan_score_answers_any_json_without_5xx(api_client_a) -> None:
    if "loans" not in {solution.name for solution in registry.all_solutions()}:
        pytest.skip("the loans solution is not installed")

    @API_FUZZ
    @given(document=st.one_of(JSON_VALUES, st.dictionaries(st.text(max_size=12), JSON_VALUES)))
    def score(document: object) -> None:
        assert_answered_cleanly(api_client_a.post("/api/v1/loans/score", document, format="json"))

    score()
