"""Guarded download of a client's image URL (API.md: it must not become a way into our network).

Each hop (the URL, then every redirect, followed by hand) is checked the same way: http(s)
only, every address the host resolves to must be public, and the connection goes to the very
address that was checked — the URL is rewritten to that IP while the Host header and the TLS
SNI/certificate check keep the name — so a DNS answer that changes between the check and the
connect (DNS rebinding) cannot reach a private address. A host spelled as an address in any
form (``127.1``, ``0x7f.1``, trailing dots, zone ids) or named ``localhost`` is judged before
any lookup. The body is streamed and cut at the image limit, and every socket operation, the
response headers included, ends by the total deadline.

Residual risk: name resolution uses the system resolver, which has its own timeouts (not the
ones below) and could in principle be slowed by a hostile DNS server.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from rosto import __version__
from rosto.errors import RostoError
from rosto.imageio import MAX_BYTES, too_large

MAX_REDIRECTS = 3
_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # after IDNA encoding
_INET_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")  # inet_aton's numbers
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: embeds an IPv4 address

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Timeouts:
    """Seconds: to connect, between two reads, and for the whole download with redirects.

    The total counts everything, response headers included: a server trickling its headers a
    byte at a time is cut off like one trickling its body.
    """

    connect: float = 5.0
    read: float = 10.0
    total: float = 20.0

    @classmethod
    def within(cls, total: float) -> Timeouts:
        """The default timeouts, none longer than ``total`` (the ``fetch_timeout`` setting)."""
        return cls(min(cls.connect, total), min(cls.read, total), total)


DEFAULT_TIMEOUTS = Timeouts()


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, as the system resolver gives them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """Whether an IP is globally routable unicast, looking inside IPv6 forms that embed IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def fetch(
    url: str,
    *,
    allow_private: bool = False,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    resolver: Resolver = resolve,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """Download the image at ``url`` (at most ``MAX_BYTES``), following up to 3 redirects.

    ``allow_private`` lifts the address check (tests serving from 127.0.0.1); ``resolver`` and
    ``transport`` let tests stand in for DNS and the network.
    """
    deadline = time.monotonic() + timeouts.total
    timeout = httpx.Timeout(timeouts.read, connect=timeouts.connect)
    headers = {
        "User-Agent": f"Rosto/{__version__} (image fetch)",
        "Accept": "image/*",
        "Accept-Encoding": "identity",  # images are compressed already; see _read
    }
    # No keep-alive: a connection is bound to the name it was verified for, and every hop
    # connects to its own vetted address. No proxies from the environment either.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(
        timeout=timeout,
        limits=limits,
        trust_env=False,
        transport=transport or _transport_until(deadline),
        headers=headers,
    ) as client:
        target = _parse(url)
        for _ in range(MAX_REDIRECTS + 1):
            addresses = _vetted_addresses(target, allow_private, resolver)
            if time.monotonic() > deadline:
                raise _timed_out(target)
            outcome = _get(client, target, addresses, deadline)
            if isinstance(outcome, bytes):
                return outcome
            target = _redirect(target, outcome)
        raise _failed(target, f"more than {MAX_REDIRECTS} redirects")


def _transport_until(deadline: float) -> httpx.HTTPTransport:
    """httpx's transport whose sockets never wait past ``deadline`` (time.monotonic()).

    httpx's read timeout restarts with every byte, so it alone cannot bound a download; each
    socket operation here gets at most the time left. httpx has no parameter for the network
    backend, so the connection pool is replaced by one built with it (as httpx builds it).
    """
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_keepalive_connections=0,
        network_backend=_DeadlineBackend(deadline),
    )
    return transport


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, its streams clamped to a deadline."""

    def __init__(self, deadline: float):
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, self._deadline, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, self._deadline, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, self._deadline, httpcore.ConnectTimeout)
        tls = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _clamp(timeout: float | None, deadline: float, expired: type[Exception]) -> float:
    """``timeout`` cut to the time left before ``deadline``; ``expired`` once none is left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the download's total time is up")
    return left if timeout is None else min(timeout, left)


def _bad_url(message: str) -> RostoError:
    return RostoError(message, code="bad_url", status=400)


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:  # UnicodeError: a lone surrogate
        raise _bad_url(f"the url {url!r} is malformed ({exc}): send a full http(s) URL") from exc
    if parsed.scheme not in ("http", "https"):
        raise _bad_url(
            f"the url {url!r} uses the scheme {parsed.scheme or '(none)'!r}: only http and "
            "https URLs of public hosts can be fetched"
        )
    host = parsed.raw_host.decode("ascii")
    if not _HOST_NAME.fullmatch(host) and ":" not in host:  # ":": IPv6, checked by httpx
        raise _bad_url(f"the url {url!r} has no valid host name: send a full http(s) URL")
    if "%" in host:
        raise _bad_url(
            f"the url {url!r} names a network interface (an IPv6 zone id): only images on "
            "public hosts can be fetched"
        )
    return parsed


