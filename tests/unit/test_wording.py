"""The library returns codes and facts; every code it can return has words in the CLI."""

from __future__ import annotations

from typing import get_args

from chmigrate.cli import wording
from chmigrate.migrations import planner
from chmigrate.results import CheckCode, LeaseReason, LockResult, Reason, StateDetail
from chmigrate.schema.reconcile import Refusal


def test_every_check_code_and_refusal_has_a_sentence() -> None:
    assert set(wording.CHECK_TITLES) == set(get_args(CheckCode))
    assert set(wording.REFUSALS) == set(get_args(Refusal))


def test_every_state_reason_reads_as_its_own_sentence() -> None:
    said = {r: wording.state_detail(StateDetail(r, statement=2, done=1, error="Code: 60", heads=("0009",)))
            for r in get_args(Reason)}
    assert all(said.values()) and len(set(said.values())) == len(said)
    assert said["statement_failed"] == "statement 2 failed: Code: 60"
    assert planner.EMPTY in said["empty"]  # what `status` says matches what `up` refuses with


def test_every_lease_reason_is_said_and_the_servers_cause_kept() -> None:
    for r in get_args(LeaseReason):
        said = wording.lock_reason(LockResult("lease", "best-effort", reason=r, cause="Code: 36. no zookeeper."))
        assert bool(said) == bool(r)
    assert wording.lock_reason(LockResult("lease", "best-effort", reason="no-keeper-map",
                                          cause="Code: 36. no zookeeper.")).endswith("Code: 36. no zookeeper")
