"""What became of an ON CLUSTER statement on each host: its reply rows, its error, its queue entry.

An `ON CLUSTER` statement is sent with `distributed_ddl_output_mode = throw`: the initiator puts it in the
distributed DDL queue (in Keeper), waits up to `distributed_ddl_task_timeout` for every host, and replies
one row per host (host, port, status, error, hosts remaining, hosts active; status 0 is success). A host
that fails makes the reply an error that names it ("There was an error on [host:port]: ..."). A host that
does not finish in time makes it a TIMEOUT_EXCEEDED error naming the queue entry: the statement stays in
the queue and the slow hosts still run it, so its outcome is unknown; the next run reads the entry back
from `system.distributed_ddl_queue` (found by the statement's id, which rides in the entry's settings as
`log_comment`) and waits for it, instead of sending the statement again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chmigrate.errors import DatabaseError
from chmigrate.targets.clickhouse import ClickHouse

TIMEOUT_EXCEEDED = 159
_HOST_ERROR = re.compile(r"There was an error on \[([^\]]+)\]:\s*(.*)", re.S)
_TIMEOUT = re.compile(r"(?:Distributed|ReplicatedDatabase) DDL task (\S+) is not finished on (\d+) of (\d+) hosts")
# An error the server wrote into a reply it had begun to stream (the HTTP status was sent already).
_STREAMED = re.compile(r"Code: (\d+)\. DB::Exception: (.*)", re.S)

HostState = Literal["ok", "failed", "running", "waiting"]


@dataclass(frozen=True)
class HostResult:
    host: str  # host:port
    state: HostState
    error: str = ""


@dataclass(frozen=True)
class ClusterOutcome:
    """The hosts of one ON CLUSTER statement (empty: the reply said nothing about hosts)."""

    hosts: tuple[HostResult, ...]

    @property
    def confirmed(self) -> int:
        return sum(h.state == "ok" for h in self.hosts)

    @property
    def failed(self) -> tuple[HostResult, ...]:
        return tuple(h for h in self.hosts if h.state == "failed")

    @property
    def pending(self) -> tuple[HostResult, ...]:
        return tuple(h for h in self.hosts if h.state in ("running", "waiting"))

    def tally(self) -> str:
        """"2/2": hosts that confirmed the statement, of the hosts it was sent to."""
        return f"{self.confirmed}/{len(self.hosts)}"


def from_reply(text: str) -> ClusterOutcome:
    """The reply of an ON CLUSTER statement (TabSeparated: host, port, status, error, remaining, active)."""
    hosts = []
    for line in text.splitlines():
        cells = line.split("\t")
        if len(cells) < 4 or not cells[1].isdigit() or not cells[2].lstrip("-").isdigit():
            continue  # not a host row (a Replicated database replies shard and replica instead)
        ok = int(cells[2]) == 0
        error = cells[3].replace("\\n", " ").replace("\\t", " ").strip()
        hosts.append(HostResult(f"{cells[0]}:{cells[1]}", "ok" if ok else "failed", "" if ok else error))
    return ClusterOutcome(tuple(hosts))


def streamed_error(text: str) -> tuple[int, str] | None:
    """(code, message) of an exception the server appended to a reply it had begun to send."""
    m = _STREAMED.search(text)
    return (int(m.group(1)), m.group(2).strip()) if m else None


def host_error(message: str) -> tuple[str, str] | None:
    """(host:port, the host's error) when a reply error is one host's failure."""
    m = _HOST_ERROR.search(message)
    return (m.group(1), m.group(2).strip()) if m else None


def timed_out(exc: DatabaseError) -> str | None:
    """For a distributed DDL wait that ran out of time: what the server said is unfinished (else None)."""
    if exc.code != TIMEOUT_EXCEEDED:
        return None
    m = _TIMEOUT.search(exc.message)
    if m is None:
        return None
    entry = m.group(1).rstrip(".,").rsplit("/", 1)[-1]
    return f"distributed DDL entry {entry} is not finished on {m.group(2)} of {m.group(3)} hosts"


def queue_entry(ch: ClickHouse, cluster: str, qid: str) -> ClusterOutcome | None:
    """The hosts of the queue entry sent with statement id `qid` (None: no such entry in the queue)."""
    rows = ch.query(
        "SELECT host, port, toString(status), exception_code, exception_text FROM system.distributed_ddl_queue"
        " WHERE cluster = {c:String} AND settings['log_comment'] = {q:String}", {"c": cluster, "q": qid})
    if not rows:
        return None
    return ClusterOutcome(tuple(_queue_host(r) for r in rows))


def _queue_host(row: Sequence[object]) -> HostResult:
    host = f"{row[0]}:{row[1]}"
    status, code, text = str(row[2]), row[3], str(row[4] or "")
    if status == "Finished":
        if code:
            return HostResult(host, "failed", f"Code {code}: {text.strip()}")
        return HostResult(host, "ok")
    return HostResult(host, "running" if status == "Active" else "waiting")


def wait_entry(ch: ClickHouse, cluster: str, qid: str, timeout: float,
               poll: float = 1.0) -> ClusterOutcome | None:
    """`queue_entry`, polled until no host is still to run it or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = queue_entry(ch, cluster, qid)
        if found is None or not found.pending or time.monotonic() >= deadline:
            return found
        time.sleep(poll)
