"""The OpenAPI schema describes the API as it answers: no generator warnings, uploads as
binary, nullable fields nullable, the task filters, integer ids."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.factories import TaskFactory, UserFactory


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    generated: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return generated


def test_the_schema_generates_without_warnings_and_validates(tmp_path: Path) -> None:
    # --fail-on-warn turns every drf_spectacular warning (W001/W002) into an error.
    target = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(target),
    )

    operations = [
        operation["operationId"]
        for methods in json.loads(target.read_text())["paths"].values()
        for operation in methods.values()
    ]
    assert len(operations) == len(set(operations))


def test_uploads_are_binary_files(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/api/v1/tasks/"]["post"]["requestBody"]["content"]
    submit = schema["components"]["schemas"][
        body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]

    for field in ("image", "archive"):
        assert submit["properties"][field]["type"] == "array"
        assert submit["properties"][field]["items"] == {"type": "string", "format": "binary"}
        assert "at least one file" in submit["properties"][field]["description"]


def test_the_task_filters_are_documented(schema: dict[str, Any]) -> None:
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in schema["paths"]["/api/v1/tasks/"]["get"]["parameters"]
    }

    assert parameters["status"]["enum"] == ["done", "failed", "queued", "running"]
    assert parameters["scene"]["type"] == "string"
    assert parameters["object"]["type"] == "string"
    assert parameters["min_score"]["type"] == "number"
    assert parameters["created_after"]["format"] == "date-time"
    assert parameters["created_before"]["format"] == "date-time"
    assert {"cursor", "page_size"} <= parameters.keys()


def test_id_path_parameters_are_integers(schema: dict[str, Any]) -> None:
    path_parameters = [
        (path, parameter)
        for path, methods in schema["paths"].items()
        for operation in methods.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]

    assert path_parameters
    for path, parameter in path_parameters:
        assert parameter["schema"]["type"] == "integer", (path, parameter["name"])


@pytest.mark.django_db
def test_every_null_a_queued_task_answers_is_nullable_in_the_schema(
    schema: dict[str, Any],
) -> None:
    owner = UserFactory.create()
    task = TaskFactory.create(owner=owner)
    api = APIClient()
    api.force_authenticate(owner)

    answer = api.get(f"/api/v1/tasks/{task.pk}/").json()
    properties = schema["components"]["schemas"]["Task"]["properties"]

    nulls = [field for field, value in answer.items() if value is None]
    assert {"scene_label", "scene_score", "started_at", "finished_at"} <= set(nulls)
    for field in nulls:
        assert properties[field].get("nullable") is True, field


def test_error_answers_are_documented_in_the_error_shape(schema: dict[str, Any]) -> None:
    operations = {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if path != "/api/v1/schema/"
    }
    error_ref = {"$ref": "#/components/schemas/ApiError"}

    for (method, path), operation in operations.items():
        responses = operation["responses"]
        assert responses["401"]["content"]["application/json"]["schema"] == error_ref, path
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in {"POST", "DELETE"}:
            assert "403" in responses, (method, path)
    upload = operations[("POST", "/api/v1/tasks/")]["responses"]
    assert {"400", "413", "503"} <= upload.keys()
    assert upload["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SubmissionRejected"
    }
    assert "503" in operations[("GET", "/api/v1/tasks/{id}/")]["responses"]
    assert "400" in operations[("GET", "/api/v1/tasks/")]["responses"]  # filters, cursor
    detail = schema["components"]["schemas"]["ApiErrorDetail"]
    assert set(detail["required"]) == {"status", "code", "message", "details"}


def test_the_rerun_rule_and_token_name_length_are_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]

    assert "'stale' is true" in components["TaskRerunRequest"]["properties"]["ids"]["description"]
    assert components["ApiTokenCreateInputRequest"]["properties"]["name"]["minLength"] == 1


def _conformance_errors(schema: dict[str, Any], component: str, body: Any) -> list[Any]:
    document = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
    return list(jsonschema.Draft4Validator(document).iter_errors(body))


@pytest.mark.django_db
def test_real_error_answers_conform_to_the_documented_schemas(schema: dict[str, Any]) -> None:
    owner = UserFactory.create()
    api = APIClient()
    anonymous = api.get("/api/v1/tasks/")
    nowhere = api.get("/api/v1/nowhere/")  # 404 from Django's resolver, not a view
    api.force_authenticate(owner)
    forged = api.get("/api/v1/tasks/", {"cursor": "cD1nYXJiYWdl"})
    text = io.BytesIO(b"not an image")
    text.name = "notes.jpg"
    rejected = api.post("/api/v1/tasks/", {"image": [text]}, format="multipart")

    for response, status in ((anonymous, 401), (nowhere, 404), (forged, 400)):
        assert response.status_code == status
        errors = _conformance_errors(schema, "ApiError", response.json())
        assert not errors, errors
    assert rejected.status_code == 400
    assert rejected.json()["errors"]
    errors = _conformance_errors(schema, "SubmissionRejected", rejected.json())
    assert not errors, errors
    assert _conformance_errors(schema, "ApiError", {"error": {"status": 400}})  # it can fail


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"image": ["a.png"]}, True),
        ({"archive": ["a.zip"], "wait": 2}, True),
        ({"image": ["a.png"], "archive": ["b.zip"]}, True),
        ({"wait": 2}, False),
        ({"image": [], "archive": []}, False),
    ],
)
def test_the_schema_says_a_submission_needs_a_file(
    schema: dict[str, Any], body: dict[str, Any], valid: bool
) -> None:
    submit = schema["components"]["schemas"]["TaskSubmitRequest"]

    errors = list(jsonschema.Draft4Validator(submit).iter_errors(body))

    assert (not errors) is valid, errors
