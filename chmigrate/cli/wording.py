"""The sentences the CLI says about the library's codes: a version's state detail, a verify check and its
problems, why a run took the lease, why `baseline --reconcile` refuses a difference. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chmigrate.results import Check, CheckCode, LockResult, MigrationStatus, Problem, StateDetail, ViewMismatch

if TYPE_CHECKING:
    from chmigrate.schema.reconcile import Refusal

EMPTY = "holds no statement yet"  # as planner.EMPTY, which `up`'s refusal says

CHECK_TITLES: dict[CheckCode, str] = {
    "clickhouse.migrations": "every migration applied, checksums match, nothing unknown, failed or half-applied",
    "clickhouse.drift": "schema matches the migrations (no drift)",
    "clickhouse.views": "materialized views' output columns exist in their targets with the same types",
    "clickhouse.snapshot": "the committed schema snapshot matches the migrations (`chmigrate snapshot`)",
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
    return describe(problem)


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
