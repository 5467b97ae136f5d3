"""Put on PYTHONPATH of a test server: its name lookups never leave this machine.

Generated requests (tests/test_reliability_schema.py) can carry any URL; a server under test
must not send a DNS query for it. Addresses are still parsed (numerically, as the system
resolver would) and ``localhost`` resolves to loopback; any other name fails as unknown.
"""

import socket

_getaddrinfo = socket.getaddrinfo


def _local_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is not None and host.rstrip(".").lower() == "localhost":
        host = "127.0.0.1"
    try:
        return _getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except socket.gaierror as exc:
        raise socket.gaierror(socket.EAI_NONAME, f"no DNS in the tests: {host!r}") from exc


socket.getaddrinfo = _local_getaddrinfo
