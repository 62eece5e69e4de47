"""The run lock on a ClickHouse server without Postgres: a KeeperMap claim where the server has Keeper
(the test endpoint runs ClickHouse's in-memory test Keeper), otherwise a lease labelled best-effort.

The claims are taken with the product's own HTTP client; the competing run is the real CLI."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chmigrate.errors import LockLost, LockTimeout
from chmigrate.migrations.keeper_lock import KeeperLock, keeper_path
from chmigrate.targets.clickhouse import ClickHouse
from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target

pytestmark = pytest.mark.server
TABLE = "chmigrate_ledger_keeper_lock"


@pytest.fixture
def ch(http_target: Target) -> Iterator[ClickHouse]:
    with http_target.connect() as conn:
        yield conn


@pytest.fixture
def keeper_target(http_target: Target) -> Target:
    if not http_target.keeper:
        pytest.skip("this ClickHouse has no Keeper (set CHMIGRATE_TEST_CLICKHOUSE_KEEPER=1 for a server with one)")
    return http_target


def _env(target: Target) -> dict[str, str]:
    return target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED)}


def _applied(target: Target, tmp_path: Path) -> list[str]:
    with target.connect() as conn:
        if not conn.query("SELECT count() FROM system.tables WHERE database = {d:String} AND name = "
                          "'chmigrate_ledger'", {"d": target.database})[0][0]:
            return []
        rows = conn.query(f"SELECT DISTINCT version FROM `{target.database}`.chmigrate_ledger "
                          "WHERE event = 'applied' ORDER BY version")
    return [str(r[0]) for r in rows]


def test_up_names_the_lock_it_took(http_target: Target, tmp_path: Path) -> None:
    r = chmigrate("up", cwd=tmp_path, env=_env(http_target))
    assert r.code == 0, r.all
    with http_target.connect() as conn:
        engines = dict(conn.query("SELECT name, engine FROM system.tables WHERE database = {d:String}",
                                  {"d": http_target.database}))
    if http_target.keeper:
        assert "lock: keeper-map (linearizable)" in r.all
        assert engines.get(TABLE) == "KeeperMap"
    else:
        assert "lock: lease (best-effort; no KeeperMap on this server" in r.all
        assert TABLE not in engines
    # chmigrate's own tables are not drift
    assert chmigrate("diff", "--exit-code", cwd=tmp_path, env=_env(http_target)).code == 0


def test_lock_keeper_refuses_a_server_without_keeper_and_the_kind_is_kept(http_target: Target,
                                                                         tmp_path: Path) -> None:
    env = _env(http_target)
    forced = chmigrate("up", "--to", "1", cwd=tmp_path, env=env | {"CHMIGRATE_LOCK": "keeper"})
    if http_target.keeper:
        assert forced.code == 0 and "lock: keeper-map (linearizable)" in forced.all, forced.all
        # a database locked through Keeper is never locked by a lease: a lease would not exclude a Keeper holder
        lease = chmigrate("up", cwd=tmp_path, env=env | {"CHMIGRATE_LOCK": "lease"})
        assert lease.code == 2 and "lease refused" in lease.err and "lock" in lease.err, lease.all
        assert _applied(http_target, tmp_path) == ["0001"]
        auto = chmigrate("up", cwd=tmp_path, env=env)
        assert auto.code == 0 and "lock: keeper-map (linearizable)" in auto.all, auto.all
        assert _applied(http_target, tmp_path) == ["0001", "0002", "0003"]
    else:
        assert forced.code == 3, forced.all
        assert "lock = keeper, but" in forced.err and "KeeperMap" in forced.err
        assert _applied(http_target, tmp_path) == []  # nothing ran
    # another database first locked by a lease keeps the lease, even when Keeper is asked for
    other_db = http_target.database + "_lease"
    other = env | {"CHMIGRATE_DATABASE": other_db}
    try:
        first = chmigrate("up", "--to", "1", cwd=tmp_path, env=other | {"CHMIGRATE_LOCK": "lease"})
        assert first.code == 0 and "lock: lease (best-effort; lock = lease)" in first.all, first.all
        keeper = chmigrate("up", cwd=tmp_path, env=other | {"CHMIGRATE_LOCK": "keeper"})
        assert keeper.code == 2 and "keeper refused" in keeper.err and "chmigrate_ledger_lock" in keeper.err, \
            keeper.all
        auto = chmigrate("up", cwd=tmp_path, env=other)
        assert auto.code == 0 and "lock: lease (best-effort; recorded: this database uses the lease)" in auto.all
    finally:
        with http_target.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS `{other_db}`")


def test_a_held_claim_makes_another_run_wait_then_give_up(keeper_target: Target, ch: ClickHouse,
                                                          tmp_path: Path) -> None:
    holder = KeeperLock(ch, keeper_target.database, TABLE)
    holder.acquire(timeout=5)
    try:
        r = chmigrate("up", "--lock-timeout", "1", cwd=tmp_path, env=_env(keeper_target))
        assert r.code == 3, r.all
        assert "another chmigrate run holds the lock" in r.err and socket.gethostname() in r.err
        assert _applied(keeper_target, tmp_path) == []
    finally:
        holder.release()
    r = chmigrate("up", "--lock-timeout", "1", cwd=tmp_path, env=_env(keeper_target))
    assert r.code == 0 and "lock: keeper-map (linearizable)" in r.all, r.all
    assert _applied(keeper_target, tmp_path) == ["0001", "0002", "0003"]


def test_unlock_frees_the_claim_of_a_crashed_run(keeper_target: Target, ch: ClickHouse, tmp_path: Path) -> None:
    crashed = KeeperLock(ch, keeper_target.database, TABLE)
    crashed.acquire(timeout=5)
    crashed.heartbeat.stop()  # the process died: no more renewals, no release
    # its claim has not expired yet: a live claim is only freed with --force
    r = chmigrate("unlock", cwd=tmp_path, env=_env(keeper_target))
    assert r.code == 1 and "held by a live run" in r.err and "--force" in r.err, r.all
    assert ch.query(f"SELECT holder FROM `{keeper_target.database}`.{TABLE}") == [(crashed.holder,)]
    r = chmigrate("unlock", "--force", cwd=tmp_path, env=_env(keeper_target))
    assert r.code == 0 and f"released the keeper-map claim of {crashed.holder}" in r.all and "(live;" in r.all, r.all
    assert chmigrate("unlock", cwd=tmp_path, env=_env(keeper_target)).out.strip() == (
        "no lock held: nothing to release")
    r = chmigrate("up", "--lock-timeout", "1", cwd=tmp_path, env=_env(keeper_target))
    assert r.code == 0, r.all


def test_an_expired_claim_is_taken_over_and_its_old_holder_stops(keeper_target: Target, ch: ClickHouse) -> None:
    old = KeeperLock(ch, keeper_target.database, TABLE, lease=3.0)
    old.acquire(timeout=5)
    old.heartbeat.stop()  # stalled: it stops renewing but still believes it holds the lock
    new = KeeperLock(ch, keeper_target.database, TABLE, lease=3.0)
    with pytest.raises(LockTimeout):  # the stalled claim is still within its lease
        new.acquire(timeout=0.3)
    new.acquire(timeout=10)  # and once it has expired, the next run takes over
    claim = new.current()
    assert claim is not None and claim.holder == new.holder
    # The stalled holder wakes up: its next renewal finds the claim gone, and it stops before any statement.
    old.heartbeat.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            old.check()
        except LockLost as exc:
            assert "released or taken over" in str(exc)
            break
        time.sleep(0.1)
    else:
        pytest.fail("the stalled holder never noticed that it lost the lock")
    old.heartbeat.stop()
    new.release()
    assert new.current() is None


def test_keeper_paths_are_distinct_and_plain() -> None:
    assert keeper_path("analytics", TABLE) == f"/chmigrate/analytics.{TABLE}"
    odd = {keeper_path(db, TABLE) for db in ("a/b", "a_b", "données", "a b", ".hidden")}
    assert len(odd) == 5
    assert all(p.startswith("/chmigrate/") and p.count("/") == 2 and p.isascii() for p in odd)



def test_a_run_that_lost_its_lock_stops_before_its_next_statement(http_target: Target, ch: ClickHouse,
                                                                  tmp_path: Path) -> None:
    from chmigrate.migrations.discovery import discover
    from chmigrate.migrations.executor import apply_steps
    from chmigrate.migrations.ledger import Ledger
    from chmigrate.migrations.planner import plan_up
    from tests.conformance.test_reliability import _effects, many_migrations

    many_migrations(tmp_path / "mig", 4)
    calls = []

    def check() -> None:  # the heartbeat found the claim gone just before the 4th statement
        calls.append(1)
        if len(calls) == 4:
            raise LockLost("lost the migration lock on db: another run took it over")

    ledger = Ledger(ch, http_target.database, "chmigrate_ledger")
    ch.execute(f"CREATE DATABASE IF NOT EXISTS `{http_target.database}`")
    ledger.ensure()
    ch.use_database(http_target.database)
    steps = plan_up(discover(tmp_path / "mig", {}), ledger.states())
    with pytest.raises(LockLost):
        apply_steps(ch, ledger, steps, check=check)
    # statements 1-3 ran (0001's CREATE, then 0002's CREATE and first INSERT); the 4th was never sent
    assert _effects(http_target) == {(2, 2): 1}
    state = ledger.states()["0002"]
    assert state.in_flight is not None and not state.applied
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(tmp_path / "mig")}
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 0, r.all  # the next run resumes after the last recorded statement
    assert all(n == 1 for n in _effects(http_target).values()) and len(_effects(http_target)) == 6
