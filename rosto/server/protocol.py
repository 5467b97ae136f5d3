"""uvicorn's HTTP/1.1 protocol (h11) with two changes a public service needs.

- A request that is not valid HTTP (bad framing, a malformed header, TLS bytes on the plain
  port) is answered with API.md's JSON error instead of uvicorn's ``text/plain`` page.
- A client must keep its side moving: a request's headers must all arrive within
  ``client_timeout`` seconds of the server starting to wait for them, and a body may not pause
  longer than that. Otherwise the connection is closed, so idle or half-sent requests (slowloris)
  cannot pile up and hold sockets. uvicorn's own keep-alive timer is cancelled by the first byte
  and never covers a request that stops half-way.

``rosto serve`` runs uvicorn with ``http="rosto.server.protocol:RostoH11Protocol"``.
"""

from __future__ import annotations

import asyncio
import json
from functools import cache
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from rosto.config import Settings
from rosto.errors import RostoError

_MALFORMED = RostoError(
    "the request is not valid HTTP/1.1 (malformed request line, header, Content-Length, "
    "Transfer-Encoding or chunk framing): send a well-formed request",
    code="bad_request",
    status=400,
)


@cache
def client_timeout() -> float:
    """``ROSTO_CLIENT_TIMEOUT``, read once per worker process (how settings reach workers)."""
    return Settings.from_env().client_timeout


class RostoH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering malformed HTTP as JSON and closing stalled clients."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stall_timer: asyncio.TimerHandle | None = None
        self._headers_since: float | None = None  # when the wait for a request's headers began

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_client()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_client()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_client()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_stall_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(_MALFORMED.to_json()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _watch_client(self) -> None:
        """(Re)arm the stall timer for what the client owes now: headers, or more body."""
        self._cancel_stall_timer()
        if self.transport is None or self.transport.is_closing():
            return
        now = self.loop.time()
        state = self.conn.their_state
        if state is h11.IDLE:  # the headers' deadline is fixed: trickling bytes do not extend it
            if self._headers_since is None:
                self._headers_since = now
            deadline = self._headers_since + client_timeout()
        elif state is h11.SEND_BODY:
            self._headers_since = None
            deadline = now + client_timeout()
        else:  # the request is complete (the app is answering) or the connection is ending
            self._headers_since = None
            return
        self._stall_timer = self.loop.call_at(deadline, self._stalled)

    def _stalled(self) -> None:
        self._stall_timer = None
        if self.flow.read_paused:  # we stopped reading (the app is slow to take the body)
            self._watch_client()
            return
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.logger.info("closing a connection that sent nothing for %ss", client_timeout())
            self.transport.close()

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
