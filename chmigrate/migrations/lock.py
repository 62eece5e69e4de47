"""Keeping concurrent runs from interleaving on one ClickHouse.

Which lock guards a run, strongest first:
- the embedded engine: its data directory can be opened by one process only, so the open itself is
  the lock (linearizable); a second run waits for the directory up to the lock timeout;
- a Postgres server given by URL: its advisory lock covers both databases (linearizable), see
  chmigrate.targets.postgres;
- a ClickHouse server with Keeper: a claim in a KeeperMap table, changed by compare-and-set in Keeper
  (linearizable), see chmigrate.migrations.keeper_lock;
- otherwise a lease in an ordinary ClickHouse table, renewed by a heartbeat (best-effort: two runs can
  both believe they hold it only if a claim takes longer than the settle delay to become visible, or
  a holder stalls past the lease without noticing). A crashed holder's lease expires; `chmigrate unlock`
  releases a stale one at once.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from chmigrate.errors import DatabaseError, LockLost, LockTimeout
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

LEASE_SECONDS = 30.0
SETTLE_SECONDS = 0.25


@dataclass(frozen=True)
class LockInfo:
    kind: str  # "embedded-directory" | "postgres-advisory" | "keeper-map" | "lease"
    guarantee: str  # "linearizable" | "best-effort"
    waited_seconds: float = 0.0
    reason: str = ""  # why a weaker lock was chosen
    check: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)


@dataclass(frozen=True)
class Claim:
    holder: str
    host: str
    claimed_at: str
    expires_at: str


class RunLock(Protocol):
    def acquire(self, timeout: float) -> float: ...

    def release(self) -> None: ...

    def check(self) -> None: ...


class Heartbeat:
    """Renews a claim every third of the lease from a thread and remembers why it was lost: `renew`
    returns False when another run holds the claim now; failures count as lost once a whole lease has
    passed without a renewal (others may have taken it by then)."""

    def __init__(self, renew: Callable[[], bool], lease: float, database: str) -> None:
        self.renew = renew
        self.lease = lease
        self.database = database
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(self._stop,), name="chmigrate-lock", daemon=True)
        self._thread.start()

    def _beat(self, stop: threading.Event) -> None:
        renewed = time.monotonic()
        while not stop.wait(self.lease / 3):
            try:
                if not self.renew():
                    self.lost = "another run took it over"
                    return
                renewed = time.monotonic()
            except DatabaseError as exc:
                if time.monotonic() - renewed >= self.lease:
                    self.lost = f"not renewed for {self.lease:g} s ({exc.message})"
                    return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> None:
        """Raise LockLost once the claim is lost (called before each statement)."""
        if self.lost is not None:
            raise LockLost(f"lost the migration lock on {self.database}: {self.lost}",
                           hint="stopped before the next statement; run `chmigrate status`, then `chmigrate up`")


def held_elsewhere(database: str, claim: Claim | None, timeout: float, lease: float) -> LockTimeout:
    who = f" (held by a run on {claim.host} since {claim.claimed_at} UTC)" if claim else ""
    return LockTimeout(
        f"another chmigrate run holds the lock on {database}{who}; gave up after {timeout:g} s",
        hint=f"wait for it to finish, or if it crashed run `chmigrate unlock` (claims also expire after {lease:g} s)",
    )


class LeaseLock:
    """A lease in table `<db>.<ledger>_lock`: append-only rows (claim, renew, release)."""

    def __init__(self, ch: ClickHouse, database: str, table: str, *, lease: float = LEASE_SECONDS,
                 settle: float = SETTLE_SECONDS) -> None:
        self.ch = ch
        self.table = f"{quote_ident(database)}.{quote_ident(table)}"
        self.database = database
        self.name = table
        self.lease = lease
        self.settle = settle
        self.holder = str(uuid.uuid4())
        self.heartbeat = Heartbeat(self._renew, lease, database)

    def ensure(self) -> None:
        self.ch.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(self.database)}")
        self.ch.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (holder String, event LowCardinality(String), "
            "host String, recorded_at DateTime64(6, 'UTC') DEFAULT now64(6, 'UTC'), "
            "expires_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY (recorded_at, holder) "
            "TTL toDateTime(recorded_at) + INTERVAL 30 DAY "
            "COMMENT 'chmigrate run lock (best-effort lease); rows are append-only'"
        )

    def _write(self, event: str) -> None:
        self.ch.execute(
            f"INSERT INTO {self.table} (holder, event, host, expires_at) SELECT {quote_string(self.holder)}, "
            f"{quote_string(event)}, {quote_string(socket.gethostname())}, "
            f"now64(6, 'UTC') + toIntervalMillisecond({int(self.lease * 1000)})",
            settings={"async_insert": 0},
        )

    def active_claims(self) -> list[Claim]:
        """Claims neither released nor expired, oldest first."""
        rows = self.ch.query(
            "SELECT holder, any(host), minIf(recorded_at, event = 'claim') AS claimed, max(expires_at) AS exp"
            f" FROM {self.table} GROUP BY holder"
            " HAVING countIf(event = 'release') = 0 AND countIf(event = 'claim') > 0"
            " AND exp > now64(6, 'UTC') ORDER BY claimed, holder"
        )
        return [Claim(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def acquire(self, timeout: float) -> float:
        """Take the lease; return the seconds waited. Raises LockTimeout."""
        self.ensure()
        start = time.monotonic()
        delay = 0.2
        while True:
            self.holder = str(uuid.uuid4())  # a fresh claim each attempt: a released claim stays released
            self._write("claim")
            time.sleep(self.settle)  # let any earlier claim still in flight become visible
            claims = self.active_claims()
            if claims and claims[0].holder == self.holder:
                self.heartbeat.start()
                return time.monotonic() - start
            self._write("release")
            other = next((c for c in claims if c.holder != self.holder), None)
            if time.monotonic() - start + delay > timeout:
                raise held_elsewhere(self.database, other, timeout, self.lease)
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _renew(self) -> bool:
        self._write("renew")
        return True

    def check(self) -> None:
        self.heartbeat.check()

    def release(self) -> None:
        self.heartbeat.stop()
        try:
            self._write("release")
        except DatabaseError:
            pass  # the lease expires by itself

    def break_all(self) -> list[Claim]:
        """Release every active claim (for `chmigrate unlock`)."""
        if not self.ch.table_exists(self.database, self.name):
            return []
        claims = self.active_claims()
        for c in claims:
            self.ch.execute(
                f"INSERT INTO {self.table} (holder, event, host, expires_at) SELECT {quote_string(c.holder)}, "
                "'release', 'chmigrate unlock', now64(6, 'UTC')"
            )
        return claims


@contextmanager
def hold(lock: RunLock, timeout: float, kind: str, guarantee: str, *, reason: str = "") -> Iterator[LockInfo]:
    """Hold `lock` for a run; the LockInfo it yields names the lock and carries its check."""
    waited = lock.acquire(timeout)
    try:
        yield LockInfo(kind, guarantee, waited, reason=reason, check=lock.check)
    finally:
        lock.release()
