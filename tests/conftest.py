"""Shared fixtures: ClickHouse targets (embedded chDB, HTTP endpoint or a real server) and settings."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chmigrate.settings import Settings, load
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "clickhouse"
TEST_URL = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_URL") or None
TEST_PASSWORD = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_PASSWORD", "")


@dataclass
class Target:
    """A ClickHouse place to run migrations against, with a fresh database for one test."""

    kind: str  # "embedded" | "http"
    workdir: Path
    database: str
    url: str | None = None
    password: str = ""
    endpoint: Any = None
    env: dict[str, str] = field(default_factory=dict)
    keeper: bool = False  # the server can hold KeeperMap tables (so `up` takes the linearizable Keeper lock)

    def settings(self, migrations_dir: Path = SEED, **flags: Any) -> Settings:
        base: dict[str, Any] = {"migrations_dir": migrations_dir, "only": "clickhouse", "database": self.database}
        if self.url:
            base["clickhouse_url"] = self.url
        base.update(flags)
        env = {"CLICKHOUSE_PASSWORD": self.password} if self.password else {}
        env["CHMIGRATE_LOCAL_DIR"] = str(self.workdir / ".chmigrate")
        return load(base, env=env, cwd=self.workdir)

    def connect(self) -> ClickHouse:
        if self.url:
            return ClickHouse.connect(ClickHouseConfig(url=self.url, password=self.password))
        return ClickHouse.connect(ClickHouseConfig(local_dir=self.workdir / ".chmigrate" / "clickhouse"))

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")}
        env.update({"CHMIGRATE_ONLY": "clickhouse", "CHMIGRATE_DATABASE": self.database,
                    "CHMIGRATE_LOCAL_DIR": str(self.workdir / ".chmigrate")})
        if self.url:
            env["CHMIGRATE_CLICKHOUSE_URL"] = self.url
        if self.password:
            env["CLICKHOUSE_PASSWORD"] = self.password
        return env


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test HTTP endpoint over chDB (current engine), unless a real server URL is given."""
    if TEST_URL:
        yield None
        return
    from tests.support.endpoint import start_endpoint

    path = tmp_path_factory.mktemp("endpoint-data")
    ep = start_endpoint(path, password="s3cret-test-pw", python=sys.executable)
    try:
        yield ep
    finally:
        ep.stop()


def _fresh_db() -> str:
    return "t_" + uuid.uuid4().hex[:12]


@pytest.fixture(params=["embedded", pytest.param("http", marks=pytest.mark.server)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """Each test runs on the embedded engine and over HTTP (the endpoint or CHMIGRATE_TEST_CLICKHOUSE_URL)."""
    yield from _make_target(request, tmp_path, request.param)


@pytest.fixture
def http_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    yield from _make_target(request, tmp_path, "http")


def _make_target(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[Target]:
    if kind == "embedded":
        yield Target("embedded", tmp_path, "default")
        return
    ep = request.getfixturevalue("endpoint")
    db = _fresh_db()
    if ep is None:
        control = None
        if os.environ.get("CHMIGRATE_TEST_URL_IS_ENDPOINT") == "1":  # the parity run: the URL is our endpoint
            from tests.support.endpoint import Endpoint

            control = Endpoint(TEST_URL or "", tmp_path)
        keeper = (bool(control.info()["keeper"]) if control
                  else os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_KEEPER") == "1")
        t = Target("http", tmp_path, db, url=TEST_URL, password=TEST_PASSWORD, endpoint=control, keeper=keeper)
    else:
        t = Target("http", tmp_path, db, url=ep.url, password="s3cret-test-pw", endpoint=ep,
                   keeper=bool(ep.info()["keeper"]))
    yield t
    try:
        with t.connect() as ch:
            ch.execute(f"DROP DATABASE IF EXISTS `{db}`")
    except Exception:
        pass


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of the seed migrations that a test may edit."""
    dst = tmp_path / "migrations"
    shutil.copytree(SEED, dst)
    return dst
