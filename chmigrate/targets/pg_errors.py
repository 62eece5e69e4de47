"""Turning psycopg, SQLAlchemy and Alembic exceptions into chmigrate errors: one line, no secrets."""

from __future__ import annotations

from collections.abc import Sequence

from chmigrate.errors import ChmigrateError, ConnectionFailed, DatabaseError, StateError, UsageError
from chmigrate.masking import redact

# (text in the driver's message, what we say). The first match wins.
_CONNECT_REASONS = (
    ("connection refused", "connection refused"),
    ("timeout expired", "connection timed out"),
    ("timed out", "connection timed out"),
    ("failed to resolve host", "host name not found"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("temporary failure in name resolution", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network is unreachable"),
    ("server closed the connection unexpectedly", "the server closed the connection"),
)

_AUTH_HINT = "check the user and password (PGPASSWORD or the password file)"


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def driver_error(exc: BaseException) -> BaseException:
    """The psycopg exception inside a SQLAlchemy wrapper, or exc itself."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def connect_error(exc: BaseException, label: str, secrets: Sequence[str | None]) -> ConnectionFailed:
    """A failure to open a connection, as ConnectionFailed naming the (masked) target."""
    err = driver_error(exc)
    text = redact(str(err), secrets)
    lowered = text.lower()
    hint = None
    reason = next((what for needle, what in _CONNECT_REASONS if needle in lowered), None)
    if reason is None:
        # libpq: 'connection failed: connection to server at "h", port p failed: FATAL:  password ...'
        detail = text.split("FATAL:", 1)[1] if "FATAL:" in text else text.split("failed:")[-1]
        reason = one_line(detail.splitlines()[0] if detail.strip() else text)
        if "password" in lowered or "authentication" in lowered:
            hint = _AUTH_HINT
    return ConnectionFailed(f"cannot connect to PostgreSQL at {label}: {reason}", hint=hint)


def is_connect_failure(exc: BaseException) -> bool:
    """True when exc is a failure to reach or log in to the server (not a failing statement)."""
    err = driver_error(exc)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    if not isinstance(err, psycopg.OperationalError):
        return False
    return getattr(err, "sqlstate", None) in (None, "08001", "08006", "28P01", "28000", "3D000", "57P03")


def statement_error(exc: BaseException, secrets: Sequence[str | None], where: str = "") -> DatabaseError:
    """A statement that failed on the server, with its SQLSTATE and the server's first line."""
    err = driver_error(exc)
    sqlstate = getattr(err, "sqlstate", None)
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    message = one_line(redact(primary or first, secrets))
    prefix = f"{where}: " if where else ""
    state = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return DatabaseError(f"{prefix}{message}{state}")


def alembic_error(exc: BaseException, secrets: Sequence[str | None]) -> ChmigrateError:
    """Alembic's CommandError and revision-map errors: unknown or unreachable revisions."""
    text = one_line(redact(str(exc), secrets))
    lowered = text.lower()
    if "can't locate revision" in lowered or "no such revision" in lowered:
        return UsageError(text, hint="give a revision id listed by `chmigrate status`, or 'base'")
    if "not a valid" in lowered and ("downgrade" in lowered or "upgrade" in lowered):
        return UsageError(text)
    if "multiple heads" in lowered or "overlaps" in lowered:
        return StateError(text)
    return UsageError(text)
