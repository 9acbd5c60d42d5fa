"""Organisations, people, passwords and sessions: the service layer behind the CLI and the API.

Passwords are Argon2id hashes (argon2-cffi's RFC 9106 defaults). Sessions are
rows keyed by the SHA-256 of a random cookie token, so the table alone signs
nobody in, and each request re-reads the row joined to its user: disabling a
person ends their sessions at the next request. Failed sign-ins are counted
per email and per client address whether or not the account exists, so
neither the messages nor the lockout tell who has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, text

from api.auth import Principal, role_or_problem, viewer_for
from api.settings import Settings, get_settings
from gis.access import (
    DOMAIN_RE,
    EMAIL_RE,
    GSS_CODE_RE,
    ORG_CODE_RE,
    Role,
    normalise_email,
    password_problem,
)
from gis.errors import (
    Conflict,
    FieldError,
    NotFound,
    OrganisationNotFound,
    SignInLocked,
    SignInRefused,
    SsoRefused,
    ValidationFailed,
)
from gis.vocab import OrganisationKind, values

WRONG_CREDENTIALS = "email or password is wrong"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost, memory_cost=settings.password_hash_memory_kib
    )


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when no account matches, so both cases take as long."""
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- organisations -------------------------------------------------------------------------------


def _org_problems(
    code: str | None, name: str | None, kind: str | None, gss_code: str | None, creating: bool
) -> list[FieldError]:
    problems = []
    if creating and (code is None or not ORG_CODE_RE.match(code)):
        problems.append(
            FieldError("code", "2-63 lower-case letters, digits or hyphens, starting alphanumeric")
        )
    if (creating or name is not None) and not (name and 1 <= len(name.strip()) <= 200):
        problems.append(FieldError("name", "1 to 200 characters"))
    kinds = values(OrganisationKind)
    if (creating or kind is not None) and kind not in kinds:
        problems.append(FieldError("kind", f"one of {', '.join(kinds)}"))
    if gss_code and not GSS_CODE_RE.match(gss_code):
        problems.append(FieldError("gss_code", "an ONS GSS code: E, W, S or N and 8 digits (e.g. E10000034)"))
    return problems


def _gss_taken(conn: Connection, gss_code: str | None, code: str) -> None:
    if not gss_code:
        return
    other = conn.execute(
        text("SELECT code FROM organisation WHERE gss_code = :g AND code <> :c"), {"g": gss_code, "c": code}
    ).scalar()
    if other is not None:
        raise Conflict(f"GSS code {gss_code} is already used by {other}", field="gss_code")


def add_organisation(
    conn: Connection, code: str, name: str, kind: str, gss_code: str | None = None
) -> dict[str, Any]:
    """Add a body to the register; ValidationFailed for bad fields, Conflict if it exists."""
    code = code.strip().lower() if code else code
    gss_code = gss_code.strip().upper() if gss_code else None
    problems = _org_problems(code, name, kind, gss_code, creating=True)
    if problems:
        raise ValidationFailed(problems)
    if conn.execute(text("SELECT 1 FROM organisation WHERE code = :c"), {"c": code}).first():
        raise Conflict(f"an organisation with code {code!r} already exists", field="code")
    _gss_taken(conn, gss_code, code)
    row = (
        conn.execute(
            text(
                "INSERT INTO organisation (code, name, kind, gss_code) VALUES (:c, :n, :k, :g)"
                " RETURNING code, name, kind, gss_code, created_at"
            ),
            {"c": code, "n": name.strip(), "k": kind, "g": gss_code},
        )
        .mappings()
        .one()
    )
    return dict(row)


def update_organisation(
    conn: Connection,
    code: str,
    *,
    name: str | None = None,
    kind: str | None = None,
    gss_code: str | None = None,
    clear_gss_code: bool = False,
) -> dict[str, Any]:
    gss_code = gss_code.strip().upper() if gss_code else None
    problems = _org_problems(code, name, kind, gss_code, creating=False)
    if problems:
        raise ValidationFailed(problems)
    if not conn.execute(text("SELECT 1 FROM organisation WHERE code = :c"), {"c": code}).first():
        raise OrganisationNotFound(f"no organisation with code {code!r}")
    _gss_taken(conn, gss_code, code)
    row = (
        conn.execute(
            text("""UPDATE organisation SET name = coalesce(:n, name), kind = coalesce(:k, kind),
                        gss_code = CASE WHEN :clear THEN NULL ELSE coalesce(:g, gss_code) END
                    WHERE code = :c RETURNING code, name, kind, gss_code, created_at"""),
            {
                "c": code,
                "n": name.strip() if name else None,
                "k": kind,
                "g": gss_code,
                "clear": clear_gss_code,
            },
        )
        .mappings()
        .one()
    )
    return dict(row)


