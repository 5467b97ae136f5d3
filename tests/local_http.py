"""A throwaway HTTP server on 127.0.0.1 for the URL tests: fixed routes, every request logged."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    unsized: bool = False  # no Content-Length: the size shows only while reading the body
    delay: float = 0.0  # seconds to stall before the body
    writer: Callable[[BinaryIO], None] | None = None  # writes the whole raw response instead


class LocalServer:
    """Serves ``routes`` (path → Route, or a callable of the server giving one) until closed."""

    def __init__(self, routes: dict[str, Route | Callable[[LocalServer], Route]]):
        self.routes = routes
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append((self.path, self.headers.get("Host", "")))
                route = server.routes.get(self.path, Route(status=404))
                if callable(route):
                    route = route(server)
                self.close_connection = True
                if route.writer is not None:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        route.writer(self.wfile)
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if not route.unsized:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                time.sleep(route.delay)
                # the client may stop reading, as it should past a limit
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)
                self.close_connection = True

            def log_message(self, *_args: object) -> None:
                pass

        return Handler
