"""The rate limit cannot be dodged (issue 16, item 7): made-up keys, uncounted routes, a forged
X-Forwarded-For or a forged Host buy no fresh allowance and write no link."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from support import auth_header

from api.clients import forwarded_client, rate_key
from api.errors import PROBLEM_JSON
from api.routes.docs import openapi_document

PROBLEM = PROBLEM_JSON


def _address() -> str:
    """A client address no other test uses (the buckets live in the shared test database)."""
    a, b, c = secrets.token_bytes(3)
    return f"10.{a}.{b}.{max(c, 1)}"


def _made_up_key() -> str:
    return f"se_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


@pytest.fixture()
def tight_app(settings, seeded):
    """The app with an allowance of 5 requests a minute per caller (a token every 12 s)."""
    from api.main import create_app

    return create_app(settings.model_copy(update={"rate_limit_per_minute": 5}), seeded)


def _client(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def _assert_limited(response) -> None:
    assert response.status_code == 429, (response.request.method, response.request.url, response.text[:300])
    assert response.headers["content-type"].startswith(PROBLEM)
    assert int(response.headers["Retry-After"]) >= 1


# --- invalid keys ---------------------------------------------------------------------------------


def test_a_client_spraying_made_up_keys_is_limited_and_others_are_not(tight_app) -> None:
    sprayer, neighbour = _address(), _address()
    with _client(tight_app, sprayer) as client:
        codes = [
            client.get("/properties?limit=1", headers=auth_header(_made_up_key())).status_code
            for _ in range(5)
        ]
        assert codes == [401] * 5
        _assert_limited(client.get("/properties?limit=1", headers=auth_header(_made_up_key())))
        # A malformed key, or the X-API-Key header, is no way round it.
        _assert_limited(client.get("/properties?limit=1", headers={"X-API-Key": "not-a-key"}))
        # The sprayer's own anonymous reading is counted apart from its key attempts.
        assert client.get("/properties?limit=1").status_code == 200
    with _client(tight_app, neighbour) as client:
        assert client.get("/properties?limit=1", headers=auth_header(_made_up_key())).status_code == 401


def test_once_over_no_key_is_even_looked_up(tight_app, make_org, make_key) -> None:
    # Limit, then look up: over its allowance, an address learns nothing of any key it sends,
    # not even whether a real one is good.
    good = make_key(make_org(), "viewer")
    with _client(tight_app, _address()) as client:
        for _ in range(5):
            client.get("/properties?limit=1", headers=auth_header(_made_up_key()))
        _assert_limited(client.get("/properties?limit=1", headers=auth_header(good)))


def test_a_revoked_key_is_charged_to_its_address(tight_app, make_org, make_key, client) -> None:
    org = make_org()
    admin, revoked = make_key(org, "org-admin"), make_key(org, "viewer")
    prefix = revoked.split("_")[1]
    assert client.post(f"/keys/{prefix}/revoke", headers=auth_header(admin)).status_code == 204
    with _client(tight_app, _address()) as tight:
        codes = [tight.get("/me", headers=auth_header(revoked)).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_good_keys_do_not_draw_on_their_address(tight_app, make_org, make_key) -> None:
    # Partner systems behind one address (a council's NAT) each have their key's own allowance.
    org = make_org()
    first, second = make_key(org, "viewer"), make_key(org, "viewer")
    with _client(tight_app, _address()) as client:
        for key in (first, second):
            assert [client.get("/me", headers=auth_header(key)).status_code for _ in range(5)] == [200] * 5
        # ...and the address still has its whole allowance of key attempts.
        assert [client.get("/me", headers=auth_header(_made_up_key())).status_code for _ in range(5)] == [
            401
        ] * 5


# --- every route counted -------------------------------------------------------------------------


# Exempt, each for costing less than the database round trip a charge costs: static files
# (StaticFiles answers from disk, with ETag and 304) and the OpenAPI document (bytes kept in memory).
EXEMPT_ROUTES = {"/openapi.json": openapi_document}


def _api_routes(app) -> Iterator[tuple[str, str]]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert isinstance(route.app, StaticFiles), f"{context.path}: a mount that is not static files"
            continue
        if not isinstance(route, APIRoute):
            assert EXEMPT_ROUTES.get(context.path) is route.endpoint, (
                f"{context.path}: a route outside the limit"
            )
            continue
        # Any value fills a path parameter: the limit is met before the parameter is read.
        path = re.sub(r"\{[^}]+\}", "1", context.path)
        for method in sorted(route.methods):
            yield method, path


def test_every_route_answers_429_once_the_callers_bucket_is_empty(settings, seeded) -> None:
    from api.main import create_app

    # One token a minute: the first request empties the bucket and the test ends long before a refill.
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 1}), seeded)
    routes = list(_api_routes(app))
    paths = {path for _, path in routes}
    # The route table is the one the app serves, pages and sign-in included.
    assert {"/docs", "/map", "/login", "/login/sso/callback", "/healthz", "/"} <= paths
    with _client(app, _address()) as client:
        client.get("/healthz")
        for method, path in routes:
            _assert_limited(client.request(method, path))
        # The exemptions are what they say: still served.
        assert client.get("/static/estate-map.js").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_a_routes_cost_is_charged_once(settings, seeded, make_org, make_key) -> None:
    # The route table's own dependency and the route's get_principal are one identification.
    from api.main import create_app

    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 2}), seeded)
    key = make_key(make_org(), "viewer")
    with _client(app, _address()) as client:
        assert [client.get("/me", headers=auth_header(key)).status_code for _ in range(3)] == [200, 200, 429]


# --- X-Forwarded-For ------------------------------------------------------------------------------


def test_a_made_up_forwarded_for_from_an_untrusted_peer_buys_no_fresh_allowance(tight_app) -> None:
    with _client(tight_app, _address()) as client:
        for _ in range(5):
            client.get("/collections")
        _assert_limited(client.get("/collections", headers={"X-Forwarded-For": "203.0.113.9"}))
        _assert_limited(
            client.get("/collections", headers={"X-Forwarded-For": f"{_address()}, {_address()}"})
        )


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(settings, seeded) -> None:
    from api.main import create_app

    proxy = _address()
    app = create_app(
        settings.model_copy(update={"rate_limit_per_minute": 5, "trusted_proxies": [f"{proxy}/32"]}), seeded
    )
    busy, other = _address(), _address()
    with _client(app, proxy) as client:
        for _ in range(5):
            assert client.get("/collections", headers={"X-Forwarded-For": busy}).status_code == 200
        _assert_limited(client.get("/collections", headers={"X-Forwarded-For": busy}))
        # The client cannot hide behind a made-up address of its own: the proxy appended the real one.
        _assert_limited(client.get("/collections", headers={"X-Forwarded-For": f"{other}, {busy}"}))
        assert client.get("/collections", headers={"X-Forwarded-For": other}).status_code == 200
        assert client.get("/collections").status_code == 200  # the proxy's own allowance is untouched


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("192.0.2.1", ["198.51.100.7"], (), "192.0.2.1"),  # no trusted proxies: the header is ignored
        ("192.0.2.1", ["198.51.100.7"], ("10.0.0.0/8",), "192.0.2.1"),  # peer not trusted
        ("10.0.0.2", ["198.51.100.7"], ("10.0.0.0/8",), "198.51.100.7"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.7"], ("10.0.0.0/8",), "198.51.100.7"),  # left part is the client's
        ("10.0.0.2", ["6.6.6.6, 198.51.100.7, 10.0.0.9"], ("10.0.0.0/8",), "198.51.100.7"),  # two proxies
        ("10.0.0.2", ["6.6.6.6", "198.51.100.7"], ("10.0.0.0/8",), "198.51.100.7"),  # two header lines
        ("10.0.0.2", ["10.0.0.7, 10.0.0.9"], ("10.0.0.0/8",), "10.0.0.7"),  # all trusted: the left-most
        ("10.0.0.2", ["unknown"], ("10.0.0.0/8",), "10.0.0.2"),  # not an address: the proxy itself
        ("10.0.0.2", ["198.51.100.7:4711"], ("10.0.0.0/8",), "198.51.100.7"),
        ("10.0.0.2", [], ("10.0.0.0/8",), "10.0.0.2"),
        ("::ffff:10.0.0.2", ["2001:db8::5"], ("10.0.0.0/8",), "2001:db8::5"),
    ],
)
def test_forwarded_client(peer: str, forwarded: list[str], trusted: tuple[str, ...], client: str) -> None:
    assert forwarded_client(peer, forwarded, trusted) == client


def test_behind_a_trusted_tls_proxy_links_and_cookies_are_https(
    settings, seeded, make_org, make_person
) -> None:
    from api.main import create_app

    proxy = _address()
    app = create_app(settings.model_copy(update={"trusted_proxies": [proxy]}), seeded)
    email, password = make_person(make_org())
    https = {"X-Forwarded-Proto": "https"}
    with _client(app, proxy) as client:
        links = [link["href"] for link in client.get("/collections", headers=https).json()["links"]]
        assert links and all(href.startswith("https://testserver/") for href in links), links
        signed_in = client.post("/login", json={"email": email, "password": password}, headers=https)
        assert signed_in.status_code == 200, signed_in.text
        assert "secure" in signed_in.headers["set-cookie"].lower()
        # Only the nearest proxy's word counts: a client's own "https" to its left changes nothing.
        plain = client.get("/collections", headers={"X-Forwarded-Proto": "https, http"}).json()["links"]
        assert all(link["href"].startswith("http://testserver/") for link in plain)
    # From anyone else the header is the client's own claim, and ignored.
    with _client(app, _address()) as client:
        links = [link["href"] for link in client.get("/collections", headers=https).json()["links"]]
        assert all(href.startswith("http://testserver/") for href in links), links


def test_ipv6_clients_are_counted_by_their_64() -> None:
    # One subscriber holds a /64: a fresh address from it is no fresh allowance.
    assert rate_key("2001:db8:1:2::1") == rate_key("2001:db8:1:2:ffff::9") == "ip:2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("192.0.2.1") == "ip:192.0.2.1"


def test_sign_in_throttles_the_forwarded_client_not_the_proxy(
    settings, seeded, make_org, make_person
) -> None:
    from api.main import create_app

    proxy = _address()
    app = create_app(
        settings.model_copy(update={"login_ip_max_failures": 2, "trusted_proxies": [proxy]}), seeded
    )
    email, password = make_person(make_org())
    guesser, colleague = _address(), _address()
    with _client(app, proxy) as client:
        for _ in range(3):
            client.post(
                "/login",
                json={"email": f"{uuid.uuid4().hex}@x.example", "password": "wrong"},
                headers={"X-Forwarded-For": guesser},
            )
        blocked = client.post(
            "/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": guesser}
        )
        assert blocked.status_code == 429
        signed_in = client.post(
            "/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": colleague}
        )
        assert signed_in.status_code == 200, signed_in.text


# --- Host -----------------------------------------------------------------------------------------

FORGED = "evil.example"
LINKING_PAGES = [
    "/",
    "/collections",
    "/collections/properties",
    "/collections/properties/items?limit=2",
    "/collections/properties/items?limit=2&f=html",
    "/collections/properties/tiles/WebMercatorQuad/tilejson.json",
    "/map",
    "/login/sso?org=worcestershire-cc",
]


@pytest.mark.parametrize("path", LINKING_PAGES)
def test_a_forged_host_is_refused_and_never_linked(client, path: str) -> None:
    for host in (FORGED, f"{FORGED}:8000", f"testserver.{FORGED}"):
        response = client.get(path, headers={"Host": host}, follow_redirects=False)
        assert response.status_code == 400, (host, response.text[:200])
        assert response.headers["content-type"].startswith(PROBLEM)
        assert FORGED not in response.text and FORGED not in response.headers.get("location", "")


@pytest.mark.parametrize("path", LINKING_PAGES[:-1])
def test_links_follow_an_allowed_host(client, path: str) -> None:
    response = client.get(path, headers={"Host": "localhost:8730"})
    assert response.status_code == 200, response.text[:300]
    assert "http://localhost:8730/" in response.text and "testserver" not in response.text


@pytest.mark.parametrize("path", LINKING_PAGES[:-1])
def test_with_a_public_base_url_links_never_follow_the_host(settings, seeded, path: str) -> None:
    from api.main import create_app

    base = "https://estate.example.gov.uk/register"
    app = create_app(settings.model_copy(update={"public_base_url": base}), seeded)
    with TestClient(app) as client:
        response = client.get(path)  # Host: testserver, which is allowed
        assert response.status_code == 200, response.text[:300]
        assert f"{base}/" in response.text and "testserver" not in response.text
        # The public base URL's own host is answered without being listed.
        assert client.get(path, headers={"Host": "estate.example.gov.uk"}).status_code == 200
        assert client.get(path, headers={"Host": FORGED}).status_code == 400


def test_host_settings_are_checked_at_start_up() -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    with pytest.raises(ValidationError, match="ESTATE_PUBLIC_BASE_URL"):
        Settings(allowed_hosts="*")  # any Host would write any link
    assert Settings(allowed_hosts="*", public_base_url="https://estate.example").allowed_hosts == ["*"]
    with pytest.raises(ValidationError, match="ESTATE_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.example")
    assert Settings(trusted_proxies="10.0.0.1, 2001:db8::/32").trusted_proxies == [
        "10.0.0.1/32",
        "2001:db8::/32",
    ]
    with pytest.raises(ValidationError, match="ESTATE_PUBLIC_BASE_URL"):
        Settings(public_base_url="estate.example/path")
    assert "0.0.0.0" not in Settings(host="0.0.0.0").answered_hosts
    assert "estate.local" in Settings(host="estate.local").answered_hosts
