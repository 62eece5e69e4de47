"""How the ledger folds what a run learnt about a statement's outcome (pure: no database)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chmigrate.errors import StateError
from chmigrate.migrations.discovery import Migration, discover
from chmigrate.migrations.ledger import Record, cumulative_hash, fold
from chmigrate.migrations.planner import plan_up

INSERTS = "INSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\nINSERT INTO a VALUES (3);\n"


def rec(m: Migration, event: str, done: int, seq: int, run: str = "r1") -> Record:
    return Record(version=m.version, name=m.name, checksum=m.checksum, event=event, statement_index=done,
                  statement_count=len(m.up), cumulative_hash=cumulative_hash(s.raw for s in m.up[:done]),
                  failed_statement=0, error="", recorded_at=f"t{seq:02d}", run_id=run, seq=seq)


@pytest.fixture
def mig(tmp_path: Path) -> Migration:
    (tmp_path / "0001_inserts.sql").write_text(INSERTS)
    return discover(tmp_path)[0]


def test_an_interrupted_insert_is_dirty_until_its_outcome_is_known(mig: Migration) -> None:
    states = fold([rec(mig, "started", 0, 1), rec(mig, "progress", 1, 2)])
    with pytest.raises(StateError, match="statement 2 .*outcome is unknown"):
        plan_up([mig], states)


@pytest.mark.parametrize("done,resume", [(2, 3), (1, 2)])  # statement 2 finished / never ran, per the log
def test_a_recovered_outcome_resumes_at_the_right_statement(mig: Migration, done: int, resume: int) -> None:
    states = fold([rec(mig, "started", 0, 1), rec(mig, "progress", 1, 2), rec(mig, "recovered", done, 3, "r2")])
    assert [(s.migration.version, s.start) for s in plan_up([mig], states)] == [("0001", resume)]


def test_a_run_that_lost_its_lock_says_which_statement_it_never_sent(mig: Migration) -> None:
    states = fold([rec(mig, "started", 0, 1), rec(mig, "progress", 1, 2), rec(mig, "stopped", 1, 3)])
    assert [(s.migration.version, s.start) for s in plan_up([mig], states)] == [("0001", 2)]


def test_a_stopped_row_after_another_runs_rows_is_ignored(mig: Migration) -> None:
    # r1 lost its lock; r2 took over and ran statement 2 before r1's row arrived: r1's row must not rewind r2
    rows = [rec(mig, "started", 0, 1), rec(mig, "progress", 1, 2), rec(mig, "started", 1, 3, "r2"),
            replace(rec(mig, "progress", 2, 4, "r2")), rec(mig, "stopped", 1, 5)]
    states = fold(rows)
    assert states["0001"].done == 2 and not states["0001"].next_unsent
    with pytest.raises(StateError, match="statement 3"):
        plan_up([mig], states)
