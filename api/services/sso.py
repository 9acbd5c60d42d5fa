"""Single sign-on with each body's own OpenID Connect provider (Authorization Code + PKCE, authlib).

The provider is found by discovery from the issuer an admin configured;
authlib runs the OAuth 2 exchange and joserfc (authlib's JOSE library, whose
``authlib.jose`` is now a deprecated shim over it) checks the ID token's signature (against the provider's published keys), ``iss``,
``aud``, ``nonce`` and expiry are all checked before anyone is signed in.
State, nonce and the PKCE verifier stay on the server (``sso_login``), are
used once, and are bound to the browser that started the sign-in by a cookie.
Which body a person belongs to comes from their email domain, which only one
body may claim.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    DecodeError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from sqlalchemy import Connection, Engine, text

from api.auth import role_or_problem
from api.services.people import domain_problem, require_organisation
from gis.access import SSO_DEFAULT_ROLES, normalise_email
from gis.errors import Conflict, FieldError, NotFound, SsoRefused, ValidationFailed

SSO_COOKIE = "estate_sso"
LOGIN_TTL_S = 600  # a sign-in must come back from the provider within ten minutes
CLOCK_LEEWAY_S = 60
METADATA_TTL_S = 300
HTTP_TIMEOUT_S = 10.0
SCOPE = "openid email profile"


# --- configuration ---------------------------------------------------------------------------------


def configure(
    conn: Connection,
    org: str,
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    domains: list[str],
    default_role: str,
    actor: str,
    enabled: bool = True,
) -> dict[str, Any]:
    """Set (or replace) a body's provider and the email domains it claims."""
    require_organisation(conn, org)
    problems = []
    issuer = (issuer or "").strip().rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problems.append(FieldError("issuer", "the provider's issuer URL (https://...)"))
    elif parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        problems.append(FieldError("issuer", "must be https (plain http only on loopback, for testing)"))
    if not client_id or len(client_id) > 500:
        problems.append(FieldError("client_id", "1 to 500 characters"))
    if not client_secret or len(client_secret) > 2000:
        problems.append(FieldError("client_secret", "1 to 2000 characters"))
    clean = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    if not clean:
        problems.append(FieldError("domains", "at least one email domain the body's people use"))
    for domain in clean:
        if problem := domain_problem(domain):
            problems.append(FieldError("domains", f"{domain!r}: {problem}"))
    try:
        role = role_or_problem(default_role, "default_role")
        if role not in SSO_DEFAULT_ROLES:
            problems.append(FieldError("default_role", f"one of {', '.join(SSO_DEFAULT_ROLES)}"))
    except ValidationFailed as exc:
        problems.extend(exc.errors)
    if problems:
        raise ValidationFailed(problems)
    taken = conn.execute(
        text(
            "SELECT domain, org FROM organisation_email_domain WHERE domain = ANY(:d) AND org <> :o ORDER BY domain"
        ),
        {"d": clean, "o": org},
    ).first()
    if taken is not None:
        raise Conflict(f"email domain {taken.domain} is already claimed by {taken.org}", field="domains")
    conn.execute(
        text("""INSERT INTO organisation_sso (org, issuer, client_id, client_secret, default_role, enabled, updated_by)
                VALUES (:o, :i, :c, :s, :r, :e, :a)
                ON CONFLICT (org) DO UPDATE SET issuer = :i, client_id = :c, client_secret = :s,
                    default_role = :r, enabled = :e, updated_at = now(), updated_by = :a"""),
        {"o": org, "i": issuer, "c": client_id, "s": client_secret, "r": str(role), "e": enabled, "a": actor},
    )
    conn.execute(text("DELETE FROM organisation_email_domain WHERE org = :o"), {"o": org})
    conn.execute(
        text("INSERT INTO organisation_email_domain (domain, org) SELECT unnest(CAST(:d AS text[])), :o"),
        {"d": clean, "o": org},
    )
    return describe(conn, org)


