"""Who may do what (DESIGN §3a): one table of roles and the actions each allows.

People and API keys carry the same roles, so one check decides for the API,
the map and the CLI. What a caller may *see* is :mod:`gis.visibility`'s job;
this module decides what they may *do*.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    viewer = "viewer"  # sees partner fields
    editor = "editor"  # also changes its own body's records
    org_admin = "org-admin"  # also manages its own body's people and keys
    admin = "admin"  # runs the register: every body, organisations, sign-on


class Action(StrEnum):
    edit = "edit"  # change records of a body
    manage_body = "manage-body"  # add, disable, reset people and keys of a body
    run_register = "run-register"  # add and change organisations, their sign-on


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.viewer: frozenset(),
    Role.editor: frozenset({Action.edit}),
    Role.org_admin: frozenset({Action.edit, Action.manage_body}),
    Role.admin: frozenset({Action.edit, Action.manage_body, Action.run_register}),
}

# Keys were created as reader / writer before people had roles; the names still parse.
LEGACY_ROLE_NAMES: dict[str, Role] = {"reader": Role.viewer, "writer": Role.editor}
# What single sign-on may give someone it creates on first sign-in: never an admin.
SSO_DEFAULT_ROLES: tuple[Role, ...] = (Role.viewer, Role.editor)

ORG_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
GSS_CODE_RE = re.compile(r"^[EWSN][0-9]{8}$")
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[a-z0-9-]+(\.[a-z0-9-]+)+$")
DOMAIN_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
PASSWORD_MIN_CHARS = 12
PASSWORD_MAX_CHARS = 1000


def parse_role(value: str) -> Role:
    """Return the role a name stands for (legacy key names included); ValueError if none."""
    value = value.strip().lower()
    if value in LEGACY_ROLE_NAMES:
        return LEGACY_ROLE_NAMES[value]
    return Role(value)


def allows(role: Role, action: Action, *, own_org: str | None, target_org: str | None) -> bool:
    """Whether ``role`` of ``own_org`` may do ``action`` to ``target_org`` (None: the register)."""
    if action not in ALLOWED[role]:
        return False
    if role == Role.admin:
        return True
    return target_org is not None and target_org == own_org


def normalise_email(email: str) -> str:
    return email.strip().lower()


def password_problem(password: str, email: str | None = None) -> str | None:
    """Return why a new password is refused, or None if it is acceptable."""
    if len(password) < PASSWORD_MIN_CHARS:
        return f"at least {PASSWORD_MIN_CHARS} characters"
    if len(password) > PASSWORD_MAX_CHARS:
        return f"at most {PASSWORD_MAX_CHARS} characters"
    if email and password.strip().lower() == normalise_email(email):
        return "must not be your email address"
    return None
