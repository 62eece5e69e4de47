"""`doctor` finds each fault of the troubleshooting list on a loaded database, with the right days, models and
counts, and a fault's finding clears once it is fixed. Embedded (chDB + the embedded PostgreSQL) and over HTTP
(the test endpoint, re-run on ClickHouse 24.8 by the parity run) with a PostgreSQL server."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from chmigrate import api
from chmigrate.results import DoctorResult, Finding
from chmigrate.settings import Settings, load
from tests.conftest import REPO, SEED, Target
from tests.postgres.conftest import pg_db, pg_server  # noqa: F401 - the PostgreSQL server fixtures
from tests.support import events as ev

# River's job table as its migrations (002 initial schema, 004 pending and more) leave it in the orchestrator's
# schema: the state enum, the columns the orchestrator's jobs fill, the constraints and River's indexes.
RIVER_DDL = """
CREATE TYPE orchestrator.river_job_state AS ENUM ('available', 'cancelled', 'completed', 'discarded', 'pending',
    'retryable', 'running', 'scheduled');
CREATE TABLE orchestrator.river_job (
    id bigserial PRIMARY KEY,
    state orchestrator.river_job_state NOT NULL DEFAULT 'available',
    attempt smallint NOT NULL DEFAULT 0,
    max_attempts smallint NOT NULL,
    attempted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    finalized_at timestamptz,
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    priority smallint NOT NULL DEFAULT 1,
    args jsonb NOT NULL,
    attempted_by text[],
    errors jsonb[],
    kind text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    queue text NOT NULL DEFAULT 'default',
    tags varchar(255)[],
    CONSTRAINT finalized_or_finalized_at_null CHECK (
        (finalized_at IS NULL AND state NOT IN ('cancelled', 'completed', 'discarded')) OR
        (finalized_at IS NOT NULL AND state IN ('cancelled', 'completed', 'discarded'))),
    CONSTRAINT max_attempts_is_positive CHECK (max_attempts > 0),
    CONSTRAINT priority_in_range CHECK (priority >= 1 AND priority <= 4),
    CONSTRAINT queue_length CHECK (char_length(queue) > 0 AND char_length(queue) < 128),
    CONSTRAINT kind_length CHECK (char_length(kind) > 0 AND char_length(kind) < 128)
);
CREATE INDEX river_job_kind ON orchestrator.river_job USING btree (kind);
CREATE INDEX river_job_state_and_finalized_at_index ON orchestrator.river_job USING btree (state, finalized_at)
    WHERE finalized_at IS NOT NULL;
CREATE INDEX river_job_prioritized_fetching_index ON orchestrator.river_job
    USING btree (state, queue, priority, scheduled_at, id);
CREATE INDEX river_job_args_index ON orchestrator.river_job USING gin (args);
CREATE INDEX river_job_metadata_index ON orchestrator.river_job USING gin (metadata);
"""

# the view's own SELECT (clickhouse/0003), for one day: what a backfill of that day inserts
ROLLUP_DAY = """
INSERT INTO {db}.llm_usage_daily
SELECT toDate(event_time) AS day, user_id, workspace_id, model, agent_id, sum(prompt_tokens), sum(completion_tokens),
       sum(total_tokens), CAST(sum(cost_usd), 'Decimal128(6)'), CAST(count(), 'Int64')
