"""One headless Chromium for the whole session, and pages that cannot reach the internet."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"  # git-ignored: each journey's last screen
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",  # WebGL still runs, in software (SwiftShader)
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if shutil.which("chromium") is None:
        pytest.skip("chromium is installed by scripts/setup.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def offline_page(browser, live_server):
    """A laptop-sized page whose every request off this service is refused, as on a council network."""
    # As a person whose system asks for reduced motion: MapLibre then jumps where it would fly,
    # which spares Chromium's software WebGL the frames of every flight (~15% of the journeys' time).
    context = browser.new_context(viewport=LAPTOP, locale="en-GB", reduced_motion="reduce")
    # Waits, not timings: generous, because the machine may be shared and busy.
    context.set_default_timeout(90_000)
    page = context.new_page()
    blocked: list[str] = []
    local = urlparse(live_server).netloc

    def route(route, request):
        if urlparse(request.url).netloc == local:
            return route.continue_()
        blocked.append(request.url)
        return route.abort()

    page.route("**/*", route)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.blocked = blocked
    page.errors = errors
    yield page
    context.close()


@pytest.fixture()
def artefact():
    """Save a screenshot of a journey's end under tests/browser/artefacts/<name>.png."""

    def save(page, name: str) -> Path:
        ARTEFACTS.mkdir(exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000, "a blank screen"
        return path

    return save
