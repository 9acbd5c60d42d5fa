"""Who is calling: people (see api/services/people.py) and partner systems' API keys, as one principal.

Keys are ``se_<prefix>_<secret>``: 32 random bytes of secret, shown once, with
only their SHA-256 stored. A fast hash is right here, unlike for passwords:
the secret has 256 bits of entropy, so there is nothing to brute-force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gis.access import ALLOWED, Action, Role, allows, parse_role
from gis.errors import FieldError, Forbidden, Unauthenticated, ValidationFailed
from gis.visibility import Tier, Viewer

KEY_PREFIX = "se_"
SESSION_COOKIE = "estate_session"


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries (Authorization: Bearer, or X-API-Key), if any."""
    authorization = headers.get("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key")


CSRF_HEADER = "X-CSRF-Token"  # cookie-authenticated writes must send the session's token in it
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """An authenticated (or anonymous) caller: what they see, what they may do, who to blame.

    People (session cookie) and partner systems (API key) resolve to this one
    shape and share the roles of :mod:`gis.access`, so every check is the same.
    """

    viewer: Viewer
    role: str  # anonymous | viewer | editor | org-admin | admin
    actor: str  # what history and the change feed record: a person's email, a key's label
    key_id: str | None = None
    user_id: str | None = None
    email: str | None = None
    csrf_token: str | None = None  # set for cookie sessions: writes must echo it
    must_change_password: bool = False

    @property
    def via(self) -> str:
        return "session" if self.user_id else ("key" if self.key_id else "anonymous")

    @property
    def can_write(self) -> bool:
        return self.role != "anonymous" and Action.edit in ALLOWED[Role(self.role)]

    def require(self, action: Action, org: str | None = None) -> None:
        """Raise unless this caller may do ``action`` to ``org`` (None: the whole register)."""
        if self.role == "anonymous":
            raise Unauthenticated(
                "sign in (/login) or send an API key (Authorization: Bearer se_...) to change the register"
            )
        role = Role(self.role)
        if action not in ALLOWED[role]:
            raise Forbidden(f"a {role} cannot {_ACTION_WORDS[action]}")
        if not allows(role, action, own_org=self.viewer.org, target_org=org):
            raise Forbidden(
                f"a {role} of {self.viewer.org} cannot {_ACTION_WORDS[action]} of {org or 'the register'}"
            )

    def require_writer(self) -> None:
        """May change some records (which ones: require_owner decides per record)."""
        self.require(Action.edit, self.viewer.org)

    def require_manager(self, org: str) -> None:
        self.require(Action.manage_body, org)

    def require_editor_of(self, org: str) -> None:
        """An editor of ``org`` (a writer of that body) or an admin: who moves its buildings on."""
        self.require_writer()
        if not (self.viewer.admin or self.viewer.org == org):
            raise Forbidden(f"only an editor of {org} (or an admin) may do this")

    def require_partner_of(self, org: str) -> None:
        """A writer of another public body than ``org``: partners register interest, owners do not."""
        self.require_writer()
        if self.viewer.org is None:
            raise Forbidden("this needs the key of a public body")
        if self.viewer.org == org:
            raise Forbidden(f"{org} owns this building: interest is for its partners to register")

    def require_admin(self) -> None:
        self.require(Action.run_register)


_ACTION_WORDS = {
    Action.edit: "change the register",
    Action.manage_body: "manage people and keys",
    Action.run_register: "run the register (admin only)",
}


def viewer_for(org: str, role: Role) -> Viewer:
    """Every signed-in role sees partner fields; its own body's records (and an admin's, all) as owner."""
    return Viewer(Tier.partner, org=org, admin=role == Role.admin)


def anonymous(tier: str = "public", public_rag: bool = True) -> Principal:
    viewer = Viewer(Tier.partner if tier == "partner" else Tier.public, public_rag=public_rag)
    return Principal(viewer, "anonymous", "anonymous")


def key_actor(org: str, prefix: str, label: str | None) -> str:
    return f"{org}/key:{label or prefix}"


