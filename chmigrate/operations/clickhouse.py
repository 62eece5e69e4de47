"""The ClickHouse half of each command: status, plan, up, down, resolve, unlock."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Literal

from chmigrate.connect import clickhouse_database, open_clickhouse
from chmigrate.errors import DatabaseError, StateError
from chmigrate.migrations.discovery import Migration, discover
from chmigrate.migrations.executor import Reporter, apply_steps, run_down
from chmigrate.migrations.keeper_lock import KeeperLock, KeeperUnavailable
from chmigrate.migrations.ledger import Ledger, Subject, VersionState, cumulative_hash
from chmigrate.migrations.lock import LeaseLock, LockInfo, hold
from chmigrate.migrations.planner import find, plan_down, plan_up, statuses
from chmigrate.operations import preflight
from chmigrate.results import PlannedStatement, TargetPlan, TargetStatus, TargetUpResult
from chmigrate.settings import Settings
from chmigrate.targets.clickhouse import ClickHouse


def load_migrations(settings: Settings) -> tuple[Migration, ...]:
    return discover(settings.migrations_dir, settings.variables, allow_gaps=settings.allow_version_gaps)


def ledger_for(ch: ClickHouse, settings: Settings) -> Ledger:
    return Ledger(ch, clickhouse_database(settings), settings.ledger_table, db_user=settings.clickhouse_user or "")


@contextmanager
def run_lock(ch: ClickHouse, settings: Settings, *, covered: bool) -> Iterator[LockInfo]:
    """The lock a changing command holds; `covered` when a Postgres advisory lock already guards the run."""
    if ch.embedded:
        yield LockInfo("embedded-directory", "linearizable")
    elif covered:
        yield LockInfo("postgres-advisory", "linearizable")
    else:
        db, reason = clickhouse_database(settings), ""
        if settings.lock != "lease":
            keeper = KeeperLock(ch, db, settings.ledger_table + "_keeper_lock")
            try:
                keeper.ensure()
            except KeeperUnavailable as exc:
                if settings.lock == "keeper":
                    raise DatabaseError(f"lock = keeper, but {ch.label} cannot hold a KeeperMap table: {exc}",
                                        hint="configure <zookeeper> and <keeper_map_path_prefix> on the server, "
                                        "or set CHMIGRATE_LOCK=auto") from None
                reason = f"no KeeperMap on this server: {exc}"
            else:
                with hold(keeper, settings.lock_timeout, "keeper-map", "linearizable") as info:
                    yield info
                return
        with hold(LeaseLock(ch, db, settings.ledger_table + "_lock"), settings.lock_timeout, "lease", "best-effort",
                  reason=reason) as info:
            yield info


def status(settings: Settings) -> TargetStatus:
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        states = ledger_for(ch, settings).states()
        return TargetStatus("clickhouse", ch.label, ch.embedded, tuple(statuses(migrations, states)))


def plan(settings: Settings, *, to: str | None = None, allow_changed: Collection[str] = (),
         retry: bool = False) -> TargetPlan:
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        steps = plan_up(migrations, ledger_for(ch, settings).states(), to=to, allow_changed=allow_changed,
                        retry_failed=retry)
        rows = tuple(
            PlannedStatement(s.migration.version, s.migration.name, str(s.migration.path), st.index, st.line,
                             st.sql)
            for s in steps for st in s.migration.up[s.start - 1:]
        )
        rows = preflight.mark_existing(ch, settings, rows)
        return TargetPlan("clickhouse", ch.label, ch.embedded, rows)


def _lock_note(info: LockInfo) -> str:
    waited = f", waited {info.waited_seconds:.1f} s" if info.waited_seconds >= 0.5 else ""
    reason = f"; {info.reason.rstrip('.')}" if info.reason else ""
    return f"lock: {info.kind} ({info.guarantee}{waited}{reason})"


def up(settings: Settings, *, to: str | None = None, dry_run: bool = False,
       allow_changed: Collection[str] = (), retry: bool = False, reporter: Reporter | None = None,
       lock_covered: bool = False) -> TargetUpResult:
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        ledger = ledger_for(ch, settings)
        # before the lock (whose setup writes): refuse, having sent only SELECTs, if created objects exist
        preflight.check_up(ch, settings, migrations, ledger.states(), to=to, allow_changed=allow_changed)
        if dry_run:
            steps = plan_up(migrations, ledger.states(), to=to, allow_changed=allow_changed, retry_failed=retry)
            return TargetUpResult("clickhouse", ch.label, ch.embedded, (), dry_run=True,
                                  notes=tuple(f"would apply {s.migration.filename}"
                                              + (f" from statement {s.start}" if s.start > 1 else "")
                                              for s in steps))
        with run_lock(ch, settings, covered=lock_covered) as info:
            states = ledger.states()  # read under the lock
            steps = plan_up(migrations, states, to=to, allow_changed=allow_changed, retry_failed=retry)
            notes = [_lock_note(info)]
            accepted = _accepted_changes(migrations, states, allow_changed)
            if not steps and not accepted:
                return TargetUpResult("clickhouse", ch.label, ch.embedded, (), notes=tuple(notes))
            ledger.ensure()
            for m in accepted:
                ledger.record(Subject(m.version, m.name, m.checksum, len(m.up)), event="accepted_change",
                              statement_index=len(m.up),
                              cumulative_hash=cumulative_hash(s.raw for s in m.up),
                              error=f"accepted edit; previous checksum {states[m.version].checksum}")
                notes.append(f"accepted the edited file of {m.version} (previous checksum "
                             f"{states[m.version].checksum[:12]})")
            ch.use_database(ledger.database)
            applied = apply_steps(ch, ledger, steps, reporter, check=info.check)
            return TargetUpResult("clickhouse", ch.label, ch.embedded, tuple(applied), notes=tuple(notes))


def _accepted_changes(migrations: tuple[Migration, ...], states: dict[str, VersionState],
                      allow_changed: Collection[str]) -> list[Migration]:
    wanted = {int(v) for v in allow_changed}
    return [m for m in migrations if m.number in wanted and (st := states.get(m.version)) is not None
            and st.applied and st.checksum != m.checksum]


def down(settings: Settings, *, to: str, dry_run: bool = False, reporter: Reporter | None = None,
         lock_covered: bool = False) -> TargetUpResult:
    """Run down parts, newest first, until `to` is the newest applied version (`0` for none)."""
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        ledger = ledger_for(ch, settings)
        guard: AbstractContextManager[LockInfo] = (
            nullcontext(LockInfo("none", "read-only")) if dry_run
            else run_lock(ch, settings, covered=lock_covered)
        )
        with guard as info:
            steps = plan_down(migrations, ledger.states(), to=to)
            if dry_run:
                notes = tuple(f"{m.filename} down statement {s.index}: {s.sql}" for m in steps
                              for s in (m.down or ()))
                return TargetUpResult("clickhouse", ch.label, ch.embedded, (), dry_run=True, notes=notes)
            ch.use_database(ledger.database)
            done = tuple(run_down(ch, ledger, m, reporter, check=info.check) for m in steps)
            return TargetUpResult("clickhouse", ch.label, ch.embedded, done)


def resolve(settings: Settings, version: str, outcome: Literal["applied", "rolled_back"],
            lock_covered: bool = False) -> str:
    """Mark a dirty (failed or interrupted) version by hand, recording who and when."""
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        ledger = ledger_for(ch, settings)
        with run_lock(ch, settings, covered=lock_covered):
            states = ledger.states()
            st = states.get(version) or next((s for v, s in states.items() if int(v) == int(version)), None)
            if st is None or st.in_flight is None:
                raise StateError(f"version {version} is not dirty (nothing to resolve)",
                                 hint="`chmigrate status` shows failed or dirty versions")
            m = find(migrations, version) if any(x.number == int(version) for x in migrations) else None
            checksum = m.checksum if m else st.checksum
            n = len(m.up) if m else st.statement_count
            event: Literal["resolved_applied", "resolved_rolled_back"] = (
                "resolved_applied" if outcome == "applied" else "resolved_rolled_back")
            ledger.record(Subject(st.version, st.name, checksum, n), event=event,
                          statement_index=n if outcome == "applied" else 0,
                          cumulative_hash=cumulative_hash(s.raw for s in m.up) if m and outcome == "applied"
                          else "", error=f"resolved by hand ({ledger.os_user}@{ledger.host})")
            return f"{st.version} ({st.name}) marked {outcome.replace('_', ' ')}"


def unlock(settings: Settings) -> list[str]:
    """Release stale claims of the KeeperMap lock and the lease. Embedded and Postgres-advisory locks release
    themselves."""
    with open_clickhouse(settings) as ch:
        if ch.embedded:
            return []
        db = clickhouse_database(settings)
        keeper_claims = KeeperLock(ch, db, settings.ledger_table + "_keeper_lock").break_claim()
        lease_claims = LeaseLock(ch, db, settings.ledger_table + "_lock").break_all()
        return ([f"released the KeeperMap lock of {c.holder} on {c.host} (claimed {c.claimed_at} UTC)"
                 for c in keeper_claims]
                + [f"released the lease of {c.holder} on {c.host} (claimed {c.claimed_at} UTC)"
                   for c in lease_claims])