def describe(conn: Connection, org: str) -> dict[str, Any]:
    """A body's sign-on settings, without the client secret (which is never shown again)."""
    row = (
        conn.execute(
            text("""SELECT org, issuer, client_id, default_role, enabled, updated_at,
                           ARRAY(SELECT domain FROM organisation_email_domain d WHERE d.org = s.org ORDER BY domain)
                             AS domains
                    FROM organisation_sso s WHERE org = :o"""),
            {"o": org},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"{org} has no single sign-on configured")
    return dict(row)


# --- the provider's metadata and keys --------------------------------------------------------------

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx2.get(url, timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        response.raise_for_status()
        body = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise SsoRefused(
            f"the organisation's identity provider could not be reached ({url}): {exc}"
        ) from None
    if not isinstance(body, dict):
        raise SsoRefused(f"the identity provider answered {url} with something other than a JSON object")
    return body


def _cached(url: str, refresh: bool = False) -> dict[str, Any]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(url)
    if hit and not refresh and now - hit[0] < METADATA_TTL_S:
        return hit[1]
    body = _get_json(url)
    with _cache_lock:
        _cache[url] = (now, body)
    return body


def discover(issuer: str) -> dict[str, Any]:
    """The provider's metadata, checked to be for the configured issuer."""
    metadata = _cached(f"{issuer}/.well-known/openid-configuration")
    if metadata.get("issuer", "").rstrip("/") != issuer:
        raise SsoRefused(
            f"the provider at {issuer} describes itself as issuer {metadata.get('issuer')!r}: refused"
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(name), str):
            raise SsoRefused(f"the provider's discovery document has no {name}")
    return metadata


# --- the sign-in itself ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    authorize_url: str
    browser_token: str  # goes in the SSO cookie; only its hash is stored


@dataclass(frozen=True)
class Identity:
    org: str
    email: str
    default_role: str


def _config(conn: Connection, org: str) -> Any:
    row = conn.execute(
        text(
            "SELECT org, issuer, client_id, client_secret, default_role FROM organisation_sso WHERE org = :o AND enabled"
        ),
        {"o": org},
    ).first()
    if row is None:
        raise NotFound(f"{org} does not sign in with single sign-on; use your email and password")
    return row


def org_for_email(conn: Connection, email: str) -> str:
    domain = normalise_email(email).rpartition("@")[2].replace("\x00", "")
    org = conn.execute(
        text("SELECT org FROM organisation_email_domain WHERE domain = :d"), {"d": domain}
    ).scalar()
    if org is None:
        raise NotFound(f"no body in the register signs in people from {domain or 'that address'}")
    return str(org)


def _safe_next(next_path: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if next_path and next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return "/map"


def start(engine: Engine, org: str, redirect_uri: str, next_path: str | None = None) -> Started:
    """Begin a sign-in with ``org``'s provider: return where to send the browser."""
    with engine.connect() as conn:
        config = _config(conn, org)
    metadata = discover(config.issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, browser = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
    client = OAuth2Client(
        client_id=config.client_id, redirect_uri=redirect_uri, scope=SCOPE, code_challenge_method="S256"
    )
    url, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
    )
    assert create_s256_code_challenge(verifier) in url  # PKCE really is on the request
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sso_login WHERE expires_at < now()"))
        conn.execute(
            text("""INSERT INTO sso_login (state, org, nonce, code_verifier, browser_sha256, redirect_uri,
                                           next_path, expires_at)
                    VALUES (:s, :o, :n, :v, :b, :r, :p, now() + make_interval(secs => :ttl))"""),
            {
                "s": state,
                "o": org,
                "n": nonce,
                "v": verifier,
                "b": hashlib.sha256(browser.encode()).hexdigest(),
                "r": redirect_uri,
                "p": _safe_next(next_path),
                "ttl": LOGIN_TTL_S,
            },
        )
    return Started(url, browser)


def _claims_error(exc: JoseError, issuer: str) -> str:
    if isinstance(exc, BadSignatureError | DecodeError):
        return (
            "the provider's ID token failed its signature check (altered or not from this provider): refused"
        )
    if isinstance(exc, ExpiredTokenError):
        return "the provider's ID token has expired: sign in again"
    if isinstance(exc, ClaimError):
        words = {
            "aud": "was issued for another application (wrong audience)",
            "iss": f"was not issued by {issuer} (wrong issuer)",
            "nonce": "does not answer this sign-in (nonce mismatch: a replayed token)",
            "azp": "was issued for another application (wrong authorised party)",
        }
        return f"the provider's ID token {words.get(exc.claim, f'has a bad {exc.claim!r} claim')}: refused"
    return f"the provider's ID token was refused: {exc}"


def finish(
    engine: Engine, state: str | None, code: str | None, error: str | None, browser_token: str | None
) -> tuple[Identity, str]:
    """Complete a sign-in: exchange the code, check the ID token; return who it is and where to go."""
    if not state:
        raise SsoRefused("the provider's answer has no state: start the sign-in again")
    with engine.begin() as conn:
        pending = conn.execute(
            text("DELETE FROM sso_login WHERE state = :s RETURNING *, expires_at < now() AS expired"),
            {"s": state},
        ).first()
        config = _config(conn, pending.org) if pending is not None else None
    if pending is None or config is None:
        raise SsoRefused("this sign-in is unknown or was already used: start it again")
    if pending.expired:
        raise SsoRefused("this sign-in took too long: start it again")
    browser_hash = hashlib.sha256((browser_token or "").encode()).hexdigest()
    if not secrets.compare_digest(browser_hash, pending.browser_sha256):
        raise SsoRefused("this sign-in was started in another browser: start it again here")
    if error:
        raise SsoRefused(f"the identity provider refused the sign-in: {error}")
    if not code:
        raise SsoRefused("the provider's answer has no authorisation code")
    metadata = discover(config.issuer)
    client = OAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=pending.redirect_uri,
        scope=SCOPE,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT_S,
    )
    try:
        token = client.fetch_token(
            metadata["token_endpoint"],
            code=code,
            code_verifier=pending.code_verifier,
            grant_type="authorization_code",
        )
    except Exception as exc:  # authlib raises OAuthError, httpx2 its own: either way, no sign-in
        raise SsoRefused(f"the identity provider would not exchange the code: {exc}") from None
    finally:
        client.close()
    id_token = token.get("id_token")
    if not id_token:
        raise SsoRefused("the identity provider returned no ID token")
    claims = _verified_claims(id_token, metadata, config, pending.nonce)
    email = normalise_email(str(claims.get("email") or ""))
    if "@" not in email:
        raise SsoRefused("the provider's ID token carries no email address")
    with engine.connect() as conn:
        domain = email.rpartition("@")[2]
        owner = conn.execute(
            text("SELECT org FROM organisation_email_domain WHERE domain = :d"), {"d": domain}
        ).scalar()
    if owner is None:
        raise SsoRefused(f"no body in the register claims the email domain {domain}: ask your register admin")
    if owner != config.org:
        raise SsoRefused(f"{domain} belongs to {owner}, not {config.org}: sign in through {owner}'s provider")
    return Identity(config.org, email, config.default_role), pending.next_path


# Asymmetric algorithms only: "none" and HMAC (keyed by the client secret) are never accepted.
ID_TOKEN_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def _verified_claims(id_token: str, metadata: dict[str, Any], config: Any, nonce: str) -> dict[str, Any]:
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_S,
        iss={"essential": True, "value": config.issuer},
        aud={"essential": True, "value": config.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
        azp={"essential": False, "value": config.client_id},
    )
    for refresh in (False, True):  # a key we do not know yet may be a rotation: fetch the keys once more
        keys = KeySet.import_key_set(_cached(metadata["jwks_uri"], refresh=refresh))  # type: ignore[arg-type]
        try:
            token = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
            registry.validate(token.claims)
            return dict(token.claims)
        except (InvalidKeyIdError, BadSignatureError) as exc:
            if refresh:
                raise SsoRefused(_claims_error(BadSignatureError(), config.issuer)) from exc
        except JoseError as exc:
            raise SsoRefused(_claims_error(exc, config.issuer)) from None
        except ValueError:  # not a JWT at all
            raise SsoRefused(_claims_error(DecodeError(), config.issuer)) from None
    raise SsoRefused("the provider's ID token could not be verified")