def role_or_problem(value: str, field: str = "role") -> Role:
    """Parse a role name, or raise ValidationFailed naming ``field``."""
    try:
        return parse_role(value)
    except ValueError:
        raise ValidationFailed([FieldError(field, f"one of {', '.join(Role)}")]) from None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    conn: Connection, org: str, role: str, *, label: str | None = None, expires_at: dt.datetime | None = None
) -> dict[str, Any]:
    """Create a key and return it with its plain text, the only time the text exists."""
    parsed = role_or_problem(role)
    if label is not None and not 1 <= len(label) <= 200:
        raise ValidationFailed([FieldError("label", "1 to 200 characters")])
    exists = conn.execute(text("SELECT 1 FROM organisation WHERE code = :org"), {"org": org}).first()
    if exists is None:
        raise ValidationFailed([FieldError("org", f"unknown organisation {org!r}")])
    prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = (
        conn.execute(
            text("""INSERT INTO api_key (prefix, key_sha256, org, role, label, expires_at)
                VALUES (:prefix, :hash, :org, :role, :label, :expires_at)
                RETURNING id::text, created_at"""),
            {
                "prefix": prefix,
                "hash": _sha256(plain),
                "org": org,
                "role": str(parsed),
                "label": label,
                "expires_at": expires_at,
            },
        )
        .mappings()
        .one()
    )
    return {
        "id": row["id"],
        "prefix": prefix,
        "org": org,
        "role": str(parsed),
        "label": label,
        "key": plain,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def revoke_key(conn: Connection, prefix: str, org: str | None = None) -> bool:
    """Revoke an active key (of ``org`` only, when given); False if there is none."""
    result = conn.execute(
        text(
            "UPDATE api_key SET revoked_at = now() WHERE prefix = :p AND revoked_at IS NULL"
            " AND (CAST(:org AS text) IS NULL OR org = :org)"
        ),
        {"p": prefix, "org": org},
    )
    return result.rowcount > 0


def list_keys(conn: Connection, org: str | None = None) -> list[dict[str, Any]]:
    rows = (
        conn.execute(
            text(
                "SELECT prefix, org, role, label, created_at, expires_at, revoked_at, last_used_at FROM api_key"
                " WHERE CAST(:org AS text) IS NULL OR org = :org ORDER BY created_at, prefix"
            ),
            {"org": org},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


_KEY_SQL = text("""SELECT id::text, key_sha256, org, role, label, expires_at, revoked_at,
                       expires_at IS NOT NULL AND expires_at <= now() AS expired
                FROM api_key WHERE prefix = :p""")


def _key_prefix(presented: str) -> str:
    parts = presented.split("_")
    if len(parts) < 3 or not presented.startswith(KEY_PREFIX):
        raise Unauthenticated("malformed API key")
    return parts[1]


def _principal_from_row(row: Any, presented: str, prefix: str) -> Principal:
    if row is None or not hmac.compare_digest(row["key_sha256"], _sha256(presented)):
        raise Unauthenticated("unknown API key")
    if row["revoked_at"] is not None:
        raise Unauthenticated("this API key has been revoked")
    if row["expired"]:
        raise Unauthenticated("this API key has expired")
    role = parse_role(row["role"])
    return Principal(
        viewer_for(row["org"], role), str(role), key_actor(row["org"], prefix, row["label"]), key_id=row["id"]
    )


def principal_for_key(engine: Engine, presented: str) -> Principal:
    """Return the principal for a presented key, or raise Unauthenticated."""
    prefix = _key_prefix(presented)
    with engine.connect() as conn:
        row = conn.execute(_KEY_SQL, {"p": prefix}).mappings().first()
    return _principal_from_row(row, presented, prefix)


async def principal_for_key_async(conn: AsyncConnection, presented: str) -> Principal:
    """As principal_for_key, on the async pool of the serving path."""
    prefix = _key_prefix(presented)
    row = (await conn.execute(_KEY_SQL, {"p": prefix})).mappings().first()
    return _principal_from_row(row, presented, prefix)
