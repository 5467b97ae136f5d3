"""The black-box probe, kept: `rosto serve` driven as a hostile client would, over raw sockets.

Malformed HTTP must get API.md's JSON error, stalled clients must be cut off, and a seeded
corpus of over a thousand malformed requests (tests/corpus.py) must never get a 5xx, always get
JSON, and leave the server healthy, its memory bounded. Timeouts are shortened by the server's
own settings (--client-timeout 1) so that the whole module stays fast.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import requests
from conftest import encode
from corpus import corpus, upload
from corpus import picture as corpus_picture
from hostile_http import hostile_routes, serve
from local_http import LocalServer
from PIL import Image
from serving import ENV, Server, rosto

from rosto.errors import RostoError
from rosto.fetch import fetch, host_address
from rosto.server.memory import LARGE_PIXELS, Lanes

CLIENT_TIMEOUT = 1.0
MAX_PIXELS = 24_000_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rosto-reliability")


NO_DNS = {**ENV, "PYTHONPATH": str(Path(__file__).parent / "no_dns")}  # lookups stay local


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[Server]:
    """Images up to 24 MP, the size for which one worker is promised 500 MB (README)."""
    started = Server(
        data_dir,
        "--client-timeout", str(CLIENT_TIMEOUT),
        "--max-pixels", str(MAX_PIXELS),
        env=NO_DNS,
    )  # fmt: skip
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
    started = Server(
        data_dir, "--allow-private-urls", "--fetch-timeout", str(FETCH_TIMEOUT), env=NO_DNS
    )
    yield started
    started.close()


FETCH_TIMEOUT = 3.0
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


def test_a_24_megapixel_upload_stays_within_500_mb(server, token, astronaut):
    large = Image.fromarray(astronaut).resize((6000, 4000), Image.BILINEAR)
    response = server.post(
        headers={"Authorization": f"Bearer {token}"},
        files={"image": encode(np.asarray(large), "JPEG", quality=70)},
    )
    assert response.status_code == 200, response.text
    (face,) = response.json()["faces"]
    assert face["bounds"]["right"] - face["bounds"]["left"] > 800  # in full-size pixels
    memory = memory_mb(server.process.pid)
    print(f"server memory after a 24 MP upload: {memory}")
    assert memory["VmHWM"] <= 500, memory  # it was 962 MB


def test_a_large_image_computes_alone():
    lanes = Lanes(2)
    inside: list[str] = []

    def analyse(name: str, pixels: int) -> None:
        with lanes.hold(pixels):
            inside.append(name)
            time.sleep(0.3)
            inside.remove(name)

    with lanes.hold(1000):
        small = threading.Thread(target=analyse, args=("small", 1000))
        large = threading.Thread(target=analyse, args=("large", LARGE_PIXELS))
        small.start()
        time.sleep(0.1)
        assert inside == ["small"]  # two small images share the two lanes
        large.start()
        time.sleep(0.1)
        assert "large" not in inside  # the large one waits for both lanes
    small.join()
    time.sleep(0.1)
    assert inside == ["large"]
    large.join()


def answer(server: Server, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """``exchange``, past a ``100 Continue``."""
    status, headers, body = exchange(server, raw)
    if status == 100:
        rest = body.partition(b"\r\n\r\n")
        return _status(rest[0]), _headers(rest[0]), rest[2]
    return status, headers, body


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1]) if head else 0


def problem(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """What is wrong with an answer to a malformed request, if anything."""
    if 300 <= status < 400 and "location" in headers:  # /api/v1/features/ → /api/v1/features
        return None
    if not 200 <= status < 500:
        return f"status {status}: {body[:200]!r}"
    if headers.get("content-type") != "application/json":
        return f"content-type {headers.get('content-type')!r}: {body[:200]!r}"
    try:
        payload = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    if status == 200:
        return None if isinstance(payload.get("faces"), list) else f"200 without faces: {payload}"
    error = payload.get("error", {})
    if not (isinstance(error.get("code"), str) and len(error.get("message", "")) > 10):
        return f"not API.md's error: {payload}"
    return None


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def test_a_thousand_malformed_requests(server, token):
    probes = corpus(token)
    assert len(probes) >= 1000
    good = upload(encode(corpus_picture(random.Random(0)), "JPEG"), token)
    for _ in range(5):  # warm: every arena the good path needs is allocated
        assert answer(server, good)[0] == 200
    before = memory_mb(server.process.pid)
    failures, statuses = [], Counter()
    for name, raw in probes:
        status, headers, body = answer(server, raw)
        statuses[status] += 1
        if (found := problem(status, headers, body)) is not None:
            failures.append(f"{name}: {found}")
    print(f"{len(probes)} probes, answers by status: {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:30])
    assert answer(server, good)[0] == 200  # still healthy
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    after = memory_mb(server.process.pid)
    print(f"server memory: {before} before, {after} after")
    assert after["VmRSS"] - before["VmRSS"] < 100, (before, after)
    assert after["VmHWM"] <= 500, (before, after)
    assert "Traceback" not in server.log()


# --- SSRF: loopback in every spelling, aimed at a listener the test owns ----------------------


class Listener:
    """Accepts connections on 127.0.0.1 (and ::1 when there is one), counting them."""

    def __init__(self) -> None:
        self.accepted = 0
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        for sock in self.sockets:
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = sock.accept()
                self.accepted += 1
                conn.close()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


LOOPBACK_HOSTS = [
    "127.0.0.1", "127.1", "127.0.1", "127.000.000.001", "0177.0.0.1", "0177.0000.0000.0001",
    "0x7f.0.0.1", "0x7f.0x0.0x0.0x1", "0X7F.0.0.1", "0x7F000001", "2130706433", "017700000001",
    "0x7f.1", "0177.1", "127.0.0.1.", "127.0.0.1..", "127.1.", "127.255.255.254", "0.0.0.0",
    "0", "0x0", "00", "0.0", "[::1]", "[0:0:0:0:0:0:0:1]", "[::0001]", "[::ffff:127.0.0.1]",
    "[::FFFF:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::127.0.0.1]",
    "[::]", "[::1%25lo]", "[fe80::1%25lo]", "[::ffff:127.0.0.1%25lo]", "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]", "localhost", "LOCALHOST",
    "LocalHost", "localhost.", "LOCALHOST..", "a.localhost", "x.y.LOCALHOST.",
]  # fmt: skip
LOOPBACK_URL_FORMS = [
    "http://{host}:{port}/a.jpg", "https://{host}:{port}/a.jpg", "HTTP://{host}:{port}/a.jpg",
    "hTtPs://{host}:{port}/a.jpg", "http://user:pw@{host}:{port}/a.jpg",
    "http://photos.example@{host}:{port}/a.jpg", "http://{host}:{port}#@photos.example/a.jpg",
    "http://{host}:{port}?@photos.example/a.jpg", "http://{host}:0{port}/a.jpg",
]  # fmt: skip


def loopback_urls(port: int) -> list[str]:
    """Every spelling × every URL form, checked here to name only this machine's loopback."""
    urls = []
    for host in LOOPBACK_HOSTS:
        for form in LOOPBACK_URL_FORMS if host in ("127.0.0.1", "[::1]", "localhost") else [
            LOOPBACK_URL_FORMS[0]
        ]:
            url = form.format(host=host, port=port)
            try:
                name = httpx.URL(url).raw_host.decode().lower()
            except httpx.InvalidURL:  # refused as malformed (e.g. 127.000.000.001): no lookup
                name = "localhost"
            assert host_address(name.split("%")[0]) is not None or name.rstrip(".").endswith(
                "localhost"
            ), url
            urls.append(url)
    return urls


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    owned = Listener()
    yield owned
    owned.close()


def test_loopback_spellings_never_reach_the_listener(server, token, listener):
    urls = loopback_urls(listener.port)
    forms = [
        lambda url: {"data": {"features": "bounds", "url": url}},
        lambda url: {"files": {"url": (None, url), "features": (None, "bounds")}},
        lambda url: {"json": {"features": "bounds", "url": url}},
    ]
    wrong = []
    for index, url in enumerate(urls):
        with pytest.raises(RostoError) as refused:  # in process, with a resolver that must not run
            fetch(url, resolver=no_lookup)
        assert refused.value.code == "bad_url", (url, refused.value.message)
        # over HTTP: the three body forms in turn (all three for the first spellings)
        for form in forms if index < 10 else [forms[index % len(forms)]]:
            response = server.post(headers={"Authorization": f"Bearer {token}"}, **form(url))
            if response.status_code != 400 or response.json()["error"]["code"] != "bad_url":
                wrong.append(f"{url}: {response.status_code} {response.text[:150]}")
    assert not wrong, "\n".join(wrong)
    assert listener.accepted == 0
    assert len(urls) >= 60


def no_lookup(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} was looked up: it should have been refused before")
