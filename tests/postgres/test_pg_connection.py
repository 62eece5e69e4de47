"""Connection failures: ConnectionFailed, one line, exit 3, and the password nowhere in the output."""

from __future__ import annotations

import socket
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chmigrate.errors import ConfigError, ConnectionFailed
from chmigrate.targets.postgres import Postgres, PostgresConfig

from .conftest import PROJECT, Database, Server

pytestmark = pytest.mark.postgres

SECRET = "Wr0ng-S3cret-" + uuid.uuid4().hex[:8]


def leak_free(exc: BaseException, secret: str) -> None:
    """The secret appears in no message, repr or rendered traceback of exc."""
    rendered = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for text in (str(exc), repr(exc), rendered, str(getattr(exc, "hint", "") or "")):
        assert secret not in text
    assert exc.__cause__ is None, "the driver's error is not chained"
    assert exc.__context__ is None or exc.__suppress_context__


def connect_failure(config: PostgresConfig) -> ConnectionFailed:
    with pytest.raises(ConnectionFailed) as err:
        Postgres.connect(config)
    exc = err.value
    assert exc.exit_code == 3
    assert "\n" not in str(exc)
    return exc


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and then never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def login_role(pg_db: Database) -> Iterator[str]:
    role = f"chm_login_{uuid.uuid4().hex[:8]}"
    pg_db.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'Right-{uuid.uuid4().hex}'")
    try:
        yield role
    finally:
        pg_db.execute(f"DROP ROLE IF EXISTS {role}")


def _requires_passwords(server: Server, role: str, database: str) -> None:
    try:
        psycopg.connect(host=server.host, port=server.port, user=role, password=SECRET, dbname=database,
                        connect_timeout=5).close()
    except psycopg.OperationalError:
        return
    pytest.skip("this server accepts any password (trust authentication)")


def test_wrong_password_in_the_url(pg_db: Database, login_role: str) -> None:
    _requires_passwords(pg_db.server, login_role, pg_db.name)
    url = pg_db.server.url(pg_db.name, user=login_role, password=SECRET)

    exc = connect_failure(PostgresConfig(url=url, project_dir=PROJECT))

    masked = pg_db.server.url(pg_db.name, user=login_role, password="***")
    assert str(exc) == f'cannot connect to PostgreSQL at {masked}: password authentication failed for user ' \
                       f'"{login_role}"'
    assert exc.hint and "password" in exc.hint
    leak_free(exc, SECRET)


def test_wrong_password_given_apart_overrides_the_urls(pg_db: Database, login_role: str) -> None:
    _requires_passwords(pg_db.server, login_role, pg_db.name)
    url = pg_db.server.url(pg_db.name, user=login_role, password="url-password-" + SECRET)
    config = PostgresConfig(url=url, password=SECRET, project_dir=PROJECT)

    exc = connect_failure(config)

    assert "password authentication failed" in str(exc)
    leak_free(exc, SECRET)
    assert SECRET not in repr(config)


def test_a_password_in_the_query_string_is_masked_too(closed_port: int) -> None:
    url = f"postgresql://crawbl@127.0.0.1:{closed_port}/crawbl?password={SECRET}&sslmode=disable"

    exc = connect_failure(PostgresConfig(url=url, project_dir=PROJECT))

    assert "connection refused" in str(exc)
    leak_free(exc, SECRET)


def test_connection_refused(closed_port: int) -> None:
    url = f"postgresql://crawbl:{SECRET}@127.0.0.1:{closed_port}/crawbl"

    exc = connect_failure(PostgresConfig(url=url, project_dir=PROJECT))

    assert str(exc) == ("cannot connect to PostgreSQL at "
                        f"postgresql://crawbl:***@127.0.0.1:{closed_port}/crawbl: connection refused")
    leak_free(exc, SECRET)


def test_a_server_that_never_answers_times_out(silent_server: int) -> None:
    url = f"postgresql://crawbl@127.0.0.1:{silent_server}/crawbl"
    began = time.monotonic()

    exc = connect_failure(PostgresConfig(url=url, password=SECRET, project_dir=PROJECT, connect_timeout=2))

    assert time.monotonic() - began < 10
    assert str(exc).endswith(": connection timed out")
    leak_free(exc, SECRET)


def test_unknown_host() -> None:
    url = f"postgresql://crawbl:{SECRET}@no-such-host.invalid:5432/crawbl"

    exc = connect_failure(PostgresConfig(url=url, project_dir=PROJECT, connect_timeout=3))

    assert str(exc) == ("cannot connect to PostgreSQL at "
                        "postgresql://crawbl:***@no-such-host.invalid:5432/crawbl: host name not found")
    leak_free(exc, SECRET)


def test_unknown_database(pg_db: Database) -> None:
    exc = connect_failure(pg_db.config(url=pg_db.server.url("no_such_db_" + uuid.uuid4().hex[:6])))
    assert "does not exist" in str(exc)


def test_the_target_and_its_config_never_show_the_password(pg_db: Database) -> None:
    url = pg_db.server.url(pg_db.name, password=pg_db.server.password)
    config = PostgresConfig(url=url, project_dir=PROJECT)
    with Postgres.connect(config) as target:
        assert pg_db.server.password not in repr(target) + target.label + repr(config)
        assert target.label == pg_db.server.url(pg_db.name, password="***")
        assert pg_db.server.password not in repr(target.status())


@pytest.mark.parametrize("url", [f"mysql://u:{SECRET}@localhost/db", "http://localhost:8123",
                                 "not a url at all"])
def test_urls_that_are_not_postgresql_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        Postgres.connect(PostgresConfig(url=url, project_dir=PROJECT))
    assert err.value.exit_code == 2 and str(err.value).startswith("postgres_url: ")
    leak_free(err.value, SECRET)


def test_a_missing_project_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="postgres_dir: .*does not exist"):
        Postgres.connect(PostgresConfig(url="postgresql://u@127.0.0.1:1/db", project_dir=tmp_path / "nope"))
