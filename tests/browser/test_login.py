"""The sign-in page in real headless Chromium: a new person's first sign-in, the cookie, CSRF from the page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from support import new_property

pytestmark = pytest.mark.browser


def test_first_sign_in_changes_the_password_then_edits_with_the_csrf_token(
    browser: Any, live_server: str, owner_engine: Any, make_org: Any
) -> None:
    from api.db import write_transaction
    from api.services import people

    org = make_org()
    email = f"new-{uuid.uuid4().hex[:6]}@{org}.gov.uk"
    with write_transaction(owner_engine, "test-setup") as conn:
        one_time = people.add_user(conn, email, org, "editor", "test-setup")["one_time_password"]
    context = browser.new_context()  # the session's one Chromium (tests/browser/conftest.py)
    page = context.new_page()
    # Keep the test to our pages: nothing the map page fetches from elsewhere matters here.
    page.route(
        "**/*",
        lambda route, request: route.continue_() if request.url.startswith(live_server) else route.abort(),
    )
    page.goto(f"{live_server}/login?next=/map")
    page.fill("#email", email)
    page.fill("#password", "not it")
    page.click("form[action='/login'] button")
    assert "email or password is wrong" in page.inner_text("[role=alert]")
    page.fill("#email", email)
    page.fill("#password", one_time)
    page.click("form[action='/login'] button")
    page.wait_for_selector("text=Choose your password")
    page.fill("#current", one_time)
    page.fill("#new", "a much longer password of mine")
    page.click("form[action='/me/password'] button")
    page.wait_for_url(f"{live_server}/map")

    cookie = next(c for c in context.cookies() if c["name"] == "estate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here
    assert page.evaluate("document.cookie").find("estate_session") == -1  # scripts cannot read it

    body = new_property(org)
    status = page.evaluate(
        """async ([body]) => {
            const me = await (await fetch('/me')).json();
            const post = (headers) => fetch('/properties', {method: 'POST', body: JSON.stringify(body),
                headers: {'Content-Type': 'application/json', ...headers}}).then(r => r.status);
            return {me, without: await post({}), with: await post({[me.csrf_header]: me.csrf_token})};
        }""",
        [body],
    )
    assert status["me"]["email"] == email and status["me"]["role"] == "editor"
    assert (status["without"], status["with"]) == (403, 201)

    page.goto(f"{live_server}/login")
    page.click("form[action='/logout'] button")
    page.wait_for_url(f"{live_server}/login")
    assert page.evaluate("fetch('/me').then(r => r.json()).then(m => m.signed_in)") is False
    context.close()
