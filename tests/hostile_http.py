"""Image servers that misbehave, on 127.0.0.1, each with the answer a guarded fetch must give.

Used by the fetch tests (``rosto.fetch.fetch`` called directly) and by the reliability tests
(the same URLs sent to `rosto serve`). Slow servers send a byte every ``TRICKLE`` seconds: often
enough that no single read times out, so only the total deadline can stop them.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from local_http import LocalServer, Route

from rosto.imageio import MAX_BYTES

TRICKLE = 0.2
GIVE_UP = 60.0  # a slow server stops by itself after this long, whatever the client does


def trickled(head: bytes, endless: bytes) -> Callable[[BinaryIO], None]:
    """Writes ``head`` then ``endless`` repeated, one byte every TRICKLE seconds."""

    def write(out: BinaryIO) -> None:
        stop = time.monotonic() + GIVE_UP
        data = head
        while time.monotonic() < stop:
            for byte in data:
                out.write(bytes([byte]))
                out.flush()
                time.sleep(TRICKLE)
            data = endless

    return write


def endless_body(out: BinaryIO) -> None:
    out.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n\r\n")
    chunk = bytes(range(256)) * 256
    for _ in range(4 * MAX_BYTES // len(chunk)):  # far past the limit, then give up
        out.write(chunk)


def raw(response: bytes) -> Callable[[BinaryIO], None]:
    return lambda out: out.write(response)


@dataclass(frozen=True)
class Hostile:
    route: Route | Callable[[LocalServer], Route]
    status: int  # what the API answers; 200: the fetch succeeds
    code: str
    slow: bool = False  # ends only by the total deadline


def hostile_routes(photo: bytes) -> dict[str, Hostile]:
    """Path → misbehaviour and the expected answer; ``photo`` is what the good routes serve."""
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros in ~64 KB

    def chain(n: int) -> Callable[[LocalServer], Route]:
        return lambda s: Route(302, headers={"Location": s.url(f"/chain/{n - 1}")})

    routes = {
        "/slow-headers": Hostile(
            Route(writer=trickled(b"HTTP/1.1 200 OK\r\nX-Pad: ", b"a")),
            504, "fetch_timeout", slow=True,
        ),
        "/slow-body": Hostile(
            Route(writer=trickled(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"\0")),
            504, "fetch_timeout", slow=True,
        ),
        "/endless-body": Hostile(Route(writer=endless_body), 413, "image_too_large"),
        "/gzip-bomb": Hostile(
            Route(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "image/jpeg"}),
            502, "fetch_failed",
        ),
        "/redirect-loop": Hostile(
            lambda s: Route(302, headers={"Location": s.url("/redirect-loop")}),
            502, "fetch_failed",
        ),
        "/chain/3": Hostile(chain(3), 200, ""),
        "/chain/4": Hostile(chain(4), 502, "fetch_failed"),
        "/no-location": Hostile(Route(302), 502, "fetch_failed"),
        "/to-data": Hostile(
            Route(302, headers={"Location": "data:image/png;base64,iVBORw0KGgo="}),
            400, "bad_url",
        ),
        "/to-mailto": Hostile(Route(302, headers={"Location": "mailto:a@b.c"}), 400, "bad_url"),
        "/to-file": Hostile(Route(303, headers={"Location": "file:///etc/passwd"}), 400, "bad_url"),
        "/short-body": Hostile(
            Route(writer=raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + photo[:10])),
            502, "fetch_failed",
        ),
        "/huge-length": Hostile(
            Route(writer=raw(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n")),
            413, "image_too_large",
        ),
        "/bad-status-line": Hostile(Route(writer=raw(b"HTTP/1.1 two hundred\r\n\r\n")),
                                    502, "fetch_failed"),
        "/not-http": Hostile(Route(writer=raw(b"\x16\x03\x01 this is not HTTP\r\n\r\n")),
                             502, "fetch_failed"),
        "/http-500": Hostile(Route(500, body=b"oops"), 502, "fetch_failed"),
    }  # fmt: skip
    routes["/chain/0"] = Hostile(Route(body=photo, headers={"Content-Type": "image/jpeg"}), 200, "")
    for n in (1, 2):
        routes[f"/chain/{n}"] = Hostile(chain(n), 200, "")
    return routes


def serve(routes: dict[str, Hostile]) -> LocalServer:
    return LocalServer({path: hostile.route for path, hostile in routes.items()})
