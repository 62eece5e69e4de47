"""Adopting a hand-made production database (issue 10), on the embedded engine and over HTTP.

The seed objects are created by hand as the operations guide shows them: no comments, and the view
written with `toInt64(count())` and no cast on the cost sum (the same output columns and types).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chmigrate.migrations.ledger import Ledger, Subject
from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target

LLM_USAGE = """CREATE TABLE llm_usage
(
    event_id UUID DEFAULT generateUUIDv4(),
    event_time DateTime64(3, 'UTC'),
    user_id UUID,
    workspace_id UUID,
    conversation_id UUID,
    message_id String,
    agent_id String,
    agent_db_id UUID,
    model String,
    provider String,
    prompt_tokens Int32,
    completion_tokens Int32,
    total_tokens Int32,
    tool_use_prompt_tokens Int32,
    thoughts_tokens Int32,
    cached_tokens Int32,
    cost_usd Decimal64(6),
    call_sequence Int32,
    turn_id String,
    session_id String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (user_id, workspace_id, event_time, event_id)
TTL toDateTime(event_time) + INTERVAL 13 MONTH"""

LLM_USAGE_DAILY = """CREATE TABLE llm_usage_daily
(
    day Date,
    user_id UUID,
    workspace_id UUID,
    model String,
    agent_id String,
    total_prompt_tokens Int64,
    total_completion_tokens Int64,
    total_tokens Int64,
    total_cost_usd Decimal128(6),
    request_count Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (user_id, workspace_id, day, model, agent_id)
TTL day + INTERVAL 25 MONTH"""

LLM_USAGE_DAILY_MV = """CREATE MATERIALIZED VIEW llm_usage_daily_mv TO llm_usage_daily
AS SELECT
    toDate(event_time) AS day,
    user_id,
    workspace_id,
    model,
    agent_id,
    sum(prompt_tokens) AS total_prompt_tokens,
    sum(completion_tokens) AS total_completion_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cost_usd) AS total_cost_usd,
    toInt64(count()) AS request_count
FROM llm_usage
GROUP BY day, user_id, workspace_id, model, agent_id"""

OBJECTS = ("llm_usage", "llm_usage_daily", "llm_usage_daily_mv")


def make_by_hand(target: Target, *statements: str) -> None:
    with target.connect() as ch:  # pasted into the server by a person, not through chmigrate
        ch.execute(f"CREATE DATABASE IF NOT EXISTS `{target.database}`")
        ch.use_database(target.database)
        for sql in statements or (LLM_USAGE, LLM_USAGE_DAILY, LLM_USAGE_DAILY_MV):
            ch.execute(sql)


def env_for(target: Target) -> dict[str, str]:
    return target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED)}


def states(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    st = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    return {m["version"]: m["state"] for m in st["clickhouse"]["migrations"]}


def diff_changes(tmp_path: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    r = chmigrate("diff", "--format", "json", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    return json.loads(r.out)["clickhouse"]["changes"]  # type: ignore[no-any-return]


def writes(target: Target) -> list[str]:
    return [e["query"] for e in target.endpoint.log() if e["write"]]


def test_up_refuses_then_baseline_reconcile_adopts(target: Target, tmp_path: Path) -> None:
    make_by_hand(target)
    env = env_for(target)
    db = target.database
    before = diff_changes(tmp_path, env)
    kinds = {(c["kind"], c["attribute"]) for c in before}
    assert ("view_query_changed", "query") in kinds and ("column_changed", "comment") in kinds, kinds
    view = next(c for c in before if c["kind"] == "view_query_changed")
    assert view["output_changed"] is False and "toInt64(count())" in view["actual"]

    plan = json.loads(chmigrate("plan", "--format", "json", cwd=tmp_path, env=env).out)
    assert [s["exists"] for s in plan["clickhouse"]["statements"]] == [True, True, True]

    if target.endpoint is not None:
        target.endpoint.clear_log()
    up = chmigrate("up", cwd=tmp_path, env=env)
    assert up.code == 1, up.all
    assert "chmigrate baseline --to 0003" in up.err and "--reconcile" in up.err, up.err
    for name in OBJECTS:
        assert f"{db}.{name}" in up.err
    assert f"{len(before)} difference(s)" in up.err
    if target.endpoint is not None:
        assert target.endpoint.log(), "the log saw no request"
        assert writes(target) == []  # no DDL, no ledger row, no lock table
    assert set(states(tmp_path, env).values()) == {"pending"}

    refused = chmigrate("baseline", "--to", "0003", cwd=tmp_path, env=env)
    assert refused.code == 1 and "baseline refused" in refused.err, refused.all
    assert "llm_usage_daily_mv" in refused.out and "`toInt64(count())`" in refused.out
    assert "--reconcile" in refused.err

    dry = chmigrate("baseline", "--to", "0003", "--reconcile", "--dry-run", cwd=tmp_path, env=env)
    assert dry.code == 0, dry.all
    printed = [ln[:-1] for ln in dry.out.splitlines() if ln.endswith(";")]
    assert len(printed) == len(before), dry.out
    assert any("MODIFY QUERY" in s and "CAST(count(), 'Int64')" in s for s in printed)
    assert any("COMMENT COLUMN" in s and "request_count" in s for s in printed)
    assert set(states(tmp_path, env).values()) == {"pending"}
    assert len(diff_changes(tmp_path, env)) == len(before)  # the dry run changed nothing

    if target.endpoint is not None:
        target.endpoint.clear_log()
    adopted = chmigrate("baseline", "--to", "0003", "--reconcile", cwd=tmp_path, env=env)
    assert adopted.code == 0, adopted.all
    assert "recorded 0001, 0002, 0003 as applied" in adopted.out
    if target.endpoint is not None:
        sent = [q.strip() for q in writes(target)]
        assert all(s in sent for s in printed), (printed, sent)
    assert diff_changes(tmp_path, env) == []
    assert set(states(tmp_path, env).values()) == {"applied"}
    v = chmigrate("verify", cwd=tmp_path, env=env)
    assert v.code == 0, v.all
    again = chmigrate("up", cwd=tmp_path, env=env)
    assert again.code == 0 and "nothing to apply" in again.out, again.all
    with target.connect() as ch:
        events = ch.query(f"SELECT version, event, os_user FROM `{db}`.chmigrate_ledger ORDER BY version")
    assert [(str(r[0]), str(r[1])) for r in events] == [("0001", "baselined"), ("0002", "baselined"),
                                                         ("0003", "baselined")]
    assert all(str(r[2]) for r in events)


def _failed_first_statement(target: Target, version: str, name: str, checksum: str, event: str) -> None:
    """The rows an older run left when it sent statement 1 of `version` and the server refused it."""
    with target.connect() as ch:
        ledger = Ledger(ch, target.database)
        ledger.ensure()
        subject = Subject(version, name, checksum, 1)
        ledger.record(subject, event="started", statement_index=0, cumulative_hash="")
        ledger.record(subject, event=event, statement_index=0, cumulative_hash="", failed_statement=1,
                      error=f"Code: 57. DB::Exception: Table {target.database}.{name} already exists. "
                      "(TABLE_ALREADY_EXISTS)" if event == "failed" else "connection lost")


def test_a_failed_first_statement_does_not_block_baseline(target: Target, tmp_path: Path) -> None:
    make_by_hand(target)
    env = env_for(target)
    status = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    first = status["clickhouse"]["migrations"][0]
    _failed_first_statement(target, "0001", "create_llm_usage", first["checksum"], "failed")
    assert states(tmp_path, env)["0001"] == "failed"
    b = chmigrate("baseline", "--to", "0003", "--reconcile", cwd=tmp_path, env=env)
    assert b.code == 0, b.all
    assert set(states(tmp_path, env).values()) == {"applied"}
    assert chmigrate("verify", cwd=tmp_path, env=env).code == 0


def test_baseline_names_the_fix_for_a_version_with_an_unknown_outcome(target: Target, tmp_path: Path) -> None:
    make_by_hand(target)
    env = env_for(target)
    status = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    second = status["clickhouse"]["migrations"][1]
    _failed_first_statement(target, "0002", "create_llm_usage_daily", second["checksum"], "failed_unknown")
    b = chmigrate("baseline", "--to", "0003", "--reconcile", cwd=tmp_path, env=env)
    assert b.code == 1, b.all
    assert "0002" in b.err and "chmigrate resolve 0002 --rolled-back" in b.err, b.err
    assert "0001" not in b.err.split("hint:")[0]
    assert states(tmp_path, env)["0001"] == "pending"


def test_reconcile_refuses_a_column_type_difference_and_applies_nothing(target: Target, tmp_path: Path) -> None:
    make_by_hand(target, LLM_USAGE.replace("call_sequence Int32", "call_sequence Int64"), LLM_USAGE_DAILY,
                 LLM_USAGE_DAILY_MV)
    env = env_for(target)
    before = diff_changes(tmp_path, env)
    if target.endpoint is not None:
        target.endpoint.clear_log()
    r = chmigrate("baseline", "--to", "0003", "--reconcile", cwd=tmp_path, env=env)
    assert r.code == 1, r.all
    assert f"{target.database}.llm_usage.call_sequence" in r.err and "type" in r.out, r.all
    assert "nothing was applied" in r.err
    if target.endpoint is not None:
        assert writes(target) == []
    assert diff_changes(tmp_path, env) == before
    assert set(states(tmp_path, env).values()) == {"pending"}


def test_text_diff_shows_the_differing_tokens(target: Target, tmp_path: Path) -> None:
    make_by_hand(target)
    env = env_for(target)
    with target.connect() as ch:
        ch.execute(f"ALTER TABLE `{target.database}`.llm_usage MODIFY COLUMN event_id "
                   "DEFAULT toUUID('00000000-0000-0000-0000-000000000000')")
    r = chmigrate("diff", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    view = next(ln for ln in r.out.splitlines() if "view_query_changed" in ln)
    assert "`CAST(count(), 'Int64')` vs `toInt64(count())`" in view, view
    assert "`CAST(sum(cost_usd), 'Decimal128(6)')` vs `sum(cost_usd)`" in view, view
    assert "output columns and types unchanged" in view
    default = next(ln for ln in r.out.splitlines() if "event_id default" in ln)
    assert "`generateUUIDv4()` vs `toUUID('00000000-0000-0000-0000-000000000000')`" in default, default
