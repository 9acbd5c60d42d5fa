"""The estate manager's journeys through /map, in real headless Chromium with no internet."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlparse

import pytest
from support import auth_header, new_property

pytestmark = pytest.mark.browser
READY = "() => window.ESTATE_MAP && window.ESTATE_MAP.ready()"
EVESHAM = "at=14/52.0925/-1.9465"  # zoom/lat/lon: a town centre at a zoom that draws each building


def _open(page, live_server, query: str = "") -> None:
    page.goto(f"{live_server}/map{'?' + query if query else ''}", wait_until="load")
    page.wait_for_function(READY)


def _sign_in(page, live_server, email: str, password: str, query: str = "") -> None:
    _open(page, live_server, query)
    _sign_in_from_page(page, email, password)


def _sign_in_from_page(page, email: str, password: str) -> None:
    """Sign in as a person does: the page's "Sign in" link, the real /login form, and back to the same view."""
    page.click("#estate-signin")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form[action='/login'] button")
    page.wait_for_url(lambda url: urlparse(url).path == "/map")
    page.wait_for_selector("#estate-me")
    page.wait_for_function(READY)


def _summary(client, bbox: list[float], **filters: str) -> dict:
    params = {"bbox": ",".join(str(v) for v in bbox), "limit": 500, **filters}
    response = client.get("/properties/summary", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_county_view_reads_offline_with_towns_and_bubbles_that_add_up(
    offline_page, live_server, client, artefact
) -> None:
    page = offline_page
    # One seed body: every one of its buildings lies in the first view (other tests add buildings elsewhere).
    _open(page, live_server, "owner=worcestershire-cc")
    page.wait_for_function("() => ESTATE_MAP.offline()")
    page.wait_for_function(
        "() => ESTATE_MAP.summary() && ESTATE_MAP.bubbleTotal() === ESTATE_MAP.summary().count"
    )
    bbox = page.evaluate("() => ESTATE_MAP.viewBbox()")
    in_view = _summary(client, bbox, owner="worcestershire-cc")["count"]
    assert in_view == client.get("/properties/summary", params={"owner": "worcestershire-cc"}).json()["count"]
    assert page.evaluate("() => ESTATE_MAP.bubbleTotal()") == in_view > 100
    assert page.inner_text("#estate-count") == f"{in_view:,}"
    # Town names are placed once the wayfinding layer has loaded: wait for them rather than race them.
    towns_drawn = (
        "() => ESTATE_MAP.map().queryRenderedFeatures({layers: ['towns']}).map(f => f.properties.name)"
    )
    page.wait_for_function(f"() => ({towns_drawn})().includes('Kidderminster')")
    assert {"Worcester", "Evesham", "Kidderminster"} <= set(page.evaluate(towns_drawn))
    assert not page.is_hidden("#estate-offline-note")
    page.select_option("#estate-filter-owner", "")
    page.wait_for_function(
        f"() => ESTATE_MAP.summary().count > {in_view} && ESTATE_MAP.bubbleTotal() >= ESTATE_MAP.summary().count"
    )
    artefact(page, "01-offline-county-view")
    assert page.errors == []
    # Only the online basemap was attempted off-site; no script, style or font came from a CDN.
    assert page.blocked and all("tile.openstreetmap.org" in url for url in page.blocked), page.blocked


def test_filters_keep_list_and_map_in_step_with_the_api(offline_page, live_server, client, artefact) -> None:
    page = offline_page
    _open(page, live_server)
    # The view stays put while filters change: what the API counts there is what the page must show
    # once both filters apply (waiting for it, not for a state the first filter alone also reaches).
    bbox = page.evaluate("() => ESTATE_MAP.viewBbox()")
    filters = {"owner": "wychavon", "rag": "amber,green,unrated"}
    expected = _summary(client, bbox, **filters)
    page.select_option("#estate-filter-owner", "wychavon")
    page.uncheck('.rag-filter input[value="red"]')
    page.wait_for_function(
        f"() => ESTATE_MAP.summary() && ESTATE_MAP.summary().count === {expected['count']} "
        f"&& ESTATE_MAP.bubbleTotal() === {expected['count']} && ESTATE_MAP.summary().rag.red === 0"
    )
    assert page.evaluate("() => ESTATE_MAP.viewBbox()") == bbox
    assert 0 < expected["count"] < _summary(client, bbox, owner="wychavon")["count"]
    assert page.evaluate("() => ESTATE_MAP.summary().rag") == expected["rag"]
    assert expected["rag"]["red"] == 0
    assert "owner=wychavon" in page.url and "rag=amber,green,unrated" in page.url

    # At a town's zoom each building is a point; the same filters hold, and the points drawn are the list's.
    _open(page, live_server, f"owner=wychavon&rag=amber,green,unrated&{EVESHAM}")
    page.wait_for_function("() => ESTATE_MAP.summary() && ESTATE_MAP.map().areTilesLoaded()")
    page.wait_for_function("() => ESTATE_MAP.pointsInView().length === ESTATE_MAP.summary().count")
    bbox = page.evaluate("() => ESTATE_MAP.viewBbox()")
    expected = _summary(client, bbox, **filters)
    drawn = {p["id"] for p in page.evaluate("() => ESTATE_MAP.pointsInView()")}
    assert drawn == {item["id"] for item in expected["items"]} and drawn

    # A filter the tile carries applies in the browser: no tile is fetched again.
    tile_requests: list[str] = []
    page.on("request", lambda r: tile_requests.append(r.url) if "/tiles/WebMercatorQuad/1" in r.url else None)
    page.select_option("#estate-filter-owner", "worcestershire-cc")
    filters["owner"] = "worcestershire-cc"
    expected = _summary(client, bbox, **filters)
    page.wait_for_function(
        f"() => ESTATE_MAP.summary().count === {expected['count']} "
        f"&& ESTATE_MAP.pointsInView().length === {expected['count']}"
    )
    assert {p["id"] for p in page.evaluate("() => ESTATE_MAP.pointsInView()")} == {
        i["id"] for i in expected["items"]
    }
    assert [u for u in tile_requests if "/14/" in u or "/15/" in u] == []
    artefact(page, "02-filtered-town-view")
    assert page.errors == []


def test_search_opens_a_record_and_its_link_reopens_it(offline_page, live_server, artefact) -> None:
    page = offline_page
    _open(page, live_server)
    page.fill("#estate-search-input", "Evesham Police")
    page.press("#estate-search-input", "Enter")
    page.click("#estate-search-results button >> text=Evesham Police")
    page.wait_for_selector("#record-title")
    assert "Evesham Police" in page.inner_text("#record-title")
    groups = page.eval_on_selector_all(".record legend", "els => els.map(e => e.textContent)")
    assert groups[:3] == ["Place", "Holding", "Size and use"]
    assert "Read only" in page.inner_text("#pane-record")
    # The public is not shown the register's suggestion (it is built from partner fields); the slot says so.
    page.wait_for_function(
        "() => !document.querySelector('#record-suggested-body').textContent.includes('loading')"
    )
    assert "partner" in page.inner_text("#record-suggested")
    page.wait_for_selector("#record-history li[data-version]")
    record_id = page.evaluate("() => new URLSearchParams(location.search).get('record')")
    assert record_id
    shared = page.url
    artefact(page, "03-record-opened")
    page.goto("about:blank")
    page.goto(shared)
    page.wait_for_function(READY)
    page.wait_for_selector("#record-title")
    assert "Evesham Police" in page.inner_text("#record-title")
    assert page.get_attribute("#tab-record", "aria-selected") == "true"
    assert page.errors == []


def _square(lon: float, lat: float, half_deg: float = 0.0002) -> dict[str, Any]:
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
    ]
    return {"type": "Polygon", "coordinates": [[*ring, [lon - half_deg, lat + half_deg], ring[0]]]}


