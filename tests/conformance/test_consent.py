"""Issue 16: no data lost by a slip. `down` and destructive `up` statements show what they destroy (rows read
from system.parts) and need consent: asked on a terminal, --yes elsewhere; a protected environment refuses."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from tests.cli.helpers import Run, chmigrate
from tests.conftest import SEED, Target
from tests.support import events as ev


def setup(target: Target, tmp_path: Path, rows: int = 1000) -> tuple[Path, dict[str, str]]:
    mig = tmp_path / "mig"
    shutil.copytree(SEED, mig)
    env = target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(mig)}
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    if rows:
        _, data = ev.generate(datetime.now(timezone.utc), n=rows)
        with target.connect() as ch:
            ch.insert("llm_usage", data, ev.COLUMNS, database=target.database)
    return mig, env


def tables(target: Target) -> set[str]:
    with target.connect() as ch:
        return {str(n) for (n,) in ch.query("SELECT name FROM system.tables WHERE database = {d:String}",
                                            {"d": target.database})}


def count(target: Target, table: str) -> int:
    with target.connect() as ch:
        return int(ch.query(f"SELECT count() FROM `{target.database}`.{table}")[0][0])


def consents(target: Target) -> list[tuple[str, str, str, int, int]]:
    with target.connect() as ch:
        rows = ch.query(f"SELECT version, event, consent, destroyed_rows, destroyed_bytes, consented_by "
                        f"FROM `{target.database}`.chmigrate_ledger WHERE consent != '' ORDER BY version")
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows if r[5]]


def test_down_without_consent_refuses_naming_rows_then_yes_proceeds_and_is_recorded(
        target: Target, tmp_path: Path) -> None:
    _, env = setup(target, tmp_path)
    refused = chmigrate("down", "--to", "0", cwd=tmp_path, env=env, stdin="")
    assert refused.code == 1, refused.all
    line = next(x for x in refused.err.splitlines() if x.startswith("error: "))
    assert f"{target.database}.llm_usage (1,000 rows" in line and "nothing was sent" in line, line
    assert "--yes" in refused.err
    assert {"llm_usage", "llm_usage_daily", "llm_usage_daily_mv"} <= tables(target)  # nothing dropped
    assert count(target, "llm_usage") == 1000

    dry = chmigrate("down", "--to", "0", "--dry-run", cwd=tmp_path, env=env)
    assert dry.code == 0 and "would destroy" in dry.out and "1,000 rows" in dry.out, dry.all
    assert "llm_usage" in tables(target)

    ok = chmigrate("down", "--to", "0", "--yes", "--format", "json", cwd=tmp_path, env=env)
    assert ok.code == 0, ok.all
    doc = json.loads(ok.out)["clickhouse"]
    assert [(s["version"], s["direction"]) for s in doc["reverted"]] == [("0003", "down"), ("0002", "down"),
                                                                          ("0001", "down")]
    first = doc["reverted"][2]
    assert first["sql"] == ["DROP TABLE IF EXISTS llm_usage"]
    assert [(d["object"], d["rows"]) for d in first["destroyed"]] == [(f"{target.database}.llm_usage", 1000)]
    assert doc["consent"] == "in advance" and doc["destroyed_rows"] >= 1000
    assert "reverting 0001_create_llm_usage.sql" in ok.err and "applying" not in ok.err
    assert not {"llm_usage", "llm_usage_daily", "llm_usage_daily_mv"} & tables(target)
    recorded = {v: (e, how, rows) for v, e, how, rows, _ in consents(target)}
    assert recorded["0001"] == ("down_started", "in advance", 1000)


def test_down_on_empty_tables_needs_no_consent(target: Target, tmp_path: Path) -> None:
    _, env = setup(target, tmp_path, rows=0)
    r = chmigrate("down", "--to", "0", cwd=tmp_path, env=env, stdin="")
    assert r.code == 0, r.all
    assert "reverted 3 migration(s)" in r.out and "reverted 0001 create_llm_usage: down statement 1: DROP TABLE " \
        "IF EXISTS llm_usage" in r.out
    assert "llm_usage" not in tables(target)


def test_up_dropping_a_column_of_a_table_with_rows_needs_consent(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path)
    (mig / "0004_drop_turn_id.sql").write_text("ALTER TABLE llm_usage DROP COLUMN turn_id;\n")
    refused = chmigrate("up", cwd=tmp_path, env=env, stdin="")
    assert refused.code == 1, refused.all
    assert f"{target.database}.llm_usage.turn_id (1,000 rows" in refused.err, refused.err
    with target.connect() as ch:
        cols = {str(c) for (c,) in ch.query("SELECT name FROM system.columns WHERE database = {d:String} AND "
                                            "table = 'llm_usage'", {"d": target.database})}
    assert "turn_id" in cols
    status = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    assert status["clickhouse"]["migrations"][3]["state"] == "pending"  # nothing recorded
    ok = chmigrate("up", "--yes", cwd=tmp_path, env=env)
    assert ok.code == 0, ok.all
    assert "destroyed 1,000 rows" in ok.out and "consented with --yes" in ok.out
    assert [(v, e, how, rows) for v, e, how, rows, _ in consents(target)] == [("0004", "started", "in advance",
                                                                               1000)]


def test_protected_environment_refuses_even_with_yes(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path)
    (tmp_path / "chmigrate.toml").write_text("protected = true\n")
    down = chmigrate("down", "--to", "0", "--yes", cwd=tmp_path, env=env)
    assert down.code == 1, down.all
    assert "protected" in down.err and "chmigrate.toml: protected = true" in down.err
    (mig / "0004_drop_turn_id.sql").write_text("ALTER TABLE llm_usage DROP COLUMN turn_id;\n")
    up = chmigrate("up", "--yes", cwd=tmp_path, env=env)
    assert up.code == 1 and "chmigrate.toml: protected = true" in up.err and "1,000 rows" in up.err, up.all
    env_off = env | {"CHMIGRATE_PROTECTED": "0"}  # another source cannot switch it off
    assert chmigrate("down", "--to", "0", "--yes", cwd=tmp_path, env=env_off).code == 1
    assert "llm_usage" in tables(target) and count(target, "llm_usage") == 1000
    (tmp_path / "chmigrate.toml").unlink()
    by_env = chmigrate("down", "--to", "0", "--yes", cwd=tmp_path, env=env | {"CHMIGRATE_PROTECTED": "1"})
    assert by_env.code == 1 and "CHMIGRATE_PROTECTED = 1" in by_env.err, by_env.all


def on_terminal(args: list[str], cwd: Path, env: dict[str, str], answer: bytes) -> Run:
    """Run chmigrate with stdin and stdout on a pseudo-terminal, answering `answer` to its question."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")} | env
    base.update({"TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"})
    leader, follower = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "chmigrate", *args], cwd=cwd, env=base, stdin=follower,
                         stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    answered = False
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
        if not answered and b"[y/N]" in b"".join(chunks):
            os.write(leader, answer)
            answered = True
    os.close(leader)
    code = p.wait(timeout=120)
    return Run(code, b"".join(chunks).decode(errors="replace"), "")


