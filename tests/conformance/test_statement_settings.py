"""Per-file settings (`-- chmigrate:settings`) reach the server with each statement, and a standalone SET or
USE is refused the same way on every target and in every command, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import Target


def _files(root: Path, files: dict[str, str]) -> Path:
    d = root / "migrations"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_header_settings_are_sent_with_the_files_statements(target: Target, tmp_path: Path) -> None:
    d = _files(tmp_path, {
        "0001_seen.sql": "-- chmigrate:settings max_block_size = 1234, max_threads = 3\n"
                         "CREATE TABLE seen ENGINE = MergeTree ORDER BY tuple() AS "
                         "SELECT getSetting('max_block_size') AS block, getSetting('max_threads') AS threads;\n",
        "0002_plain.sql": "CREATE TABLE plain ENGINE = MergeTree ORDER BY tuple() AS "
                          "SELECT getSetting('max_block_size') AS block;\n"})
    env = target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(d)}
    plan = chmigrate("plan", cwd=tmp_path, env=env)
    assert plan.code == 0 and "max_block_size = 1234" in plan.out, plan.all
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    with target.connect() as ch:
        ch.use_database(target.database)
        assert [tuple(int(v) for v in row) for row in ch.query("SELECT block, threads FROM seen")] == [(1234, 3)]
        (plain,) = ch.query("SELECT block FROM plain")
        assert int(plain[0]) != 1234  # the header belongs to its own file only


@pytest.mark.parametrize("statement,word", [("SET max_threads = 1", "SET"), ("USE other", "USE")])
def test_standalone_set_and_use_are_refused_everywhere_before_anything_is_sent(
        target: Target, tmp_path: Path, statement: str, word: str) -> None:
    d = _files(tmp_path, {
        "0001_ok.sql": "CREATE TABLE first_one (x Int8) ENGINE = MergeTree ORDER BY x;\n",
        "0002_session.sql": f"CREATE TABLE second_one (x Int8) ENGINE = MergeTree ORDER BY x;\n\n{statement};\n"})
    env = target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(d)}
    for cmd in (["up"], ["plan"], ["diff"], ["verify"], ["up", "--dry-run"]):
        r = chmigrate(*cmd, cwd=tmp_path, env=env)
        assert r.code == 2, (cmd, r.all)
        line = next(x for x in r.err.splitlines() if x.startswith("error:"))
        assert "0002_session.sql" in line and "line 3" in line and f"standalone {word}" in line, (cmd, line)
        assert ("chmigrate:settings" if word == "SET" else "db.table") in r.err
    with target.connect() as ch:
        tables = ch.query("SELECT name FROM system.tables WHERE database = {d:String}", {"d": target.database})
    assert [t for (t,) in tables] == []  # not even 0001 or the ledger: the files are read before anything runs


@pytest.mark.parametrize("header,needle", [
    ("-- chmigrate:settings max_threads", "bad settings header"),
    ("-- chmigrate:settings mutations_sync = 0", "mutations_sync is chmigrate's own"),
])
def test_bad_settings_headers_name_file_and_line(target: Target, tmp_path: Path, header: str, needle: str) -> None:
    d = _files(tmp_path, {"0001_bad.sql": f"-- about\n{header}\nCREATE TABLE t (x Int8) ENGINE = Memory;\n"})
    r = chmigrate("status", cwd=tmp_path, env=target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(d)})
    assert r.code == 2, r.all
    assert "0001_bad.sql" in r.err and "line 2" in r.err and needle in r.err, r.err
