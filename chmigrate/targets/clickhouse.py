"""The ClickHouse seam: one implementation over clickhouse-connect, two connections.

A server is reached over HTTP(S); the embedded default is clickhouse-connect's
in-process chDB backend on a local directory. Everything above this module sees
the same `ClickHouse` object either way. Configuration arrives through
`ClickHouseConfig`; this module never reads the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from chmigrate.errors import ConfigError, ConnectionFailed, DatabaseError
from chmigrate.masking import mask_url, masked_repr, redact, url_secrets

_CODE = re.compile(r"Code: (\d+)\. (?:DB::Exception: )?(.*?)(?: \(([A-Z_0-9]+)\))?(?: \(version [^)]*\))?"
                   r"(?: \(for url [^)]*\))?\s*$", re.S)


@dataclass(frozen=True)
class ClickHouseConfig:
    """Where and how to reach ClickHouse. `url=None` means the embedded engine in `local_dir`."""

    url: str | None = None
    local_dir: Path = Path(".chmigrate/clickhouse")
    database: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    query_timeout: float = 300.0
    verify_tls: bool = True
    ca_cert: str | None = None
    client_cert: str | None = None
    client_cert_key: str | None = None
    open_timeout: float = 60.0  # embedded: how long to wait for a directory another process holds

    def __repr__(self) -> str:  # the URL may carry a password
        return masked_repr(self)

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class ServerAddress:
    secure: bool
    host: str
    port: int
    user: str
    password: str | None = field(repr=False)  # the userinfo's, else the `?password=` parameter's
    database: str | None
    options: Mapping[str, str]  # the other query parameters


def parse_url(url: str, setting: str = "clickhouse_url") -> ServerAddress:
    """Parse an http(s):// ClickHouse URL; reject native-protocol URLs with a hint. The user and password
    come from the userinfo, else from `?user=` / `?password=` (as ClickHouse's HTTP interface takes them).
    Errors name `setting` and show the URL masked."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(setting, f"not a valid URL: {mask_url(url)} ({redact(str(exc), url_secrets(url))})",
                          hint="the form is http(s)://USER@HOST:PORT/DATABASE") from None
    scheme = parts.scheme.lower()
    if scheme in ("clickhouse", "tcp", "native", "clickhouses"):
        raise ConfigError(
            setting,
            f"{mask_url(url)} uses the native protocol, which chmigrate does not speak",
            hint="use the HTTP interface: http://HOST:8123 (or https://HOST:8443), "
            "e.g. after `kubectl port-forward svc/backend-clickhouse 8123:8123 -n backend`",
        )
    if scheme not in ("http", "https"):
        raise ConfigError(setting, f"{mask_url(url)}: the scheme must be http:// or https://")
    if not parts.hostname:
        raise ConfigError(setting, f"{mask_url(url)}: no host name")
    secure = scheme == "https"
    database = unquote(parts.path.strip("/")) or None
    options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    query_user, query_password = options.pop("user", None), options.pop("password", None)
    if parts.password is not None:
        password: str | None = unquote(parts.password)
    else:
        password = query_password
    return ServerAddress(
        secure=secure,
        host=parts.hostname,
        port=port or (8443 if secure else 8123),
        user=unquote(parts.username) if parts.username else (query_user or "default"),
        password=password,
        database=database,
        options=options,
    )


def server_error(exc: BaseException, secrets: Sequence[str | None] = ()) -> DatabaseError:
    """Turn a clickhouse-connect exception into chmigrate's DatabaseError (one line, no secrets)."""
    from clickhouse_connect.driver import exceptions as cc

    text = redact(str(exc), secrets)
    code = getattr(exc, "code", None)
    match = _CODE.search(text)
    if match:
        code = code or int(match.group(1))
        lines = [line.strip() for line in match.group(2).strip().splitlines() if line.strip()]
        detail = lines[0] if lines else text
        if detail.endswith("Log:") and len(lines) > 1:  # ALL_CONNECTION_TRIES_FAILED: the first try's error
            detail += " " + re.sub(r"^Code: \d+\. DB::\w+: |\s*\(version [^)]*\)$", "", lines[1])
        name = match.group(3)
        message = f"Code {code}" + (f" ({name})" if name else "") + f": {detail}"
    else:
        message = " ".join(text.split())
    if isinstance(exc, cc.OperationalError) and not match:
        return ConnectionFailed(_connection_message(text), code=code)
    if code == 516:
        return ConnectionFailed(f"authentication failed: {message}", code=code,
                                hint="check the user and password (CLICKHOUSE_PASSWORD or --password-file)")
    return DatabaseError(message, code=code)