def _redirect(url: httpx.URL, location: str | None) -> httpx.URL:
    """The next hop of a redirect; 502 without a Location, 400 for a malformed or non-http one."""
    if not location:
        raise _failed(url, "the server answered a redirect without a Location")
    try:
        joined = str(url.join(location))
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise _bad_url(
            f"the url redirects to {location!r}, which is malformed or not http(s) ({exc}): only "
            "http and https URLs of public hosts can be fetched"
        ) from exc
    return _parse(joined)


def host_address(host: str) -> str | None:
    """The IP address that ``host`` (lower case, without brackets) spells, or None for a name.

    ValueError for a number out of range.

    Covers every form a resolver reads as an address without asking DNS, so none of them can
    be mistaken for a name: IPv6, dotted IPv4 and the inet_aton short forms (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``). Trailing dots are dropped first.
    """
    host = host.rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_PART.fullmatch(p) for p in parts):
        return None
    values = [_inet_number(p) for p in parts]
    last_bits = 8 * (5 - len(parts))  # the last part fills every byte the others leave
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        raise ValueError(f"{host!r} is written as an IPv4 address but is out of range")
    number = values[-1]
    for index, value in enumerate(values[:-1]):
        number |= value << (24 - 8 * index)
    return str(ipaddress.IPv4Address(number))


def _inet_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8)
    return int(part)


def _is_local_name(host: str) -> bool:
    """``localhost`` and every name under it (RFC 6761): loopback without asking anyone."""
    host = host.rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def _vetted_addresses(url: httpx.URL, allow_private: bool, resolver: Resolver) -> list[str]:
    """The addresses to connect to: a literal address as it is, a name as it resolves.

    Addresses spelled in the URL and local names are judged before any lookup.
    """
    host = url.raw_host.decode("ascii").lower()
    try:
        literal = host_address(host)
    except ValueError as exc:
        raise _bad_url(f"the url's host is not a valid address ({exc})") from exc
    if not allow_private and (
        _is_local_name(host) or (literal is not None and not is_public(literal))
    ):
        raise _refused(url, literal or host)
    if literal is not None:
        return [literal]
    try:
        addresses = resolver(host.rstrip("."), url.port or (443 if url.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise _failed(url, f"its host name does not resolve ({exc})") from exc
    if not allow_private:
        private = [a for a in addresses if not is_public(a)]
        if private or not addresses:
            raise _refused(url, ", ".join(private) or "none")
    return addresses


def _refused(url: httpx.URL, addresses: str) -> RostoError:
    return _bad_url(
        f"the url's host {url.host!r} is or resolves to a non-public address "
        f"({addresses}): only images on public hosts can be fetched"
    )


def _get(
    client: httpx.Client, url: httpx.URL, addresses: list[str], deadline: float
) -> bytes | str:
    """GET ``url`` from the first of ``addresses`` that connects: the body, or a redirect's
    Location."""
    last_error: httpx.ConnectError | None = None
    for address in addresses:
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers={"Host": url.netloc.decode("ascii")},
            extensions={"sni_hostname": url.raw_host.decode("ascii")},
        )
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
            continue
        except httpx.TimeoutException as exc:
            raise _timed_out(url) from exc
        except httpx.HTTPError as exc:
            raise _failed(url, str(exc)) from exc
        except httpx.InvalidURL as exc:  # httpx reads a redirect's Location as it arrives
            raise _bad_url(
                f"the url {url} redirects to a malformed or non-http(s) url ({exc}): only http "
                "and https URLs of public hosts can be fetched"
            ) from exc
        try:
            return _read(response, url, deadline)
        finally:
            response.close()
    raise _failed(url, f"could not connect ({last_error})")


def _read(response: httpx.Response, url: httpx.URL, deadline: float) -> bytes | str:
    if response.is_redirect:
        return response.headers.get("Location", "")
    if not response.is_success:
        raise _failed(url, f"the server answered HTTP {response.status_code}")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):  # a gzip bomb inflates a thousandfold; images gain nothing
        raise _failed(url, f"the server sent the image with Content-Encoding {encoding!r}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise too_large(f"the image at the url is {declared} bytes, over {MAX_BYTES} bytes")
    body = bytearray()
    try:
        for chunk in response.iter_bytes():  # not decoded: encoded bodies are refused above
            body += chunk
            if len(body) > MAX_BYTES:
                raise too_large(f"the image at the url is over {MAX_BYTES} bytes")
            if time.monotonic() > deadline:
                raise _timed_out(url)
    except httpx.TimeoutException as exc:
        raise _timed_out(url) from exc
    except httpx.HTTPError as exc:
        raise _failed(url, str(exc)) from exc
    return bytes(body)


def _failed(url: httpx.URL, reason: str) -> RostoError:
    return RostoError(
        f"could not fetch the image at {url}: {reason}; check that the URL is public and serves "
        "the image, or upload the image as a file instead",
        code="fetch_failed",
        status=502,
    )


def _timed_out(url: httpx.URL) -> RostoError:
    return RostoError(
        f"fetching the image at {url} timed out: upload the image as a file instead",
        code="fetch_timeout",
        status=504,
    )
