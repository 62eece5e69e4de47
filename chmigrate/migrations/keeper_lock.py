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
import time
import uuid

from chmigrate.errors import ConnectionFailed, DatabaseError
from chmigrate.migrations.cluster import ClusterDDL
from chmigrate.migrations.lock import LEASE_SECONDS, Claim, Heartbeat, held_elsewhere
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

KEY = "run"
STRICT = {"keeper_map_strict_mode": 1, "async_insert": 0}
KEEPER_EXCEPTION = 999  # a Keeper operation failed: for a compare-and-set, another run changed the key first
# The server cannot hold KeeperMap tables at all: NO_ZOOKEEPER, or BAD_ARGUMENTS "KeeperMap is disabled because
# 'keeper_map_path_prefix' is not set". Any other error (a Keeper connection loss, a timeout) is an error.
NO_KEEPER_CODES = (225, 36)
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
    def __init__(self, ch: ClickHouse, database: str, table: str, *, lease: float = LEASE_SECONDS,
                 renewer: ClickHouse | None = None, cluster: ClusterDDL | None = None) -> None:
        self.ch = ch
        self.cluster = cluster  # the lock table goes on every host (one Keeper path, so one lock)
        self.renewer = renewer or ch
        self.database = database
        self.name = table
        self.table = f"{quote_ident(database)}.{quote_ident(table)}"
        self.path = keeper_path(database, table)
        self.lease = lease
        self.holder = str(uuid.uuid4())
        self.heartbeat = Heartbeat(self._renew, lease, database)
        self._expiry = f"{_NOW} + toIntervalMillisecond({int(lease * 1000)})"
        self._ensured = False

    def ensure(self) -> None:
        """Create the lock table and its key; KeeperUnavailable when the server cannot hold it."""
        clause = self.cluster.clause() if self.cluster else ""
        ddl = self.cluster.own_settings() if self.cluster else None
        if not (self.cluster and self.cluster.replicated_database):  # a Replicated database exists already
            self.ch.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(self.database)}{clause}", settings=ddl)
        try:
            self.ch.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table}{clause} (name String, holder String, host String, "
                "claimed_at DateTime64(3, 'UTC'), expires_at DateTime64(3, 'UTC')) "
                f"ENGINE = KeeperMap({quote_string(self.path)}) PRIMARY KEY name "
                "COMMENT 'chmigrate run lock (linearizable, in Keeper)'", settings=ddl
            )
        except DatabaseError as exc:
            if isinstance(exc, ConnectionFailed) or exc.code not in NO_KEEPER_CODES:
                raise  # the server did not answer, or Keeper failed: never a reason for a weaker lock
            if exc.code == 36 and "keeper" not in exc.message.lower():
                raise
            raise KeeperUnavailable(exc.message) from exc
        if not self.ch.query(f"SELECT count() FROM {self.table} WHERE name = {{k:String}}", {"k": KEY})[0][0]:
            try:
                self.ch.execute(f"INSERT INTO {self.table} (name) VALUES ({quote_string(KEY)})", settings=STRICT)
            except DatabaseError as exc:
                if exc.code != KEEPER_EXCEPTION:  # KEEPER_EXCEPTION: another run created the key first
                    raise
        self._ensured = True

    def claim(self, ch: ClickHouse | None = None) -> Claim | None:
        """The claim on the key, live or expired, or None when the lock is free."""
        rows = (ch or self.ch).query(
            f"SELECT holder, host, toString(claimed_at), toString(expires_at), expires_at > {_NOW} "
            f"FROM {self.table} WHERE name = {{k:String}}", {"k": KEY})
        if not rows or not rows[0][0]:
            return None
        r = rows[0]
        return Claim(str(r[0]), str(r[1]), str(r[2]), str(r[3]), live=bool(r[4]))

    def current(self, ch: ClickHouse | None = None) -> Claim | None:
        """The live claim, or None when the lock is free or its claim has expired."""
        c = self.claim(ch)
        return c if c is not None and c.live else None

    def live_claims(self) -> list[Claim]:
        if not self.ch.table_exists(self.database, self.name):
            return []
        c = self.current()
        return [c] if c is not None else []

    def _cas(self, assignments: str, condition: str, ch: ClickHouse | None = None) -> None:
        """One compare-and-set on the key; losing a race to another run is not an error."""
        try:
            (ch or self.ch).execute(
                f"ALTER TABLE {self.table} UPDATE {assignments} WHERE name = {quote_string(KEY)} AND ({condition})",
                settings=STRICT)
        except DatabaseError as exc:
            if exc.code != KEEPER_EXCEPTION:
                raise

    def acquire(self, timeout: float) -> float:
        """Take the lock; return the seconds waited for another holder (0 when the first try wins). Raises
        LockTimeout."""
        if not self._ensured:
            self.ensure()
        start = time.monotonic()
        delay = 0.1
        while True:
            attempt = time.monotonic()
            self._cas(f"holder = {quote_string(self.holder)}, host = {quote_string(socket.gethostname())}, "
                      f"claimed_at = {_NOW}, expires_at = {self._expiry}", f"holder = '' OR expires_at <= {_NOW}")
            claim = self.current()
            if claim is not None and claim.holder == self.holder:
                self.heartbeat.start()
                return attempt - start
            if time.monotonic() - start + delay > timeout:
                raise held_elsewhere(self.database, claim, timeout, self.lease)
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def _renew(self) -> bool:
        """Extend the claim (on the renewal connection) and read it back; False when another run holds it."""
        self._cas(f"expires_at = {self._expiry}", f"holder = {quote_string(self.holder)}", self.renewer)
        claim = self.current(self.renewer)
        return claim is not None and claim.holder == self.holder

    def check(self) -> None:
        self.heartbeat.check()

    def release(self) -> None:
        self.heartbeat.stop()
        try:
            self._free(self.holder)
        except DatabaseError:
            pass  # the claim expires by itself
        finally:
            if self.renewer is not self.ch:
                self.renewer.close()

    def _free(self, holder: str) -> None:
        self._cas("holder = '', host = '', expires_at = toDateTime64(0, 3, 'UTC')", f"holder = {quote_string(holder)}")

    def break_claim(self) -> list[Claim]:
        """Free the lock whoever holds it, live or expired (for `chmigrate unlock`)."""
        claim = self.claim() if self.ch.table_exists(self.database, self.name) else None
        if claim is None:
            return []
        self._free(claim.holder)
        return [claim]

