"""People sign in: organisations join by command, users have roles, sessions behave as a browser needs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from support import auth_header, new_property, register_fingerprint


def _code() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def _login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/login", json={"email": email, "password": password})


# --- organisations and people by command ------------------------------------------------------------


def test_new_council_joins_by_command_and_its_person_signs_in_and_edits(
    cli: Callable[..., Any], app: Any, seeded: Engine
) -> None:
    code = _code()
    added = cli("orgs", "add", code, "--name", "Wychavon District Council", "--kind", "district")
    assert added.exit_code == 0, added.output
    assert code in cli("orgs", "list").output
    person = cli("users", "add", f"jo@{code}.gov.uk", "--org", code, "--role", "editor")
    assert person.exit_code == 0, person.output
    one_time = person.output.strip().splitlines()[-1]
    with TestClient(app) as browser:
        signed = _login(browser, f"jo@{code}.gov.uk", one_time).json()
        assert signed["must_change_password"] is True
        csrf = {"X-CSRF-Token": signed["csrf_token"]}
        blocked = browser.post("/properties", json=new_property(code), headers=csrf)
        assert blocked.status_code == 403 and "change your one-time password" in blocked.json()["detail"]
        new_password = f"a-long-new-password-{uuid.uuid4().hex[:6]}"
        changed = browser.post(
            "/me/password", json={"current_password": one_time, "new_password": new_password}, headers=csrf
        )
        assert changed.status_code == 204, changed.text
        created = browser.post("/properties", json=new_property(code), headers=csrf)
        assert created.status_code == 201, created.text
        history = browser.get(f"/properties/{created.json()['id']}/history").json()["changes"]
        assert history[0]["actor"] == f"jo@{code}.gov.uk"
        feed = browser.get(f"/changes?owner={code}").json()
        assert [c["actor"] for c in feed["changes"]] == [f"jo@{code}.gov.uk"]
    assert _login(TestClient(app), f"jo@{code}.gov.uk", one_time).status_code == 401


def test_orgs_commands_refuse_duplicates_and_bad_codes_clearly(cli: Callable[..., Any]) -> None:
    code = _code()
    assert (
        cli(
            "orgs", "add", code, "--name", "A Council", "--kind", "county", "--gss-code", "E10000099"
        ).exit_code
        == 0
    )
    duplicate = cli("orgs", "add", code, "--name", "Again", "--kind", "county")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    same_gss = cli("orgs", "add", _code(), "--name", "Other", "--kind", "county", "--gss-code", "E10000099")
    assert same_gss.exit_code == 1 and "already used" in same_gss.output
    bad = cli("orgs", "add", "Bad Code!", "--name", "X", "--kind", "parish", "--gss-code", "X123")
    assert bad.exit_code == 1 and all(f in bad.output for f in ("code", "kind", "gss_code"))
    updated = cli("orgs", "update", code, "--name", "Renamed Council")
    assert updated.exit_code == 0 and "Renamed Council" in updated.output


def test_users_commands_password_stdin_disable_and_reset(
    cli: Callable[..., Any], app: Any, make_org: Any
) -> None:
    org = make_org()
    email, password = f"sam@{org}.gov.uk", "correct horse battery staple"
    assert cli("users", "add", email, "--org", org, "--password-stdin", input=password + "\n").exit_code == 0
    with TestClient(app) as browser:
        assert _login(browser, email, password).json()["must_change_password"] is False
        assert browser.get("/me").json()["email"] == email
        listed = cli("users", "list", "--org", org)
        assert "sam@" in listed.output and password not in listed.output
        reset = cli("users", "reset-password", email)
        assert reset.exit_code == 0
        assert browser.get("/me").json()["signed_in"] is False  # a reset ends their sessions
        assert _login(browser, email, password).status_code == 401
        assert _login(browser, email, reset.output.strip().splitlines()[-1]).status_code == 200
    unknown_role = cli("users", "add", f"x@{org}.gov.uk", "--org", org, "--role", "superuser")
    assert unknown_role.exit_code == 1 and "role" in unknown_role.output


def test_admin_api_adds_organisations_and_answers_duplicates_as_problems(
    client: TestClient, make_org: Any, make_key: Any
) -> None:
    admin = auth_header(make_key(make_org(), "admin"))
    code = _code()
    body = {
        "code": code,
        "name": "Malvern Hills District Council",
        "kind": "district",
        "gss_code": f"N9{uuid.uuid4().int % 10**7:07d}",
    }
    assert client.post("/organisations", json=body, headers=admin).status_code == 201
    again = client.post("/organisations", json=body, headers=admin)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert again.json()["field"] == "code" and "already exists" in again.json()["detail"]
    bad = client.post("/organisations", json={**body, "code": _code(), "gss_code": "nope"}, headers=admin)
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["gss_code"]
    renamed = client.patch(f"/organisations/{code}", json={"name": "Malvern Hills DC"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Malvern Hills DC"


def test_org_admin_manages_its_own_body_only(
    client: TestClient, make_org: Any, make_person: Any, sign_in: Any
) -> None:
    org, other = make_org(), make_org()
    boss = sign_in(*make_person(org, "org-admin"))
    mine = client.post("/users", json={"email": f"new@{org}.gov.uk", "role": "editor"}, headers=boss)
    assert mine.status_code == 201 and mine.json()["org"] == org and mine.json()["one_time_password"]
    theirs = client.post("/users", json={"email": f"new@{other}.gov.uk", "org": other}, headers=boss)
    assert theirs.status_code == 403
    made_admin = client.post("/users", json={"email": f"boss2@{org}.gov.uk", "role": "admin"}, headers=boss)
    assert made_admin.status_code == 403
    stranger, _ = make_person(other, "editor")
    assert client.post(f"/users/{stranger}/disable", headers=boss).status_code == 403
    key = client.post("/keys", json={"role": "editor", "label": "Concerto nightly"}, headers=boss).json()
    assert key["org"] == org and key["key"].startswith("se_")
    assert [k["label"] for k in client.get("/keys", headers=boss).json()["items"]] == ["Concerto nightly"]
    record = client.post("/properties", json=new_property(org), headers=auth_header(key["key"]))
    history = client.get(f"/properties/{record.json()['id']}/history", headers=boss).json()["changes"]
    assert history[0]["actor"] == f"{org}/key:Concerto nightly"
    assert client.post(f"/keys/{key['prefix']}/revoke", headers=boss).status_code == 204
    assert client.get("/properties?limit=1", headers=auth_header(key["key"])).status_code == 401


# --- sign-in, cookies, sessions -----------------------------------------------------------------------


def test_session_cookie_flags_over_http_and_https(app: Any, make_org: Any, make_person: Any) -> None:
    email, password = make_person(make_org(), "viewer")
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(app, base_url=base) as browser:
            cookie = _login(browser, email, password).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert ("Secure" in cookie) is secure


def test_sign_in_me_and_sign_out(app: Any, make_org: Any, make_person: Any) -> None:
    org = make_org()
    email, password = make_person(org, "editor")
    with TestClient(app) as browser:
        assert browser.get("/me").json() == {
            "signed_in": False,
            "via": "anonymous",
            "csrf_header": "X-CSRF-Token",
        }
        _login(browser, email, password)
        me = browser.get("/me").json()
        assert (me["email"], me["org"], me["role"], me["can_edit"]) == (email, org, "editor", True)
        token = browser.cookies["estate_session"]
        assert browser.post("/logout").status_code == 403  # sign-out needs the CSRF token too
        assert browser.post("/logout", headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 204
        assert browser.get("/me").json()["signed_in"] is False
    with TestClient(app, cookies={"estate_session": token}) as replay:
        assert replay.get("/me").json()["signed_in"] is False


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, make_org: Any, make_person: Any
) -> None:
    email, _ = make_person(make_org(), "viewer")
    wrong = client.post("/login", json={"email": email, "password": "not-the-password"})
    nobody = client.post(
        "/login", json={"email": f"nobody-{uuid.uuid4().hex[:6]}@x.gov.uk", "password": "whatever"}
    )
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["detail"] == nobody.json()["detail"] == "email or password is wrong"


def test_nul_characters_are_refused_as_input_not_server_errors(
    client: TestClient, make_org: Any, make_key: Any
) -> None:
    admin = auth_header(make_key(make_org(), "admin"))
    assert client.post("/login", json={"email": "a\u0000@x.gov.uk", "password": "pw"}).status_code == 422
    bad_user = client.post("/users", json={"email": "a\u0000b@x.gov.uk", "org": make_org()}, headers=admin)
    assert bad_user.status_code == 422 and bad_user.json()["errors"][0]["field"] == "email"
    assert client.post("/keys", json={"label": "a\u0000"}, headers=admin).status_code == 422
    in_path = client.post("/users/a%00b@x.gov.uk/disable", headers=admin)
    assert in_path.status_code == 422 and in_path.json()["errors"][0]["field"] == "email"


def test_lockout_after_repeated_failures_and_its_expiry(
    client: TestClient, owner_engine: Engine, make_org: Any, make_person: Any
) -> None:
    email, password = make_person(make_org(), "viewer")
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@x.gov.uk"
    for who in (email, nobody):
        codes = [
            client.post("/login", json={"email": who, "password": "wrong-guess"}).status_code
            for _ in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429]
    locked = client.post("/login", json={"email": email, "password": password})
    locked_nobody = client.post("/login", json={"email": nobody, "password": password})
    assert locked.status_code == locked_nobody.status_code == 429  # the right password waits too
    assert locked.json()["detail"] == locked_nobody.json()["detail"]  # and says nothing of who exists
    assert int(locked.headers["Retry-After"]) > 0
    with owner_engine.begin() as conn:  # the lockout's time passes
        conn.execute(
            text("UPDATE login_throttle SET locked_until = now() - interval '1 second' WHERE subject = :s"),
            {"s": f"email:{email}"},
        )
    assert client.post("/login", json={"email": email, "password": password}).status_code == 200


def test_the_client_cannot_fix_a_session(
    app: Any, owner_engine: Engine, make_org: Any, make_person: Any
) -> None:
    email, password = make_person(make_org(), "editor")
    chosen = "attacker-chosen-session-id"
    with TestClient(app, cookies={"estate_session": chosen}) as browser:
        assert browser.get("/me").json()["signed_in"] is False
        first = _login(browser, email, password).cookies["estate_session"]
        assert first != chosen
    with TestClient(app, cookies={"estate_session": first}) as browser:
        assert browser.get("/me").json()["email"] == email
        second = _login(browser, email, password).cookies["estate_session"]  # signing in again rotates
    assert second != first
    with TestClient(app, cookies={"estate_session": first}) as old:
        assert old.get("/me").json()["signed_in"] is False
    with owner_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM user_session WHERE token_sha256 IN (:a, :b)"),
            {"a": first, "b": chosen},
        )
        assert stored.scalar_one() == 0  # only hashes are stored, and nothing for the chosen id


def test_expired_session_stops_working(
    app: Any, owner_engine: Engine, make_org: Any, make_person: Any
) -> None:
    email, password = make_person(make_org(), "editor")
    with TestClient(app) as browser:
        _login(browser, email, password)
        with owner_engine.begin() as conn:
            conn.execute(
                text("""UPDATE user_session SET expires_at = now() - interval '1 second'
                        WHERE user_id = (SELECT id FROM app_user WHERE email = :e)"""),
                {"e": email},
            )
        assert browser.get("/me").json()["signed_in"] is False


def test_a_disabled_users_session_stops_at_once(
    client: TestClient, seeded: Engine, make_org: Any, make_person: Any, sign_in: Any, make_key: Any
) -> None:
    org = make_org()
    email, password = make_person(org, "editor")
    person = sign_in(email, password)
    assert client.post("/properties", json=new_property(org), headers=person).status_code == 201
    boss = sign_in(*make_person(org, "org-admin"))
    assert client.post(f"/users/{email}/disable", headers=boss).status_code == 200
    before = register_fingerprint(seeded)
    assert client.post("/properties", json=new_property(org), headers=person).status_code == 401
    assert client.get("/me", headers=person).json()["signed_in"] is False
    assert register_fingerprint(seeded) == before
    assert client.post("/login", json={"email": email, "password": password}).status_code == 401


# --- CSRF and cross-body writes -------------------------------------------------------------------------

_SKIP_CSRF = {"/login"}  # signs in; not cookie-authenticated (login CSRF is the form's double-submit cookie)


def _write_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method.upper() in ("POST", "PUT", "PATCH", "DELETE") and path not in _SKIP_CSRF:
                out.append((method.upper(), path))
    return out


def test_csrf_is_refused_on_every_write_route(
    app: Any, client: TestClient, seeded: Engine, make_org: Any, make_person: Any, sign_in: Any
) -> None:
    org = make_org()
    admin = sign_in(*make_person(org, "admin"))
    cookie_only = {"Cookie": admin["Cookie"]}
    routes = _write_routes(app)
    assert len(routes) >= 15  # properties, sync, imports, receipts, organisations, users, keys, logout ...
    record = client.post("/properties", json=new_property(org), headers=admin).json()
    values = {"property_id": record["id"], "code": org, "email": "x@example.gov.uk", "prefix": "abcd1234"}
    before = register_fingerprint(seeded)
    refused = {}
    for method, path in routes:
        url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)
        for headers in (cookie_only, {**cookie_only, "X-CSRF-Token": "forged"}):
            response = client.request(method, url, json={}, headers={**headers, "If-Match": '"1"'})
            refused[(method, path, "X-CSRF-Token" in headers)] = response.status_code
            assert response.status_code == 403, (method, path, response.text)
            assert "csrf" in response.json()["type"], (method, path)
    assert register_fingerprint(seeded) == before
    assert client.get("/me", headers=admin).json()["signed_in"] is True  # logout without CSRF did nothing


def test_an_editor_cannot_write_another_bodys_records_by_any_route(
    client: TestClient, seeded: Engine, make_org: Any, make_person: Any, sign_in: Any, make_key: Any
) -> None:
    mine, theirs = make_org(), make_org()
    editor = sign_in(*make_person(mine, "editor"))
    their_record = client.post(
        "/properties", json=new_property(theirs), headers=auth_header(make_key(theirs, "editor"))
    ).json()
    csv = "Organisation,Asset Ref,Property Name,Post Town,Postcode,Latitude,Longitude\nX,A-1,Hall,Worcester,WR1 2AB,52.19,-2.22\n"
    before = register_fingerprint(seeded)
    attempts = {
        "create": client.post("/properties", json=new_property(theirs), headers=editor),
        "update": client.patch(
            f"/properties/{their_record['id']}",
            json={"name": "mine now"},
            headers={**editor, "If-Match": '"1"'},
        ),
        "delete": client.delete(f"/properties/{their_record['id']}", headers={**editor, "If-Match": '"1"'}),
        "sync": client.post("/sync/properties", json={"records": [new_property(theirs)]}, headers=editor),
        "sync-owner": client.post(
            f"/sync/properties?mode=full&owner={theirs}", json={"records": []}, headers=editor
        ),
        "import": client.post(
            f"/imports/transparency?owner={theirs}",
            content=csv,
            headers={**editor, "Content-Type": "text/csv"},
        ),
    }
    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 403)
    assert register_fingerprint(seeded) == before


def test_login_page_form_signs_in_and_out(app: Any, make_org: Any, make_person: Any) -> None:
    email, password = make_person(make_org(), "viewer")
    with TestClient(app) as browser:
        page = browser.get("/login")
        assert page.status_code == 200 and 'name="password"' in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        forged = browser.post("/login", data={"email": email, "password": password, "csrf_token": "x"})
        assert forged.status_code == 403
        wrong = browser.post(
            "/login", data={"email": email, "password": "nope", "csrf_token": csrf}, follow_redirects=False
        )
        assert wrong.status_code == 303 and "error=" in wrong.headers["location"]
        done = browser.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf, "next": "/map"},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/map"
        signed = browser.get("/login")
        assert email in signed.text
        session_csrf = re.search(r'name="csrf_token" value="([^"]+)"', signed.text).group(1)
        out = browser.post(
            "/logout",
            data={"csrf_token": session_csrf},
            headers={"Accept": "text/html"},
            follow_redirects=False,
        )
        assert out.status_code == 303
        assert browser.get("/me").json()["signed_in"] is False


def test_one_address_guessing_many_accounts_is_throttled(
    settings: Any, seeded: Engine, make_org: Any, make_person: Any
) -> None:
    from api.main import create_app

    email, password = make_person(make_org(), "viewer")
    tight = create_app(settings.model_copy(update={"login_ip_max_failures": 3}), seeded)
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    with TestClient(tight, client=(address, 50000)) as guesser:
        codes = [
            guesser.post(
                "/login", json={"email": f"guess-{i}-{uuid.uuid4().hex[:6]}@x.gov.uk", "password": "pw"}
            ).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 429, 429]
        assert guesser.post("/login", json={"email": email, "password": password}).status_code == 429
    with TestClient(tight, client=(f"198.51.100.{uuid.uuid4().int % 250 + 1}", 50000)) as elsewhere:
        assert elsewhere.post("/login", json={"email": email, "password": password}).status_code == 200
