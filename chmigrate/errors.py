"""One error hierarchy; every error knows its exit code.

Exit codes are stable: 0 ok, 1 a check failed or drift was found, 2 usage or
configuration error (including bad migration files), 3 database error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3


class ChmigrateError(Exception):
    """Base of every error chmigrate raises on purpose. Messages are one line."""

    exit_code = EXIT_USAGE
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(ChmigrateError):
    """A setting is missing, malformed or contradictory; names the setting."""

    def __init__(self, setting: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{setting}: {message}", hint=hint)
        self.setting = setting


class UsageError(ChmigrateError):
    """The command was called in a way that cannot work."""


class MigrationFileError(ChmigrateError):
    """A migration file is malformed: names the file (and line or statement when known)."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        statement: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = path
        if statement is not None:
            where += f" statement {statement}"
        if line is not None:
            where += f" (line {line})"
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line
        self.statement = statement


class DatabaseError(ChmigrateError):
    """The database refused, failed or could not be reached."""

    exit_code = EXIT_DATABASE

    def __init__(self, message: str, *, code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class ConnectionFailed(DatabaseError):
    """The server could not be reached or refused the credentials."""


class StatementFailed(DatabaseError):
    """A migration statement failed on the server."""

    def __init__(
        self,
        path: str,
        statement: int,
        line: int,
        error: str,
        *,
        code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{path} statement {statement} (line {line}) failed: {error}", code=code, hint=hint)
        self.path = path
        self.statement = statement
        self.line = line
        self.error = error


class LockTimeout(DatabaseError):
    """Another chmigrate run holds the migration lock."""


class LockLost(DatabaseError):
    """This run's lock expired or was taken over; it stops before its next statement."""


class StateError(ChmigrateError):
    """The ledger forbids the operation: dirty, changed or unknown history.

    Exit code 1: the database is reachable and the command understood, but the
    recorded history says it must not proceed.
    """

    exit_code = EXIT_CHECK_FAILED


class CheckFailed(ChmigrateError):
    """A read-only check found a problem (drift, pending migrations)."""

    exit_code = EXIT_CHECK_FAILED


class Refused(ChmigrateError):
    """The run would destroy stored data and may not: consent was not given, or the environment is protected
    (the setting is named). Exit code 1, like every refusal: the command was understood and nothing was sent;
    a protected environment is configured correctly, it simply forbids this."""

    exit_code = EXIT_CHECK_FAILED
