"""The seed schema on a real ClickHouse 24.8 server in a container (testcontainers).

Runs where a Docker engine answers; elsewhere it skips with the reason. The GitHub workflow also runs the
whole server-facing suite against a clickhouse/clickhouse-server:24.8-alpine service container.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chmigrate import api
from chmigrate.settings import load
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig
from tests.conftest import SEED

IMAGE = "clickhouse/clickhouse-server:24.8-alpine"


def _docker_reason() -> str | None:
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        return "the docker Python package is not installed"
    try:
        docker.from_env().ping()
    except Exception as exc:  # no daemon, no socket, no permission
        return f"no Docker engine answers here ({type(exc).__name__})"
    return None


@pytest.fixture(scope="module")
def container_url() -> Iterator[str]:
    reason = _docker_reason()
    if reason:
        pytest.skip(reason)
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    c = DockerContainer(IMAGE).with_exposed_ports(8123).with_env("CLICKHOUSE_PASSWORD", "tc-pw")
    with c:
        wait_for_logs(c, "Ready for connections", timeout=120)
        yield f"http://default@{c.get_container_host_ip()}:{c.get_exposed_port(8123)}"


def test_seed_schema_on_a_real_24_8_server(container_url: str, tmp_path: Path) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    settings = load({"clickhouse_url": container_url, "only": "clickhouse"},
                    env={"CLICKHOUSE_PASSWORD": "tc-pw"}, cwd=tmp_path)
    assert [a.version for a in api.up(settings).targets[0].applied] == ["0001", "0002", "0003"]
    with ClickHouse.connect(ClickHouseConfig(url=container_url, password="tc-pw")) as ch:
        assert ch.version_tuple()[:2] == (24, 8)
        names = {n for (n,) in ch.query("SELECT name FROM system.tables WHERE database = 'default'")}
    assert {"llm_usage", "llm_usage_daily", "llm_usage_daily_mv", "chmigrate_ledger"} <= names
    assert api.up(settings).targets[0].applied == ()
