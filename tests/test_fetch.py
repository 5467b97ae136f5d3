"""The guarded URL download: address policy on every hop, the pinned IP, limits and timeouts.

The policy is tested with an injected resolver and httpx's MockTransport (no DNS, no network);
the byte limits and timeouts with a real server on 127.0.0.1 and private addresses allowed.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from hostile_http import hostile_routes, serve
from local_http import LocalServer, Route

from rosto.config import Settings
from rosto.errors import RostoError
from rosto.fetch import Timeouts, fetch, host_address, is_public
from rosto.imageio import MAX_BYTES

PUBLIC_IP = "93.184.215.14"
PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, fetch does not decode"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
        "fc00::1", "ff02::1", "ff0e::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "2002:7f00:1::", "64:ff9b::a00:1", "2001:db8::1", "fe80::1%eth0",
    ],
)  # fmt: skip
def test_non_public_addresses(address):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", PUBLIC_IP, "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses(address):
    assert is_public(address)


def refusal(url: str, **kwargs) -> RostoError:
    with pytest.raises(RostoError) as caught:
        fetch(url, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/photo.jpg",
        "http://10.0.0.1/photo.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/photo.jpg",
        "http://[::ffff:127.0.0.1]/photo.jpg",
        "http://localhost/photo.jpg",
        "http://2130706433/photo.jpg",  # 127.0.0.1 as one number: the resolver sees through it
    ],
)
def test_private_targets_are_refused_before_connecting(url):
    err = refusal(url)
    assert (err.status, err.code) == (400, "bad_url")
    assert "non-public" in err.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/photo.jpg",
        "gopher://example.com/",
        "javascript:alert(1)",
        "photo.jpg",
        "http:///photo.jpg",
        "http://exa mple.com/photo.jpg",
    ],
)
def test_bad_urls(url):
    err = refusal(url)
    assert (err.status, err.code) == (400, "bad_url")
    assert "http" in err.message  # says what is accepted


def test_a_name_resolving_to_any_private_address_is_refused():
    err = refusal("http://photos.test/a.jpg", resolver=lambda host, port: [PUBLIC_IP, "10.0.0.5"])
    assert err.code == "bad_url" and "10.0.0.5" in err.message


def test_connects_to_the_vetted_address_keeping_the_name():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PHOTO)

    data = fetch(
        "https://photos.test/a.jpg?size=large",
        resolver=lambda host, port: [PUBLIC_IP] if (host, port) == ("photos.test", 443) else [],
        transport=httpx.MockTransport(handler),
    )
    assert data == PHOTO
    (request,) = seen
    assert request.url == httpx.URL(f"https://{PUBLIC_IP}/a.jpg?size=large")
    assert request.headers["Host"] == "photos.test"
    assert request.extensions["sni_hostname"] == "photos.test"  # TLS checks the name's cert


def redirecting(location: str, seen: list[str]) -> httpx.MockTransport:
    """Answers a redirect to ``location`` from photos.test, the photo from anywhere else."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.headers['Host']}{request.url.raw_path.decode()}")
        if request.headers["Host"] == "photos.test":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, content=PHOTO)

    return httpx.MockTransport(handler)


RESOLVE = {"photos.test": [PUBLIC_IP], "cdn.test": ["93.184.215.15"], "internal.test": ["10.0.0.5"]}


@pytest.mark.parametrize(
    "location",
    ["http://internal.test/secret", "http://127.0.0.1/secret", "http://[::1]/", "file:///etc/x"],
)
def test_a_redirect_to_a_private_target_is_refused(location):
    seen: list[str] = []
    err = refusal(
        "http://photos.test/a.jpg",
        resolver=lambda host, port: RESOLVE.get(host, [host]),
        transport=redirecting(location, seen),
    )
    assert err.code == "bad_url"
    assert seen == ["photos.test/a.jpg"]  # the private target was never contacted


def test_redirects_to_public_hosts_are_followed():
    seen: list[str] = []
    data = fetch(
        "http://photos.test/a.jpg",
        resolver=lambda host, port: RESOLVE[host],
        transport=redirecting("http://cdn.test/b.jpg", seen),
    )
    assert data == PHOTO and seen == ["photos.test/a.jpg", "cdn.test/b.jpg"]


def test_more_than_three_redirects_fail():
    seen: list[str] = []
    err = refusal(
        "http://photos.test/a.jpg",
        resolver=lambda host, port: RESOLVE[host],
        transport=redirecting("/again", seen),
    )
    assert (err.status, err.code) == (502, "fetch_failed")
    assert len(seen) == 4  # the URL and three redirects


