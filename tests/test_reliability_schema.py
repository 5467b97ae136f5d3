"""Schema-driven fuzz: schemathesis generates requests from the server's own /openapi.json.

Every operation, with bodies valid and invalid for the documented schemas, must answer without
a 5xx and with JSON. Bounded: a fixed number of examples per operation, derandomised, so the
run takes seconds and fails the same way twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from serving import ENV, Server, rosto

EXAMPLES = 100  # per generation mode, over all operations


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rosto-schema")


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[Server]:
    """Generated bodies carry any URL: this server's name lookups stay on this machine."""
    env = {**ENV, "PYTHONPATH": str(Path(__file__).parent / "no_dns")}
    started = Server(data_dir, env=env)
    yield started
    started.close()


@pytest.fixture(scope="module")
def token(server, data_dir) -> str:
    return rosto("tokens", "--data-dir", str(data_dir), "create", "--name", "fuzz").split()[-1]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_openapi_description_under_fuzz(server, token, mode):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    answers: Counter[int] = Counter()

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its case
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:
        response = case.call(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        answers[response.status_code] += 1
        if response.status_code == 502 and b"no DNS" in response.content:
            return  # a generated URL's name: refused by tests/no_dns, not by the server
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        kind = response.headers.get("content-type", [""])[0]
        if case.path in ("/", "/docs", "/redoc") or case.path.startswith("/static"):
            return  # the console and the API reference are pages
        assert kind.startswith("application/json"), (case.method, case.path, kind)
        body = json.loads(response.content)
        assert isinstance(body, dict) and (response.status_code < 400 or "error" in body)

    fuzz()
    print(f"{mode.value}: answers by status {dict(sorted(answers.items()))}")
    assert sum(answers.values()) >= EXAMPLES // 2
