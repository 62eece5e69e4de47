"""One run lock for every writer: whatever its flags, a writing command takes the ClickHouse database's run lock
(and a Postgres server's advisory lock after it), and a run whose claim cannot be confirmed stops before its
next statement. Proven from the ledger and the server's tables, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import Target

LOCK_TABLES = r"chmigrate_ledger_(keeper_)?lock"


def slow_migrations(d: Path, target: Target, steps: int = 6) -> None:
    """0001 makes `effects`; 0002 inserts one row per step, about a second apart: the test endpoint delays each
    INSERT by a second (without holding its engine, which serialises queries); a real server sleeps."""
    d.mkdir()
    (d / "0001_effects.sql").write_text("CREATE TABLE effects (step UInt32) ENGINE = MergeTree ORDER BY step;\n")
    pause = "" if target.endpoint is not None else "SELECT sleep(1);\n"
    (d / "0002_slow.sql").write_text("".join(f"INSERT INTO effects VALUES ({i});\n{pause}"
                                             for i in range(1, steps + 1)))
    if target.endpoint is not None:
        target.endpoint.fault(match=r"INSERT INTO effects\b", delay=1, fail=False, times=None)


def effects(target: Target) -> Counter[int]:
    with target.connect() as ch:
        return Counter(int(r[0]) for r in ch.query(f"SELECT step FROM `{target.database}`.effects"))


def start(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start `chmigrate up` and return once it holds its lock (it printed its first migration)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")
            and k not in ("CLICKHOUSE_PASSWORD", "PGPASSWORD")}
    p = subprocess.Popen([sys.executable, "-m", "chmigrate", "up", *args], cwd=cwd, env=base | env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith("applying"), line + (p.stderr.read() if p.stderr else "")
    return p


def finish(p: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = p.communicate(timeout=120)
    return p.returncode, out + err


def ledger_runs(target: Target) -> list[str]:
    with target.connect() as ch:
        return [str(r[0]) for r in ch.query(
            f"SELECT run_id FROM `{target.database}`.chmigrate_ledger ORDER BY recorded_at, seq")]


@pytest.mark.server
def test_a_lock_is_reported_as_waited_for_only_when_another_run_held_it(http_target: Target,
                                                                       tmp_path: Path) -> None:
    """A lock taken at the first claim was not waited for, however slow the server answers the claim; one
    taken after another run let go was."""
    if http_target.endpoint is None:
        pytest.skip("needs the test endpoint to delay the lock table's queries")
    slow_migrations(tmp_path / "mig", http_target, steps=3)
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(tmp_path / "mig")}
    http_target.endpoint.fault(match=LOCK_TABLES, delay=0.4, fail=False, times=None)
    r = chmigrate("up", "--to", "1", cwd=tmp_path, env=env)
    http_target.endpoint.clear_fault()
    http_target.endpoint.fault(match=r"INSERT INTO effects\b", delay=1, fail=False, times=None)
    assert r.code == 0, r.all
    assert "lock: " in r.err and "waited" not in r.err, r.err  # a lease or a KeeperMap claim alike
    holder = start(tmp_path, env)  # holds the lock about 3 s
    second = chmigrate("up", "--lock-timeout", "60", cwd=tmp_path, env=env)
    code, out = finish(holder)
    http_target.endpoint.clear_fault()
    assert code == 0, out
    assert second.code == 0 and "waited " in second.err, second.all
    assert effects(http_target) == Counter(range(1, 4))  # each statement once


@pytest.mark.server
def test_a_holder_whose_renewals_hang_stops_before_its_next_statement(http_target: Target, tmp_path: Path) -> None:
    if http_target.endpoint is None:
        pytest.skip("needs the test endpoint to delay the lock table's queries")
    slow_migrations(tmp_path / "mig", http_target, steps=8)
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(tmp_path / "mig"), "CHMIGRATE_LOCK_LEASE": "3"}
    holder = start(tmp_path, env)
    # from now on every query on the lock table hangs 4 s, longer than a renewal may take (1 s here)
    http_target.endpoint.fault(match=LOCK_TABLES, delay=4, times=None, code=159, message="Timeout exceeded")
    code, out = finish(holder)
    http_target.endpoint.clear_fault()
    http_target.endpoint.fault(match=r"INSERT INTO effects\b", delay=1, fail=False, times=None)
    assert code == 3 and "lost the migration lock" in out and "not been confirmed" in out, out
    done = effects(http_target)
    assert 0 < len(done) < 8 and all(n == 1 for n in done.values())
    r = chmigrate("up", "--lock-timeout", "30", cwd=tmp_path, env=env)  # waits for the claim to expire
    assert r.code == 0, r.all
    assert effects(http_target) == Counter(range(1, 9))  # the rest, each statement once
    http_target.endpoint.clear_fault()


@pytest.mark.server
@pytest.mark.parametrize("kind", ["keeper", "lease"])
def test_unlock_force_frees_a_live_claim_and_its_holder_stops(http_target: Target, tmp_path: Path,
                                                              kind: str) -> None:
    if kind == "keeper" and not http_target.keeper:
        pytest.skip("this server has no Keeper: the KeeperMap lock cannot be taken")
    slow_migrations(tmp_path / "mig", http_target, steps=8)
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(tmp_path / "mig"), "CHMIGRATE_LOCK": kind,
                                   "CHMIGRATE_LOCK_LEASE": "4"}
    holder = start(tmp_path, env)
    refused = chmigrate("unlock", cwd=tmp_path, env=env)
    assert refused.code == 1 and "held by a live run" in refused.err and "--force" in refused.err, refused.all
    forced = chmigrate("unlock", "--force", cwd=tmp_path, env=env)
    assert forced.code == 0 and "(live;" in forced.out, forced.all
    code, out = finish(holder)
    assert code == 3 and "lost the migration lock" in out and "released or taken over" in out, out
    done = effects(http_target)
    assert 0 < len(done) < 8 and all(n == 1 for n in done.values())
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    assert effects(http_target) == Counter(range(1, 9))
    if http_target.endpoint is not None:
        http_target.endpoint.clear_fault()
