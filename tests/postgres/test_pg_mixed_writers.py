"""A Postgres-covered `up` and the ClickHouse-only writers share one ClickHouse run lock."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import chmigrate
from tests.conformance.test_run_lock import effects, finish, ledger_runs, slow_migrations, start
from tests.conftest import REPO, Target


@pytest.mark.server
@pytest.mark.postgres
def test_writers_of_every_kind_wait_for_a_postgres_covered_up(http_target: Target, pg_db: Any,
                                                             tmp_path: Path) -> None:
    slow_migrations(tmp_path / "mig", http_target, steps=10)
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(tmp_path / "mig")}
    both = env | {"CHMIGRATE_ONLY": "clickhouse,postgres", "CHMIGRATE_POSTGRES_URL": pg_db.url,
                  "PGPASSWORD": pg_db.server.password, "CHMIGRATE_POSTGRES_DIR": str(REPO / "postgres")}
    holder = start(tmp_path, both)
    # the three start together, so that all of them meet the holder's lock even on a loaded machine
    with ThreadPoolExecutor(3) as pool:
        others = list(pool.map(lambda args: chmigrate(*args, "--lock-timeout", "1", cwd=tmp_path, env=env),
                               (("up",), ("down", "--to", "0"), ("resolve", "2", "--applied"))))
    still_running = holder.poll() is None
    code, out = finish(holder)
    if http_target.endpoint is not None:
        http_target.endpoint.clear_fault()
    assert code == 0, out
    assert still_running, "the holder finished before the other writers ran: the test proved nothing"
    for r in others:  # none of them changed ClickHouse while the holder ran
        assert r.code == 3 and "another chmigrate run holds the lock" in r.err, r.all
    assert effects(http_target) == Counter(range(1, 11))
    assert len(set(ledger_runs(http_target))) == 1  # every ledger row is the holder's
    # and it migrated Postgres too
    assert pg_db.rows("SELECT count(*) FROM orchestrator.chmigrate_alembic_version") == [(1,)]
