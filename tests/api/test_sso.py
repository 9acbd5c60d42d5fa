"""Single sign-on against a real OpenID provider (oidc-provider-mock) run as its own process on loopback.

The browser's part (the provider's consent form) is driven with plain HTTP; the
register then exchanges the code with the provider over the network and
checks the ID token. Tokens the provider signs with a wrong audience, an
expiry in the past or a foreign nonce are made by giving the provider's user
those claims; a token altered in transit comes from a relay between the
register and the provider that edits the token response.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from support import new_property

from api.db import write_transaction
from api.services import sso
from estate_infra.cluster import free_port


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "OpenID provider did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.kill()  # a throwaway provider: no graceful shutdown to wait for
        process.wait(timeout=10)


class _Relay(ThreadingHTTPServer):
    """Forwards to the provider; with ``tamper`` it alters the ID token in the token response."""

    upstream: str
    tamper: bool = False


class _RelayHandler(BaseHTTPRequestHandler):
    server: _Relay

    def log_message(self, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        # The Host header stays the relay's, so the provider names the relay as its issuer.
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("connection", "accept-encoding")
        }
        upstream = httpx2.request(
            self.command,
            self.server.upstream + self.path,
            content=body,
            headers=headers,
            follow_redirects=False,
        )
        content = upstream.content
        if self.server.tamper and self.path.startswith("/oauth2/token") and upstream.status_code == 200:
            token = upstream.json()
            token["id_token"] = _change_email(token["id_token"], "someone-else@claimed.example.gov.uk")
            content = json.dumps(token).encode()
        self.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = _forward


def _change_email(id_token: str, email: str) -> str:
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = email
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.fixture(scope="module")
def relay(provider: str) -> Iterator[_Relay]:
    server = _Relay(("127.0.0.1", 0), _RelayHandler)
    server.upstream = provider
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def councils(
    app: Any, provider: str, relay: _Relay, make_org: Any, make_key: Any, owner_engine: Engine
) -> dict[str, Any]:
    """Two councils with sign-on: one straight to the provider (through the admin API), one via the relay."""
    direct, relayed = make_org(), make_org()
    admin = {"Authorization": f"Bearer {make_key(make_org(), 'admin')}"}
    with TestClient(app) as client:
        configured = client.put(
            f"/organisations/{direct}/sso",
            json={
                "issuer": provider,
                "client_id": "shared-estate",
                "client_secret": "s3cret",
                "domains": [f"{direct}.example.gov.uk"],
                "default_role": "editor",
            },
            headers=admin,
        )
        assert configured.status_code == 200, configured.text
        assert "client_secret" not in configured.json()
    relay_url = f"http://127.0.0.1:{relay.server_address[1]}"
    with write_transaction(owner_engine, "test-setup") as conn:
        sso.configure(
            conn,
            relayed,
            issuer=relay_url,
            client_id="shared-estate",
            client_secret="s3cret",
            domains=[f"{relayed}.example.gov.uk"],
            default_role="viewer",
            actor="test-setup",
        )
    return {"direct": direct, "relayed": relayed, "provider": provider, "relay_url": relay_url}


def _person(provider: str, org: str, **claims: Any) -> str:
    """Give the provider a user (its email in the council's domain unless claims say otherwise)."""
    sub = f"user-{uuid.uuid4().hex[:8]}"
    body = {"email": f"{sub}@{org}.example.gov.uk", **claims}
    assert httpx2.put(f"{provider}/users/{quote(sub)}", json=body, timeout=5).status_code == 204
    return sub


def _sign_in(browser: TestClient, org: str, sub: str) -> tuple[httpx2.Response, str]:
    """Drive a browser through the sign-on; return the register's answer to the callback and its URL."""
    start = browser.get(f"/login/sso?org={org}&next=/map", follow_redirects=False)
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert (
        "code_challenge=" in authorize and "code_challenge_method=S256" in authorize and "nonce=" in authorize
    )
    consent = httpx2.post(authorize, data={"sub": sub}, follow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    callback = f"{back.path}?{back.query}"
    return browser.get(callback, follow_redirects=False), callback


def test_sso_happy_path_signs_in_with_the_bodys_default_role(app: Any, councils: dict[str, Any]) -> None:
    org = councils["direct"]
    sub = _person(councils["provider"], org)
    with TestClient(app) as browser:
        answer, _ = _sign_in(browser, org, sub)
        assert answer.status_code == 303 and answer.headers["location"] == "/map"
        assert "HttpOnly" in answer.headers["set-cookie"]
        me = browser.get("/me").json()
        assert (me["email"], me["org"], me["role"]) == (f"{sub}@{org}.example.gov.uk", org, "editor")
        created = browser.post(
            "/properties", json=new_property(org), headers={"X-CSRF-Token": me["csrf_token"]}
        )
        assert created.status_code == 201
        history = browser.get(f"/properties/{created.json()['id']}/history").json()["changes"]
        assert history[0]["actor"] == me["email"]
    with TestClient(app) as again:  # the second time finds the same person
        assert _sign_in(again, org, sub)[0].status_code == 303
        assert again.get("/me").json()["email"] == me["email"]


def test_sso_start_by_email_finds_the_body(app: Any, councils: dict[str, Any]) -> None:
    org = councils["direct"]
    with TestClient(app) as browser:
        start = browser.get(f"/login/sso?email=someone@{org}.example.gov.uk", follow_redirects=False)
        assert start.status_code == 302 and start.headers["location"].startswith(councils["provider"])
        unknown = browser.get("/login/sso?email=someone@nobody.example.org", follow_redirects=False)
        assert unknown.status_code == 404 and "nobody.example.org" in unknown.json()["detail"]


def _refused(app: Any, org: str, sub: str, words: str) -> None:
    with TestClient(app) as browser:
        answer, _ = _sign_in(browser, org, sub)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert words in answer.json()["detail"], answer.json()["detail"]
        assert "estate_session" not in answer.headers.get("set-cookie", "")
        assert browser.get("/me").json()["signed_in"] is False


def test_sso_refuses_a_token_for_another_audience(app: Any, councils: dict[str, Any]) -> None:
    sub = _person(councils["provider"], councils["direct"], aud="some-other-application")
    _refused(app, councils["direct"], sub, "wrong audience")


def test_sso_refuses_an_expired_token(app: Any, councils: dict[str, Any]) -> None:
    sub = _person(councils["provider"], councils["direct"], exp=int(time.time()) - 3600)
    _refused(app, councils["direct"], sub, "expired")


def test_sso_refuses_a_replayed_nonce(app: Any, councils: dict[str, Any]) -> None:
    sub = _person(councils["provider"], councils["direct"], nonce="a-nonce-from-another-sign-in")
    _refused(app, councils["direct"], sub, "nonce")


def test_sso_refuses_an_email_domain_no_body_claims(app: Any, councils: dict[str, Any]) -> None:
    sub = _person(councils["provider"], councils["direct"], email="pat@unclaimed.example.org")
    _refused(
        app, councils["direct"], sub, "no body in the register claims the email domain unclaimed.example.org"
    )


def test_a_refused_browser_is_sent_back_to_the_sign_in_page_with_the_reason(
    app: Any, councils: dict[str, Any]
) -> None:
    org = councils["direct"]
    sub = _person(councils["provider"], org, email="kim@unclaimed.example.org")
    with TestClient(app, headers={"Accept": "text/html"}) as browser:
        answer, _ = _sign_in(browser, org, sub)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?error=")
        page = browser.get(answer.headers["location"])
        assert "no body in the register claims the email domain unclaimed.example.org" in page.text


def test_sso_refuses_a_token_altered_in_transit(app: Any, councils: dict[str, Any], relay: _Relay) -> None:
    org = councils["relayed"]
    sub = _person(councils["relay_url"], org)
    with TestClient(app) as browser:  # untouched, the relay is harmless
        assert _sign_in(browser, org, sub)[0].status_code == 303
    relay.tamper = True
    try:
        _refused(app, org, sub, "signature")
    finally:
        relay.tamper = False


def test_sso_state_is_single_use_and_bound_to_the_browser(app: Any, councils: dict[str, Any]) -> None:
    org = councils["direct"]
    with TestClient(app) as browser:
        start = browser.get(f"/login/sso?org={org}", follow_redirects=False)
        consent = httpx2.post(
            start.headers["location"],
            data={"sub": _person(councils["provider"], org)},
            follow_redirects=False,
        )
        back = urlsplit(consent.headers["location"])
        callback = f"{back.path}?{back.query}"
        with TestClient(app) as other_browser:
            stolen = other_browser.get(callback, follow_redirects=False)
        assert stolen.status_code == 401 and "another browser" in stolen.json()["detail"]
        replay = browser.get(callback, follow_redirects=False)
        assert replay.status_code == 401 and "already used" in replay.json()["detail"]


def test_sso_refuses_a_disabled_person(app: Any, councils: dict[str, Any], owner_engine: Engine) -> None:
    org = councils["direct"]
    sub = _person(councils["provider"], org)
    with TestClient(app) as browser:
        assert _sign_in(browser, org, sub)[0].status_code == 303
        with owner_engine.begin() as conn:
            conn.execute(
                text("UPDATE app_user SET disabled_at = now() WHERE email = :e"),
                {"e": f"{sub}@{org}.example.gov.uk"},
            )
        assert browser.get("/me").json()["signed_in"] is False
    _refused(app, org, sub, "disabled")
