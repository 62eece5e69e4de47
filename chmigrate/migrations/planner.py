"""Decide, from the files on disk and the ledger's folded state, what each version's state is
and what `up` must run. Pure functions: no I/O."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from chmigrate.errors import MigrationFileError, StateError, UsageError
from chmigrate.migrations.discovery import Migration
from chmigrate.migrations.ledger import VersionState, cumulative_hash
from chmigrate.migrations.rerun import is_rerunnable
from chmigrate.results import MigrationStatus, StateDetail


@dataclass(frozen=True)
class Step:
    """Run `migration.up[start - 1:]`; start > 1 resumes a half-applied file."""

    migration: Migration
    start: int = 1

    @property
    def statements(self) -> tuple[int, ...]:
        return tuple(range(self.start, len(self.migration.up) + 1))


EMPTY = "holds no statement yet"  # the refusal of `up`; `status` says it from StateDetail("empty")


def refuse_empty(steps: Sequence[Step]) -> None:
    """`up` never records a version that holds no statement (a file `new` scaffolded and nobody filled)."""
    for s in steps:
        if not s.migration.up:
            raise MigrationFileError(str(s.migration.path), f"{EMPTY}: write its statements (or delete the "
                                     "file), then run `chmigrate up` again")


def statuses(migrations: Sequence[Migration], states: Mapping[str, VersionState]) -> list[MigrationStatus]:
    """One row per version, on disk or in the ledger, ordered by version."""
    by_number = {m.number: m for m in migrations}
    ledger_by_number = {int(v): s for v, s in states.items()}
    rows: list[MigrationStatus] = []
    for number in sorted(set(by_number) | set(ledger_by_number)):
        m = by_number.get(number)
        st = ledger_by_number.get(number)
        rows.append(_status(m, st))
    return rows


def _status(m: Migration | None, st: VersionState | None) -> MigrationStatus:
    if m is None:
        assert st is not None
        gone = not st.applied and st.in_flight is None
        return MigrationStatus(st.version, st.name, "unknown", st.checksum, st.recorded_at,
                               StateDetail("rolled_back_no_file" if gone else "no_file"))
    path = str(m.path)
    if st is None or (not st.applied and st.in_flight is None):
        return MigrationStatus(m.version, m.name, "pending", m.checksum, None,
                               None if m.up else StateDetail("empty"), path)
    if st.in_flight is not None:
        if st.failed_statement and not st.outcome_unknown:
            return MigrationStatus(m.version, m.name, "failed", m.checksum, st.recorded_at,
                                   StateDetail("statement_failed", statement=st.failed_statement,
                                               error=st.error or ""), path)
        return MigrationStatus(m.version, m.name, "dirty", m.checksum, st.recorded_at,
                               StateDetail("interrupted", statement=st.failed_statement or st.done + 1,
                                           done=st.done, part="down" if st.in_flight == "down" else "up"),
                               path)
    if st.checksum != m.checksum:
        return MigrationStatus(m.version, m.name, "changed", m.checksum, st.recorded_at,
                               StateDetail("checksum_changed", recorded_checksum=st.checksum,
                                           file_checksum=m.checksum), path)
    return MigrationStatus(m.version, m.name, "applied", m.checksum, st.recorded_at, None, path)


def find(migrations: Sequence[Migration], version: str) -> Migration:
    for m in migrations:
        if m.number == _number(version):
            return m
    raise UsageError(f"no migration with version {version}")


def _number(version: str) -> int:
    try:
        return int(version)
    except ValueError:
        raise UsageError(f"not a version number: {version!r}") from None


def plan_up(
    migrations: Sequence[Migration],
    states: Mapping[str, VersionState],
    *,
    to: str | None = None,
    allow_changed: Collection[str] = (),
    retry_failed: bool = False,
) -> list[Step]:
    """The steps `up` runs, in order. Refuses (StateError) on tampered or dirty history."""
    limit = _number(to) if to is not None else None
    if limit is not None and not any(m.number == limit for m in migrations):
        raise UsageError(f"--to {to}: no migration with that version")
    allowed = {_number(v) for v in allow_changed}
    by_number = {m.number: m for m in migrations}
    ledger = {int(v): s for v, s in states.items()}

    for number, recorded in sorted(ledger.items()):
        if number not in by_number and (recorded.applied or recorded.in_flight):
            raise StateError(
                f"version {recorded.version} ({recorded.name}) is recorded as applied but its file is missing "
                f"(checksum {recorded.checksum[:12]})",
                hint="restore the file, or point --migrations-dir at the right folder",
            )
    highest_applied = max((n for n, s in ledger.items() if s.applied), default=None)
    steps: list[Step] = []
    for m in migrations:
        if limit is not None and m.number > limit:
            break
        st = ledger.get(m.number)
        if st is not None and st.applied and st.in_flight is None:
            if st.checksum != m.checksum and m.number not in allowed:
                raise StateError(
                    f"{m.path}: applied migration {m.version} was edited (ledger checksum {st.checksum}, "
                    f"file checksum {m.checksum})",
                    hint=f"restore the file, or accept the edit with `--allow-changed {m.version}` "
                    "(recorded in the ledger)",
                )
            continue
        if st is not None and st.in_flight == "down":
            raise StateError(
                f"{m.path}: the down part of version {m.version} did not finish "
                f"(statement {st.failed_statement or st.done + 1}{': ' + st.error if st.error else ''})",
                hint=f"fix the database, then `chmigrate resolve {m.version} --applied` or --rolled-back",
            )
        if st is not None and st.in_flight == "up":
            steps.append(Step(m, _resume_point(m, st, retry_failed)))
            continue
        if highest_applied is not None and m.number < highest_applied:
            raise StateError(
                f"{m.path}: version {m.version} is pending but a later version ({highest_applied}) is "
                "already applied",
                hint="give the new file a version above the latest applied one (`chmigrate new NAME`)",
            )
        steps.append(Step(m, 1))
    return steps


def _resume_point(m: Migration, st: VersionState, retry_failed: bool) -> int:
    done = st.done
    if done > len(m.up) or cumulative_hash(s.raw for s in m.up[:done]) != st.cumulative_hash:
        raise StateError(
            f"{m.path}: version {m.version} is half-applied ({done} statement(s) done) and those statements "
            "were edited since: cannot resume safely",
            hint=f"restore statements 1-{done} as they were, or fix the database by hand and run "
            f"`chmigrate resolve {m.version} --applied` or `--rolled-back`",
        )
    nxt = done + 1
    if nxt > len(m.up):
        return nxt  # everything ran; only the final record is missing
    stmt = m.up[nxt - 1]
    if st.next_unsent:
        return nxt  # the server's record shows it took no effect
    if st.failed_statement and not st.outcome_unknown:
        if st.checksum == m.checksum and not retry_failed:
            raise StateError(
                f"{m.path} statement {nxt} (line {stmt.line}) failed: {st.error}",
                hint="the database is dirty: fix the statement and run `chmigrate up` again (statements "
                f"1-{done} are kept), rerun it unchanged with `--retry`, or `chmigrate resolve {m.version} "
                "--applied|--rolled-back` after fixing the database by hand",
            )
        return nxt
    if is_rerunnable(stmt.sql):
        return nxt
    raise StateError(
        f"{m.path} statement {nxt} (line {stmt.line}): a run was interrupted while this statement was sent; "
        "its outcome is unknown",
        hint=f"check the database: if it took effect run `chmigrate resolve {m.version} --applied` after "
        "applying the rest by hand, or undo it and run `chmigrate resolve "
        f"{m.version} --rolled-back`",
    )


def plan_down(migrations: Sequence[Migration], states: Mapping[str, VersionState], *, to: str) -> list[Migration]:
    """Applied versions above `to`, newest first; refuses when one is dirty or has no down part."""
    limit = _number(to)
    by_number = {m.number: m for m in migrations}
    todo: list[Migration] = []
    for v, st in sorted(states.items(), key=lambda kv: -int(kv[0])):
        number = int(v)
        if number <= limit:
            continue
        if st.in_flight is not None:
            raise StateError(f"version {st.version} is dirty; resolve it before going down",
                             hint=f"`chmigrate resolve {st.version} --applied|--rolled-back`")
        if not st.applied:
            continue
        m = by_number.get(number)
        if m is None:
            raise StateError(f"version {st.version} ({st.name}) is applied but its file is missing: "
                             "no down part to run")
        if st.checksum != m.checksum:
            raise StateError(f"{m.path}: applied migration {m.version} was edited (ledger checksum "
                             f"{st.checksum}, file checksum {m.checksum}); its down part may not match")
        todo.append(m)
    missing = [m for m in todo if not m.down]
    if missing:
        raise StateError(
            "no down part in " + ", ".join(str(m.path) for m in missing) + f": cannot go down to {to}",
            hint="add a `-- chmigrate:down` part to each, or choose a later --to",
        )
    return todo
