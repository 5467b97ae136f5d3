"""The browser console and the API reference in a real browser (Debian's chromium, driven by
Playwright), against a real `rosto serve` on 127.0.0.1.

Every test also checks that the page asked nothing of any other host: the console and the docs
must work on a machine without internet. Screenshots go to build/screenshots/ (gitignored).
Skips, visibly, where chromium or Playwright is missing (`.ci/run` installs both).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import encode
from local_http import LocalServer, Route
from photos import collage, mirror
from serving import REPO, Server, rosto

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "build" / "screenshots"
# No sandbox: CI runs as root in a container; the rest keeps chromium from calling home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ANSWER_TIMEOUT_MS = 60_000  # a cold, shared CI machine


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rosto-console")


@pytest.fixture(scope="module")
def server(browser, data_dir) -> Iterator[Server]:
    """Allowed to fetch private URLs: the image URL test serves its photo from 127.0.0.1."""
    started = Server(data_dir, "--allow-private-urls")
    yield started
    started.close()


@pytest.fixture(scope="module")
def token(server, data_dir) -> str:
    return rosto("tokens", "--data-dir", str(data_dir), "create", "--name", "console").split()[-1]


@pytest.fixture(scope="module")
def group_photo(astronaut, grace_hopper, tmp_path_factory) -> Path:
    """Three real faces of three sizes, side by side."""
    path = tmp_path_factory.mktemp("photos") / "group.jpg"
    image = collage([astronaut, grace_hopper, mirror(astronaut)], [480, 300, 400])
    path.write_bytes(encode(image, "JPEG", quality=90))
    return path


@pytest.fixture(scope="module")
def photo_host(astronaut) -> Iterator[LocalServer]:
    """Where the image URL test's photo lives: the one other host a page may reach."""
    with LocalServer({"/astronaut.jpg": Route(body=encode(astronaut, "JPEG"))}) as host:
        yield host


@pytest.fixture
def page(browser, server, photo_host) -> Iterator:
    """A fresh page; a request to any host but the server (and the photo host, whose URL the
    test types in) is refused and fails the test, as does a JavaScript error."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    served = urlsplit(server.url).netloc
    allowed = {served, urlsplit(photo_host.url("/")).netloc}
    elsewhere: list[str] = []

    def guard(route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc not in allowed:
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    opened = context.new_page()
    console_errors: list[str] = []
    opened.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: console_errors.append(str(e)))
    yield opened
    context.close()
    assert elsewhere == [], f"the page reached beyond {served}: {elsewhere}"
    # Allowed: the browser's own line for an API error answer, and loads our pages' CSP refused
    # (ReDoc's logo from cdn.redoc.ly): refused by the browser, they never reach the network.
    unexpected = [
        e
        for e in console_errors
        if "responded with a status of 401" not in e and "Content Security Policy" not in e
    ]
    assert unexpected == [], console_errors


def screenshot(page, name: str, selector: str | None = None) -> None:
    """The page (or one element of it) as build/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SCREENSHOTS / f"{name}.png")
    if selector is None:
        page.screenshot(path=path, full_page=True)
    else:
        page.locator(selector).screenshot(path=path)


def choose_photo(page, server: Server, token: str, photo: Path) -> None:
    """Open the console, enter the token, choose the photo (which sends it)."""
    page.goto(server.url + "/")
    page.fill("#token", token)
    page.set_input_files("#file", str(photo))


def analyse(page, server: Server, token: str, photo: Path) -> list[dict]:
    """The faces of the JSON the console shows once it has the answer."""
    choose_photo(page, server, token, photo)
    page.wait_for_selector("#status b", timeout=ANSWER_TIMEOUT_MS)
    return json.loads(page.text_content("#json"))["faces"]


def badge_overlaps(page) -> list[tuple[int, int]]:
    """Pairs of numbered badges whose screen rectangles intersect."""
    return page.evaluate(
        """() => {
            const r = [...document.querySelectorAll('#badges .badge')]
                .map(b => b.getBoundingClientRect());
            const pairs = [];
            r.forEach((a, i) => r.slice(i + 1).forEach((b, k) => {
                if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
                    pairs.push([i, i + 1 + k]);
            }));
            return pairs;
        }"""
    )


