"""The cross-process migration lock for PostgreSQL: a session-level advisory lock.

Held on a dedicated connection (so the migrations' own transactions cannot release it) for a
whole `up` or `down`. Advisory locks are per database, so two databases on one server do not
block each other. A crashed holder releases it when its connection goes away.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chmigrate.errors import LockLost, LockTimeout

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# A fixed bigint derived from a constant, computed here rather than with hashtext(), whose
# result PostgreSQL does not promise to keep across major versions.
LOCK_NAME = "chmigrate:postgres:migrations"
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class LockHold:
    waited: bool
    wait_seconds: float
    # raises LockLost when the lock's connection is gone (and with it the lock); run before each statement
    check: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)


@contextmanager
def advisory_lock(engine: Engine, timeout: float, label: str) -> Iterator[LockHold]:
    """Hold the migration lock, polling pg_try_advisory_lock until `timeout` seconds have passed."""
    from sqlalchemy import text

    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        started = time.monotonic()
        delay = 0.05
        waited = False
        while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
            waited = True
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                holder = _holder(conn)
                raise LockTimeout(
                    f"could not get the chmigrate migration lock on {label} within {timeout:g} s: "
                    f"another chmigrate run holds it{holder}",
                    hint="wait for it to finish, or raise the lock timeout",
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)
        hold = LockHold(waited=waited, wait_seconds=time.monotonic() - started,
                        check=lambda: _still_held(conn, label))
        try:
            yield hold
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    finally:
        conn.close()


def _still_held(conn: Connection, label: str) -> None:
    """Confirm on the lock's own connection that this session still holds the advisory lock."""
    from sqlalchemy import text

    unsigned = LOCK_KEY & 0xFFFFFFFFFFFFFFFF
    try:
        held = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                 " AND pid = pg_backend_pid() AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid)"),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).scalar()
    except Exception as exc:
        raise LockLost(f"lost the migration lock on {label}: its connection failed ({type(exc).__name__})",
                       hint="stopped before the next statement; run `chmigrate status`, then `chmigrate up`") from exc
    if not held:
        raise LockLost(f"lost the migration lock on {label}: the advisory lock is no longer held",
                       hint="stopped before the next statement; run `chmigrate status`, then `chmigrate up`")


def _holder(conn: Connection) -> str:
    """' (PostgreSQL backend pid N, client ADDR, application NAME)' for the holder, or ''."""
    from sqlalchemy import text

    unsigned = LOCK_KEY & 0xFFFFFFFFFFFFFFFF
    try:
        row = conn.execute(
            text(
                "SELECT a.pid, host(a.client_addr), a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid) "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
        ).first()
    except Exception:  # the message is still useful without the holder
        return ""
    if row is None:
        return ""
    parts = [f"PostgreSQL backend pid {row[0]}"]
    if row[1]:
        parts.append(f"client {row[1]}")
    if row[2]:
        parts.append(f"application {row[2]}")
    return " (" + ", ".join(parts) + ")"
