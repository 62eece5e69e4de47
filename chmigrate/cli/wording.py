"""The sentences the CLI says about the library's codes: a version's state detail, a verify check and its
problems, why a run took the lease, why `baseline --reconcile` refuses a difference. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chmigrate.results import (
    Check,
    CheckCode,
    Finding,
    LockResult,
    MigrationStatus,
    OnReplica,
    Problem,
    ReplicaDisagreement,
    StateDetail,
    ViewMismatch,
)

if TYPE_CHECKING:
    from chmigrate.schema.reconcile import Refusal

EMPTY = "holds no statement yet"  # as planner.EMPTY, which `up`'s refusal says

CHECK_TITLES: dict[CheckCode, str] = {
    "clickhouse.migrations": "every migration applied, checksums match, nothing unknown, failed or half-applied",
    "clickhouse.drift": "schema matches the migrations (no drift)",
    "clickhouse.views": "materialized views' output columns exist in their targets with the same types",
    "clickhouse.snapshot": "the committed schema snapshot matches the migrations (`chmigrate snapshot`)",
    "clickhouse.replicas": "every replica of the cluster holds the same schema and ledger",
    "postgres.revisions": "every revision applied, nothing unknown",
    "postgres.drift": "chmigrate's tables match the models (no drift)",
}

REFUSALS: dict[str, str] = {
    "output_changes": "the view's output columns or types change: its readers or target would see other data",
    "needs_rebuild": "needs a rebuild (the table or view must be recreated)",
    "type_rewrite": "changing a column's type rewrites its data",
    "default_changes_values": "a different default changes the values of rows that do not store the column",
    "missing_object": "creates an object that is missing: apply it with a migration, not at adoption",
    "extra_object": "an object the migrations do not have: dropping it loses data",
    "ttl": "a TTL decides which rows are deleted",
    "data_structures": "builds or drops data structures stored with the parts",
    "codec_rewrite": "a codec change rewrites the column's data at merges",
    "not_metadata_only": "not a metadata-only change",
}


def state_detail(d: StateDetail | None) -> str:
    """Why a version is in its state, in one phrase ('' when there is nothing to say)."""
    if d is None:
        return ""
    if d.reason == "no_file":
        return "in the ledger but no file on disk"
    if d.reason == "rolled_back_no_file":
        return "rolled back; no file on disk"
    if d.reason == "empty":
        return f"{EMPTY}: `up` refuses it until it has one"
    if d.reason == "statement_failed":
        return f"statement {d.statement} failed: {d.error}"
    if d.reason == "interrupted":
        what = "down part" if d.part == "down" else "statement"
        return f"interrupted: {d.done} statement(s) done; outcome of {what} {d.statement} unknown"
    if d.reason == "checksum_changed":
        return f"applied with checksum {d.recorded_checksum[:12]}, file now {d.file_checksum[:12]}"
    if d.reason == "undecided":
        return f"cannot tell: the database records {', '.join(d.heads)}, which is not on disk"
    return f"recorded in {d.table} but no revision file in {d.where}"


def lock_reason(lock: LockResult) -> str:
    """Why a run took the lease rather than the Keeper lock ('' for any other lock)."""
    if lock.reason == "recorded":
        return "recorded: this database uses the lease"
    if lock.reason == "configured":
        return "lock = lease"
    if lock.reason == "no-keeper-map":
        return f"no KeeperMap on this server: {lock.cause}".rstrip(". ")
    return ""


def plan_lock(kind: str) -> str:
    """The run lock `up` would take, as `plan` says it."""
    return "keeper-map, or lease where the server has no Keeper" if kind == "keeper-map-or-lease" else kind


def check_title(check: Check) -> str:
    return CHECK_TITLES[check.code]


def problem_line(problem: Problem) -> str:
    """One line per thing that failed a check."""
    from chmigrate.schema.render import describe

    if isinstance(problem, MigrationStatus):
        return _version_problem(problem)
    if isinstance(problem, ViewMismatch):
        return _view_problem(problem)
    if isinstance(problem, str):
        return problem
    if isinstance(problem, OnReplica):
        return f"replica {problem.replica}: {problem_line(problem.problem)}"
    if isinstance(problem, ReplicaDisagreement):
        return disagreement_line(problem)
    return describe(problem)


def disagreement_line(d: ReplicaDisagreement) -> str:
    from chmigrate.schema.render import describe

    if d.change is not None:
        return f"replica {d.replica} differs from replica {d.reference}: {describe(d.change)}"
    return (f"replica {d.replica} records version {d.version} as {d.state}, replica {d.reference} as "
            f"{d.reference_state}")


def _version_problem(m: MigrationStatus) -> str:
    where = m.path or (f"version {m.version} ({m.name})" if m.name else f"version {m.version}")
    d = m.detail
    if d is not None and d.reason == "checksum_changed":
        return f"{where}: changed since applied (ledger checksum {d.recorded_checksum}, file checksum " \
               f"{d.file_checksum})"
    detail = state_detail(d)
    return f"{where}: {m.state}" + (f" ({detail})" if detail else "")


def _view_problem(v: ViewMismatch) -> str:
    if v.kind == "no_target":
        return f"{v.view}: target table {v.target} does not exist"
    if v.kind == "missing_column":
        return f"{v.view}: output column {v.column} ({v.type}) is not in {v.target} (its values are dropped)"
    return f"{v.view}: output column {v.column} is {v.type} but {v.target}.{v.column} is {v.target_type}"


def refusal(code: Refusal) -> str:
    return REFUSALS[code]


# -- doctor -------------------------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    """48 h, 90 min, 3 d, 20 s: the unit a person would say."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and (seconds % size == 0 or seconds >= 2 * size):
            value = seconds / size
            return f"{value:.0f} {unit}" if abs(value - round(value)) < 0.05 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"


