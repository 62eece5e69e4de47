"""Two chmigrate runs at once: the advisory lock lets one apply and makes the other wait or give up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from chmigrate.errors import LockTimeout
from chmigrate.results import TargetUpResult
from chmigrate.targets.postgres import Postgres

from .conftest import PROJECT, REPO, Database

pytestmark = pytest.mark.postgres


def versions(db: Database) -> list[str]:
    return [r[0] for r in db.rows("SELECT version_num FROM orchestrator.chmigrate_alembic_version")]


def test_two_runs_at_once_in_threads_one_applies_the_other_waits(pg_db: Database) -> None:
    results: list[TargetUpResult] = []
    failures: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            with Postgres.connect(pg_db.config()) as target:  # its own engine and connections
                start.wait()
                results.append(target.up())
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    with Postgres.connect(pg_db.config()) as holder, holder.lock(5):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        start.wait()
        time.sleep(0.6)  # both are now polling for the lock
        assert not pg_db.rows("SELECT to_regclass('orchestrator.model_pricing')")[0][0]
    for t in threads:
        t.join(60)

    assert failures == []
    assert sorted(len(r.applied) for r in results) == [0, 1]
    assert all(r.lock is not None and r.lock.waited_seconds > 0 for r in results)
    idle = next(r for r in results if not r.applied)
    assert idle.at == ("0001",)  # nothing to apply: already at 0001
    assert versions(pg_db) == ["0001"]
    assert pg_db.rows("SELECT to_regclass('orchestrator.model_pricing') IS NOT NULL") == [(True,)]


RUNNER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from chmigrate.targets.postgres import Postgres, PostgresConfig
    url, password, project, ready = sys.argv[1:5]
    config = PostgresConfig(url=url, password=password, project_dir=Path(project), lock_timeout=60)
    with Postgres.connect(config) as target:
        Path(ready).touch()
        result = target.up()
    waited = result.lock.waited_seconds if result.lock else None
    print(json.dumps({"applied": [a.version for a in result.applied], "waited": waited}))
""")


def test_two_runs_at_once_in_processes(pg_db: Database, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with Postgres.connect(pg_db.config()) as holder, holder.lock(30):
        procs = []
        for i in range(2):
            ready = tmp_path / f"ready{i}"
            procs.append((ready, subprocess.Popen(
                [sys.executable, "-c", RUNNER, pg_db.url, pg_db.server.password, str(PROJECT), str(ready)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)))
        deadline = time.monotonic() + 30
        while not all(r.exists() for r, _ in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    outputs = []
    for _, proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))

    assert sorted(o["applied"] for o in outputs) == [[], ["0001"]]
    assert all(o["waited"] and o["waited"] > 0 for o in outputs)
    assert versions(pg_db) == ["0001"]


def test_lock_timeout_while_another_run_holds_the_lock(pg_db: Database) -> None:
    with Postgres.connect(pg_db.config()) as holder, holder.lock(5), \
            Postgres.connect(pg_db.config(lock_timeout=0.3)) as late:
        began = time.monotonic()
        with pytest.raises(LockTimeout) as err:
            late.up()
        waited = time.monotonic() - began
        with pytest.raises(LockTimeout):
            late.down("base")

    message = str(err.value)
    assert message.startswith(f"could not get the chmigrate migration lock on {pg_db.url} within 0.3 s")
    assert "another chmigrate run holds it (PostgreSQL backend pid " in message
    assert "application chmigrate" in message and "\n" not in message
    assert err.value.exit_code == 3
    assert 0.3 <= waited < 3
    assert pg_db.rows("SELECT to_regclass('orchestrator.model_pricing') IS NULL") == [(True,)]
    # Released on exit: a later run gets it at once.
    with Postgres.connect(pg_db.config(lock_timeout=0.3)) as target:
        result = target.up()
    assert [a.version for a in result.applied] == ["0001"]
    assert result.lock is not None and result.lock.waited_seconds == 0


def test_the_lock_is_per_database(pg_db: Database, pg_server: object) -> None:
    other = f"{pg_db.name}_b"
    pg_db.execute(f'CREATE DATABASE "{other}"')
    try:
        with Postgres.connect(pg_db.config()) as holder, holder.lock(5):
            config = pg_db.config(url=pg_db.server.url(other), lock_timeout=0.3)
            with Postgres.connect(config) as target:
                assert [a.version for a in target.up().applied] == ["0001"]
    finally:
        pg_db.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
