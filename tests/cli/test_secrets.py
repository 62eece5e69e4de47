"""A password never appears in stdout, stderr, --debug tracebacks, JSON output or the ledger, whichever way it
comes in (CLICKHOUSE_PASSWORD, --password-file, the URL's userinfo or its `?password=`); `--debug` shows the
driver's original error. Both URLs and the reprs: tests/postgres/test_pg_secrets.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target

pytestmark = pytest.mark.server

COMMANDS = [["up"], ["status"], ["status", "--format", "json"], ["plan"], ["up", "--dry-run"],
            ["down", "--to", "0", "--dry-run"], ["unlock"], ["resolve", "1", "--applied"]]


def test_password_right_and_wrong_never_printed_nor_recorded(http_target: Target, tmp_path: Path) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    right = http_target.password
    if not right:
        pytest.skip("the server has no password")
    wrong = "Wr0ng-" + right[::-1]
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text(right + "\n")
    url_with_pw = http_target.url.replace("http://", f"http://default:{right}@")  # type: ignore[union-attr]
    url_with_query = f"{(http_target.url or '').rstrip('/')}/{http_target.database}?password={right}"
    rights = ("env", "file", "url", "query")
    wrongs = ("wrong-env", "wrong-url", "wrong-query")
    for i, cmd in enumerate(COMMANDS):  # every command with a right and a wrong password, each way in turn
        for how in (rights[i % len(rights)], wrongs[i % len(wrongs)]):
            env = http_target.cli_env()
            env.pop("CLICKHOUSE_PASSWORD", None)
            args = list(cmd) + ["--debug"]
            if how == "env":
                env["CLICKHOUSE_PASSWORD"] = right
            elif how == "file":
                args += ["--password-file", str(pw_file)]
            elif how == "url":
                env["CHMIGRATE_CLICKHOUSE_URL"] = url_with_pw
            elif how == "query":
                env["CHMIGRATE_CLICKHOUSE_URL"] = url_with_query
            elif how == "wrong-env":
                env["CLICKHOUSE_PASSWORD"] = wrong
            elif how == "wrong-url":
                env["CHMIGRATE_CLICKHOUSE_URL"] = url_with_pw.replace(right, wrong)
            else:
                env["CHMIGRATE_CLICKHOUSE_URL"] = url_with_query.replace(right, wrong)
            r = chmigrate(*args, cwd=tmp_path, env=env)
            assert right not in r.all, (cmd, how, r.all)
            assert wrong not in r.all, (cmd, how, r.all)
            if how.startswith("wrong"):
                assert r.code == 3, (cmd, how, r.all)
                # --debug shows the driver's own error, which the one-line message had replaced
                assert "clickhouse_connect.driver.exceptions.DatabaseError" in r.err, (cmd, how, r.err)
                assert "Code: 516" in r.err, (cmd, how, r.err)
            else:
                assert r.code in (0, 1), (cmd, how, r.all)
    with http_target.connect() as ch:
        rows = ch.query(f"SELECT * FROM `{http_target.database}`.chmigrate_ledger")
        users = ch.query(f"SELECT DISTINCT db_user FROM `{http_target.database}`.chmigrate_ledger")
    assert rows and all(right not in str(r) and wrong not in str(r) for r in rows)
    assert users == [("default",)]  # the user the connection authenticated as, not ""
