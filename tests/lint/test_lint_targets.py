"""lint on every target: the ledger of the configured engine decides what is pending, and a server's own
version is the default target of the version rules (the embedded engine has none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmigrate import api
from tests.conftest import Target

TTL64 = """CREATE TABLE IF NOT EXISTS lint_ttl (id UInt64, ts DateTime64(3)) ENGINE = MergeTree ORDER BY id
TTL toDateTime(ts) + INTERVAL 13 MONTH;
ALTER TABLE llm_usage DROP COLUMN IF EXISTS session_id;

-- chmigrate:down
DROP TABLE IF EXISTS lint_ttl;
"""


def test_pending_from_the_target_ledger_and_version_from_the_server(target: Target, seed_copy: Path) -> None:
    api.up(target.settings(seed_copy, to="0002"), to="0002")
    (seed_copy / "0004_lint_me.sql").write_text(TTL64, encoding="utf-8")
    result = api.lint(target.settings(seed_copy))
    assert [Path(f).name for f in result.files] == ["0003_create_llm_usage_daily_mv.sql", "0004_lint_me.sql"]
    assert [(f.code, Path(f.file).name, f.line) for f in result.findings if f.severity != "notice"] == [
        ("CH102", "0004_lint_me.sql", 3)]
    if target.kind == "embedded":
        assert result.server_version is None
    else:
        with target.connect() as ch:
            assert result.server_version == ".".join(ch.server_version.split(".")[:2])
    assert api.lint(target.settings(seed_copy), server_version="24.8").server_version == "24.8"


@pytest.mark.server
def test_live_sizes_of_what_a_statement_rewrites(http_target: Target, seed_copy: Path) -> None:
    api.up(http_target.settings(seed_copy, to="0002"), to="0002")
    with http_target.connect() as ch:
        ch.execute(f"INSERT INTO `{http_target.database}`.llm_usage (event_time, message_id) "
                   "SELECT now64(3), toString(number) FROM numbers(1000)")
    (seed_copy / "0004_lint_me.sql").write_text(TTL64, encoding="utf-8")
    result = api.lint(http_target.settings(seed_copy))
    (drop,) = [f for f in result.findings if f.code == "CH102"]
    assert f"in 1 part of {http_target.database}.llm_usage)" in drop.message, drop.message
    assert "rewrites " in drop.message
    # MODIFY TTL materializes on a table with rows (CH107), not on an empty one (the server says which)
    (seed_copy / "0005_ttl.sql").write_text(
        "ALTER TABLE llm_usage MODIFY TTL toDateTime(event_time) + INTERVAL 24 MONTH;\n"
        "ALTER TABLE llm_usage_daily MODIFY TTL day + INTERVAL 5 YEAR;\n-- chmigrate:down\n", encoding="utf-8")
    result = api.lint(http_target.settings(seed_copy), paths=[str(seed_copy / "0005_ttl.sql")])
    assert [(f.code, f.line) for f in result.findings if f.code == "CH107"] == [("CH107", 1)]


@pytest.mark.server
def test_setting_names_come_from_the_live_server(http_target: Target, seed_copy: Path) -> None:
    (seed_copy / "0004_settings.sql").write_text(
        "CREATE TABLE IF NOT EXISTS s (id UInt64) ENGINE = MergeTree ORDER BY id\n"
        "SETTINGS index_granularity = 8192, no_such_setting_anywhere = 1;\n-- chmigrate:down\n", encoding="utf-8")
    result = api.lint(http_target.settings(seed_copy), paths=[str(seed_copy / "0004_settings.sql")])
    assert [(f.code, f.object, f.line) for f in result.findings if f.code == "CH502"] == [
        ("CH502", "no_such_setting_anywhere", 2)]