def list_organisations(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT code, name, kind, gss_code, created_at FROM organisation ORDER BY code"))
    return [dict(r) for r in rows.mappings()]


def require_organisation(conn: Connection, code: str, field: str = "org") -> None:
    if not conn.execute(text("SELECT 1 FROM organisation WHERE code = :c"), {"c": code}).first():
        raise ValidationFailed([FieldError(field, f"unknown organisation {code!r}")])


# --- people ----------------------------------------------------------------------------------------

_USER_COLUMNS = """id::text AS id, email, org, role, must_change_password, created_at, created_by,
    last_sign_in_at, disabled_at, password_hash IS NOT NULL AS has_password"""


def _email_or_problem(email: str) -> str:
    email = normalise_email(email or "").replace("\x00", " ")  # NUL fails the pattern, not the database
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise ValidationFailed([FieldError("email", "an email address (name@domain)")])
    return email


def _password_or_problem(password: str, email: str, field: str = "password") -> str:
    problem = password_problem(password, email)
    if problem:
        raise ValidationFailed([FieldError(field, problem)])
    return password


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def add_user(
    conn: Connection, email: str, org: str, role: str, actor: str, password: str | None = None
) -> dict[str, Any]:
    """Add a person; without ``password`` they get a one-time one (returned once) to change at sign-in."""
    email = _email_or_problem(email)
    parsed = role_or_problem(role)
    require_organisation(conn, org)
    one_time = password is None
    plain = one_time_password() if one_time else _password_or_problem(password or "", email)
    if conn.execute(text("SELECT 1 FROM app_user WHERE email = :e"), {"e": email}).first():
        raise Conflict(f"a user with email {email} already exists", field="email")
    row = (
        conn.execute(
            text(f"""INSERT INTO app_user (email, org, role, password_hash, must_change_password, created_by,
                                          password_changed_at)
                    VALUES (:e, :o, :r, :h, :m, :a, CASE WHEN :m THEN NULL ELSE now() END)
                    RETURNING {_USER_COLUMNS}"""),
            {"e": email, "o": org, "r": str(parsed), "h": hash_password(plain), "m": one_time, "a": actor},
        )
        .mappings()
        .one()
    )
    out = dict(row)
    if one_time:
        out["one_time_password"] = plain
    return out


def list_users(conn: Connection, org: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            f"SELECT {_USER_COLUMNS} FROM app_user WHERE CAST(:o AS text) IS NULL OR org = :o ORDER BY org, email"
        ),
        {"o": org},
    )
    return [dict(r) for r in rows.mappings()]


