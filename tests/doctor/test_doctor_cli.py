"""`chmigrate doctor` as a newcomer runs it: on the embedded default right after `up`, in text and JSON; and
named environments (--env / CHMIGRATE_ENV) for every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import REPO, SEED, Target


@pytest.fixture(scope="module")
def after_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("doctor-project")
    shutil.copytree(SEED, project / "clickhouse")
    shutil.copytree(REPO / "postgres", project / "postgres", ignore=shutil.ignore_patterns("__pycache__"))
    r = chmigrate("up", cwd=project)
    assert r.code == 0, r.all
    return project


def test_doctor_right_after_up_fails_only_on_pricing(after_up: Path) -> None:
    r = chmigrate("doctor", cwd=after_up)
    assert r.code == 1, r.all  # a check failed: pricing
    lines = [ln for ln in r.out.splitlines() if ln[:4] in ("PASS", "WARN", "FAIL", "SKIP")]
    assert [ln.split()[0] for ln in lines].count("FAIL") == 1
    (fail,) = [ln for ln in lines if ln.startswith("FAIL")]
    assert "model pricing" in fail and "orchestrator.model_pricing has no rows: costs will show as 0" in fail
    assert not any(ln.startswith("WARN") for ln in lines)
    for ln in lines:
        if ln.startswith("SKIP"):
            assert "skipped: " in ln  # every skip says why
    assert "river_job does not exist" in r.out and "holds no events yet" in r.out


def test_doctor_json_is_one_document_with_codes(after_up: Path) -> None:
    r = chmigrate("doctor", "--format", "json", "--since", "24h", cwd=after_up)
    assert r.code == 1, r.all
    doc = json.loads(r.out)
    assert doc["version"] == 1 and doc["passed"] is False and doc["since_seconds"] == 86400
    statuses = {f["check"]: (f["status"], f["code"]) for f in doc["findings"]}
    assert statuses == {
        "clickhouse.connect": ("pass", "connected"), "postgres.connect": ("pass", "connected"),
        "verify": ("pass", "verify_passed"), "views": ("pass", "views_ok"), "freshness": ("skip", "no_events"),
        "rollup": ("skip", "rollup_no_events"), "pricing": ("fail", "pricing_empty"), "river": ("skip", "no_table")}
    pricing = next(f for f in doc["findings"] if f["check"] == "pricing")
    assert "costs will show as 0" in pricing["finding"] and "pricing_refresh" in pricing["next_step"]


def test_bad_since_is_a_usage_error(after_up: Path) -> None:
    r = chmigrate("doctor", "--since", "soon", cwd=after_up)
    assert r.code == 2 and r.err.startswith("error: --since: 'soon' is not a duration"), r.all
    assert len(r.err.splitlines()) == 1


def _config(project: Path, text: str) -> None:
    (project / "chmigrate.toml").write_text(text)


def test_environments_choose_settings_and_are_named(tmp_path: Path) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    _config(tmp_path, """
only = "clickhouse"
[doctor]
freshness = "2h"
[environments.local]
database = "analytics"
[environments.local.doctor]
rollup_days = 5
[environments.prod]
clickhouse_url = "http://default@127.0.0.1:9/default"
clickhouse_password_env = "PROD_CH_PASSWORD"
""")
    up = chmigrate("up", "--env", "local", cwd=tmp_path)
    assert up.code == 0, up.all
    assert "environment: local" in up.err
    st = chmigrate("status", "--format", "json", cwd=tmp_path, env={"CHMIGRATE_ENV": "local"})
    assert st.code == 0, st.all
    doc = json.loads(st.out)
    assert doc["environment"] == "local" and all(m["state"] == "applied" for m in doc["clickhouse"]["migrations"])
    d = chmigrate("doctor", "--env", "local", "--format", "json", cwd=tmp_path)
    doc = json.loads(d.out)
    assert doc["environment"] == "local"
    rollup = next(f for f in doc["findings"] if f["check"] == "rollup")
    assert rollup["facts"]["days"] == 5  # the environment's threshold over the top level's
    views = next(f for f in doc["findings"] if f["check"] == "views")
    assert views["views"] == ["analytics.llm_usage_daily_mv: llm_usage -> analytics.llm_usage_daily"]
    # the secret by reference: a variable that is not set is named; when set, its value is never printed
    prod = chmigrate("status", "--env", "prod", cwd=tmp_path)
    assert prod.code == 2 and "environments.prod.clickhouse_password_env" in prod.err, prod.all
    assert "PROD_CH_PASSWORD, which is not set" in prod.err
    prod = chmigrate("doctor", "--env", "prod", cwd=tmp_path, env={"PROD_CH_PASSWORD": "pr0d-s3cret"})
    assert prod.code == 3, prod.all  # nothing listens there: could not reach it
    assert "environment: prod" in prod.err and "cannot reach it" in prod.out
    assert "pr0d-s3cret" not in prod.all


def test_unknown_environment_is_one_line_exit_2(tmp_path: Path) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    _config(tmp_path, "[environments.prod]\ndatabase = \"x\"\n[environments.staging]\ndatabase = \"y\"\n")
    for args, env in ((("--env", "stagin"), {}), ((), {"CHMIGRATE_ENV": "stagin"})):
        r = chmigrate("status", *args, cwd=tmp_path, env=env)
        assert r.code == 2, r.all
        first = r.err.splitlines()[0]
        assert "no environment 'stagin'" in first and "known: prod, staging" in first
        assert ("--env" if args else "CHMIGRATE_ENV") in first and "Traceback" not in r.all


@pytest.mark.parametrize("table", [
    'clickhouse_password = "hunter2-pw"',
    'postgres_password = "hunter2-pw"',
    'clickhouse_url = "http://default:hunter2-pw@127.0.0.1:8123/default"',
    'postgres_url = "postgresql://u@h/db?password=hunter2-pw"',
])
def test_a_password_written_in_an_environment_is_refused(tmp_path: Path, table: str) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    _config(tmp_path, f"[environments.prod]\n{table}\n")
    r = chmigrate("status", "--env", "prod", cwd=tmp_path)
    assert r.code == 2, r.all
    assert "environments.prod." in r.err and "a password is never written in the config" in r.err
    assert "hunter2-pw" not in r.all


@pytest.mark.parametrize("line, named", [('freshnes = "1h"', "doctor.freshnes"),
                                         ('freshness = "-1h"', "doctor.freshness"),
                                         ("rollup_days = 0", "doctor.rollup_days"),
                                         ('events_table = "x; DROP"', "doctor.events_table")])
def test_a_bad_doctor_setting_names_its_key(tmp_path: Path, line: str, named: str) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    _config(tmp_path, f"only = \"clickhouse\"\n[doctor]\n{line}\n")
    r = chmigrate("doctor", cwd=tmp_path)
    assert r.code == 2 and f"chmigrate.toml: {named}" in r.err.splitlines()[0], r.all


@pytest.mark.server
def test_doctor_over_http_never_prints_the_password(http_target: Target) -> None:
    from urllib.parse import urlsplit

    env = {**http_target.cli_env(), "CHMIGRATE_MIGRATIONS_DIR": str(SEED)}
    assert chmigrate("up", cwd=http_target.workdir, env=env).code == 0
    parts = urlsplit(http_target.url or "")
    url = f"{parts.scheme}://default:{http_target.password}@{parts.netloc.rsplit('@', 1)[-1]}/{http_target.database}"
    env = {k: v for k, v in env.items() if k not in ("CLICKHOUSE_PASSWORD", "CHMIGRATE_CLICKHOUSE_URL")}
    for fmt in ("text", "json"):
        r = chmigrate("doctor", "--format", fmt, "--clickhouse-url", url, cwd=http_target.workdir, env=env)
        assert r.code == 0, r.all  # no Postgres in this run: its checks are skipped, nothing fails
        assert http_target.password not in r.all and "default:***@" in r.all
    doc = json.loads(r.out)
    assert {f["check"]: f["status"] for f in doc["findings"]}["pricing"] == "skip"
    assert doc["findings"][0]["facts"]["version"]
