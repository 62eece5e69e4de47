"""A linearizable run lock in a KeeperMap table, for ClickHouse servers with Keeper.

The lock is one key, `run`, of `<db>.<ledger>_keeper_lock` (ENGINE = KeeperMap, stored in Keeper under
`/chmigrate/<db>.<ledger>` below the server's `keeper_map_path_prefix`). Every change is a compare-and-set
in Keeper (`keeper_map_strict_mode = 1`): an update computed from a value that another run changed in the
meantime fails as a whole, so two runs can never both take the lock; Keeper's writes are linearizable.
The key is never deleted (a free lock has an empty holder), so its Keeper version only grows and an old
compare-and-set can never succeed by accident.

A holder renews its claim every third of the lease. A crashed holder's claim expires after the lease and
the next run takes it over with the same compare-and-set; a holder whose renewal finds its claim gone
stops before its next statement. `chmigrate unlock` frees a claim at once. Several ClickHouse servers that
share one Keeper share the lock: the table is created with the same Keeper path on whichever server a run
reaches.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from chmigrate.errors import ConnectionFailed, DatabaseError, LockLost, LockTimeout
from chmigrate.migrations.lock import LEASE_SECONDS, Claim, LockInfo
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

KEY = "run"
STRICT = {"keeper_map_strict_mode": 1, "async_insert": 0}
KEEPER_EXCEPTION = 999  # a Keeper operation failed: for a compare-and-set, another run changed the key first
_NOW = "now64(3, 'UTC')"


class KeeperUnavailable(Exception):
    """The server cannot hold KeeperMap tables (no Keeper, or KeeperMap not enabled)."""


def keeper_path(database: str, table: str) -> str:
    """A Keeper path for one ledger: readable, and unique even when names need escaping."""
    name = f"{database}.{table}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if safe != name or safe.startswith("."):
        safe = f"{safe.lstrip('.')}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return f"/chmigrate/{safe}"


class KeeperLock:
    def __init__(self, ch: ClickHouse, database: str, table: str, *, lease: float = LEASE_SECONDS) -> None:
        self.ch = ch
        self.database = database
        self.name = table
        self.table = f"{quote_ident(database)}.{quote_ident(table)}"
        self.path = keeper_path(database, table)
        self.lease = lease
        self.holder = str(uuid.uuid4())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None

    def ensure(self) -> None:
        """Create the lock table and its key; KeeperUnavailable when the server cannot hold it."""
        self.ch.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(self.database)}")
        try:
            self.ch.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (name String, holder String, host String, "
                "claimed_at DateTime64(3, 'UTC'), expires_at DateTime64(3, 'UTC')) "
                f"ENGINE = KeeperMap({quote_string(self.path)}) PRIMARY KEY name "
                "COMMENT 'chmigrate run lock (linearizable, in Keeper)'"
            )
        except ConnectionFailed:
            raise
        except DatabaseError as exc:
            if exc.code is None:
                raise
            raise KeeperUnavailable(exc.message) from None
        if self.ch.query(f"SELECT count() FROM {self.table} WHERE name = {{k:String}}", {"k": KEY})[0][0]:
            return
        try:
            self.ch.execute(f"INSERT INTO {self.table} (name) VALUES ({quote_string(KEY)})", settings=STRICT)
        except DatabaseError as exc:
            if exc.code != KEEPER_EXCEPTION:  # KEEPER_EXCEPTION: another run created the key first
                raise

    def current(self) -> Claim | None:
        """The live claim, or None when the lock is free or its claim has expired."""
        rows = self.ch.query(
            f"SELECT holder, host, toString(claimed_at), toString(expires_at), expires_at > {_NOW} "
            f"FROM {self.table} WHERE name = {{k:String}}", {"k": KEY})
        if not rows or not rows[0][0] or not rows[0][4]:
            return None
        r = rows[0]
        return Claim(str(r[0]), str(r[1]), str(r[2]), str(r[3]))

    def _cas(self, assignments: str, condition: str) -> None:
        """One compare-and-set on the key; losing a race to another run is not an error."""
        try:
            self.ch.execute(
                f"ALTER TABLE {self.table} UPDATE {assignments} WHERE name = {quote_string(KEY)} AND ({condition})",
                settings=STRICT)
        except DatabaseError as exc:
            if exc.code != KEEPER_EXCEPTION:
                raise

    def _holds(self) -> bool:
        claim = self.current()
        return claim is not None and claim.holder == self.holder

    def acquire(self, timeout: float) -> float:
        """Take the lock; return the seconds waited. Raises LockTimeout."""
        self.ensure()
        start = time.monotonic()
        delay = 0.1
        mine = quote_string(self.holder)
        while True:
            self._cas(f"holder = {mine}, host = {quote_string(socket.gethostname())}, claimed_at = {_NOW}, "
                      f"expires_at = {_NOW} + toIntervalMillisecond({int(self.lease * 1000)})",
                      f"holder = '' OR expires_at <= {_NOW}")
            claim = self.current()
            if claim is not None and claim.holder == self.holder:
                self._start_heartbeat()
                return time.monotonic() - start
            if time.monotonic() - start + delay > timeout:
                who = f" (held by a run on {claim.host} since {claim.claimed_at} UTC)" if claim else ""
                raise LockTimeout(
                    f"another chmigrate run holds the lock on {self.database}{who}; gave up after {timeout:g} s",
                    hint="wait for it to finish, or if it crashed run `chmigrate unlock` (claims also expire "
                    f"after {self.lease:g} s)",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def _renew(self) -> None:
        self._cas(f"expires_at = {_NOW} + toIntervalMillisecond({int(self.lease * 1000)})",
                  f"holder = {quote_string(self.holder)}")

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            renewed = time.monotonic()
            while not self._stop.wait(self.lease / 3):
                try:
                    self._renew()
                    if not self._holds():
                        self._lost = "another run took it over"
                        return
                    renewed = time.monotonic()
                except DatabaseError as exc:
                    if time.monotonic() - renewed >= self.lease:
                        self._lost = f"could not renew it for {self.lease:g} s ({exc.message})"
                        return

        self._thread = threading.Thread(target=beat, name="chmigrate-keeper-lock", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise LockLost when the heartbeat found the claim gone (called before each statement)."""
        if self._lost is not None:
            raise LockLost(f"lost the migration lock on {self.database}: {self._lost}",
                           hint="stopped before the next statement; run `chmigrate status`, then `chmigrate up`")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._cas("holder = '', host = '', expires_at = toDateTime64(0, 3, 'UTC')",
                      f"holder = {quote_string(self.holder)}")
        except DatabaseError:
            pass  # the claim expires by itself

    def break_claim(self) -> list[Claim]:
        """Free the lock whoever holds it (for `chmigrate unlock`)."""
        exists = self.ch.query("SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}",
                               {"d": self.database, "t": self.name})[0][0]
        if not exists:
            return []
        claim = self.current()
        if claim is None:
            return []
        self._cas("holder = '', host = '', expires_at = toDateTime64(0, 3, 'UTC')",
                  f"holder = {quote_string(claim.holder)}")
        return [claim]


@contextmanager
def keeper(ch: ClickHouse, database: str, table: str, timeout: float) -> Iterator[LockInfo]:
    """Hold the KeeperMap lock; KeeperUnavailable (before anything is held) when the server has no Keeper."""
    lock = KeeperLock(ch, database, table)
    waited = lock.acquire(timeout)
    try:
        yield LockInfo("keeper-map", "linearizable", waited, check=lock.check)
    finally:
        lock.release()