def finding_lines(f: Finding) -> tuple[str, str | None]:
    """What a doctor finding says, in one line, and the next step (None when there is none)."""
    v = f.fact
    backfill = f"rebuild the missing days with `chmigrate backfill {v('view') or 'VIEW'}`"
    if f.code == "connected":
        return f"{v('target')}: server {v('version')}", None
    if f.code == "unreachable":
        return f"cannot reach it: {v('error')}", "check the URL, the port-forward and the password (--debug)"
    if f.code == "not_configured":
        return f"skipped: {v('engine')} is left out of this run (--only)", None
    if f.code == "engine_unreachable":
        return f"skipped: {v('engine')} could not be reached", None
    if f.code == "query_failed":
        return f"the check's query failed: {v('error')}", "check the user's privileges on the table (--debug)"
    if f.code == "verify_passed":
        return f"migrations applied, checksums match, no drift, views fit their targets ({v('checks')} checks)", \
            None
    if f.code == "verify_failed":
        first = [f"{c.engine}: {CHECK_TITLES[c.code]}" + (f" ({problem_line(c.problems[0])})" if c.problems else "")
                 for c in f.checks]
        return "failed: " + "; ".join(first), "run `chmigrate verify` for every problem, `chmigrate diff` for drift"
    if f.code == "views_ok":
        return "attached, source and target exist: " + "; ".join(f.views), None
    if f.code == "view_detached":
        how = "permanently " if v("permanently") else ""
        return f"{v('view')} is {how}detached: a detached view rolls up nothing, a detached table takes no " \
            "inserts", f"ATTACH TABLE {v('view')}, then {backfill}"
    if f.code == "view_missing":
        return f"{v('view')} does not exist: nothing fills the rollup", "run `chmigrate up`, then " + backfill
    if f.code == "view_no_source":
        return f"{v('view')} reads from no existing table: nothing reaches it", \
            "recreate the source table, or the view (a migration), then " + backfill
    if f.code == "view_no_target":
        return f"{v('view')} writes to {v('target')}, which does not exist", "run `chmigrate up` (or a migration " \
            "that recreates the target)"
    if f.code == "no_table" and f.check == "river":
        return f"skipped: {v('table')} does not exist (River creates it beside the orchestrator's tables)", None
    if f.code == "no_table":
        if f.status == "skip":
            return f"skipped: {v('table')} does not exist", "run `chmigrate up`"
        return f"{v('table')} does not exist: costs will show as 0", "run `chmigrate up`"
    if f.code == "fresh":
        return f"{int(v('last_hour') or 0):,} events in the last hour; latest {v('latest')} UTC", None
    if f.code == "stale_events":
        return f"the latest event is {duration(float(v('age_seconds') or 0))} old ({v('latest')} UTC), older " \
            f"than {duration(float(v('threshold_seconds') or 0))}", "is the orchestrator writing? see the river " \
            "check (usage_write jobs) and the orchestrator's logs"
    if f.code == "no_recent_events":
        return f"no event in {v('table')} in the last {duration(float(v('window_seconds') or 0))}", \
            "is the orchestrator writing? see the river check (usage_write jobs) and the orchestrator's logs"
    if f.code == "no_events":
        return f"skipped: {v('table')} holds no events yet", None
    if f.code == "rollup_ok":
        return f"the rollup equals the raw events on the last {v('days')} complete days ({v('first')} to " \
            f"{v('last')}): tokens, cost and requests", None
    if f.code == "rollup_no_events":
        return f"skipped: no events on the last {v('days')} complete days ({v('first')} to {v('last')})", None
    if f.code == "rollup_mismatch":
        days = "; ".join(f"{d.day}: {d.rollup_requests:,} requests in the rollup, {d.raw_requests:,} raw "
                         f"(tokens {d.rollup_tokens:,}/{d.raw_tokens:,}, cost {d.rollup_cost}/{d.raw_cost})"
                         for d in f.days)
        return f"{v('table')} differs from the raw events on {len(f.days)} day(s): {days}", \
            f"the view was detached, broken or recreated without backfill: {backfill}"
    if f.code == "priced":
        return f"{v('table')} prices every model seen ({v('models')}); newest fetch {v('fetched_at')}", None
    if f.code == "pricing_empty":
        return f"{v('table')} has no rows: costs will show as 0", "run the orchestrator's pricing_refresh job " \
            "(River) and check its logs; the orchestrator reads the prices at start-up"
    if f.code == "pricing_stale":
        return f"the newest price fetch is {duration(float(v('age_seconds') or 0))} old ({v('fetched_at')}), older " \
            f"than {duration(float(v('threshold_seconds') or 0))}", "check the pricing_refresh job (river check)"
    if f.code == "unpriced_models":
        listed = ", ".join(f"{m} ({n:,} events)" for m, n in f.models)
        return f"{len(f.models)} model(s) seen in the last {duration(float(v('window_seconds') or 0))} have no " \
            f"price, so their cost is 0: {listed}", f"add them to {v('table')} (the pricing_refresh job), then " \
            "restart the orchestrator to reload its pricing cache"
    if f.code == "river_ok":
        return f"no usage_write job stuck; the latest pricing_refresh job ({v('id')}) completed at " \
            f"{v('finalized_at')}", None
    if f.code == "usage_write_stuck":
        return f"usage_write jobs not written to ClickHouse: {v('retryable')} retryable, {v('discarded')} " \
            f"discarded in the last {duration(float(v('window_seconds') or 0))}", \
            f"read their errors (SELECT id, state, errors FROM {v('table')} WHERE kind = 'usage_write' AND state " \
            "IN ('retryable', 'discarded')); is ClickHouse reachable from the orchestrator?"
    if f.code == "refresh_none":
        return f"no pricing_refresh job in {v('table')}", "is the orchestrator's River scheduler running?"
    if f.code == "refresh_failed":
        return f"the latest pricing_refresh job ({v('id')}) was {v('state')} at {v('finalized_at')}: prices are " \
            "not refreshed", f"read its errors (SELECT errors FROM {v('table')} WHERE id = {v('id')})"
    if f.code == "refresh_stale":
        return f"the latest pricing_refresh job completed {duration(float(v('age_seconds') or 0))} ago " \
            f"({v('finalized_at')})", "is the orchestrator's River scheduler running?"
    if f.code == "refresh_pending":
        return f"the latest pricing_refresh job ({v('id')}) is {v('state')} (created {v('created_at')})", \
            "wait for it, or read its errors if it stays so"
    raise AssertionError(f"no wording for doctor finding {f.code!r}")


DOCTOR_TITLES = {
    "clickhouse.connect": "ClickHouse reachable",
    "postgres.connect": "Postgres reachable",
    "verify": "verify",
    "views": "materialized views",
    "freshness": "data freshness",
    "rollup": "rollup consistency",
    "pricing": "model pricing",
    "river": "River jobs",
}
