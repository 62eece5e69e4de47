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
from chmigrate.results import LeaseReason
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

LEASE_SECONDS = 30.0
SETTLE_SECONDS = 0.25


@dataclass(frozen=True)
class LockInfo:
    kind: str  # "embedded-directory" | "postgres-advisory" | "keeper-map" | "lease"
    guarantee: str  # "linearizable" | "best-effort"
    waited_seconds: float = 0.0
    reason: LeaseReason = ""  # why the lease (see results.LockResult)
    cause: str = ""  # for "no-keeper-map": the server's words
    check: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)


@dataclass(frozen=True)
class Claim:
    holder: str
    host: str
    claimed_at: str
    expires_at: str
    live: bool = True  # not expired


class RunLock(Protocol):
    def acquire(self, timeout: float) -> float: ...

    def release(self) -> None: ...

    def check(self) -> None: ...


class Heartbeat:
    """Renews a claim from a thread, on a connection of its own, every quarter of the lease (every second
    after a failed renewal), and tells the run when its claim can no longer be confirmed.

    `renew` returns True when it extended the claim and read it back as this run's, False when another run
    holds it now; it raises DatabaseError when the server did not answer in time. `check`, called before
    each statement, raises LockLost once another run holds the claim, or once the claim has not been
    confirmed for 60% of the lease: the run stops well before the claim could expire and be taken over.
    """

    CONFIRM_FRACTION = 0.6

    def __init__(self, renew: Callable[[], bool], lease: float, database: str) -> None:
        self.renew = renew
        self.lease = lease
        self.database = database
        self.lost: str | None = None
        self.failure = ""
        self.confirmed = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop = threading.Event()
        self.confirmed = time.monotonic()
        self._thread = threading.Thread(target=self._beat, args=(self._stop,), name="chmigrate-lock", daemon=True)
        self._thread.start()

    def _beat(self, stop: threading.Event) -> None:
        interval = self.lease / 4
        delay = interval
        while not stop.wait(delay):
            try:
                if not self.renew():
                    self.lost = "its claim was released or taken over by another run"
                    return
                self.confirmed = time.monotonic()
                self.failure = ""
                delay = interval
            except DatabaseError as exc:
                self.failure = exc.message
                delay = min(1.0, interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check(self) -> None:
        """Raise LockLost once the claim is lost or unconfirmed (called before each statement)."""
        if self.lost is None and self._thread is not None:
            unconfirmed = time.monotonic() - self.confirmed
            if unconfirmed > self.lease * self.CONFIRM_FRACTION:
                why = f": {self.failure}" if self.failure else ""
                self.lost = f"its claim has not been confirmed for {unconfirmed:.0f} s (lease {self.lease:g} s){why}"
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
                 settle: float = SETTLE_SECONDS, renewer: ClickHouse | None = None) -> None:
        self.ch = ch
        self.renewer = renewer or ch
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

    def _write(self, event: str, ch: ClickHouse | None = None) -> None:
        (ch or self.ch).execute(
            f"INSERT INTO {self.table} (holder, event, host, expires_at) SELECT {quote_string(self.holder)}, "
            f"{quote_string(event)}, {quote_string(socket.gethostname())}, "
            f"now64(6, 'UTC') + toIntervalMillisecond({int(self.lease * 1000)})",
            settings={"async_insert": 0},
        )

    def active_claims(self, ch: ClickHouse | None = None) -> list[Claim]:
        """Claims neither released nor expired, oldest first."""
        rows = (ch or self.ch).query(
            "SELECT holder, any(host), minIf(recorded_at, event = 'claim') AS claimed, max(expires_at) AS exp"
            f" FROM {self.table} GROUP BY holder"
            " HAVING countIf(event = 'release') = 0 AND countIf(event = 'claim') > 0"
            " AND exp > now64(6, 'UTC') ORDER BY claimed, holder"
        )
        return [Claim(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def acquire(self, timeout: float) -> float:
        """Take the lease; return the seconds waited for another holder (0 when the first claim wins: the
        claim's own round trips and settle are not waiting). Raises LockTimeout."""
        self.ensure()
        start = time.monotonic()
        delay = 0.2
        while True:
            attempt = time.monotonic()
            self.holder = str(uuid.uuid4())  # a fresh claim each attempt: a released claim stays released
            self._write("claim")
            time.sleep(self.settle)  # let any earlier claim still in flight become visible
            claims = self.active_claims()
            if claims and claims[0].holder == self.holder:
                self.heartbeat.start()
                return attempt - start
            self._write("release")
            other = next((c for c in claims if c.holder != self.holder), None)
            if time.monotonic() - start + delay > timeout:
                raise held_elsewhere(self.database, other, timeout, self.lease)
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _renew(self) -> bool:
        """Extend the claim and read it back: True while the oldest live claim is still this run's."""
        self._write("renew", self.renewer)
        claims = self.active_claims(self.renewer)
        return bool(claims) and claims[0].holder == self.holder

    def check(self) -> None:
        self.heartbeat.check()

    def release(self) -> None:
        self.heartbeat.stop()
        try:
            self._write("release")
        except DatabaseError:
            pass  # the lease expires by itself
        finally:
            if self.renewer is not self.ch:
                self.renewer.close()

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
def hold(lock: RunLock, timeout: float, kind: str, guarantee: str, *, reason: LeaseReason = "",
         cause: str = "") -> Iterator[LockInfo]:
    """Hold `lock` for a run; the LockInfo it yields names the lock and carries its check."""
    waited = lock.acquire(timeout)
    try:
        yield LockInfo(kind, guarantee, waited, reason=reason, cause=cause, check=lock.check)
    finally:
        lock.release()
