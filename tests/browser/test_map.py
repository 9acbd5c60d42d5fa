"""The map page in real headless Chromium, with no internet: it draws the estate coloured by RAG."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from gis.layers import RAG_COLOURS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is installed by scripts/setup.sh"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def offline_page(browser, live_server):  # type: ignore[no-untyped-def]
    """A page whose every request off this service is refused, as on a council network with no internet."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    blocked: list[str] = []
    local = urlparse(live_server).netloc

    def route(route, request):  # type: ignore[no-untyped-def]
        if urlparse(request.url).netloc == local:
            return route.continue_()
        blocked.append(request.url)
        return route.abort()

    page.route("**/*", route)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.blocked = blocked  # type: ignore[attr-defined]
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    page.close()


def _rag_counts(page) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """(colours) => Object.fromEntries(Object.entries(colours).map(([rag, colour]) =>
             [rag, document.querySelectorAll(`.leaflet-overlay-pane path[fill="${colour}"], `
                                            + `.leaflet-tile-container path[fill="${colour}"]`).length]))""",
        {k: v for k, v in RAG_COLOURS.items() if k != "none"},
    )


def test_map_draws_every_rag_colour_offline(offline_page, live_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = offline_page
    page.goto(f"{live_server}/map", wait_until="load")
    colours = [v for k, v in RAG_COLOURS.items() if k != "none"]
    page.wait_for_function(
        """(colours) => colours.every(c => document.querySelector(`.leaflet-tile-container path[fill="${c}"]`))""",
        arg=colours,
        timeout=30_000,
    )
    counts = _rag_counts(page)
    page.screenshot(path=str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").stat().st_size > 10_000
    assert all(n > 0 for n in counts.values()), counts
    assert page.errors == []
    # Only the online basemap may have been attempted off-site; no script or style came from a CDN.
    assert all("tile.openstreetmap.org" in url for url in page.blocked), page.blocked
    assert page.evaluate("() => typeof L !== 'undefined' && typeof L.vectorGrid !== 'undefined'")


def test_clicking_a_building_opens_its_popup_with_a_link(offline_page, live_server) -> None:  # type: ignore[no-untyped-def]
    page = offline_page
    page.goto(f"{live_server}/map", wait_until="load")
    page.wait_for_function("() => window.ESTATE_MAP !== undefined", timeout=30_000)
    page.fill("#estate-search-input", "Evesham Police")
    page.click("#estate-search button")
    page.wait_for_selector("#estate-search-results li", timeout=10_000)
    page.click("#estate-search-results li >> nth=0")
    popup = page.wait_for_selector(".estate-popup", timeout=10_000)
    text = popup.inner_text()
    assert "Evesham Police" in text and "Owner" in text and "RAG" in text
    href = page.get_attribute(".estate-popup a.record-link", "href")
    assert href and "/collections/properties/items/" in href


def test_filter_by_owner_redraws_only_that_owner(offline_page, live_server) -> None:  # type: ignore[no-untyped-def]
    page = offline_page
    page.goto(f"{live_server}/map", wait_until="load")
    page.wait_for_function(
        "() => document.querySelectorAll('.leaflet-tile-container path').length > 100", timeout=30_000
    )
    before = page.evaluate("() => document.querySelectorAll('.leaflet-tile-container path').length")
    page.click("#estate-controls details summary >> text=Filter")
    page.select_option("#estate-filter-owner", "hmcts")
    page.click("#estate-filter-apply")
    page.wait_for_function(
        f"() => {{ const n = document.querySelectorAll('.leaflet-tile-container path').length; return n > 0 && n < {before}; }}",
        timeout=30_000,
    )


def test_hub_layer_shows_partners_and_savings(offline_page, live_server) -> None:  # type: ignore[no-untyped-def]
    page = offline_page
    page.goto(f"{live_server}/map", wait_until="load")
    hub = "path.estate-hub-host"
    page.wait_for_selector(f".leaflet-overlay-pane {hub}", timeout=30_000)
    assert page.evaluate(f"() => document.querySelectorAll('.leaflet-overlay-pane {hub}').length") >= 5
    page.click(f".leaflet-overlay-pane {hub} >> nth=0", force=True)
    popup = page.wait_for_selector(".estate-hub", timeout=10_000)
    text = popup.inner_text()
    assert "Host:" in text and "Partners:" in text and "payback" in text


def test_manager_rerates_a_building_from_its_popup(
    offline_page, live_server, client, make_org, make_key
) -> None:  # type: ignore[no-untyped-def]
    from support import auth_header, new_property

    org = make_org()
    key = make_key(org, "writer")
    created = client.post(
        "/properties",
        json=new_property(org, name="Popup Edit House", rag="amber", rag_reason="half empty"),
        headers=auth_header(key),
    ).json()
    page = offline_page
    page.goto(f"{live_server}/map", wait_until="load")
    page.wait_for_function("() => window.ESTATE_MAP !== undefined", timeout=30_000)
    page.click("#estate-controls details summary >> text=Partner key")
    page.fill("#estate-key", key)
    page.click("#estate-key-apply")
    page.fill("#estate-search-input", "Popup Edit House")
    page.click("#estate-search button")
    page.click("#estate-search-results li >> nth=0", timeout=10_000)
    page.wait_for_selector(".estate-edit", timeout=10_000)
    page.select_option(".estate-edit select[name=rag]", "green")
    page.fill(".estate-edit textarea[name=rag_reason]", "vacant since March")
    # Someone else edits first: the popup's save must not overwrite it.
    client.patch(
        f"/properties/{created['id']}",
        json={"name": "Popup Edit House (renamed)"},
        headers={**auth_header(key), "If-Match": '"1"'},
    )
    page.click(".estate-edit button")
    page.wait_for_function(
        "() => document.querySelector('.estate-edit-status').textContent.includes('someone else')",
        timeout=10_000,
    )
    assert client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()["rag"] == "amber"
    # Reopen and save: now it lands, with the manager's key as the actor.
    page.fill("#estate-search-input", "Popup Edit House")
    page.click("#estate-search button")
    page.click("#estate-search-results li >> nth=0", timeout=10_000)
    page.wait_for_function(
        "() => document.querySelector('.estate-edit textarea').value === 'half empty'", timeout=10_000
    )
    page.select_option(".estate-edit select[name=rag]", "green")
    page.fill(".estate-edit textarea[name=rag_reason]", "vacant since March")
    page.click(".estate-edit button")
    page.wait_for_function(
        "() => document.querySelector('.estate-edit-status') === null || "
        "document.querySelector('.estate-edit-status').textContent.includes('Saved')",
        timeout=10_000,
    )
    record = client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()
    assert (
        record["rag"] == "green" and record["rag_reason"] == "vacant since March" and record["version"] == 3
    )