def _connection_message(text: str) -> str:
    lowered = text.lower()
    for needle, what in (
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("temporary failure in name resolution", "host name not found"),
        ("certificate verify failed", "TLS certificate verification failed"),
        ("ssl", "TLS handshake failed"),
        ("remotedisconnected", "the server closed the connection"),
        ("connection reset", "connection reset by the server"),
    ):
        if needle in lowered:
            return what
    return " ".join(text.split())[:300]


class ClickHouse:
    """A ClickHouse target: run statements and queries, insert rows.

    Built by `connect()`; tests and tools may wrap an existing clickhouse-connect client.
    """

    def __init__(self, client: Any, *, label: str, embedded: bool, secrets: Sequence[str | None] = (),
                 user: str = "") -> None:
        self._client = client
        self.label = label
        self.embedded = embedded
        self.user = user  # the user the server knows this connection as ("" on the embedded engine)
        self._secrets = tuple(secrets)
        self.requests = 0
        self.config: ClickHouseConfig | None = None  # set by connect(): lets clone() open a second connection

    # -- construction ---------------------------------------------------------------
    @classmethod
    def connect(cls, config: ClickHouseConfig) -> ClickHouse:
        import clickhouse_connect

        if config.url is None:
            return cls._open_embedded(Path(config.local_dir).resolve(), config.open_timeout)

        addr = parse_url(config.url)
        password = config.password if config.password is not None else addr.password
        user = config.user or addr.user
        label = mask_url(config.url)
        kwargs: dict[str, Any] = {
            "host": addr.host,
            "port": addr.port,
            "username": user,
            "password": password or "",
            "secure": addr.secure,
            "connect_timeout": config.connect_timeout,
            "send_receive_timeout": config.query_timeout,
            "verify": config.verify_tls,
            "autogenerate_session_id": False,
            "query_retries": 0,
        }
        if config.ca_cert:
            kwargs["ca_cert"] = config.ca_cert
        if config.client_cert:
            kwargs["client_cert"] = config.client_cert
        if config.client_cert_key:
            kwargs["client_cert_key"] = config.client_cert_key
        secrets = (password, *url_secrets(config.url))
        try:
            client = clickhouse_connect.get_client(**kwargs)
        except Exception as exc:
            err = server_error(exc, secrets)
            raise type(err)(f"cannot connect to ClickHouse at {label}: {err.message}", code=err.code,
                            hint=err.hint) from None
        ch = cls(client, label=label, embedded=False, secrets=secrets, user=user)
        ch.config = config
        return ch

    def clone(self, *, query_timeout: float) -> ClickHouse:
        """A second connection to the same server with its own timeout (the embedded engine: itself)."""
        if self.embedded or self.config is None:
            return self
        from dataclasses import replace

        return ClickHouse.connect(replace(self.config, query_timeout=query_timeout,
                                          connect_timeout=min(self.config.connect_timeout, query_timeout)))

    @classmethod
    def _open_embedded(cls, path: Path, timeout: float) -> ClickHouse:
        """Open the chDB directory, waiting while another process holds it (the directory is the lock)."""
        import time

        import clickhouse_connect

        path.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        delay = 0.1
        while True:
            try:
                if _directory_busy(path):
                    raise RuntimeError("another process has the directory open")
                client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
                return cls(client, label=f"embedded chDB engine at {path}", embedded=True)
            except Exception as exc:  # chDB refuses a directory another process holds
                if time.monotonic() - start + delay > timeout:
                    from chmigrate.errors import LockTimeout

                    raise LockTimeout(
                        f"cannot open the embedded ClickHouse engine at {path} within {timeout:g} s: "
                        f"{' '.join(str(exc).split())[:200]}",
                        hint="only one process at a time can open a chDB directory; is another chmigrate "
                        "running on it?",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 1.5, 1.0)

    # -- operations -----------------------------------------------------------------
    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except DatabaseError:
            raise
        except Exception as exc:
            from clickhouse_connect.driver import exceptions as cc

            if isinstance(exc, cc.ClickHouseError):
                raise server_error(exc, self._secrets) from None
            raise

    def execute(self, sql: str, *, settings: Mapping[str, Any] | None = None,
                parameters: Mapping[str, Any] | None = None) -> None:
        """Run one statement whose result is not needed (DDL, INSERT ... SELECT)."""
        self.requests += 1
        with self._translated():
            self._client.command(sql, parameters=dict(parameters) if parameters else None,
                                 settings=dict(settings) if settings else None)

    def execute_reply(self, sql: str, *, settings: Mapping[str, Any] | None = None) -> str:
        """Run one statement and return its reply as TabSeparated text ('' when it sent none): an ON CLUSTER
        statement replies one row per host."""
        self.requests += 1
        with self._translated():
            result = self._client.command(sql, settings=dict(settings) if settings else None)
        if isinstance(result, (list, tuple)):  # clickhouse-connect split the reply's text on tabs
            return "\t".join(str(x) for x in result)
        return str(result) if isinstance(result, (str, int)) else ""  # a QuerySummary: no reply rows

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None,
              settings: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT and return its rows as tuples."""
        return self.query_with_names(sql, parameters, settings)[1]

    def query_with_names(self, sql: str, parameters: Mapping[str, Any] | None = None,
                         settings: Mapping[str, Any] | None = None,
                         ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        self.requests += 1
        with self._translated():
            result = self._client.query(sql, parameters=dict(parameters) if parameters else None,
                                        settings=dict(settings) if settings else None)
            return tuple(result.column_names), [tuple(r) for r in result.result_rows]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               database: str | None = None, settings: Mapping[str, Any] | None = None) -> None:
        self.requests += 1
        with self._translated():
            self._client.insert(table, [list(r) for r in rows], column_names=list(columns), database=database,
                                settings=dict(settings) if settings else None)

    def table_exists(self, database: str, table: str) -> bool:
        rows = self.query("SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}",
                          {"d": database, "t": table})
        return bool(rows and rows[0][0])

    def existing_tables(self, database: str, tables: Sequence[str]) -> set[str]:
        """Which of `tables` exist in `database` (one query)."""
        rows = self.query("SELECT name FROM system.tables WHERE database = {d:String} AND has({t:Array(String)}, name)",
                          {"d": database, "t": list(tables)})
        return {str(r[0]) for r in rows}

    def use_database(self, database: str) -> None:
        """Make `database` the current database of every later statement on this connection."""
        self._client.database = database

    @property
    def server_version(self) -> str:
        return str(self._client.server_version)

    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", self.server_version)[:3])

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing must never mask the real outcome
            pass

    def __enter__(self) -> ClickHouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Recorded:
    """A write a ScriptConnection kept instead of sending."""

    sql: str
    settings: tuple[tuple[str, str], ...]


class ScriptConnection(ClickHouse):
    """The connection `plan` and `up --dry-run` run the executor on (Alembic's `as_sql`): reads go to the
    server as usual, every write is recorded in `sent`, in order, and not sent."""

    def __init__(self, inner: ClickHouse) -> None:
        super().__init__(inner._client, label=inner.label, embedded=inner.embedded, secrets=inner._secrets,
                         user=inner.user)
        self.sent: list[Recorded] = []

    def execute(self, sql: str, *, settings: Mapping[str, Any] | None = None,
                parameters: Mapping[str, Any] | None = None) -> None:
        shown = sql
        for name, value in (parameters or {}).items():
            literal = quote_string(str(value))
            shown = re.sub(r"\{" + re.escape(name) + r":[^}]*\}", lambda _m: literal, shown)  # noqa: B023
        self.sent.append(Recorded(shown, tuple((k, str(v)) for k, v in (settings or {}).items())))

    def execute_reply(self, sql: str, *, settings: Mapping[str, Any] | None = None) -> str:
        self.execute(sql, settings=settings)
        return ""

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               database: str | None = None, settings: Mapping[str, Any] | None = None) -> None:
        where = f"{quote_ident(database)}.{quote_ident(table)}" if database else quote_ident(table)
        self.sent.append(Recorded(f"INSERT INTO {where} ({', '.join(map(quote_ident, columns))}) -- {len(rows)} row(s)",
                                  tuple((k, str(v)) for k, v in (settings or {}).items())))

    def use_database(self, database: str) -> None:
        pass  # the real connection keeps its database

    def close(self) -> None:
        pass  # the real connection is closed by its owner


def _directory_busy(path: Path) -> bool:
    """True when another process holds the engine's `status` file lock (as ClickHouse takes it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    status = path / "status"
    if not status.exists():
        return False
    with open(status, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


def quote_ident(name: str) -> str:
    """Quote an identifier for ClickHouse with backticks, escaping backslashes and backticks."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

