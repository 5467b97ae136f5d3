"""End to end over real HTTP: `rosto serve` in a subprocess, driven as the public doc's clients do.

Two servers share one temporary data dir (so one token database, as stateless workers would):
the default one, which refuses private URLs, and one started with --allow-private-urls that
may fetch from the test's own photo server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import encode, png_header
from local_http import LocalServer, Route
from serving import REPO, Server, rosto

from rosto.features import registry

TOKEN = re.compile(r"rosto_[A-Za-z0-9_-]{43}")
FEATURE_KEYS = {"quality": {"blur", "exposure"}}  # the one feature whose keys differ


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rosto-data")


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[Server]:
    started = Server(data_dir)
    yield started
    started.close()


@pytest.fixture(scope="module")
def private_server(server, data_dir) -> Iterator[Server]:
    """Started after ``server``, so the first-start token belongs to that one's log."""
    started = Server(data_dir, "--allow-private-urls")
    yield started
    started.close()


def create_token(data_dir: Path, *flags: str) -> str:
    return rosto("tokens", "--data-dir", str(data_dir), "create", *flags).split()[-1]


@pytest.fixture(scope="module")
def token(server, data_dir) -> str:
    return create_token(data_dir, "--name", "e2e")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f'Token token="{token}"'}


@pytest.fixture(scope="module")
def jpeg(astronaut) -> bytes:
    return encode(astronaut, "JPEG", quality=90)


@pytest.fixture(scope="module")
def photo_host(jpeg) -> Iterator[LocalServer]:
    with LocalServer(
        {
            "/astronaut.jpg": Route(body=jpeg, headers={"Content-Type": "image/jpeg"}),
            "/to-loopback": lambda s: Route(302, headers={"Location": s.url("/astronaut.jpg")}),
            "/to-private": Route(302, headers={"Location": "http://10.0.0.1/astronaut.jpg"}),
        }
    ) as host:
        yield host


def only_face(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    faces = response.json()["faces"]
    assert len(faces) == 1
    return faces[0]


def curl_faces(command: str, cwd: Path) -> list[dict]:
    """Run a curl command line as the doc writes it; the faces of its answer."""
    output = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, check=True)
    body = json.loads(output.stdout)
    assert "faces" in body, body
    return body["faces"]


def check_classes(value: dict, classes: set[str]) -> None:
    assert set(value["classes"]) == classes
    assert all(0.0 <= p <= 1.0 for p in value["classes"].values())
    assert value["value"] == max(value["classes"], key=value["classes"].get)
    assert value["probability"] == value["classes"][value["value"]]


# --- the public doc's examples, changing only the host ----------------------------------------


def test_first_start_prints_a_working_token(server, jpeg):
    first = TOKEN.findall(server.log())
    assert len(first) >= 1, server.log()
    response = server.post(
        headers=auth(first[0]), data={"features": "bounds"}, files={"image": jpeg}
    )
    only_face(response)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_upload_example(server, token, jpeg, tmp_path):
    (tmp_path / "first-example-gender.jpg").write_bytes(jpeg)
    command = (
        f"""curl -s -H 'Authorization: Token token="{token}"' -F 'features=gender' """
        f"""-F "image=@first-example-gender.jpg" {server.url}/api/v1/features"""
    )
    (face,) = curl_faces(command, tmp_path)
    assert set(face) == {"gender"}
    check_classes(face["gender"], {"man", "woman"})


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_url_example(private_server, token, photo_host):
    command = (
        f"""curl -s -H 'Authorization: Token token="{token}"' -d 'features=gender,age' """
        f"""-d 'url={photo_host.url("/astronaut.jpg")}' {private_server.url}/api/v1/features"""
    )
    (face,) = curl_faces(command, REPO)
    assert set(face) == {"gender", "age"}


def test_python_upload_example(server, token, jpeg, tmp_path):
    photo = tmp_path / "first-example-gender.jpg"
    photo.write_bytes(jpeg)
    with open(photo, "rb") as image_file:  # the doc's code, host changed
        response = requests.post(
            f"{server.url}/api/v1/features",
            headers={"Authorization": f"Token token={token}"},
            data={"features": "gender"},
            files={"image": image_file},
        )
    face = only_face(response)
    assert set(face) == {"gender"}