FROM {db}.llm_usage WHERE toDate(event_time) = '{day}'
GROUP BY day, user_id, workspace_id, model, agent_id
"""
PRICED = ("gpt-4o", "claude-3-sonnet")


def settings_for(target: Target, pg_url: str | None) -> Settings:
    flags: dict[str, Any] = {"migrations_dir": SEED, "only": "clickhouse,postgres", "database": target.database}
    if target.url:
        flags.update(clickhouse_url=target.url, postgres_url=pg_url)
    env = {"CHMIGRATE_LOCAL_DIR": str(target.workdir / ".chmigrate"), "CHMIGRATE_POSTGRES_DIR": str(REPO / "postgres")}
    if target.password:
        env["CLICKHOUSE_PASSWORD"] = target.password
    return load(flags, env=env, cwd=target.workdir)


@contextlib.contextmanager
def postgres_for(request: pytest.FixtureRequest, target: Target) -> Iterator[tuple[str | None, Any]]:
    """(the Postgres URL doctor is given, a function that opens a psycopg connection to that database)."""
    if target.url is None:
        from chmigrate.embedded_postgres import EmbeddedPostgres

        # held for the whole test: every command of the test reuses this running server
        with EmbeddedPostgres(target.workdir / ".chmigrate" / "postgres") as running:
            yield None, lambda: psycopg.connect(running.url, password=running.password, autocommit=True)
        return
    db = request.getfixturevalue("pg_db")
    yield db.server.url(db.name, password=db.server.password), db.connect


def by_check(result: DoctorResult, check: str) -> list[Finding]:
    return [f for f in result.findings if f.check == check]


def only(result: DoctorResult, check: str) -> Finding:
    (f,) = by_check(result, check)
    return f


def test_each_fault_is_reported_by_its_check_and_clears_when_fixed(target: Target,
                                                                  request: pytest.FixtureRequest) -> None:
    # A detached view stays detached across a restart only with PERMANENTLY, which the embedded engine's
    # `default` database (an overlay) refuses: the embedded run uses a database of its own.
    target = dataclasses.replace(target, database="analytics") if target.url is None else target
    with postgres_for(request, target) as (pg_url, pg):
        s = settings_for(target, pg_url)
        api.up(s)
        db = f"`{target.database}`"
        with target.connect() as ch:
            now = ch.query("SELECT now('UTC')")[0][0].replace(tzinfo=timezone.utc)
            events, rows = ev.generate(now, 50_000, seed=13)
            lost_day = (now - timedelta(days=2)).date()  # one of the last 3 complete days
            lost = [r for e, r in zip(events, rows) if ev.utc_date(e.event_time) == lost_day]
            kept = [r for e, r in zip(events, rows) if ev.utc_date(e.event_time) != lost_day]
            assert len(lost) > 100
            ch.insert("llm_usage", kept, ev.COLUMNS, database=target.database)
            # the view detached while one day's events arrive: they are never rolled up
            ch.execute(f"DETACH TABLE {db}.llm_usage_daily_mv PERMANENTLY")
            ch.insert("llm_usage", lost, ev.COLUMNS, database=target.database)
        with pg() as conn:
            conn.execute("INSERT INTO orchestrator.model_pricing (provider, model, input_cost_per_token, "
                         "output_cost_per_token, source) SELECT 'p', m, 0.000001, 0.000002, 'test' "
                         "FROM unnest(%s::text[]) AS m", (list(PRICED),))
            conn.execute(RIVER_DDL)
            conn.execute("INSERT INTO orchestrator.river_job (state, max_attempts, args, kind, attempt, finalized_at) "
                         "VALUES ('retryable', 25, '{}', 'usage_write', 3, NULL), "
                         "('retryable', 25, '{}', 'usage_write', 1, NULL), ('retryable', 25, '{}', 'usage_write', "
                         "7, NULL), ('discarded', 25, '{}', 'usage_write', 25, now() - interval '2 hours'), "
                         "('discarded', 25, '{}', 'usage_write', 25, now() - interval '3 hours'), "
                         "('discarded', 25, '{}', 'usage_write', 25, now() - interval '30 days'), "
                         "('completed', 25, '{}', 'usage_write', 1, now()), "
                         "('completed', 25, '{}', 'pricing_refresh', 1, now() - interval '5 hours')")

        # the view is detached: the views check names it (and nothing fills the rollup)
        result = api.doctor(s)
        detached = only(result, "views")
        assert (detached.status, detached.code) == ("fail", "view_detached")
        assert detached.fact("view") == f"{target.database}.llm_usage_daily_mv"
        with target.connect() as ch:
            ch.execute(f"ATTACH TABLE {db}.llm_usage_daily_mv")

        result = api.doctor(s)
        assert result.failed
        assert only(result, "views").status == "pass"
        assert only(result, "freshness").code == "fresh"
        assert only(result, "verify").status == "pass", only(result, "verify")
        mismatch = only(result, "rollup")
        assert (mismatch.status, mismatch.code) == ("fail", "rollup_mismatch")
        (day,) = mismatch.days
        assert day.day == str(lost_day) and day.raw_requests == len(lost) and day.rollup_requests == 0
        unpriced = only(result, "pricing")
        assert (unpriced.status, unpriced.code) == ("fail", "unpriced_models")
        window = [e for e in events if e.event_time >= now - timedelta(days=7)]
        expected = Counter(e.model for e in window if e.model not in PRICED)
        assert dict(unpriced.models) == dict(expected) and len(expected) == 2
        stuck = only(result, "river")
        assert (stuck.status, stuck.code) == ("fail", "usage_write_stuck")
        assert (stuck.fact("retryable"), stuck.fact("discarded")) == (3, 2)  # a discard 30 days ago is outside 7 d

        # fix each fault: backfill the lost day, price the other models, finish the stuck jobs
        with target.connect() as ch:
            ch.execute(ROLLUP_DAY.format(db=db, day=lost_day))
        with pg() as conn:
            conn.execute("INSERT INTO orchestrator.model_pricing (provider, model, input_cost_per_token, source) "
                         "SELECT 'p', m, 0.000003, 'test' FROM unnest(%s::text[]) AS m", (list(expected),))
            conn.execute("UPDATE orchestrator.river_job SET state = 'completed', finalized_at = now() "
                         "WHERE kind = 'usage_write' AND state IN ('retryable', 'discarded')")
        result = api.doctor(s)
        assert not result.failed, [f for f in result.findings if f.status != "pass"]
        assert {f.check: f.code for f in result.findings} == {
            "clickhouse.connect": "connected", "postgres.connect": "connected", "verify": "verify_passed",
            "views": "views_ok", "freshness": "fresh", "rollup": "rollup_ok", "pricing": "priced",
            "river": "river_ok"}

        # thresholds: a stale latest event and a stale price fetch warn, with the ages
        with pg() as conn:
            conn.execute("UPDATE orchestrator.model_pricing SET fetched_at = now() - interval '3 days'")
        with target.connect() as ch:
            latest = ch.query(f"SELECT max(event_time) FROM {db}.llm_usage")[0][0]
        short = load({"migrations_dir": SEED}, cwd=target.workdir)  # (only to read the defaults)
        assert short.doctor.freshness == 3600 and short.doctor.pricing_max_age == 48 * 3600
        strict = dataclasses.replace(s, doctor=dataclasses.replace(s.doctor, freshness=60.0))
        result = api.doctor(strict)
        assert only(result, "freshness").code == "stale_events"
        assert only(result, "freshness").fact("latest", ) == latest.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        assert only(result, "pricing").code == "pricing_stale" and not result.failed


def test_doctor_reports_when_a_query_fails_and_other_checks_still_run(target: Target,
                                                                    request: pytest.FixtureRequest) -> None:
    """A rollup table that lost its columns: the rollup check fails with the server's words, the rest runs."""
    with postgres_for(request, target) as (pg_url, _pg):
        s = settings_for(target, pg_url)
        api.up(s)
        with target.connect() as ch:
            ch.execute(f"ALTER TABLE `{target.database}`.llm_usage_daily RENAME COLUMN request_count TO requests")
            now = datetime.now(timezone.utc)
            _, rows = ev.generate(now, 200)
            ch.insert("llm_usage", rows, ev.COLUMNS, database=target.database)
        result = api.doctor(s)
        rollup = only(result, "rollup")
        assert (rollup.status, rollup.code) == ("fail", "query_failed") and "request_count" in str(rollup.fact("error"))
        assert only(result, "verify").status == "fail"  # the drift is verify's to report
        assert only(result, "pricing").code == "pricing_empty"


