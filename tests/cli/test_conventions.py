"""CLI conventions a terminal user expects, through the installed console script on the embedded engine:
--version, -h, help that names values, --format json on every reporting command, `new` with a bad name."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from chmigrate.migrations import filenames
from chmigrate.migrations.discovery import discover
from tests.cli.helpers import Run
from tests.conftest import SEED, Target

CH_ONLY = {"CHMIGRATE_ONLY": "clickhouse"}
COMMANDS = ("up", "down", "baseline", "resolve", "status", "plan", "diff", "verify", "new", "snapshot", "unlock",
            "version")
REPORTING = ("up", "down", "baseline", "resolve", "status", "plan", "diff", "verify", "unlock")
SCRIPT = Path(sys.executable).parent / "chmigrate"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """The installed `chmigrate` console script, as a user runs it (wide terminal: help rows do not wrap)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")
            and k not in ("CLICKHOUSE_PASSWORD", "PGPASSWORD")}
    base.update({"COLUMNS": "200", **(env or {})})
    exe = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "chmigrate"]
    p = subprocess.run([*exe, *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=120)
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    return tmp_path


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version_names_the_installed_versions_and_starts_no_engine(project: Path, args: list[str]) -> None:
    r = cli(*args, cwd=project)
    assert r.code == 0, r.all
    assert r.out == (f"chmigrate {version('chmigrate-schema')} (clickhouse-connect {version('clickhouse-connect')}"
                     f", chDB {version('chdb')})\n")
    assert r.err == ""
    assert not (project / ".chmigrate").exists()


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["up", "--help"]])
def test_version_and_help_load_no_database_library(tmp_path: Path, args: list[str]) -> None:
    heavy = ("clickhouse_connect", "chdb", "sqlalchemy", "alembic", "psycopg")
    code = ("import sys\nfrom chmigrate.cli.app import main\n"
            f"sys.argv = ['chmigrate', *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {heavy!r} if m in sys.modules])\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "LOADED []"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_dash_h_is_help(tmp_path: Path, command: str | None) -> None:
    prefix = [command] if command else []
    long, short = cli(*prefix, "--help", cwd=tmp_path), cli(*prefix, "-h", cwd=tmp_path)
    assert long.code == 0 and short.code == 0, long.all + short.all
    assert "Usage: chmigrate" in long.out
    assert short.out == long.out


OPTION_ROW = re.compile(r"^  (?:-[a-z], )?(--[a-z-]+) ?(.*?)\s*$")


def option_rows(help_text: str) -> dict[str, str]:
    """`--option` -> what follows it on its help row (the metavar, if any, then the help)."""
    rows = {}
    for line in help_text.splitlines():
        if m := OPTION_ROW.match(line):
            rows[m[1]] = m[2]
    return rows


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_shows_none_for_flags_and_ends_with_examples_and_exit_codes(
        tmp_path: Path, command: str) -> None:
    r = cli(command, "--help", cwd=tmp_path)
    assert r.code == 0, r.all
    assert not re.search(r"<(bool|str|int|float|path|list)", r.out), r.out
    rows = option_rows(r.out)
    assert rows, r.out
    flags = {"--help", "--debug", "--dry-run", "--retry", "--exit-code", "--applied", "--rolled-back",
             "--force", "--reconcile", "--quiet", "--verbose", "--check", "--yes"}
    for option, rest in rows.items():
        first = rest.split()[0] if rest else ""
        if option in flags:  # no value: the help text follows directly
            assert not first.isupper() and not first.startswith("<"), (option, rest)
        else:  # a value: an upper-case name for it
            assert re.fullmatch(r"[A-Z][A-Z_]*(=[A-Z]+)?", first), (option, rest)
    expected = {"--to": "VERSION", "--lock-timeout": "SECONDS", "--clickhouse-url": "URL", "--var": "NAME=VALUE",
                "--format": "FORMAT"}
    for option, metavar in expected.items():
        if option in rows:
            assert rows[option].split()[0] == metavar, (option, rows[option])
    tail = r.out[r.out.rindex("\n\n  Example"):]  # the epilog, after every option group
    assert not re.search(r"^\w+:$", tail, re.M), tail
    assert "Examples:" in tail or "Example:" in tail
    assert re.search(r"Exit codes: 0\b", tail), tail


def test_root_help_groups_commands_and_points_to_the_readme(tmp_path: Path) -> None:
    r = cli("--help", cwd=tmp_path)
    assert r.code == 0
    panels: dict[str, list[str]] = {}
    current = None
    for line in r.out.splitlines():
        if m := re.match(r"^(\w+):$", line):
            current = m[1]
        elif (m := re.match(r"^  ([a-z]+)\s{2,}", line)) and current:
            panels.setdefault(current, []).append(m[1])
    assert panels["Apply"] == ["up", "down", "baseline", "resolve"]
    assert panels["Inspect"] == ["status", "plan", "diff", "verify"]
    assert panels["Author"] == ["new", "snapshot", "lint"]
    assert panels["Operate"][0] == "unlock"
    assert "README" in r.out


@pytest.mark.parametrize("command", REPORTING)
def test_bad_format_is_a_usage_error(project: Path, command: str) -> None:
    args = {"down": ["--to", "0"], "baseline": ["--to", "0003"], "resolve": ["0003", "--applied"]}.get(command, [])
    r = cli(command, *args, "--format", "yaml", cwd=project, env=CH_ONLY)
    assert r.code == 2, r.all
    assert r.out == ""
    assert "--format" in r.err and "yaml" in r.err and "Traceback" not in r.all
    assert not (project / ".chmigrate").exists()  # refused before any engine started


def document(r: Run, code: int = 0) -> dict[str, object]:
    assert r.code == code, r.all
    doc = json.loads(r.out)  # exactly one document on stdout: anything else fails to parse
    assert isinstance(doc, dict) and doc["version"] == 1, doc
    return doc


def test_every_reporting_command_prints_one_json_document(project: Path) -> None:
    j = ("--format", "json")
    plan = document(cli("plan", *j, cwd=project, env=CH_ONLY))
    assert [s["version"] for s in plan["clickhouse"]["statements"]] == ["0001", "0002", "0003"]  # type: ignore
    up = cli("up", *j, cwd=project, env=CH_ONLY)
    assert [a["version"] for a in document(up)["clickhouse"]["applied"]] == ["0001", "0002", "0003"]  # type: ignore
    assert "applying 0001_create_llm_usage.sql" in up.err  # progress goes to stderr
    status = document(cli("status", *j, cwd=project, env=CH_ONLY))
    assert {m["state"] for m in status["clickhouse"]["migrations"]} == {"applied"}  # type: ignore
    diff = document(cli("diff", *j, cwd=project, env=CH_ONLY))
    assert diff["drift"] is False and diff["clickhouse"]["changes"] == []  # type: ignore
    assert document(cli("verify", *j, cwd=project, env=CH_ONLY))["passed"] is True
    assert document(cli("unlock", *j, cwd=project, env=CH_ONLY))["clickhouse"] == {"released": []}
    down = document(cli("down", "--to", "0002", *j, cwd=project, env=CH_ONLY))
    assert [a["version"] for a in down["clickhouse"]["reverted"]] == ["0003"]  # type: ignore
    # resolve: a migration whose second statement fails is dirty until a person says how it ended
    (project / "clickhouse" / "0003_create_llm_usage_daily_mv.sql").unlink()
    (project / "clickhouse" / "0003_broken.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t3 (x Int8) ENGINE = MergeTree ORDER BY x;\nCREATE TABLE broken (;\n")
    failed = document(cli("up", *j, cwd=project, env=CH_ONLY), code=3)
    assert failed["error"]["exit_code"] == 3 and "0003_broken.sql statement 2" in failed["error"]["message"]  # type: ignore
    resolved = document(cli("resolve", "0003", "--rolled-back", *j, cwd=project, env=CH_ONLY))
    assert resolved["clickhouse"]["resolved"] == "0003" and resolved["clickhouse"]["outcome"] == "rolled_back"  # type: ignore


def test_baseline_prints_one_json_document(project: Path) -> None:
    with Target("embedded", project, "default").connect() as ch:  # objects made by hand, not through chmigrate
        for m in discover(project / "clickhouse"):
            for s in m.up:
                ch.execute(s.sql)
    doc = document(cli("baseline", "--to", "0003", "--format", "json", cwd=project, env=CH_ONLY))
    assert doc["clickhouse"]["baselined"] is True  # type: ignore[index]
    assert doc["clickhouse"]["recorded"] == ["0001", "0002", "0003"]  # type: ignore[index]
    again = document(cli("baseline", "--to", "0003", "--format", "json", cwd=project, env=CH_ONLY), code=1)
    assert again["error"]["exit_code"] == 1  # type: ignore[index]


def test_errors_in_json_mode_keep_their_exit_code_and_print_an_error_document(project: Path) -> None:
    (project / "clickhouse" / "0004_session.sql").write_text("SET max_threads = 1;\n")
    r = cli("status", "--format", "json", cwd=project, env=CH_ONLY)
    doc = document(r, code=2)
    assert set(doc) == {"version", "error"}
    error = doc["error"]
    assert isinstance(error, dict) and error["exit_code"] == 2 and "0004_session.sql" in error["message"]
    assert "error: " in r.err  # the person at the terminal still reads it


def test_new_says_how_it_wrote_a_name_outside_the_grammar(project: Path) -> None:
    r = cli("new", "bad name!", cwd=project, env=CH_ONLY)
    assert r.code == 0, r.all
    created = sorted((project / "clickhouse").glob("0004_*.sql"))
    assert [p.name for p in created] == ["0004_bad_name.sql"]
    assert str(created[0]) in r.out
    note = next(line for line in r.err.splitlines() if "'bad name!'" in line)
    assert "'bad_name'" in note and filenames.GRAMMAR in note
    created[0].write_text("SELECT 1;\n")  # a scaffold without a statement is refused by discovery until filled
    plain = cli("new", "add_region", cwd=project, env=CH_ONLY)
    assert plain.code == 0 and plain.err == ""  # a name in the grammar is used as it is, without a note


def test_new_refuses_a_name_with_no_letter_or_digit_naming_the_grammar(project: Path) -> None:
    r = cli("new", "!!!", cwd=project, env=CH_ONLY)
    assert r.code == 2, r.all
    assert "'!!!'" in r.err and filenames.GRAMMAR in r.err and "Traceback" not in r.all
    assert not list((project / "clickhouse").glob("0004_*"))


def test_quiet_prints_nothing_but_applies_and_verbose_prints_each_statement_in_full(project: Path) -> None:
    quiet = cli("up", "--quiet", cwd=project, env=CH_ONLY)
    assert quiet.code == 0, quiet.all
    assert quiet.out == "" and quiet.err == ""
    status = document(cli("status", "--format", "json", cwd=project, env=CH_ONLY))
    states = {m["version"]: m["state"] for m in status["clickhouse"]["migrations"]}  # type: ignore[index]
    assert set(states.values()) == {"applied"}, states
    (project / "clickhouse" / "0004_add_region.sql").write_text(
        "ALTER TABLE llm_usage ADD COLUMN region LowCardinality(String) DEFAULT 'unknown' "
        "COMMENT 'where the call was served'")
    verbose = cli("up", "-v", cwd=project, env=CH_ONLY)
    assert verbose.code == 0, verbose.all
    assert "COMMENT 'where the call was served'" in verbose.all  # the whole statement, not a cut summary
    both = cli("status", "-q", "-v", cwd=project, env=CH_ONLY)
    assert both.code == 2 and "--quiet and --verbose" in both.err


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_only_on_a_terminal_and_never_with_no_color(project: Path, no_color: bool) -> None:
    import pty

    exe = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "chmigrate"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_") and k != "NO_COLOR"}
    env.update({"TERM": "xterm-256color", "COLUMNS": "200", "CHMIGRATE_ONLY": "clickhouse",
                **({"NO_COLOR": "1"} if no_color else {})})
    leader, follower = pty.openpty()
    p = subprocess.run([*exe, "status"], cwd=project, env=env, stdin=follower, stdout=follower,
                       stderr=follower, timeout=120)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert p.returncode == 0, text
    colours = re.findall(r"\x1b\[[0-9;]*m", text)
    if no_color:
        assert not [c for c in colours if re.search(r"\[(3|9)[0-7]|38;", c)], colours[:5]
    else:
        assert colours, text[:300]
    piped = cli("status", cwd=project, env=CH_ONLY)
    assert "\x1b[" not in piped.out
