"""Guarded download of a client's image URL (API.md: it must not become a way into our network).

Each hop (the URL, then every redirect, followed by hand) is checked the same way: http(s)
only, every address the host resolves to must be public, and the connection goes to the very
address that was checked — the URL is rewritten to that IP while the Host header and the TLS
SNI/certificate check keep the name — so a DNS answer that changes between the check and the
connect (DNS rebinding) cannot reach a private address. The body is streamed and cut at the
image limit.

Residual risk: name resolution uses the system resolver, which has its own timeouts (not the
ones below) and could in principle be slowed by a hostile DNS server.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from rosto import __version__
from rosto.errors import RostoError
from rosto.imageio import MAX_BYTES, too_large

MAX_REDIRECTS = 3
_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # after IDNA encoding
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: embeds an IPv4 address

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Timeouts:
    """Seconds: to connect, between two reads, and for the whole download with redirects."""

    connect: float = 5.0
    read: float = 10.0
    total: float = 20.0


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
    headers = {"User-Agent": f"Rosto/{__version__} (image fetch)", "Accept": "image/*"}
    # No keep-alive: a connection is bound to the name it was verified for, and every hop
    # connects to its own vetted address. No proxies from the environment either.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(
        timeout=timeout, limits=limits, trust_env=False, transport=transport, headers=headers
    ) as client:
        target = _parse(url)
        for _ in range(MAX_REDIRECTS + 1):
            addresses = _vetted_addresses(target, allow_private, resolver)
            if time.monotonic() > deadline:
                raise _timed_out(target)
            outcome = _get(client, target, addresses, deadline)
            if isinstance(outcome, bytes):
                return outcome
            target = _parse(str(target.join(outcome)))
        raise _failed(target, f"more than {MAX_REDIRECTS} redirects")


def _bad_url(message: str) -> RostoError:
    return RostoError(message, code="bad_url", status=400)


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _bad_url(f"the url {url!r} is malformed ({exc}): send a full http(s) URL") from exc
    if parsed.scheme not in ("http", "https"):
        raise _bad_url(
            f"the url {url!r} uses the scheme {parsed.scheme or '(none)'!r}: only http and "
            "https URLs of public hosts can be fetched"
        )
    host = parsed.raw_host.decode("ascii")
    if not _HOST_NAME.fullmatch(host) and ":" not in host:  # ":": IPv6, checked by httpx
        raise _bad_url(f"the url {url!r} has no valid host name: send a full http(s) URL")
    return parsed


def _vetted_addresses(url: httpx.URL, allow_private: bool, resolver: Resolver) -> list[str]:
    host = url.raw_host.decode("ascii")
    try:
        addresses = resolver(host, url.port or (443 if url.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise _failed(url, f"its host name does not resolve ({exc})") from exc
    if not allow_private:
        private = [a for a in addresses if not is_public(a)]
        if private or not addresses:
            raise _bad_url(
                f"the url's host {url.host!r} is or resolves to a non-public address "
                f"({', '.join(private) or 'none'}): only images on public hosts can be fetched"
            )
    return addresses


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
        try:
            return _read(response, url, deadline)
        finally:
            response.close()
    raise _failed(url, f"could not connect ({last_error})")


def _read(response: httpx.Response, url: httpx.URL, deadline: float) -> bytes | str:
    if response.is_redirect:
        return response.headers["Location"]
    if not response.is_success:
        raise _failed(url, f"the server answered HTTP {response.status_code}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise too_large(f"the image at the url is {declared} bytes, over {MAX_BYTES} bytes")
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
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