@pytest.mark.postgres
def test_river_reports_how_the_latest_pricing_refresh_ended(tmp_path: Any, pg_db: Any) -> None:  # noqa: F811
    s = load({"only": "postgres", "postgres_url": pg_db.server.url(pg_db.name, password=pg_db.server.password)},
             env={"CHMIGRATE_POSTGRES_DIR": str(REPO / "postgres"), "CHMIGRATE_LOCAL_DIR": str(tmp_path)},
             cwd=tmp_path)
    api.up(s)
    assert only(api.doctor(s), "river").code == "no_table"
    pg_db.execute(RIVER_DDL)
    assert only(api.doctor(s), "river").code == "refresh_none"
    for state, finalized, code, status in (
            ("completed", "now() - interval '3 days'", "refresh_stale", "warn"),
            ("discarded", "now() - interval '1 hour'", "refresh_failed", "fail"),
            ("running", "NULL", "refresh_pending", "warn"),
            ("completed", "now()", "river_ok", "pass")):
        pg_db.execute("INSERT INTO orchestrator.river_job (state, max_attempts, args, kind, finalized_at) "
                      f"VALUES (%s, 5, '{{}}', 'pricing_refresh', {finalized})", (state,))
        f = only(api.doctor(s), "river")
        assert (f.code, f.status, f.fact("state")) == (code, status, state)
    skipped = {f.check: f.code for f in api.doctor(s).findings}
    assert skipped["rollup"] == "not_configured" and skipped["clickhouse.connect"] == "not_configured"


def test_views_missing_without_source_or_target(tmp_path: Any) -> None:
    t = Target("embedded", tmp_path, "analytics")
    s = t.settings()
    api.up(s)
    with t.connect() as ch:
        ch.execute("CREATE MATERIALIZED VIEW analytics.orphan_mv TO analytics.llm_usage_daily AS SELECT * FROM "
                   "analytics.llm_usage_daily")
        ch.execute("DROP VIEW analytics.llm_usage_daily_mv")
        ch.execute("CREATE TABLE analytics.gone (x Int8) ENGINE = MergeTree ORDER BY x")
        ch.execute("CREATE MATERIALIZED VIEW analytics.to_gone_mv TO analytics.gone AS SELECT 1 AS x FROM "
                   "analytics.llm_usage")
        ch.execute("DROP TABLE analytics.gone")
        ch.execute("DROP TABLE analytics.llm_usage_daily")
    found = {(f.code, f.fact("view")) for f in by_check(api.doctor(s), "views")}
    assert ("view_missing", "analytics.llm_usage_daily_mv") in found
    assert ("view_no_target", "analytics.to_gone_mv") in found and ("view_no_target", "analytics.orphan_mv") in found
    assert ("view_no_source", "analytics.orphan_mv") in found
