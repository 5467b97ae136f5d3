"""The black-box probe, kept: `rosto serve` driven as a hostile client would, over raw sockets.

Malformed HTTP must get API.md's JSON error, stalled clients must be cut off, and a seeded
corpus of over a thousand malformed requests (tests/corpus.py) must never get a 5xx, always get
JSON, and leave the server healthy, its memory bounded. Timeouts are shortened by the server's
own settings (--client-timeout 1) so that the whole module stays fast.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import encode
from hostile_http import hostile_routes, serve
from local_http import LocalServer
from serving import Server, rosto

CLIENT_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rosto-reliability")


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[Server]:
    started = Server(data_dir, "--client-timeout", str(CLIENT_TIMEOUT))
    yield started
    started.close()


@pytest.fixture(scope="module")
def token(server, data_dir) -> str:
    return rosto("tokens", "--data-dir", str(data_dir), "create", "--name", "probe").split()[-1]


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def exchange(server: Server, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a fresh connection; the status, headers and body of the one answer."""
    with connect(server) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            headers = _headers(head)
            if "content-length" in headers and len(body) >= int(headers["content-length"]):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    headers = _headers(head)
    return status, headers, body[: int(headers.get("content-length", len(body)))]


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


POST = b"POST /api/v1/features HTTP/1.1\r\nHost: rosto\r\n"
MALFORMED_HTTP = {
    "bad chunk size": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "Content-Length abc": POST + b"Content-Length: abc\r\n\r\n",
    "negative Content-Length": POST + b"Content-Length: -5\r\n\r\n",
    "Content-Length twice": POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "no Host": b"POST /api/v1/features HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "NUL in a header value": POST + b"X-Note: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "space in a header name": POST + b"X Note: a\r\nContent-Length: 0\r\n\r\n",
    "Transfer-Encoding gzip": POST + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "TLS client hello": bytes.fromhex("16030100a5010000a10303") + bytes(80),
    "garbage request line": b"HELLO THERE\r\n\r\n",
    "space in the target": b"GET /a b HTTP/1.1\r\nHost: rosto\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "header without colon": POST + b"NoColonHere\r\nContent-Length: 0\r\n\r\n",
    "obsolete line folding": POST + b"X-Note: a\r\n  folded\r\nContent-Length: 0\r\n\r\n",
    "headers over 64 KB": POST + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED_HTTP.values(), ids=MALFORMED_HTTP.keys())
def test_malformed_http_gets_a_json_400(server, raw):
    status, headers, body = exchange(server, raw)
    assert 400 <= status < 500, body  # 400 where h11 refuses, else the app's own 4xx
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"]


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_idle_and_half_sent_connections_are_closed(server, token):
    starts = [
        b"",  # connected, nothing sent
        POST[:20],  # half a request line
        POST,  # the headers never end
        POST + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"featu",
    ]
    socks = [connect(server) for _ in range(10) for _ in starts]
    for index, sock in enumerate(socks):
        sock.sendall(starts[index % len(starts)])
    start = time.monotonic()
    trickler = connect(server)  # a byte at a time, never finishing the headers
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed by the server
        for byte in POST:
            trickler.sendall(bytes([byte]))
            time.sleep(0.1)
    assert closed_within(trickler, 1.0), "a trickling client kept its connection"
    for sock in socks:
        assert closed_within(sock, 1.0), "an idle or half-sent connection was kept open"
        sock.close()
    assert time.monotonic() - start < 4 * CLIENT_TIMEOUT + 2
    assert "Traceback" not in server.log()


def test_a_slow_but_steady_upload_is_not_cut(server, token):
    body = json.dumps({"features": "bounds", "image_base64": "AAAA"}).encode()
    head = POST + f"Authorization: Bearer {token}\r\n".encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with connect(server) as sock:
        sock.sendall(head)
        for index in range(0, len(body), 10):  # the body's pauses stay under the timeout
            time.sleep(CLIENT_TIMEOUT / 3)
            sock.sendall(body[index : index + 10])
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 415"), answer  # the body arrived whole: AAAA is no image


@pytest.fixture(scope="module")
def fetching_server(server, data_dir) -> Iterator[Server]:
    """May fetch from 127.0.0.1 (the hostile servers below), with a 2 s total fetch time."""
    started = Server(data_dir, "--allow-private-urls", "--fetch-timeout", str(FETCH_TIMEOUT))
    yield started
    started.close()


FETCH_TIMEOUT = 2.0
HOSTILE = hostile_routes(b"")  # the paths and expectations; the served photo comes below


@pytest.fixture(scope="module")
def hostile_site(astronaut) -> Iterator[LocalServer]:
    with serve(hostile_routes(encode(astronaut, "JPEG", quality=90))) as site:
        yield site


@pytest.mark.parametrize("path", HOSTILE, ids=HOSTILE)
def test_hostile_image_servers_over_http(fetching_server, token, hostile_site, path):
    expected = HOSTILE[path]
    start = time.monotonic()
    response = fetching_server.post(
        headers={"Authorization": f"Bearer {token}"},
        data={"features": "bounds", "url": hostile_site.url(path)},
    )
    elapsed = time.monotonic() - start
    assert response.status_code == expected.status, response.text
    assert response.headers["content-type"] == "application/json"
    if expected.status == 200:
        assert len(response.json()["faces"]) == 1
    else:
        assert response.json()["error"]["code"] == expected.code
    assert elapsed < FETCH_TIMEOUT + 2.0  # headers included: the slot is not held for longer
