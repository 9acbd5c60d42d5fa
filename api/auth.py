"""Who is calling: API keys today, behind one dependency so OAuth2 can replace them.

Keys are ``se_<prefix>_<secret>``: 32 random bytes of secret, shown once, with
only their SHA-256 stored. A fast hash is right here, unlike for passwords:
the secret has 256 bits of entropy, so there is nothing to brute-force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gis.errors import FieldError, Forbidden, Unauthenticated, ValidationFailed
from gis.visibility import Tier, Viewer

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[str, ...] = ("reader", "writer", "admin")
KEY_PREFIX = "se_"


@dataclass(frozen=True)
class Principal:
    """An authenticated (or anonymous) caller: what they see, what they may write, who to blame."""

    viewer: Viewer
    role: str  # anonymous | reader | writer | admin
    actor: str
    key_id: str | None = None

    @property
    def can_write(self) -> bool:
        return self.role in ("writer", "admin")

    def require_writer(self) -> None:
        if self.role == "anonymous":
            raise Unauthenticated("send an API key (Authorization: Bearer se_...) to change the register")
        if not self.can_write:
            raise Forbidden(f"a {self.role} key cannot change the register")

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
        if self.role == "anonymous":
            raise Unauthenticated("send an admin API key")
        if self.role != "admin":
            raise Forbidden("this needs an admin key")


def anonymous(tier: str = "public", public_rag: bool = True) -> Principal:
    viewer = Viewer(Tier.partner if tier == "partner" else Tier.public, public_rag=public_rag)
    return Principal(viewer, "anonymous", "anonymous")


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    conn: Connection, org: str, role: str, *, label: str | None = None, expires_at: dt.datetime | None = None
) -> dict[str, Any]:
    """Create a key and return it with its plain text, the only time the text exists."""
    if role not in ROLES:
        raise ValidationFailed([FieldError("role", f"one of {', '.join(ROLES)}")])
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
                "role": role,
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
        "role": role,
        "key": plain,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def revoke_key(conn: Connection, prefix: str) -> bool:
    result = conn.execute(
        text("UPDATE api_key SET revoked_at = now() WHERE prefix = :p AND revoked_at IS NULL"), {"p": prefix}
    )
    return result.rowcount > 0


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    rows = (
        conn.execute(
            text(
                "SELECT prefix, org, role, label, created_at, expires_at, revoked_at, last_used_at FROM api_key ORDER BY created_at"
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


_KEY_SQL = text("""SELECT id::text, key_sha256, org, role, expires_at, revoked_at,
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
    role = row["role"]
    viewer = Viewer(Tier.partner, org=row["org"], admin=role == "admin")
    return Principal(viewer, role, f"{row['org']}/key:{prefix}", key_id=row["id"])


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