def test_on_a_terminal_n_changes_nothing_and_y_proceeds(target: Target, tmp_path: Path) -> None:
    _, env = setup(target, tmp_path)
    no = on_terminal(["down", "--to", "0"], tmp_path, env, b"n\n")
    assert no.code == 1, no.out
    assert "DROP TABLE IF EXISTS llm_usage" in no.out and "1,000 rows" in no.out and "[y/N]" in no.out
    assert "llm_usage" in tables(target) and count(target, "llm_usage") == 1000
    yes = on_terminal(["down", "--to", "0"], tmp_path, env, b"y\n")
    assert yes.code == 0, yes.out
    assert "llm_usage" not in tables(target)
    assert ("0001", "down_started", "asked", 1000) in [(v, e, h, r) for v, e, h, r, _ in consents(target)]


def test_a_ledger_made_before_consent_was_recorded_gets_its_columns(target: Target, tmp_path: Path) -> None:
    from chmigrate.migrations.ledger import CONSENT_COLUMNS

    _, env = setup(target, tmp_path)
    with target.connect() as ch:  # the ledger as an older chmigrate made it
        drops = ", ".join(f"DROP COLUMN {n}" for n, _ in CONSENT_COLUMNS)
        ch.execute(f"ALTER TABLE `{target.database}`.chmigrate_ledger {drops}")
    ok = chmigrate("down", "--to", "0", "--yes", cwd=tmp_path, env=env)
    assert ok.code == 0, ok.all
    assert ("0001", "down_started", "in advance", 1000) in [(v, e, h, r) for v, e, h, r, _ in consents(target)]
    status = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    assert {m["state"] for m in status["clickhouse"]["migrations"]} == {"pending"}


def test_dropping_a_materialized_view_counts_the_rows_of_its_inner_table(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path, rows=0)
    (mig / "0004_models_mv.sql").write_text(
        "CREATE MATERIALIZED VIEW models_mv ENGINE = MergeTree ORDER BY model AS SELECT model FROM llm_usage;\n"
        "-- chmigrate:down\nDROP VIEW IF EXISTS models_mv;\n")
    assert chmigrate("up", cwd=tmp_path, env=env).code == 0
    _, data = ev.generate(datetime.now(timezone.utc), n=300)
    with target.connect() as ch:
        ch.insert("llm_usage", data, ev.COLUMNS, database=target.database)
    refused = chmigrate("down", "--to", "3", cwd=tmp_path, env=env, stdin="")
    assert refused.code == 1 and f"{target.database}.models_mv (300 rows" in refused.err, refused.all
    assert "models_mv" in tables(target)