def get_user(conn: Connection, email: str) -> dict[str, Any]:
    if "\x00" in email:
        raise NotFound("no user with that email")
    row = (
        conn.execute(
            text(f"SELECT {_USER_COLUMNS} FROM app_user WHERE email = :e"), {"e": normalise_email(email)}
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no user with email {normalise_email(email)}")
    return dict(row)


def _end_sessions(conn: Connection, user_id: str) -> None:
    conn.execute(
        text("UPDATE user_session SET revoked_at = now() WHERE user_id = :u AND revoked_at IS NULL"),
        {"u": user_id},
    )


def disable_user(conn: Connection, email: str, actor: str) -> dict[str, Any]:
    """Disable a person and end every session they have, at once."""
    user = get_user(conn, email)
    conn.execute(
        text(
            "UPDATE app_user SET disabled_at = coalesce(disabled_at, now()), disabled_by = :a WHERE id = :u"
        ),
        {"u": user["id"], "a": actor},
    )
    _end_sessions(conn, user["id"])
    return get_user(conn, email)


def enable_user(conn: Connection, email: str) -> dict[str, Any]:
    user = get_user(conn, email)
    conn.execute(
        text("UPDATE app_user SET disabled_at = NULL, disabled_by = NULL WHERE id = :u"), {"u": user["id"]}
    )
    return get_user(conn, email)


def reset_password(conn: Connection, email: str, password: str | None = None) -> dict[str, Any]:
    """Give a person a new password (one-time unless given) and end their sessions."""
    user = get_user(conn, email)
    one_time = password is None
    plain = one_time_password() if one_time else _password_or_problem(password or "", user["email"])
    conn.execute(
        text("""UPDATE app_user SET password_hash = :h, must_change_password = :m,
                    password_changed_at = CASE WHEN :m THEN NULL ELSE now() END WHERE id = :u"""),
        {"u": user["id"], "h": hash_password(plain), "m": one_time},
    )
    _end_sessions(conn, user["id"])
    out = get_user(conn, email)
    if one_time:
        out["one_time_password"] = plain
    return out


def change_password(conn: Connection, user_id: str, current: str, new: str, keep_token_sha256: str) -> None:
    """Change one's own password (checking the current one); other sessions of the person end."""
    row = conn.execute(
        text("SELECT email, password_hash FROM app_user WHERE id = :u AND disabled_at IS NULL"),
        {"u": user_id},
    ).first()
    if row is None or row.password_hash is None or not _verify(row.password_hash, current):
        raise ValidationFailed([FieldError("current_password", "is not your current password")])
    _password_or_problem(new, row.email, field="new_password")
    if new == current:
        raise ValidationFailed([FieldError("new_password", "must differ from the current password")])
    conn.execute(
        text("""UPDATE app_user SET password_hash = :h, must_change_password = false,
                    password_changed_at = now() WHERE id = :u"""),
        {"u": user_id, "h": hash_password(new)},
    )
    conn.execute(
        text("""UPDATE user_session SET revoked_at = now()
                WHERE user_id = :u AND revoked_at IS NULL AND token_sha256 <> :keep"""),
        {"u": user_id, "keep": keep_token_sha256},
    )


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- sign-in and sessions -----------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str  # goes in the cookie, never stored
    csrf_token: str
    user: dict[str, Any]
    max_age_s: int


def _throttle_subjects(email: str, client_ip: str | None) -> list[str]:
    subjects = [f"email:{email}"]
    if client_ip:
        subjects.append(f"ip:{client_ip}")
    return subjects


def _lock_remaining_s(conn: Connection, subjects: list[str]) -> int | None:
    remaining = conn.execute(
        text("""SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int FROM login_throttle
                WHERE subject = ANY(:s) AND locked_until > now()"""),
        {"s": subjects},
    ).scalar()
    return remaining


def _record_failure(conn: Connection, subject: str, max_failures: int, settings: Settings) -> None:
    reset = (
        "(login_throttle.window_started_at < now() - make_interval(mins => :window)"
        " OR login_throttle.locked_until <= now())"
    )
    conn.execute(
        text(f"""INSERT INTO login_throttle (subject, failures, window_started_at) VALUES (:s, 1, now())
                ON CONFLICT (subject) DO UPDATE SET
                  failures = CASE WHEN {reset} THEN 1 ELSE login_throttle.failures + 1 END,
                  window_started_at = CASE WHEN {reset} THEN now() ELSE login_throttle.window_started_at END,
                  locked_until = CASE WHEN {reset} THEN NULL ELSE login_throttle.locked_until END"""),
        {"s": subject, "window": settings.login_window_minutes},
    )
    conn.execute(
        text("""UPDATE login_throttle SET locked_until = now() + make_interval(mins => :lock)
                WHERE subject = :s AND failures >= :max AND locked_until IS NULL"""),
        {"s": subject, "max": max_failures, "lock": settings.login_lockout_minutes},
    )


def _locked_error(remaining_s: int) -> SignInLocked:
    minutes = max(1, (remaining_s + 59) // 60)
    return SignInLocked(
        f"too many failed sign-ins for this account or from this address; try again in {minutes} minute(s)",
        retry_after=remaining_s,
    )


def check_password(
    engine: Engine, settings: Settings, email: str, password: str, client_ip: str | None
) -> str:
    """Return the id of the person these credentials sign in, or raise SignInRefused / SignInLocked."""
    email = normalise_email(email or "")
    subjects = _throttle_subjects(email, client_ip)
    with engine.begin() as conn:
        remaining = _lock_remaining_s(conn, subjects)
        if remaining:
            raise _locked_error(remaining)
        row = conn.execute(
            text("SELECT id::text AS id, password_hash, disabled_at FROM app_user WHERE email = :e"),
            {"e": email},
        ).first()
    ok = _verify(row.password_hash if row and row.password_hash else _dummy_hash(), password or "")
    if ok and row is not None and row.password_hash and row.disabled_at is None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM login_throttle WHERE subject = :s"), {"s": subjects[0]})
            if _hasher().check_needs_rehash(row.password_hash):  # the cost settings were raised
                conn.execute(
                    text("UPDATE app_user SET password_hash = :h WHERE id = :u"),
                    {"h": hash_password(password), "u": row.id},
                )
        return str(row.id)
    with engine.begin() as conn:
        _record_failure(conn, subjects[0], settings.login_max_failures, settings)
        if len(subjects) > 1:
            _record_failure(conn, subjects[1], settings.login_ip_max_failures, settings)
        remaining = _lock_remaining_s(conn, subjects)
    if remaining:
        raise _locked_error(remaining)
    raise SignInRefused(WRONG_CREDENTIALS)


def start_session(
    conn: Connection, user_id: str, method: str, settings: Settings, replacing_token: str | None = None
) -> NewSession:
    """Open a new session (a fresh token: rotation at sign-in), ending the one the browser had."""
    if replacing_token:
        conn.execute(
            text("UPDATE user_session SET revoked_at = now() WHERE token_sha256 = :h AND revoked_at IS NULL"),
            {"h": token_sha256(replacing_token)},
        )
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    max_age_s = settings.session_max_hours * 3600
    conn.execute(
        text("""INSERT INTO user_session (token_sha256, user_id, csrf_token, method, expires_at)
                VALUES (:h, :u, :c, :m, now() + make_interval(secs => :age))"""),
        {"h": token_sha256(token), "u": user_id, "c": csrf, "m": method, "age": max_age_s},
    )
    conn.execute(text("UPDATE app_user SET last_sign_in_at = now() WHERE id = :u"), {"u": user_id})
    user = (
        conn.execute(text(f"SELECT {_USER_COLUMNS} FROM app_user WHERE id = :u"), {"u": user_id})
        .mappings()
        .one()
    )
    return NewSession(token, csrf, dict(user), max_age_s)


def end_session(conn: Connection, token: str) -> None:
    conn.execute(
        text("UPDATE user_session SET revoked_at = now() WHERE token_sha256 = :h AND revoked_at IS NULL"),
        {"h": token_sha256(token)},
    )


def principal_for_session(engine: Engine, settings: Settings, token: str) -> Principal | None:
    """The person a session cookie stands for, or None if it is unknown, ended, expired or disabled."""
    digest = token_sha256(token)
    with engine.connect() as conn:
        row = conn.execute(
            text("""SELECT u.id::text AS user_id, u.email, u.org, u.role, u.must_change_password, s.csrf_token,
                           s.last_seen_at < now() - interval '1 minute' AS stale
                    FROM user_session s JOIN app_user u ON u.id = s.user_id
                    WHERE s.token_sha256 = :h AND s.revoked_at IS NULL AND s.expires_at > now()
                      AND s.last_seen_at > now() - make_interval(mins => :idle)
                      AND u.disabled_at IS NULL"""),
            {"h": digest, "idle": settings.session_idle_minutes},
        ).first()
        if row is None:
            return None
        if row.stale:  # at most one write a minute per session, not one per request
            conn.execute(
                text("UPDATE user_session SET last_seen_at = now() WHERE token_sha256 = :h"), {"h": digest}
            )
            conn.commit()
    role = Role(row.role)
    return Principal(
        viewer_for(row.org, role),
        str(role),
        row.email,
        user_id=row.user_id,
        email=row.email,
        csrf_token=row.csrf_token,
        must_change_password=row.must_change_password,
    )


def domain_problem(domain: str) -> str | None:
    return None if DOMAIN_RE.match(domain) else "a domain name such as worcester.gov.uk"


def user_for_sso(conn: Connection, org: str, email: str, default_role: str) -> str:
    """The id of the person single sign-on vouched for, created on first sign-in with the body's default role."""
    row = conn.execute(
        text("SELECT id::text AS id, org, disabled_at FROM app_user WHERE email = :e"), {"e": email}
    ).first()
    if row is None:
        return str(
            conn.execute(
                text("""INSERT INTO app_user (email, org, role, created_by) VALUES (:e, :o, :r, :a)
                        RETURNING id::text"""),
                {"e": email, "o": org, "r": default_role, "a": f"sso:{org}"},
            ).scalar_one()
        )
    if row.disabled_at is not None:
        raise SsoRefused(f"the account {email} is disabled: ask your organisation's admin")
    if row.org != org:
        raise SsoRefused(f"the account {email} belongs to {row.org}, not {org}")
    return str(row.id)
