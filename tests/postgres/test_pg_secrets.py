"""Passwords in either URL, in the userinfo or as `?password=`: used for the connection, and never shown (text,
JSON, errors, `--debug`, reprs, the ledger). A URL that does not parse is a configuration error naming the
setting. The ledger records the user the URL names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from chmigrate.connect import clickhouse_config
from chmigrate.settings import load
from chmigrate.targets.clickhouse import parse_url
from chmigrate.targets.postgres import PostgresConfig
from tests.cli.helpers import Run, chmigrate
from tests.conftest import REPO, SEED, Target

pytestmark = [pytest.mark.server, pytest.mark.postgres]


def _urls(http_target: Target, pg_db: Any, ch_password: str, pg_password: str, *, how: str) -> dict[str, str]:
    """CHMIGRATE_*_URL for both engines, each carrying its password the way `how` says."""
    ch, pg = (http_target.url or "").rstrip("/"), pg_db.url
    if how == "query":
        ch = f"{ch}/{http_target.database}?password={quote(ch_password, safe='')}"
        pg = f"{pg}?password={quote(pg_password, safe='')}"
    else:  # userinfo
        ch = ch.replace("://", f"://default:{quote(ch_password, safe='')}@", 1) + f"/{http_target.database}"
        pg = pg.replace(f"://{pg_db.server.user}@", f"://{pg_db.server.user}:{quote(pg_password, safe='')}@", 1)
    return {"CHMIGRATE_CLICKHOUSE_URL": ch, "CHMIGRATE_POSTGRES_URL": pg}


def _env(http_target: Target, urls: dict[str, str]) -> dict[str, str]:
    env = http_target.cli_env()
    for name in ("CHMIGRATE_ONLY", "CHMIGRATE_DATABASE", "CLICKHOUSE_PASSWORD"):
        env.pop(name, None)  # both engines; the database and the passwords come from the URLs alone
    env["CHMIGRATE_POSTGRES_DIR"] = str(REPO / "postgres")
    return env | urls


def _no_secret(r: Run, *secrets: str) -> None:
    for s in secrets:
        assert s not in r.all, (s, r.all)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    return tmp_path


@pytest.mark.parametrize("how", ["query", "userinfo"])
def test_url_passwords_are_used_and_never_shown(http_target: Target, pg_db: Any, project: Path, how: str) -> None:
    ch_pw, pg_pw = http_target.password, pg_db.server.password
    if not ch_pw:
        pytest.skip("the ClickHouse server has no password")
    wrong_ch, wrong_pg = "Wr0ng-" + ch_pw[::-1], "Wr0ng-" + pg_pw[::-1]
    secrets = (ch_pw, pg_pw, quote(ch_pw, safe=""), quote(pg_pw, safe=""), wrong_ch, wrong_pg)
    env = _env(http_target, _urls(http_target, pg_db, ch_pw, pg_pw, how=how))

    for args in (["up"], ["status"], ["plan"], ["diff"], ["verify"], ["up", "--dry-run"]):
        r = chmigrate(*args, "--debug", cwd=project, env=env)
        assert r.code == 0, (args, r.all)
        _no_secret(r, *secrets)
    r = chmigrate("status", "--format", "json", cwd=project, env=env)
    assert r.code == 0, r.all
    _no_secret(r, *secrets)
    doc = json.loads(r.out)
    for engine in ("clickhouse", "postgres"):
        target = doc[engine]["target"]
        assert not doc[engine]["embedded"] and "***" in target, target
        assert all(m["state"] == "applied" for m in doc[engine]["migrations"]), doc[engine]
    for engine in ("clickhouse", "postgres"):
        assert not (project / ".chmigrate" / engine).exists(), "no embedded engine beside two servers"

    # the ledger holds no password, and names the user the URL gives (userinfo, or the server's default)
    with http_target.connect() as ch:
        rows = ch.query(f"SELECT * FROM `{http_target.database}`.chmigrate_ledger")
        users = {u for (u,) in ch.query(f"SELECT db_user FROM `{http_target.database}`.chmigrate_ledger")}
    assert rows and all(s not in str(row) for row in rows for s in secrets)
    assert users == {"default"}, users

    # the password in the URL is what authenticates: a wrong one fails, with exit 3, in each engine
    for wrong, engine, driver_error in (
        ({"CHMIGRATE_CLICKHOUSE_URL": _urls(http_target, pg_db, wrong_ch, pg_pw, how=how)
          ["CHMIGRATE_CLICKHOUSE_URL"]}, "clickhouse", "clickhouse_connect.driver.exceptions"),
        ({"CHMIGRATE_POSTGRES_URL": _urls(http_target, pg_db, ch_pw, wrong_pg, how=how)
          ["CHMIGRATE_POSTGRES_URL"]}, "postgres", "psycopg.OperationalError"),
    ):
        r = chmigrate("status", "--only", engine, cwd=project, env=env | wrong)
        assert r.code == 3, (engine, r.all)
        assert "authentication failed" in r.err.lower(), (engine, r.all)
        _no_secret(r, *secrets)
        debug = chmigrate("status", "--only", engine, "--debug", cwd=project, env=env | wrong)
        assert debug.code == 3, debug.all
        assert driver_error in debug.err, (engine, debug.err)  # --debug shows the driver's own error
        _no_secret(debug, *secrets)


def test_a_url_that_does_not_parse_names_the_setting(http_target: Target, pg_db: Any, project: Path) -> None:
    pw = "Sekr1t-" + pg_db.server.password[:8]
    base = _env(http_target, {})
    host = (http_target.url or "").split("://", 1)[1].split(":")[0]
    cases = [
        ({"CHMIGRATE_CLICKHOUSE_URL": f"http://default:{pw}@{host}:notaport/db"}, (), "CHMIGRATE_CLICKHOUSE_URL"),
        ({"CHMIGRATE_CLICKHOUSE_URL": f"http://default@{host}:99999/db?password={pw}"}, (),
         "CHMIGRATE_CLICKHOUSE_URL"),
        ({}, ("--clickhouse-url", f"http://default:{pw}@{host}:65536/db"), "--clickhouse-url"),
        ({"CHMIGRATE_POSTGRES_URL": f"postgresql://app:{pw}@127.0.0.1:notaport/app"}, (), "CHMIGRATE_POSTGRES_URL"),
        ({}, ("--postgres-url", f"postgresql://app@127.0.0.1:70000/app?password={pw}"), "--postgres-url"),
    ]
    for env, flags, setting in cases:
        for debug in ((), ("--debug",)):
            r = chmigrate("status", *flags, *debug, cwd=project, env=base | env)
            assert r.code == 2, (setting, r.all)
            errors = [line for line in r.err.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and errors[0].startswith(f"error: {setting}: not a valid URL"), r.all
            _no_secret(r, pw)
    assert not (project / ".chmigrate").exists()


def test_reprs_hold_no_password(tmp_path: Path) -> None:
    pw = "Repr-s3cret-pw"
    for ch_url, pg_url in (
        (f"http://default:{pw}@db.example:8123/prod", f"postgresql://app:{pw}@db.example/app"),
        (f"https://db.example:8443/prod?password={pw}&user=ops", f"postgresql://app@db.example/app?password={pw}"),
    ):
        settings = load({"clickhouse_url": ch_url, "postgres_url": pg_url}, env={}, cwd=tmp_path)
        assert settings.clickhouse_url == ch_url and settings.postgres_url == pg_url  # kept, to be used
        assert pw in settings.secrets
        shown = [repr(settings), str(settings), repr(clickhouse_config(settings)),
                 repr(parse_url(ch_url)), repr(PostgresConfig(url=pg_url, password=pw))]
        for text in shown:
            assert pw not in text and "db.example" in text, text
        assert parse_url(ch_url).password == pw  # and the parser hands it to the connection
