"""Server pieces tested in-process: the Authorization header, load shedding, the 500 path."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import encode

from rosto.config import Settings
from rosto.errors import RetryLater, RostoError
from rosto.server import app as server_app
from rosto.server.auth import token_from_header
from rosto.tokens import TokenStore


@pytest.mark.parametrize(
    "header",
    [
        'Token token="abc_-1"',  # the doc's curl example
        "Token token=abc_-1",  # the doc's Python example
        'token token="abc_-1", nonce="x"',  # Rails allows options after the token
        "Bearer abc_-1",
        "  bearer   abc_-1 ",
    ],
)
def test_token_header_forms(header):
    assert token_from_header(header) == "abc_-1"


@pytest.mark.parametrize(
    "header", [None, "", "abc", "Basic dXNlcjpwdw==", 'Token token=""', "Bearer", "Token abc"]
)
def test_bad_token_headers_are_401(header):
    with pytest.raises(RostoError) as caught:
        token_from_header(header)
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert 'Token token="YOUR_TOKEN"' in caught.value.message


def test_admission_sheds_over_the_limit():
    admission = server_app.Admission(limit=1)
    with admission.slot():
        with pytest.raises(RetryLater) as caught, admission.slot():
            pass
        assert (caught.value.status, caught.value.code) == (503, "overloaded")
        assert caught.value.retry_after >= 1
    with admission.slot():  # the slot was given back
        assert admission.active == 1
    assert admission.active == 0


def test_unexpected_errors_are_json_500_without_traceback(tmp_path, monkeypatch, astronaut):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server_app, "analyze", broken)
    settings = Settings(data_dir=tmp_path)
    _, token = TokenStore(settings.db_url).create()
    app = server_app.create_app(settings)

    async def call() -> tuple[httpx.Response, str]:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://rosto") as client:
            response = await client.post(
                "/api/v1/features",
                headers={"Authorization": f"Bearer {token}"},
                files={"image": encode(astronaut[:64, :64])},
            )
            return response, (await client.get("/metrics")).text

    response, metrics = asyncio.run(call())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert 'rosto_errors_total{code="internal_error"} 1.0' in metrics
