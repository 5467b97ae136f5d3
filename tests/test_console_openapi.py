"""/openapi.json, the document behind /docs and /redoc: it must describe what the server answers.

Real answers (every feature, on real photos) and real error answers are validated against it,
and every feature, error code and body field of the API must appear in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from photos import collage

import rosto
from rosto.config import Settings
from rosto.errors import API_ERRORS
from rosto.features import API_FEATURES
from rosto.server.app import create_app


@pytest.fixture(scope="module")
def http(tmp_path_factory) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("rosto-openapi")))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def spec(http) -> dict:
    return http.get("/openapi.json").json()


def validator(spec: dict, schema: str) -> Draft202012Validator:
    """Validates against ``#/components/schemas/<schema>`` with the document's own refs."""
    return Draft202012Validator({**spec, "$ref": f"#/components/schemas/{schema}"})


def test_real_answers_of_every_feature_match_the_schema(spec, astronaut, grace_hopper):
    faces = rosto.analyze(collage([astronaut, grace_hopper], [400, 300]), features="all")
    assert len(faces) == 2
    validator(spec, "Faces").validate({"faces": faces})
    face_schema = spec["components"]["schemas"]["Face"]["properties"]
    assert set(faces[0]) == set(face_schema)  # every key answered is described, and vice versa


def test_the_schema_is_strict_enough_to_fail(spec):
    """A wrong answer does not pass: the checks above can fail."""
    check = validator(spec, "Faces")
    assert not check.is_valid({"faces": [{"age": "twenty"}]})
    assert not check.is_valid({"faces": [{"gender": {"classes": {"man": 1.0}, "value": "man"}}]})
    assert not check.is_valid({"faces": [{"emotion": {"classes": {}, "probability": 1,
                                                      "value": "bored"}}]})  # fmt: skip
    assert not check.is_valid({"faces": [{"landmarks": {"jaw": []}}]})
    assert not check.is_valid({"faces": [{"nose": 1}]})


def test_real_error_answers_match_the_error_schema(http, spec):
    check = validator(spec, "Error")
    for response in (
        http.post("/api/v1/features", data={"features": "age"}),  # no token
        http.get("/nowhere"),
        http.get("/api/v1/features"),
    ):
        assert response.status_code >= 400
        check.validate(response.json())


def test_every_feature_error_code_and_field_is_described(spec):
    operation = spec["paths"]["/api/v1/features"]["post"]
    text = str(operation)
    for name in API_FEATURES:
        assert f"`{name}`" in text  # the features field lists it
    codes = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert set(codes["enum"]) == set(API_ERRORS)
    described = {
        code: status
        for status, response in operation["responses"].items()
        for code in response.get("content", {}).get("application/json", {}).get("examples", {})
    }
    for code, cls in API_ERRORS.items():
        if code not in ("not_found", "method_not_allowed", "not_ready"):  # not of this route
            assert described.get(code) == str(cls.status), code
    for status in ("429", "503"):
        assert "Retry-After" in operation["responses"][status]["headers"]
    forms = operation["requestBody"]["content"]
    assert set(forms["multipart/form-data"]["schema"]["properties"]) == {
        "features", "features[]", "image", "url"
    }  # fmt: skip
    assert set(forms["application/json"]["schema"]["properties"]) == {
        "features", "url", "image_base64"
    }  # fmt: skip
    assert "url" in forms["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert operation["security"] == [{"token": []}]
    assert spec["components"]["securitySchemes"]["token"]["name"] == "Authorization"


def test_docs_pages_load_only_local_files(http):
    for path in ("/docs", "/redoc"):
        page = http.get(path)
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href|url)\s*[=:]\s*["\']([^"\']+)', page.text)
        assert sources and all(s.startswith("/") for s in sources), sources
        assert "Content-Security-Policy" in page.headers
        for source in sources:
            assert http.get(source).status_code == 200, source
