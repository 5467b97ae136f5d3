"""A scripted stand-in for a Rosto server on 127.0.0.1: for what a real one will not do on cue
(shed a request with 503, stall past a timeout). It keeps connections alive, as uvicorn does,
and records which client connection carried each request."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: dict = field(default_factory=lambda: {"faces": []})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class StubApi:
    """Answers each POST with the next of ``answers`` (the last one repeats)."""

    def __init__(self, answers: list[Answer]):
        self.answers = list(answers)
        self.requests: list[tuple[int, float]] = []  # (client port, monotonic time) per request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection for many requests

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stub.requests.append((self.client_address[1], time.monotonic()))
                answer = stub.answers[min(len(stub.requests), len(stub.answers)) - 1]
                time.sleep(answer.delay)
                body = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler
