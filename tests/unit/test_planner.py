"""What `up` runs and what `status` shows, from files and ledger events alone (no database)."""

from pathlib import Path

import pytest

from chmigrate.errors import StateError
from chmigrate.migrations.discovery import discover
from chmigrate.migrations.ledger import Record, cumulative_hash, fold
from chmigrate.migrations.planner import plan_up, statuses

FIVE = "\n".join([
    "CREATE TABLE IF NOT EXISTS a (x Int8) ENGINE = Memory;",
    "CREATE TABLE IF NOT EXISTS b (x Int8) ENGINE = Memory;",
    "INSERT INTO a VALUES (1);",
    "CREATE TABLE IF NOT EXISTS c (x Int8) ENGINE = Memory;",
    "CREATE TABLE IF NOT EXISTS d (x Int8) ENGINE = Memory;",
])


def rec(m, event: str, done: int, *, failed: int = 0, checksum: str | None = None, seq: int = 1) -> Record:
    return Record(version=m.version, name=m.name, checksum=checksum or m.checksum, event=event,
                  statement_index=done, statement_count=len(m.up),
                  cumulative_hash=cumulative_hash(s.raw for s in m.up[:done]), failed_statement=failed,
                  error="boom" if failed else "", recorded_at=f"t{seq}", run_id="r", seq=seq)


@pytest.fixture
def migs(tmp_path: Path):
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE x (a Int8) ENGINE = Memory;")
    (tmp_path / "0002_five.sql").write_text(FIVE)
    return discover(tmp_path)


def test_fresh_database_plans_everything_in_order(migs) -> None:
    steps = plan_up(migs, {})
    assert [(s.migration.version, s.start) for s in steps] == [("0001", 1), ("0002", 1)]
    assert [r.state for r in statuses(migs, {})] == ["pending", "pending"]


def test_applied_versions_are_skipped_and_shown_applied(migs) -> None:
    states = fold([rec(migs[0], "started", 0), rec(migs[0], "applied", 1, seq=2)])
    assert [s.migration.version for s in plan_up(migs, states)] == ["0002"]
    assert [r.state for r in statuses(migs, states)] == ["applied", "pending"]


def test_failed_statement_refuses_until_file_changes_then_resumes_there(migs, tmp_path: Path) -> None:
    m = migs[1]
    states = fold([rec(m, "started", 0), rec(m, "failed", 2, failed=3, seq=2)])
    assert statuses(migs, states)[1].state == "failed"
    with pytest.raises(StateError) as err:
        plan_up(migs, states)
    assert "0002_five.sql statement 3" in str(err.value) and "boom" in str(err.value)
    assert plan_up(migs, states, retry_failed=True)[1].start == 3
    (tmp_path / "0002_five.sql").write_text(FIVE.replace("VALUES (1)", "VALUES (2)"))
    fixed = discover(tmp_path)
    assert plan_up(fixed, states)[1].start == 3


def test_edited_done_statements_refuse_resume(migs, tmp_path: Path) -> None:
    m = migs[1]
    states = fold([rec(m, "started", 0), rec(m, "failed", 2, failed=3, seq=2)])
    (tmp_path / "0002_five.sql").write_text(FIVE.replace("IF NOT EXISTS a", "IF NOT EXISTS a2"))
    with pytest.raises(StateError, match="edited since"):
        plan_up(discover(tmp_path), states)


def test_interrupted_before_harmless_statement_resumes(migs) -> None:
    m = migs[1]
    # statements 3 (INSERT) recorded done; crash somewhere in 4-5 (both rerunnable)
    states = fold([rec(m, "started", 0), rec(m, "progress", 2, seq=2), rec(m, "progress", 3, seq=3)])
    assert statuses(migs, states)[1].state == "dirty"
    assert plan_up(migs, states)[1].start == 4


def test_interrupted_at_non_rerunnable_statement_stops_and_names_it(migs) -> None:
    m = migs[1]
    states = fold([rec(m, "started", 0), rec(m, "progress", 2, seq=2)])  # INSERT (3) may have run
    with pytest.raises(StateError) as err:
        plan_up(migs, states)
    assert "0002_five.sql statement 3" in str(err.value) and "unknown" in str(err.value)


def test_changed_and_unknown_versions(migs) -> None:
    states = fold([rec(migs[0], "applied", 1, checksum="0" * 64),
                   Record("0009", "gone", "f" * 64, "applied", 1, 1, "", 0, "", "t9", "r", 9)])
    rows = statuses(migs, states)
    assert [(r.version, r.state) for r in rows] == [("0001", "changed"), ("0002", "pending"),
                                                   ("0009", "unknown")]
    with pytest.raises(StateError, match="missing"):
        plan_up(migs, states)
    states.pop("0009")
    with pytest.raises(StateError) as err:
        plan_up(migs, states)
    assert "0" * 64 in str(err.value) and migs[0].checksum in str(err.value)
    assert [s.migration.version for s in plan_up(migs, states, allow_changed=["1"])] == ["0002"]


def test_to_limits_the_plan(migs) -> None:
    assert [s.migration.version for s in plan_up(migs, {}, to="1")] == ["0001"]