def test_manager_edits_fields_and_the_location_and_sees_them_in_the_history(
    offline_page, live_server, client, make_org, make_key, make_person, artefact
) -> None:
    org = make_org()
    key = make_key(org, "writer")  # the body's own system loads the building; a person edits it
    email, password = make_person(org, "editor")
    created = client.post(
        "/properties", json=new_property(org, name="Workspace Edit House"), headers=auth_header(key)
    ).json()
    page = offline_page
    _sign_in(page, live_server, email, password, f"record={created['id']}")
    page.wait_for_selector("#record-save")
    # A value the register refuses is named beside its field, and nothing is saved.
    page.fill("#f-utilisation_pct", "150")
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#err-utilisation_pct').textContent !== ''")
    assert client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()["version"] == 1
    page.fill("#f-utilisation_pct", "")
    page.fill("#f-gia_m2", "910")
    page.fill("#f-rag_reason", "two teams moved out in May")
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#record-status').textContent.startsWith('Saved')")
    record = client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()
    assert (record["gia_m2"], record["rag_reason"], record["version"]) == (
        910,
        "two teams moved out in May",
        2,
    )
    page.wait_for_selector("#record-history li[data-version='2']")
    latest = page.inner_text("#record-history li[data-version='2']")
    assert "850 → 910" in latest and "half empty since 2009 → two teams moved out in May" in latest
    assert email in latest  # the history names the person, not a key
    artefact(page, "04-record-edited")
    # The same manager moves the building and redraws its outline: its location and footprint are fields too.
    stored = lambda: client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()  # noqa: E731
    # An outline 5 km from the building is refused beside the footprint, and nothing is saved.
    page.fill("#f-footprint", json.dumps(_square(-2.30, 52.19)))
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#err-footprint').textContent !== ''")
    assert stored()["version"] == 2
    # Drag the building's marker east on the map, then outline it where it now stands.
    page.click("#f-geometry-drag")
    marker = page.wait_for_selector("#estate-edit-marker")
    page.wait_for_function("() => !ESTATE_MAP.map().isMoving()")
    box = marker.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    page.wait_for_function("() => Number(document.querySelector('#f-geometry').value) > -2.2199")
    # The keyboard moves it too: the marker has focus, and each arrow press moves it.
    assert page.evaluate("() => document.activeElement.id") == "estate-edit-marker"
    dragged_lat = float(page.input_value("#f-geometry-y"))
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    page.wait_for_function(f"() => Number(document.querySelector('#f-geometry-y').value) > {dragged_lat}")
    lon, lat = float(page.input_value("#f-geometry")), float(page.input_value("#f-geometry-y"))
    page.fill("#f-footprint", json.dumps(_square(lon, lat)))
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#record-status').textContent.startsWith('Saved')")
    record = stored()
    assert record["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-6)
    assert (record["footprint"]["type"], record["version"]) == ("MultiPolygon", 3)
    page.wait_for_selector("#record-history li[data-version='3']")
    moved = page.inner_text("#record-history li[data-version='3']")
    assert "Location" in moved and "Footprint outline: — → outline recorded" in moved
    # Typed as easting/northing: 100 m north, and the outline cleared.
    page.select_option("#f-geometry-system", "bng")
    page.wait_for_function("() => Number(document.querySelector('#f-geometry').value) > 100000")
    page.fill("#f-geometry-y", str(float(page.input_value("#f-geometry-y")) + 100))
    page.fill("#f-footprint", "")
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#record-status').textContent.startsWith('Saved')")
    record = stored()
    assert record["footprint"] is None and record["version"] == 4
    assert 0.0008 < record["geometry"]["coordinates"][1] - lat < 0.001  # 100 m is 0.0009° of latitude
    artefact(page, "10-record-moved")
    assert page.errors == []


def test_concurrent_edit_is_shown_and_reapplied_on_top(
    offline_page, live_server, client, make_org, make_key, make_person, artefact
) -> None:
    org = make_org()
    key = make_key(org, "writer")  # the colleague is the body's own system, writing over the API
    email, password = make_person(org, "editor")
    created = client.post(
        "/properties", json=new_property(org, name="Workspace Conflict House"), headers=auth_header(key)
    ).json()
    page = offline_page
    _sign_in(page, live_server, email, password, f"record={created['id']}")
    page.wait_for_selector("#record-save")
    page.fill("#f-name", "Workspace Conflict House (east wing)")
    # A colleague saves first.
    other = client.patch(
        f"/properties/{created['id']}",
        json={"gia_m2": 1000.0},
        headers={**auth_header(key), "If-Match": '"1"'},
    )
    assert other.status_code == 200
    page.click("#record-save")
    page.wait_for_selector("#record-conflict")
    conflict = page.inner_text("#record-conflict")
    assert "Floor area" in conflict and "850" in conflict and "1,000" in conflict
    assert "Workspace Conflict House (east wing)" in conflict
    stored = client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()
    assert (stored["name"], stored["gia_m2"], stored["version"]) == ("Workspace Conflict House", 1000, 2)
    artefact(page, "05-edit-conflict")
    page.click("#record-reapply")
    page.wait_for_function("() => document.querySelector('#record-status').textContent.startsWith('Saved')")
    stored = client.get(f"/properties/{created['id']}", headers=auth_header(key)).json()
    assert (stored["name"], stored["gia_m2"], stored["version"]) == (
        "Workspace Conflict House (east wing)",
        1000,
        3,
    )
    assert page.errors == []


def test_a_person_signs_in_edits_their_own_body_only_and_signs_out(
    offline_page, live_server, client, make_org, make_key, make_person, artefact
) -> None:
    org = make_org(name="Signin Test District Council")
    email, password = make_person(org, "editor")
    created = client.post(
        "/properties",
        json=new_property(org, name="Sign-in Test Depot"),
        headers=auth_header(make_key(org, "writer")),
    ).json()
    page = offline_page
    _open(page, live_server, f"record={created['id']}")
    # Signed out: the public view, a way to sign in, and no form.
    assert page.inner_text("#estate-signin") == "Sign in"
    page.wait_for_selector("#record-title")
    assert "Sign in to edit" in page.inner_text("#pane-record")
    assert page.locator("#record-save").count() == 0
    assert page.locator("#estate-key, .key").count() == 0  # the page takes no API keys

    _sign_in_from_page(page, email, password)
    assert f"record={created['id']}" in page.url  # back to the view the visitor left
    assert page.inner_text("#estate-me") == f"{email} — Signin Test District Council (editor)"
    assert page.locator("#estate-signin").count() == 0
    page.wait_for_selector("#record-save")
    page.fill("#f-fte", "12")
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#record-status').textContent.startsWith('Saved')")
    stored = client.get(f"/properties/{created['id']}", headers=auth_header(make_key(org, "reader"))).json()
    assert (stored["fte"], stored["version"], stored["updated_by"]) == (12, 2, email)
    page.wait_for_selector("#record-history li[data-version='2']")
    assert email in page.inner_text("#record-history li[data-version='2']")
    artefact(page, "08-signed-in-editor")

    # Another body's building opens read only, and says why.
    page.fill("#estate-search-input", "Evesham Police")
    page.press("#estate-search-input", "Enter")
    page.click("#estate-search-results button >> text=Evesham Police")
    page.wait_for_function(
        "() => document.querySelector('#record-title').textContent.includes('Evesham Police')"
    )
    assert "Read only: this building belongs to" in page.inner_text("#pane-record")
    assert page.locator("#record-save").count() == 0

    page.click("#estate-signout")
    page.wait_for_selector("#estate-signin")  # the page started again, as the public
    page.wait_for_function(READY)
    assert page.evaluate("fetch('/me').then(r => r.json()).then(m => m.signed_in)") is False
    page.wait_for_selector("#record-title")
    assert "Sign in to edit" in page.inner_text("#pane-record")
    assert page.errors == []


def test_another_body_registers_interest_while_the_partners_window_is_open(
    offline_page, live_server, client, make_org, make_key, make_person, artefact
) -> None:
    owner = make_org("district", name="Interest Owner District Council")
    partner = make_org("police", name="Interest Partner Police")
    owner_h = auth_header(make_key(owner, "writer"))
    email, password = make_person(partner, "editor")
    pid = client.post(
        "/properties", json=new_property(owner, name="Surplus Interest Hall"), headers=owner_h
    ).json()["id"]
    for stage in ("under_review", "declared_surplus"):
        moved = client.post(
            f"/properties/{pid}/disposal/transitions", json={"to_stage": stage}, headers=owner_h
        )
        assert moved.status_code == 200, moved.text
    ends_on = dt.date.fromisoformat(moved.json()["interest_window"]["ends_on"])

    page = offline_page
    _sign_in(page, live_server, email, password, f"record={pid}")
    page.wait_for_selector("#interest-window")
    assert page.inner_text("#interest-window") == f"Partners' window closes {ends_on.day} {ends_on:%B %Y}"
    assert "No interest registered" in page.inner_text("#interest-list")
    # Labelled fields, reached from the keyboard; a refused value is named beside its field.
    page.focus("#i-service")
    page.keyboard.type("Neighbourhood policing team")
    page.keyboard.press("Tab")
    page.keyboard.type("-5")
    page.keyboard.press("Tab")
    page.keyboard.type("from spring")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the "Register interest" button
    page.wait_for_function("() => document.querySelector('#ierr-floor_area_m2').textContent !== ''")
    assert page.inner_text("#interest-status").startswith("Not registered")
    owner_view = client.get(f"/properties/{pid}/disposal", headers=owner_h).json()
    assert owner_view["interest"] == []  # the refused request changed nothing
    page.get_by_label("Floor area needed (m²)").fill("240")
    page.get_by_role("button", name="Register interest").click()
    page.wait_for_function(
        "() => (document.querySelector('#interest-status') || {}).textContent === 'Interest registered.'"
    )
    listed = page.inner_text("#interest-list")
    assert "Neighbourhood policing team" in listed and "240 m²" in listed and "from spring" in listed
    assert page.locator("#i-service").count() == 0  # one registration per body per window
    artefact(page, "09-interest-registered")

    owner_view = client.get(f"/properties/{pid}/disposal", headers=owner_h).json()
    assert [(i["org"], i["service"], i["floor_area_m2"], i["note"]) for i in owner_view["interest"]] == [
        (partner, "Neighbourhood policing team", 240, "from spring")
    ]
    assert page.errors == []


def test_selecting_a_hub_highlights_its_buildings(offline_page, live_server, client, artefact) -> None:
    hub = client.get("/colocation/candidates", params={"limit": 25}).json()["candidates"][0]
    expected = {hub["host"]["id"], *(m["id"] for m in hub["members"])}
    page = offline_page
    _open(page, live_server)
    page.click("#tab-hubs")
    page.click("#hub-list > li:first-child > button")
    page.wait_for_function(f"() => ESTATE_MAP.highlighted().length === {len(expected)}")
    assert set(page.evaluate("() => ESTATE_MAP.highlighted()")) == expected
    detail = page.inner_text("#hub-list > li:first-child .detail")
    assert hub["host"]["name"] in detail and "Why" in detail
    assert all(m["name"] in detail for m in hub["members"])
    artefact(page, "06-hub-selected")
    assert page.errors == []


def _money(value: int) -> str:
    """The page's short form of a sum in pounds: £1.23bn, £45.6m (trailing zeros dropped, as the page does)."""
    if abs(value) >= 1e9:
        return "£" + f"{value / 1e9:,.2f}".rstrip("0").rstrip(".") + "bn"
    return "£" + f"{value / 1e6:,.1f}".rstrip("0").rstrip(".") + "m"


def test_moving_a_receipts_assumption_re_estimates_on_the_server(
    offline_page, live_server, client, make_org, make_key, make_person, artefact
) -> None:
    org = make_org()
    key = make_key(org, "reader")  # the same view over the API, to compare with
    email, password = make_person(org, "viewer")  # receipts are built from valuations: partners only
    page = offline_page
    _open(page, live_server, "tab=receipts")
    page.wait_for_function("() => document.querySelector('#receipts-error').textContent !== ''")
    assert "sign in" in page.inner_text("#receipts-error")
    # The estimate is a POST: signed in by cookie, the page must send the CSRF token with it.
    _sign_in_from_page(page, email, password)
    assert "tab=receipts" in page.url
    page.click("#tab-receipts")
    default = client.post("/receipts/estimate", json={}, headers=auth_header(key)).json()
    p50 = _money(default["single_estate"]["net"]["p50"])
    page.wait_for_function(f"() => document.querySelector('#receipts-p50')?.textContent === '{p50}'")
    assert page.locator("#receipts-chart svg rect").count() >= len(default["single_estate"]["years"])
    page.fill("#r-disposal_cost_rate", "20")
    moved = client.post(
        "/receipts/estimate", json={"disposal_cost_rate": 0.2}, headers=auth_header(key)
    ).json()
    moved_p50 = _money(moved["single_estate"]["net"]["p50"])
    assert moved_p50 != p50
    page.wait_for_function(f"() => document.querySelector('#receipts-p50').textContent === '{moved_p50}'")
    assert "Silo" in page.inner_text("#receipts-compare")
    artefact(page, "07-receipts-assumption-moved")
    assert page.errors == []


def test_laptop_layout_keyboard_and_labels(offline_page, live_server) -> None:
    page = offline_page
    _open(page, live_server)
    map_box = page.locator("#map").bounding_box()
    panel_box = page.locator("#panel").bounding_box()
    assert map_box["width"] >= 900 and map_box["height"] >= 600, map_box
    assert panel_box["x"] >= map_box["x"] + map_box["width"] - 1, (
        "the panel must sit beside the map, not on it"
    )
    unnamed = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
             .filter(el => el.offsetParent !== null)
             .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                           && !el.getAttribute('aria-labelledby') && !el.textContent.trim() && !el.title)
             .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement.id"))
    assert {"estate-search-input", "estate-filter-owner", "estate-filter-town", "tab-hubs"} <= reached
    # A building opens from the list with the keyboard alone.
    page.wait_for_selector("#pane-view tr.row button")
    page.focus("#pane-view tr.row button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#record-title")
    page.click("#estate-panel-toggle")
    assert page.locator("#map").bounding_box()["width"] > map_box["width"]
