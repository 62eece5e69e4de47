"""The embedded PostgreSQL: initdb once, reuse after, shared by concurrent processes, stopped by the last."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chmigrate.embedded_postgres import EmbeddedPostgres, EmbeddedServer
from chmigrate.errors import DatabaseError
from chmigrate.targets.postgres import Postgres, PostgresConfig

from .conftest import PROJECT, REPO

pytestmark = pytest.mark.postgres


@pytest.fixture
def local_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="chmigrate-embedded-"))  # mode 0700, as a private dir would be
    try:
        yield root / "pg"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def query(server: EmbeddedServer, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.url, password=server.password, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def running(local_dir: Path) -> bool:
    return (local_dir / "data" / "postmaster.pid").exists()


def test_initdb_once_then_reuse_with_the_data_kept(local_dir: Path) -> None:
    with EmbeddedPostgres(local_dir) as first:
        assert first.initialized and first.started
        assert first.url == f"postgresql://chmigrate@127.0.0.1:{first.port}/chmigrate"
        assert first.password not in repr(first)
        assert query(first, "SELECT current_user, current_database(), inet_server_addr()::text") == [
            ("chmigrate", "chmigrate", "127.0.0.1/32")]
        query(first, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        cold = first.start_seconds
    assert not running(local_dir), "stopped when the last user left"

    with EmbeddedPostgres(local_dir) as second:
        assert not second.initialized and second.started
        assert query(second, "SELECT x FROM kept") == [(42,)]
        warm = second.start_seconds
    assert not running(local_dir)
    print(f"embedded PostgreSQL start: cold (initdb) {cold:.2f} s, warm {warm:.2f} s")
    assert cold < 60 and warm < 30
    assert (local_dir / "password").stat().st_mode & 0o077 == 0


def test_passwords_are_required(local_dir: Path) -> None:
    with EmbeddedPostgres(local_dir) as server, pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(server.url, password="not-the-password", connect_timeout=5)


SHARER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from chmigrate.embedded_postgres import EmbeddedPostgres
    local_dir, go = Path(sys.argv[1]), Path(sys.argv[2])
    with EmbeddedPostgres(local_dir) as server:
        pid = int((local_dir / "data" / "postmaster.pid").read_text().split()[0])
        print(json.dumps({"port": server.port, "pid": pid, "initialized": server.initialized,
                          "started": server.started}), flush=True)
        while not go.exists():
            time.sleep(0.05)
""")


def test_two_processes_on_one_directory_share_one_server(local_dir: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", SHARER, str(local_dir), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        seen = [json.loads(p.stdout.readline() or "{}") for p in procs]  # type: ignore[union-attr]
        assert all(seen), [p.stderr.read() for p in procs if p.poll() is not None]  # type: ignore[union-attr]
        assert seen[0]["port"] == seen[1]["port"] and seen[0]["pid"] == seen[1]["pid"]
        assert sorted(s["initialized"] for s in seen) == [False, True]
        assert sorted(s["started"] for s in seen) == [False, True]
        assert running(local_dir)
    finally:
        go.touch()
        for p in procs:
            p.communicate(timeout=60)
    assert [p.returncode for p in procs] == [0, 0]
    assert not running(local_dir), "the last process to leave stopped the server"


def test_a_process_stuck_starting_makes_the_next_give_up_clearly(local_dir: Path) -> None:
    local_dir.mkdir(parents=True)
    with open(local_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242")
        held.flush()
        with pytest.raises(DatabaseError) as err:
            EmbeddedPostgres(local_dir, wait_timeout=0.5).start()
    assert str(err.value) == (f"the embedded PostgreSQL at {local_dir} is being started or stopped by "
                              "another process (pid 4242); gave up after 0.5 s")
    with EmbeddedPostgres(local_dir) as server:  # released: the next one starts
        assert query(server, "SELECT 1") == [(1,)]


def test_a_server_left_by_a_killed_process_is_reused_then_stopped(local_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SHARER, str(local_dir), str(tmp_path / "never")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert running(local_dir)

    with EmbeddedPostgres(local_dir) as server:
        assert not server.started and server.port == first["port"]
        assert query(server, "SELECT 1") == [(1,)]
    assert not running(local_dir)


def test_postgres_target_on_the_embedded_server(local_dir: Path) -> None:
    began = time.monotonic()
    with Postgres.connect(PostgresConfig(local_dir=local_dir, project_dir=PROJECT)) as target:
        connected = time.monotonic() - began
        assert target.embedded and target.label == f"embedded PostgreSQL at {local_dir}"
        result = target.up()
        assert [a.version for a in result.applied] == ["0001"] and result.embedded
        assert result.started is not None and result.started.how == "initialised and started"
        assert target.status().clean and target.status().embedded
    assert not running(local_dir)
    print(f"Postgres.connect on a new embedded directory: {connected:.2f} s")
    with Postgres.connect(PostgresConfig(local_dir=local_dir, project_dir=PROJECT)) as target:
        assert target.status().clean, "the migrated database persists in the local directory"
