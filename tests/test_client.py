"""The Python SDK: ``rosto.analyze`` in this process and ``rosto.Client`` against a live server.

The live server is a real `rosto serve` on 127.0.0.1 (private URLs allowed, so it may fetch from
this test's own photo server; ethnicity turned off, a 1-megapixel limit and a 1 s download
limit, so that those refusals can be provoked). What a real server will not do on cue (shed a
request, stall) is played by a scripted stub, also on 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import encode
from local_http import LocalServer, Route
from photos import collage
from PIL import Image
from serving import REPO, Server, rosto
from stub_api import Answer, StubApi

import rosto as rosto_sdk
from rosto.client import Client, ConnectionFailed, Timeout
from rosto.errors import API_ERRORS, RetryLater, RostoError
from rosto.imageio import decode, load

SERVED = "age,bounds,emotion,gender,glasses,hair,landmarks,pose,quality,smile"  # all but ethnicity


# --- the facade, no server -----------------------------------------------------------------------


def test_import_rosto_loads_neither_models_nor_http():
    code = (
        "import sys, rosto; assert callable(rosto.analyze); "
        "print(sorted(m for m in ('onnxruntime', 'httpx', 'cv2') if m in sys.modules)); "
        "rosto.Client; print('onnxruntime' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]"  # `import rosto` alone loads neither
    assert out[1] == "False"  # nor does the client


def test_every_input_kind_gives_the_pixels_the_server_decodes(astronaut, tmp_path):
    """A path, bytes, a PIL image (EXIF orientation applied) and arrays: decode()'s pixels."""
    rotated = Image.fromarray(astronaut[:, :400])
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    rotated.save(path, exif=exif, quality=95)
    served = decode(path.read_bytes(), 10**6)
    assert served.shape == (400, 512, 3)  # displayed upright: the tag was applied
    for kind in (path, str(path), path.read_bytes(), Image.open(path), served):
        assert np.array_equal(load(kind, 10**6), served), type(kind)
    rgba = np.dstack([served, np.full(served.shape[:2], 255, np.uint8)])
    assert np.array_equal(load(rgba, 10**6), served)
    grey = served[..., 1]
    assert np.array_equal(load(grey, 10**6), np.dstack([grey] * 3))


@pytest.mark.parametrize(
    ("image", "features", "error"),
    [
        (b"not an image", None, rosto_sdk.UnsupportedImage),
        (np.zeros((1001, 1000, 3), np.uint8), None, rosto_sdk.ImageTooLarge),
        (np.zeros((8, 8, 3), np.uint8), "age,nose", rosto_sdk.UnknownFeature),
    ],
)
def test_facade_raises_the_class_of_the_api_code(image, features, error):
    with pytest.raises(error) as caught:
        rosto_sdk.analyze(image, features=features, max_pixels=10**6)
    assert isinstance(caught.value, RostoError) and caught.value.message


@pytest.mark.parametrize("wrong", [[1, 2, 3], np.zeros((8, 8, 3), np.float32)])
def test_facade_refuses_what_is_not_an_image(wrong):
    with pytest.raises(TypeError, match="cannot analyse"):
        rosto_sdk.analyze(wrong)


def test_every_error_code_the_server_raises_has_a_class():
    sources = "\n".join(p.read_text() for p in (REPO / "rosto").rglob("*.py"))
    raised = set(re.findall(r'\bcode="([a-z_]+)"', sources))
    assert raised, "the pattern no longer finds the codes: update this test"
    assert raised <= set(API_ERRORS), raised - set(API_ERRORS)


# --- the client against a scripted stub ----------------------------------------------------------


def test_each_error_answer_raises_its_class_with_the_message():
    def message(code: str) -> str:
        return f"what was wrong with {code} and how to fix it"

    answers = [
        Answer(cls.status, {"error": {"code": code, "message": message(code)}})
        for code, cls in API_ERRORS.items()
    ]
    with StubApi(answers) as stub, Client(stub.url, "t", retries=0) as client:
        for code, cls in API_ERRORS.items():
            with pytest.raises(cls) as caught:
                client.features(image=b"x")
            assert type(caught.value) is cls
            assert (caught.value.code, caught.value.status) == (code, cls.status)
            assert caught.value.message == message(code) == str(caught.value)


def test_an_answer_that_is_not_api_json_still_raises_with_its_status():
    with (
        StubApi([Answer(502, {"detail": "bad gateway"})]) as stub,
        Client(stub.url) as client,
        pytest.raises(RostoError) as caught,
    ):
        client.features(image=b"x")
    assert (caught.value.code, caught.value.status) == ("http_502", 502)


def test_503_is_retried_after_its_retry_after_on_one_connection():
    shed = Answer(503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "1"})
    faces = [{"bounds": {"bottom": 9, "left": 1, "right": 9, "top": 1}}]
    with StubApi([shed, Answer(body={"faces": faces})]) as stub, Client(stub.url) as client:
        assert client.features(image=b"x", features=["bounds"]) == faces
    (port1, t1), (port2, t2) = stub.requests
    assert t2 - t1 >= 0.95  # Retry-After: 1 was honoured
    assert port1 == port2  # the connection was reused