def test_console_draws_every_face_of_a_group(page, server, token, group_photo):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    faces = analyse(page, server, token, group_photo)
    assert len(faces) == 3
    assert page.locator("#overlay .face-box").count() == len(faces)
    assert page.locator("#badges .badge").count() == len(faces)
    assert page.locator(".card").count() == len(faces)
    assert page.locator("#overlay .point").count() == 71 * len(faces)
    polygons = sum(len(face["hair"]["polygons"]) for face in faces)
    assert page.locator("#overlay .hair").count() == polygons
    assert badge_overlaps(page) == []
    assert "3 faces" in page.text_content("#status") and " ms" in page.text_content("#status")
    drawn = page.locator("#overlay .face-box")
    for i, face in enumerate(faces):  # each box where the JSON puts it
        assert int(drawn.nth(i).get_attribute("x")) == face["bounds"]["left"]
        assert int(drawn.nth(i).get_attribute("y")) == face["bounds"]["top"]

    card = page.locator('.card[data-face="0"]')
    assert card.locator(".card-body").is_hidden()
    card.locator(".card-head").click()
    body = card.locator(".card-body")
    assert body.is_visible()
    assert f"{faces[0]['age']} years" in body.inner_text()
    assert faces[0]["gender"]["value"] in body.inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "console.png"))  # the README's, see docs/README.md
    page.locator("#badges .badge").nth(2).click()  # a badge opens its face's card
    assert page.locator('.card[data-face="2"] .card-body').is_visible()
    screenshot(page, "console-group")


def test_a_dropped_photo_is_analysed(page, server, token, astronaut):
    page.goto(server.url + "/")
    page.fill("#token", token)
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const drop = new DataTransfer();
            drop.items.add(new File([bytes], 'astronaut.jpg', {type: 'image/jpeg'}));
            document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: drop, bubbles: true}));
        }""",
        base64.b64encode(encode(astronaut, "JPEG")).decode(),
    )
    page.wait_for_selector("#status b", timeout=ANSWER_TIMEOUT_MS)
    assert page.text_content("#file-name") == "astronaut.jpg"
    assert page.locator("#overlay .face-box").count() == 1
    assert page.locator(".card").count() == 1


def test_an_image_url_is_analysed_by_the_server(page, server, token, photo_host):
    page.goto(server.url + "/")
    page.fill("#token", token)
    page.click("#toggle-features")  # clear: bounds alone (it cannot be unticked)
    page.check('#features input[value="landmarks"]')
    page.fill("#url", photo_host.url("/astronaut.jpg"))
    page.click("#analyze")
    page.wait_for_selector("#status b", timeout=ANSWER_TIMEOUT_MS)
    (face,) = json.loads(page.text_content("#json"))["faces"]
    assert set(face) == {"bounds", "landmarks"}
    assert page.locator("#overlay .face-box").count() == 1
    assert page.locator("#overlay .point").count() == 71
    assert page.evaluate("document.getElementById('photo').naturalWidth") == 512


def test_badges_never_overlap_in_a_crowd(page, server, token, group_photo):
    """Hundreds of packed boxes (drawn from made-up answers): the numbers still never collide."""
    analyse(page, server, token, group_photo)
    count = page.evaluate(
        """() => {
            const img = document.getElementById('photo');
            const faces = [];
            for (let i = 0; i < 400; i += 1) {
                const x = (i * 37) % (img.naturalWidth - 30);
                const y = (i * 53) % (img.naturalHeight - 30);
                faces.push({bounds: {left: x, top: y, right: x + 24, bottom: y + 24}});
            }
            state.faces = faces;
            render(0);
            return document.querySelectorAll('#badges .badge').length;
        }"""
    )
    assert count == 400
    assert badge_overlaps(page) == []
    screenshot(page, "console-crowd", ".viewer")


def test_bad_token_shows_the_apis_message(page, server, group_photo):
    choose_photo(page, server, "rosto_not-a-real-token", group_photo)
    page.locator("#error").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "401 · unauthorized" in page.text_content("#error-title")
    assert "unknown or revoked" in page.text_content("#error-message")
    assert page.locator("#overlay .face-box").count() == 0
    screenshot(page, "console-error")


def test_token_is_stored_only_when_asked(page, server):
    page.goto(server.url + "/")
    page.fill("#token", "rosto_kept-in-the-page")
    assert page.evaluate("localStorage.getItem('rosto.token')") is None
    page.check("#remember")
    assert page.evaluate("localStorage.getItem('rosto.token')") == "rosto_kept-in-the-page"
    page.reload()
    assert page.input_value("#token") == "rosto_kept-in-the-page"
    page.uncheck("#remember")
    assert page.evaluate("localStorage.getItem('rosto.token')") is None


def test_swagger_ui_renders_the_operations_offline(page, server):
    page.goto(server.url + "/docs")
    operation = page.locator(".opblock-post", has_text="/api/v1/features")
    operation.wait_for(timeout=30_000)
    operation.locator(".opblock-summary").click()
    page.locator(".responses-table", has_text="unknown_feature").wait_for(timeout=10_000)
    assert page.locator("button.authorize").is_visible()
    screenshot(page, "docs-swagger")


def test_redoc_renders_offline(page, server):
    page.goto(server.url + "/redoc")
    page.get_by_text("Analyse the faces of an image").first.wait_for(timeout=30_000)
    screenshot(page, "docs-redoc")