def test_unresolvable_host_fails():
    def no_such_host(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    err = refusal("http://photos.test/a.jpg", resolver=no_such_host)
    assert (err.status, err.code) == (502, "fetch_failed")


@pytest.fixture(scope="module")
def site():
    big = b"\0" * (MAX_BYTES + 1)
    with LocalServer(
        {
            "/photo.jpg": Route(body=PHOTO, headers={"Content-Type": "image/jpeg"}),
            "/redirect": lambda s: Route(302, headers={"Location": s.url("/photo.jpg")}),
            "/missing.jpg": Route(404, body=b"not found"),
            "/big.jpg": Route(body=big),
            "/big-unsized.jpg": Route(body=big, unsized=True),
            "/just-fits.jpg": Route(body=b"\0" * MAX_BYTES, unsized=True),
            "/slow.jpg": Route(body=PHOTO, delay=2.0),
        }
    ) as server:
        yield server


def test_local_server_is_refused_by_default(site):
    before = len(site.requests)
    assert refusal(site.url("/photo.jpg")).code == "bad_url"
    assert len(site.requests) == before


def test_downloads_when_private_targets_are_allowed(site):
    assert fetch(site.url("/photo.jpg"), allow_private=True) == PHOTO
    assert fetch(site.url("/redirect"), allow_private=True) == PHOTO


def test_host_header_names_the_url_host(site):
    fetch(f"http://localhost:{site.port}/photo.jpg", allow_private=True)
    assert site.requests[-1] == ("/photo.jpg", f"localhost:{site.port}")


def test_http_errors_fail(site):
    err = refusal(site.url("/missing.jpg"), allow_private=True)
    assert (err.status, err.code) == (502, "fetch_failed")
    assert "404" in err.message


@pytest.mark.parametrize("path", ["/big.jpg", "/big-unsized.jpg"])
def test_bodies_over_4_mib_are_cut(site, path):
    err = refusal(site.url(path), allow_private=True)
    assert (err.status, err.code) == (413, "image_too_large")


def test_a_body_of_exactly_4_mib_is_fine(site):
    assert len(fetch(site.url("/just-fits.jpg"), allow_private=True)) == MAX_BYTES


def test_slow_servers_time_out(site):
    err = refusal(site.url("/slow.jpg"), allow_private=True, timeouts=Timeouts(read=0.3))
    assert (err.status, err.code) == (504, "fetch_timeout")


def test_closed_port_fails():
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err = refusal(f"http://127.0.0.1:{port}/photo.jpg", allow_private=True)
    assert (err.status, err.code) == (502, "fetch_failed")


def test_a_lone_surrogate_in_the_url_is_a_bad_url():
    err = refusal("http://photos.test/\ud800.jpg", resolver=no_lookup)
    assert (err.status, err.code) == (400, "bad_url")
    err.message.encode("utf-8")  # the message quotes the url, escaped


def no_lookup(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} was looked up: it should have been refused before")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1./photo.jpg",
        "http://127.0.0.1../photo.jpg",
        "http://localhost./photo.jpg",
        "http://LocalHost/photo.jpg",
        "http://photos.localhost/photo.jpg",
        "http://[::1%25lo]/photo.jpg",
        "http://[fe80::1%25eth0]/photo.jpg",
        "http://127.1/photo.jpg",
        "http://0x7f000001/photo.jpg",
        "http://0177.0.0.1/photo.jpg",
        "http://10.0.0.1./photo.jpg",
    ],
)
def test_loopback_spellings_are_refused_before_any_lookup(url):
    err = refusal(url, resolver=no_lookup)
    assert (err.status, err.code) == (400, "bad_url")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"), ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"), ("0177.0.0.01", "127.0.0.1"), ("0", "0.0.0.0"),
        ("0x7F.0x0.0X0.0x1", "127.0.0.1"), ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("photos.test", None), ("1.2.3.4.5", None), ("08.0.0.1", None), ("0x", "0.0.0.0"),
    ],
)  # fmt: skip
def test_host_address_reads_every_numeric_form(host, address):
    assert host_address(host) == address


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.256", "1.16777216", "4294967296"])
def test_numeric_hosts_out_of_range_are_not_names(host):
    with pytest.raises(ValueError):
        host_address(host)
    assert refusal(f"http://{host}/a.jpg", resolver=no_lookup).code == "bad_url"


def test_the_documented_timeouts():
    assert Timeouts() == Timeouts(connect=5.0, read=10.0, total=20.0)  # README's figures
    assert Timeouts.within(Settings().fetch_timeout) == Timeouts()
    assert Settings().client_timeout == 5.0  # README: headers within 5 s, body pauses under 5 s
    assert Timeouts.within(2) == Timeouts(connect=2, read=2, total=2)


FAST = Timeouts(connect=1.0, read=1.0, total=2.0)  # for the servers that only the total stops
ROOMY = Timeouts(connect=5.0, read=5.0, total=15.0)  # the others: a loaded machine is slow
HOSTILE = hostile_routes(PHOTO)


@pytest.fixture(scope="module")
def hostile_site():
    with serve(HOSTILE) as server:
        yield server


@pytest.mark.parametrize("path", HOSTILE, ids=HOSTILE)
def test_hostile_image_servers(hostile_site, path):
    expected = HOSTILE[path]
    timeouts = FAST if expected.slow else ROOMY
    start = time.monotonic()
    if expected.status == 200:
        assert fetch(hostile_site.url(path), allow_private=True, timeouts=timeouts) == PHOTO
        return
    err = refusal(hostile_site.url(path), allow_private=True, timeouts=timeouts)
    elapsed = time.monotonic() - start
    assert (err.status, err.code) == (expected.status, expected.code), err.message
    assert elapsed < timeouts.total + 1.0  # the total deadline holds, response headers included
    if expected.slow:
        assert elapsed > timeouts.total - 0.5  # cut by the deadline, not by another error
