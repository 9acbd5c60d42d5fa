"""Errors of the register's domain. The HTTP layer maps each to a status in one table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FieldError:
    """One problem with one field; ``index`` is the record's position in a batch, ``where`` the
    part of the request that carried it (query, body, header, path) when it is not the body."""

    field: str
    message: str
    index: int | None = None
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.where is not None:
            out["in"] = self.where
        if self.index is not None:
            out["index"] = self.index
        return out


class RegisterError(Exception):
    """Base of every error the register raises on purpose; ``detail`` is safe to show."""

    title = "Register error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def __reduce__(self) -> tuple[Any, ...]:
        # Analyses run in worker processes (api/offload.py) and their errors come back pickled;
        # subclasses take other constructor arguments, so rebuild from the state, not the args.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(cls: type[RegisterError], args: tuple[Any, ...], state: dict[str, Any]) -> RegisterError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ValidationFailed(RegisterError):
    title = "Invalid input"

    def __init__(self, errors: list[FieldError], detail: str = "") -> None:
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(detail or f"{summary}{more}")


class NotFound(RegisterError):
    title = "Not found"


class PropertyNotFound(NotFound):
    title = "Property not found"


class OrganisationNotFound(NotFound):
    title = "Organisation not found"


class VersionMismatch(RegisterError):
    title = "Version mismatch"


class PreconditionRequired(RegisterError):
    title = "Precondition required"


class Unauthenticated(RegisterError):
    title = "Authentication required"


class Forbidden(RegisterError):
    title = "Forbidden"


class Conflict(RegisterError):
    title = "Conflict"


class Gone(RegisterError):
    title = "Gone"


class UnsupportedMediaType(RegisterError):
    title = "Unsupported media type"


class UriTooLong(RegisterError):
    title = "URI too long"


class UnknownHost(RegisterError):
    """The request names a host (the Host header) the service is not configured to answer for."""

    title = "Unknown host"


class PayloadTooLarge(RegisterError):
    title = "Payload too large"


class TimedOut(RegisterError):
    """The work ran past the time its route allows (a statement timeout)."""

    title = "Took too long"


class Unavailable(RegisterError):
    """The register's database cannot be reached (stopped, restarting, or the network to it is down)."""

    title = "Register unavailable"


class RateLimited(RegisterError):
    title = "Too many requests"


class Overloaded(RegisterError):
    """All the service's room for expensive work is taken, by every caller together (not this one's fault)."""

    title = "Busy with other work"


class SignInRefused(Unauthenticated):
    title = "Sign-in refused"


class SsoRefused(Unauthenticated):
    title = "Single sign-on refused"


class CsrfRefused(Forbidden):
    title = "CSRF token missing or wrong"


class PasswordChangeRequired(Forbidden):
    title = "Password change required"


class SignInLocked(RateLimited):
    title = "Too many failed sign-ins"