@pytest.mark.parametrize(
    "features",
    [{"features": "gender,age"}, [("features[]", "gender"), ("features[]", "age")]],
    ids=["comma-separated", "rails-array"],
)
@pytest.mark.parametrize("path", ["/astronaut.jpg", "/to-loopback"], ids=["direct", "redirect"])
def test_url_example(private_server, token, photo_host, features, path):
    data = [*(features.items() if isinstance(features, dict) else features)]
    data.append(("url", photo_host.url(path)))
    response = private_server.post(headers={"Authorization": f"Token token={token}"}, data=data)
    face = only_face(response)
    assert set(face) == {"gender", "age"}


def test_ruby_style_feature_array_upload(server, token, jpeg):
    # Faraday's multipart encoder sends an array as repeated `features[]` parts
    response = server.post(
        headers={"Authorization": f"Token token={token}"},
        data=[("features[]", "gender"), ("features[]", "age")],
        files={"image": ("photo.jpg", jpeg, "image/jpeg")},
    )
    face = only_face(response)
    assert set(face) == {"gender", "age"}
    check_classes(face["gender"], {"man", "woman"})
    assert isinstance(face["age"], int) and 15 <= face["age"] <= 70


def test_every_feature_on_the_astronaut(server, token, jpeg, astronaut):
    face = only_face(server.post(headers=auth(token), files={"image": jpeg}))  # no features: all
    expected = set().union(*(FEATURE_KEYS.get(name, {name}) for name in registry()))
    assert set(face) == expected
    bounds = face["bounds"]
    height, width = astronaut.shape[:2]
    assert 0 <= bounds["left"] < bounds["right"] <= width
    assert 0 <= bounds["top"] < bounds["bottom"] <= height
    check_classes(face["gender"], {"man", "woman"})
    assert isinstance(face["age"], int)


def test_group_photos_one_entry_per_face_largest_first(server, token, shared_data):
    from bench import datasets
    from bench.accuracy import box_of, iou

    for path, truth in list(datasets.groups(shared_data))[:5]:
        response = server.post(
            headers=auth(token),
            data={"features": "bounds,age"},
            files={"image": path.read_bytes()},
        )
        assert response.status_code == 200
        faces = response.json()["faces"]
        assert len(faces) >= len(truth), path.name  # not every face in a photo is labelled
        boxes = [box_of(face) for face in faces]
        areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
        assert areas == sorted(areas, reverse=True)
        for labelled in truth:
            assert max(iou(b, labelled) for b in boxes) >= 0.5, path.name


def test_json_body_with_base64_image(server, token, jpeg):
    body = {"features": ["bounds"], "image_base64": base64.b64encode(jpeg).decode()}
    response = server.post(headers={"Authorization": f"Bearer {token}"}, json=body)
    assert set(only_face(response)) == {"bounds"}


def test_no_face_gives_an_empty_list(server, token):
    blank = encode(np.full((240, 320, 3), 128, np.uint8), "PNG")
    response = server.post(headers=auth(token), files={"image": blank})
    assert response.status_code == 200
    assert response.json() == {"faces": []}


def test_bounds_only_runs_no_attribute_model(server, token, jpeg):
    def runs_of(features: str) -> set[str]:
        before = server.model_runs()
        response = server.post(
            headers=auth(token), data={"features": features}, files={"image": jpeg}
        )
        only_face(response)
        return {name for name, count in server.model_runs().items() if count > before[name]}

    bounds_models = runs_of("bounds")
    age_models = runs_of("age")
    assert bounds_models, "a bounds request runs the detector"
    assert age_models - bounds_models, "an age request runs a model that bounds does not"


# --- refusals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    token: str
    jpeg: bytes
    photo_host: LocalServer


