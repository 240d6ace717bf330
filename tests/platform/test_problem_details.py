"""One error format across the API: RFC 9457 problem details."""

import pytest
from rest_framework.test import APIClient

from quorum.api.errors import flatten_errors

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_FIELDS <= body.keys()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["detail"]
    return body


@pytest.mark.django_db
def test_an_unknown_url_under_the_api_is_a_problem(api_client_a) -> None:
    body = assert_problem(api_client_a.get("/api/v1/no-such-thing/"), 404)
    assert body["title"] == "Not Found"


@pytest.mark.django_db
def test_a_missing_object_is_a_problem(api_client_a) -> None:
    body = assert_problem(
        api_client_a.get("/api/v1/jobs/00000000-0000-0000-0000-000000000001/"), 404
    )
    assert body["code"] == "not_found"


@pytest.mark.django_db
def test_missing_credentials_are_a_problem(db) -> None:
    body = assert_problem(APIClient().get("/api/v1/jobs/"), 401)
    assert body["code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_validation_error_names_each_field(admin_a_client) -> None:
    response = admin_a_client.post(
        "/api/v1/webhook-endpoints/",
        {"url": "ftp://files.example"},
        content_type="application/json",
    )
    body = assert_problem(response, 400)
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["url"]
    assert "http" in body["errors"]["url"][0]
    assert "url" in body["detail"]


@pytest.mark.django_db
def test_a_missing_field_is_named(admin_a_client) -> None:
    body = assert_problem(
        admin_a_client.post("/api/v1/api-keys/", {}, content_type="application/json"), 400
    )
    assert body["errors"] == {"name": ["This field is required."]}


@pytest.mark.django_db
def test_a_malformed_json_body_is_a_problem(admin_a_client) -> None:
    response = admin_a_client.post(
        "/api/v1/api-keys/", "{not json", content_type="application/json"
    )
    body = assert_problem(response, 400)
    assert body["code"] == "parse_error"


@pytest.mark.django_db
def test_a_wrong_method_is_a_problem(api_client_a) -> None:
    assert_problem(api_client_a.delete("/api/v1/jobs/"), 405)


def test_nested_errors_flatten_to_dotted_paths() -> None:
    nested = {
        "name": ["Too long."],
        "items": [{}, {"smiles": ["Unclosed ring."]}],
        "non_field_errors": ["Pick one."],
    }
    assert flatten_errors(nested) == {
        "name": ["Too long."],
        "items.1.smiles": ["Unclosed ring."],
        "non_field_errors": ["Pick one."],
    }
    assert flatten_errors(["Bad file."]) == {"non_field_errors": ["Bad file."]}
