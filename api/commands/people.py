"""``estate orgs ...`` and ``estate users ...``: thin wrappers over api.services.people and sso."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from gis.errors import RegisterError

orgs_app = typer.Typer(help="Organisations: the bodies that join the register.", no_args_is_help=True)
users_app = typer.Typer(help="People who sign in, and their roles.", no_args_is_help=True)
console = Console()


def _owner_engine() -> Engine:
    from api.commands import cli_engine

    return cli_engine(owner=True)


def _actor() -> str:
    from api.cli import cli_actor

    return cli_actor()


def _fail(exc: RegisterError) -> None:
    console.print(f"[red]error:[/red] {exc.detail}")
    raise typer.Exit(1)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        console.print("[red]error:[/red] no password on standard input")
        raise typer.Exit(1)
    return password


@orgs_app.command("add")
def orgs_add(
    code: str,
    name: Annotated[str, typer.Option(help="the body's name")],
    kind: Annotated[str, typer.Option(help="county, district, unitary, police, fire, nhs_trust, ...")],
    gss_code: Annotated[str | None, typer.Option(help="ONS GSS code, e.g. E07000237")] = None,
) -> None:
    """Add an organisation to the register."""
    from api.db import write_transaction
    from api.services import people

    try:
        with write_transaction(_owner_engine(), _actor()) as conn:
            org = people.add_organisation(conn, code, name, kind, gss_code)
    except RegisterError as exc:
        _fail(exc)
    console.print(f"added {org['code']}: {org['name']} ({org['kind']})")


@orgs_app.command("update")
def orgs_update(
    code: str,
    name: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    gss_code: Annotated[str | None, typer.Option()] = None,
    clear_gss_code: Annotated[bool, typer.Option(help="remove the GSS code")] = False,
) -> None:
    """Change an organisation's name, kind or GSS code."""
    from api.db import write_transaction
    from api.services import people

    try:
        with write_transaction(_owner_engine(), _actor()) as conn:
            org = people.update_organisation(
                conn, code, name=name, kind=kind, gss_code=gss_code, clear_gss_code=clear_gss_code
            )
    except RegisterError as exc:
        _fail(exc)
    console.print(f"updated {org['code']}: {org['name']} ({org['kind']}) {org['gss_code'] or ''}")


@orgs_app.command("list")
def orgs_list() -> None:
    """List the organisations."""
    from api.services import people

    with _owner_engine().connect() as conn:
        rows = people.list_organisations(conn)
    table = Table("code", "name", "kind", "gss_code")
    for r in rows:
        table.add_row(r["code"], r["name"], r["kind"], r["gss_code"] or "")
    console.print(table)


@orgs_app.command("sso")
def orgs_sso(
    code: str,
    issuer: Annotated[str, typer.Option(help="the provider's issuer URL")],
    client_id: Annotated[str, typer.Option()],
    domain: Annotated[list[str], typer.Option(help="an email domain of the body's people (repeat)")],
    default_role: Annotated[str, typer.Option(help="viewer | editor, for first sign-in")] = "viewer",
    disable: Annotated[bool, typer.Option(help="keep the settings but turn sign-on off")] = False,
) -> None:
    """Set the body's OpenID Connect sign-on; reads the client secret from standard input."""
    from api.db import write_transaction
    from api.services import sso

    secret = _read_password()
    try:
        with write_transaction(_owner_engine(), _actor()) as conn:
            config = sso.configure(
                conn,
                code,
                issuer=issuer,
                client_id=client_id,
                client_secret=secret,
                domains=domain,
                default_role=default_role,
                actor=_actor(),
                enabled=not disable,
            )
    except RegisterError as exc:
        _fail(exc)
    console.print(f"{code} signs in with {config['issuer']} for {', '.join(config['domains'])}")


@users_app.command("add")
def users_add(
    email: str,
    org: Annotated[str, typer.Option(help="organisation code")],
    role: Annotated[str, typer.Option(help="viewer | editor | org-admin | admin")] = "viewer",
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Add a person; prints a one-time password they must change at first sign-in."""
    from api.db import write_transaction
    from api.services import people

    password = _read_password() if password_stdin else None
    try:
        with write_transaction(_owner_engine(), _actor()) as conn:
            user = people.add_user(conn, email, org, role, _actor(), password=password)
    except RegisterError as exc:
        _fail(exc)
    console.print(f"added {user['email']} to {user['org']} as {user['role']}")
    if "one_time_password" in user:
        console.print("one-time password (shown once; it must be changed at first sign-in):")
        print(user["one_time_password"])


@users_app.command("list")
def users_list(org: Annotated[str | None, typer.Option(help="only this organisation")] = None) -> None:
    """List people (never their passwords)."""
    from api.services import people

    with _owner_engine().connect() as conn:
        rows = people.list_users(conn, org)
    table = Table("email", "org", "role", "state", "last sign-in")
    for r in rows:
        state = (
            "disabled"
            if r["disabled_at"]
            else ("must change password" if r["must_change_password"] else "active")
        )
        table.add_row(r["email"], r["org"], r["role"], state, str(r["last_sign_in_at"] or "")[:19])
    console.print(table)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable a person; their sessions stop working at once."""
    from api.db import write_transaction
    from api.services import people

    try:
        with write_transaction(_owner_engine(), _actor()) as conn:
            people.disable_user(conn, email, _actor())
    except RegisterError as exc:
        _fail(exc)
    console.print(f"disabled {email}")


@users_app.command("reset-password")
def users_reset_password(
    email: str,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Give a person a new password (one-time unless given); their sessions end."""
    from api.db import write_transaction
    from api.services import people

    password = _read_password() if password_stdin else None
    try:
        with write_transaction(_owner_engine(), _actor()) as conn:
            user = people.reset_password(conn, email, password)
    except RegisterError as exc:
        _fail(exc)
    console.print(f"password reset for {user['email']}")
    if "one_time_password" in user:
        console.print("one-time password (shown once; it must be changed at first sign-in):")
        print(user["one_time_password"])