Case = Callable[[Context], dict]
JUNK = ("notes.txt", b"this is not an image\n" * 20)
BAD_INPUTS: dict[str, tuple[Case, int, str]] = {
    "no token": (lambda c: {"files": {"image": c.jpeg}}, 401, "unauthorized"),
    "wrong token": (
        lambda c: {"headers": auth("rosto_" + "x" * 43), "files": {"image": c.jpeg}},
        401, "unauthorized",
    ),
    "basic auth": (
        lambda c: {"headers": {"Authorization": "Basic dXNlcjpwdw=="}, "files": {"image": c.jpeg}},
        401, "unauthorized",
    ),
    "zero bytes": (lambda c: {"files": {"image": ("a.jpg", b"")}}, 415, "unsupported_image"),
    "truncated jpeg": (
        lambda c: {"files": {"image": ("a.jpg", c.jpeg[: len(c.jpeg) // 2])}},
        415, "unsupported_image",
    ),
    "text file": (lambda c: {"files": {"image": JUNK}}, 415, "unsupported_image"),
    "5 MB file": (
        lambda c: {"files": {"image": ("big.jpg", b"\xff\xd8" + bytes(5_000_000))}},
        413, "image_too_large",
    ),
    "6 MB chunked body": (
        lambda c: {"data": (b" " * 1_000_000 for _ in range(6)),
                   "headers": {"Content-Type": "application/json"}},
        413, "image_too_large",
    ),
    "50000x50000 png header": (
        lambda c: {"files": {"image": ("bomb.png", png_header(50000, 50000))}},
        413, "image_too_large",
    ),
    "unknown feature, checked before decoding": (
        lambda c: {"data": {"features": "gender,wings"}, "files": {"image": JUNK}},
        422, "unknown_feature",
    ),
    "unknown feature, checked before fetching": (
        lambda c: {"data": {"features": "wings", "url": "http://10.0.0.1/a.jpg"}},
        422, "unknown_feature",
    ),
    "url to 127.0.0.1": (
        lambda c: {"data": {"url": c.photo_host.url("/astronaut.jpg")}}, 400, "bad_url"
    ),
    "url to localhost": (
        lambda c: {"data": {"url": f"http://localhost:{c.photo_host.port}/astronaut.jpg"}},
        400, "bad_url",
    ),
    "url to 10.0.0.1": (lambda c: {"data": {"url": "http://10.0.0.1/a.jpg"}}, 400, "bad_url"),
    "url to [::1]": (lambda c: {"data": {"url": "http://[::1]/a.jpg"}}, 400, "bad_url"),
    "redirect to 10.0.0.1": (
        lambda c: {"data": {"url": c.photo_host.url("/to-private")}}, 400, "bad_url"
    ),
    "file scheme": (lambda c: {"data": {"url": "file:///etc/passwd"}}, 400, "bad_url"),
    "ftp scheme": (lambda c: {"data": {"url": "ftp://example.com/a.jpg"}}, 400, "bad_url"),
    "neither image nor url": (lambda c: {"data": {"features": "age"}}, 400, "bad_request"),
    "both image and url": (
        lambda c: {"data": {"url": "http://example.com/a.jpg"}, "files": {"image": c.jpeg}},
        400, "bad_request",
    ),
    "two images": (
        lambda c: {"files": [("image", c.jpeg), ("image", c.jpeg)]}, 400, "bad_request"
    ),
    "image as a text field": (lambda c: {"data": {"image": "abc"}}, 400, "bad_request"),
    "bad base64": (lambda c: {"json": {"image_base64": "!!not base64!!"}}, 400, "bad_request"),
    "json array body": (lambda c: {"json": ["age"]}, 400, "bad_request"),
    "json nested 100000 deep": (
        lambda c: {"data": b"[" * 100_000 + b"]" * 100_000,
                   "headers": {"Content-Type": "application/json"}},
        400, "bad_request",
    ),
    "features nested 5000 deep": (
        lambda c: {"data": b'{"features": ' + b"[" * 5000 + b"]" * 5000 + b', "url": "x"}',
                   "headers": {"Content-Type": "application/json"}},
        400, "bad_request",
    ),
    "lone surrogate feature in json": (
        lambda c: {"json": {"features": "\ud800", "image_base64": "AAAA"}},
        422, "unknown_feature",
    ),
    "lone surrogate in the url's path": (
        lambda c: {"json": {"url": "http://photos.example/\ud800.jpg"}}, 400, "bad_url"
    ),
    "url to 127.0.0.1. (trailing dot)": (
        lambda c: {"data": {"url": f"http://127.0.0.1.:{c.photo_host.port}/astronaut.jpg"}},
        400, "bad_url",
    ),
    "url to localhost. (trailing dot)": (
        lambda c: {"data": {"url": f"http://localhost.:{c.photo_host.port}/astronaut.jpg"}},
        400, "bad_url",
    ),
    "url to [::1%25lo] (zone id)": (
        lambda c: {"data": {"url": f"http://[::1%25lo]:{c.photo_host.port}/astronaut.jpg"}},
        400, "bad_url",
    ),
    "text/plain body": (
        lambda c: {"data": b"features=age", "headers": {"Content-Type": "text/plain"}},
        400, "bad_request",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("case", "status", "code"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input(server, token, jpeg, photo_host, case, status, code):
    kwargs = case(Context(token, jpeg, photo_host))
    extra = kwargs.pop("headers", {})
    headers = extra if status == 401 else {**auth(token), **extra}
    response = server.post(headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 20
    if code == "unknown_feature":
        assert "age, bounds" in error["message"]
        assert "wings" in error["message"] or "\\ud800" in error["message"]


def test_still_answers_after_bad_input(server, token, jpeg):
    only_face(server.post(headers=auth(token), data={"features": "age"}, files={"image": jpeg}))


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/features", 405, "method_not_allowed"),
        ("get", "/nope", 404, "not_found"),
        ("post", "/api/v2/features", 404, "not_found"),
    ],
)
def test_routing_errors_are_json(server, method, path, status, code):
    response = requests.request(method, f"{server.url}{path}", timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_rate_limited_token(server, data_dir, jpeg):
    limited = create_token(data_dir, "--name", "limited", "--rate-limit", "1")
    refused = server.post(headers=auth(limited), data={"features": "age"})  # no image: 400
    assert refused.status_code == 400  # yet it counts against the limit
    response = server.post(headers=auth(limited), files={"image": jpeg})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_revoked_token(server, data_dir, jpeg):
    revoked = create_token(data_dir, "--name", "to-revoke")
    token_id = next(
        line.split()[0]
        for line in rosto("tokens", "--data-dir", str(data_dir), "list").splitlines()
        if line.endswith("to-revoke")
    )
    rosto("tokens", "--data-dir", str(data_dir), "revoke", token_id)
    response = server.post(headers=auth(revoked), files={"image": jpeg})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


def test_usage_counts_successful_requests(server, data_dir, jpeg):
    counted = create_token(data_dir, "--name", "counted")
    response = server.post(
        headers=auth(counted), data={"features": "bounds"}, files={"image": jpeg}
    )
    only_face(response)
    assert server.post(headers=auth(counted), files={"image": JUNK}).status_code == 415
    listing = rosto("tokens", "--data-dir", str(data_dir), "list")
    (row,) = [line.split() for line in listing.splitlines() if line.endswith("counted")]
    assert row[-3] == "1"  # uses, limit/min, name


# --- operations --------------------------------------------------------------------------------


def test_health_readiness_docs_and_metrics(server):
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{server.url}/readyz", timeout=10).json()
    assert ready["status"] == "ready" and ready["models"]
    assert "text/html" in requests.get(f"{server.url}/docs", timeout=10).headers["content-type"]
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    body = spec["paths"]["/api/v1/features"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/x-www-form-urlencoded"} <= set(body)
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    for name in (
        "rosto_http_requests_total",
        "rosto_stage_seconds_bucket",
        "rosto_faces_per_image_bucket",
        "rosto_errors_total",
        "rosto_model_runs_total",
    ):
        assert name in metrics