def test_retries_are_bounded():
    shed = Answer(503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "0"})
    with (
        StubApi([shed]) as stub,
        Client(stub.url, retries=2) as client,
        pytest.raises(rosto_sdk.Overloaded),
    ):
        client.features(image=b"x")
    assert len(stub.requests) == 3


def test_a_retry_after_past_max_wait_raises_at_once_with_the_wait():
    limited = Answer(
        429, {"error": {"code": "rate_limited", "message": "1/min"}}, {"Retry-After": "42"}
    )
    with (
        StubApi([limited]) as stub,
        Client(stub.url, max_wait=10) as client,
        pytest.raises(rosto_sdk.RateLimited) as caught,
    ):
        client.features(image=b"x")
    assert caught.value.retry_after == 42 and len(stub.requests) == 1


def test_timeout_and_unreachable_server():
    with (
        StubApi([Answer(delay=1.0)]) as stub,
        Client(stub.url, timeout=0.2) as client,
        pytest.raises(Timeout),
    ):
        client.features(image=b"x")
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}") as client, pytest.raises(ConnectionFailed):
        client.features(image=b"x")


# --- the client against a live server ------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rosto-client")


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[Server]:
    started = Server(
        data_dir,
        "--allow-private-urls",
        *("--disabled-features", "ethnicity"),
        *("--max-pixels", "1000000"),
        *("--fetch-timeout", "1"),
    )
    yield started
    started.close()


def create_token(data_dir: Path, *flags: str) -> str:
    return rosto("tokens", "--data-dir", str(data_dir), "create", *flags).split()[-1]


@pytest.fixture(scope="module")
def client(server, data_dir) -> Iterator[Client]:
    with Client(server.url, create_token(data_dir, "--name", "sdk")) as started:
        yield started


@pytest.fixture(scope="module")
def group_jpeg(astronaut, grace_hopper) -> bytes:
    """Two faces of different sizes: the order and the count matter."""
    return encode(collage([astronaut, grace_hopper], [360, 240]), "JPEG", quality=92)


@pytest.fixture(scope="module")
def photo_host(group_jpeg) -> Iterator[LocalServer]:
    routes = {"/group.jpg": Route(body=group_jpeg), "/stalled.jpg": Route(body=group_jpeg, delay=3)}
    with LocalServer(routes) as host:
        yield host


def test_upload_url_and_facade_give_the_same_faces(client, photo_host, group_jpeg, tmp_path):
    path = tmp_path / "group.jpg"
    path.write_bytes(group_jpeg)
    uploaded = client.features(image=path, features=SERVED)
    fetched = client.features(url=photo_host.url("/group.jpg"), features=SERVED.split(","))
    local = rosto_sdk.analyze(path, features=SERVED)
    assert len(local) == 2
    assert set(local[0]) == {*SERVED.split(","), "blur", "exposure"} - {"quality"}
    assert uploaded == fetched == local


def test_pixels_are_uploaded_losslessly(client, astronaut):
    assert client.features(image=astronaut, features="bounds,landmarks") == rosto_sdk.analyze(
        astronaut, features="bounds,landmarks"
    )


def live_errors(photo_host: LocalServer) -> list[tuple[dict, type[RostoError]]]:
    big = encode(np.zeros((1001, 1000, 3), np.uint8), "PNG")  # small file, 1.001 megapixels
    return [
        ({"image": b"GIF89a but not really"}, rosto_sdk.UnsupportedImage),
        ({"image": big}, rosto_sdk.ImageTooLarge),
        ({"image": b"x", "features": "age,nose"}, rosto_sdk.UnknownFeature),
        ({"image": b"x", "features": "ethnicity"}, rosto_sdk.FeatureDisabled),
        ({"url": ""}, rosto_sdk.BadRequest),
        ({"url": "ftp://127.0.0.1/photo.jpg"}, rosto_sdk.BadUrl),
        ({"url": photo_host.url("/missing.jpg")}, rosto_sdk.FetchFailed),
        ({"url": photo_host.url("/stalled.jpg")}, rosto_sdk.FetchTimeout),
    ]


def test_live_errors_raise_their_class_with_the_servers_message(client, photo_host):
    for request, error in live_errors(photo_host):
        with pytest.raises(error) as caught:
            client.features(**request)
        assert type(caught.value) is error, request
        assert caught.value.code == error.code and len(caught.value.message) > 20


def test_live_auth_and_rate_limit_errors(server, data_dir, astronaut):
    with (
        Client(server.url, "rosto_not-a-token") as stranger,
        pytest.raises(rosto_sdk.Unauthorized, match="unknown or revoked"),
    ):
        stranger.features(image=b"x")
    once = create_token(data_dir, "--name", "once", "--rate-limit", "1")
    with Client(server.url, once, max_wait=0) as limited:
        limited.features(image=astronaut[:64, :64].copy(), features="bounds")
        start = time.monotonic()
        with pytest.raises(rosto_sdk.RateLimited) as caught:
            limited.features(image=b"x")
    assert 1 <= caught.value.retry_after <= 60
    assert isinstance(caught.value, RetryLater)
    assert time.monotonic() - start < 5  # raised, not waited for
