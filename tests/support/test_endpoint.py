"""The test HTTP endpoint (tests/support/endpoint.py) through clickhouse-connect's HTTP client, on the
current chDB engine and, when an interpreter with chdb 2.1.1 is found, on ClickHouse 24.8."""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import lzma
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from tests.support.endpoint import (
    Endpoint,
    _zstd_module,
    lz4_frame_decode,
    lz4_frame_encode,
    start_endpoint,
    zstd_encode,
)

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "ep-test-Pa55"
ENGINES = ["current", "chdb-2.1.1"]


def python248() -> str | None:
    """An interpreter with chdb 2.1.1 (ClickHouse 24.8)."""
    for cand in (os.environ.get("CHMIGRATE_TEST_CHDB248_PYTHON"), str(REPO / ".venv-248" / "bin" / "python"),
                 "/tmp/venv248/bin/python"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The interpreter that serves the endpoint."""
    if request.param == "current":
        return sys.executable
    py = python248()
    if py is None:
        pytest.skip("no chdb 2.1.1 interpreter: set CHMIGRATE_TEST_CHDB248_PYTHON (or create .venv-248)")
    return py


@pytest.fixture(scope="module")
def ep(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with start_endpoint(tmp_path_factory.mktemp("endpoint") / "data", password=PASSWORD, python=engine) as e:
        yield e


def port(ep: Endpoint) -> int:
    return int(ep.url.rsplit(":", 1)[1])


def connect(ep: Endpoint, **kw: Any) -> Client:
    kw.setdefault("password", PASSWORD)
    return clickhouse_connect.get_client(host="127.0.0.1", port=port(ep), **kw)


@pytest.fixture(scope="module")
def client(ep: Endpoint) -> Client:
    return connect(ep)


@pytest.fixture
def db(client: Client) -> str:
    name = "t_" + uuid.uuid4().hex[:10]
    client.command(f"CREATE DATABASE {name}")
    return name


def is248(ep: Endpoint) -> bool:
    return str(ep.info()["version"]).startswith("24.8.")


def raw(ep: Endpoint, body: bytes | str = b"", *, params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None, method: str | None = None,
        password: str | None = PASSWORD) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request (urllib), as any HTTP client could send it."""
    hdrs = dict(headers or {})
    if password is not None:
        hdrs.setdefault("Authorization", "Basic " + base64.b64encode(f"default:{password}".encode()).decode())
    url = ep.url + "/" + ("?" + urllib.parse.urlencode(params) if params else "")
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data if data or method == "POST" else None, headers=hdrs,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


ERROR_BODY = re.compile(r"^Code: (\d+)\. DB::Exception: .*\(([A-Z_]+)\) \(version \d+\.\d+\.\d+\.\d+\)\n$", re.S)


# ---------------------------------------------------------------------------------------------------------


def test_handshake_ping_and_headers(ep: Endpoint, client: Client) -> None:
    version = ep.info()["version"]
    assert client.server_version == version
    assert str(client.server_tz) == "UTC"
    assert raw(ep, method="GET", password=None, params=None)[2] == b"Ok.\n"
    with urllib.request.urlopen(ep.url + "/ping", timeout=10) as resp:
        assert resp.read() == b"Ok.\n"
    qid = str(uuid.uuid4())
    status, headers, body = raw(ep, "SELECT 1 AS one", params={"query_id": qid})
    assert (status, body) == (200, b"1\n")
    assert headers["X-ClickHouse-Query-Id"] == qid
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert headers["X-ClickHouse-Timezone"] == "UTC"
    assert headers["X-ClickHouse-Server-Display-Name"]
    summary = json.loads(headers["X-ClickHouse-Summary"])
    assert summary["result_rows"] == "1" and set(summary) >= {"read_rows", "written_rows", "elapsed_ns"}
    # DDL produces no result set: no X-ClickHouse-Format, empty body; a query id is always there
    status, headers, body = raw(ep, "CREATE TABLE IF NOT EXISTS hs_t (a UInt8) ENGINE = Memory")
    assert (status, body) == (200, b"") and "X-ClickHouse-Format" not in headers
    assert headers["X-ClickHouse-Query-Id"]
    assert client.command("SELECT 1 WHERE 0") == ""  # a result set with no rows still reports its format
    texts = [e["query"] for e in ep.log()]
    assert "SELECT version(), timezone()" in texts
    assert any(t.startswith("SELECT name, value, readonly FROM system.settings") for t in texts)


def test_ddl_insert_query_with_each_compression(ep: Endpoint, client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.t (id UUID DEFAULT generateUUIDv4(), s String, n UInt32, "
                   "ts DateTime64(3, 'UTC'), tags Array(LowCardinality(String))) ENGINE = MergeTree ORDER BY n")
    t0 = datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=timezone.utc)
    rows = [["a\tb", 1, t0, ["x"]], ["é'\\", 2, t0 + timedelta(seconds=1), []]]
    cols = ["s", "n", "ts", "tags"]
    summary = client.insert(f"{db}.t", rows, column_names=cols)  # default: lz4 on this client
    assert summary.written_rows == 2
    compressions: list[Any] = [False, "gzip"]
    if not is248(ep):
        compressions.append("zstd")  # the chdb 2.1.1 interpreter has no zstd module to decode it with
    for k, compress in enumerate(compressions):
        other = connect(ep, compress=compress)
        assert other.insert(f"{db}.t", [[f"c{k}", 10 + k, t0, ["y", "z"]]], column_names=cols).written_rows == 1
    got = client.query(f"SELECT s, n, toUnixTimestamp64Milli(ts), tags FROM {db}.t ORDER BY n").result_rows
    assert got[:2] == [("a\tb", 1, 1_700_000_000_500, ["x"]), ("é'\\", 2, 1_700_000_001_500, [])]
    assert [r[0] for r in got[2:]] == [f"c{k}" for k in range(len(compressions))]
    assert client.command(f"SELECT countDistinct(id) FROM {db}.t") == 2 + len(compressions)  # defaults filled
    # INSERT ... VALUES, INSERT ... SETTINGS ... FORMAT with text data, raw_insert without compression
    client.command(f"INSERT INTO {db}.t (s, n) VALUES ('v1', 100), ('v;2', 101);")
    # command(data=...) sends the statement as the `query` URL parameter and the data as the body, which
    # ClickHouse concatenates as they are: without the newline the format name would read "CSVcsv"
    client.command(f"INSERT INTO {db}.t (s, n) SETTINGS max_insert_threads = 1 FORMAT CSV", data="\ncsv,102\n")
    client.raw_insert(f"{db}.t", ["s", "n"], "tsv\t103\n", fmt="TabSeparated")
    # request bodies in the other encodings ClickHouse reads (plain HTTP clients may send them)
    packers: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("deflate", zlib.compress), ("gzip", gzip.compress), ("xz", lzma.compress), ("bz2", bz2.compress)]
    for k, (encoding, pack) in enumerate(packers):
        body = pack(f"INSERT INTO {db}.t (s, n) FORMAT CSV\n{encoding},{104 + k}\n".encode())
        assert raw(ep, body, headers={"Content-Encoding": encoding})[0] == 200
    status, headers, body = raw(ep, b"SELECT 1", headers={"Content-Encoding": "nonsense"})
    assert headers["X-ClickHouse-Exception-Code"] == "36" and status in (400, 500)  # 24.8: 500 (see caveats)
    assert client.command(f"SELECT groupArray(s) FROM (SELECT s FROM {db}.t WHERE n >= 100 ORDER BY n)") == \
        "['v1','v;2','csv','tsv','deflate','gzip','xz','bz2']"


def test_query_parameters(client: Client) -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    text = "tab\there 'quoted' back\\slash\nnewline é"
    got = client.query("SELECT {u:UUID}, {s:String}, {a:Array(String)}, length({s:String})",
                       parameters={"u": u, "s": text, "a": ["x", "y'z"]}).result_rows
    assert got == [(u, text, ["x", "y'z"], len(text.encode()))]
    assert client.command("SELECT {n:UInt32} + 1", parameters={"n": 41}) == 42


def test_settings_apply_to_one_request_only(ep: Endpoint, client: Client) -> None:
    default = client.command("SELECT getSetting('max_threads')")
    assert client.query("SELECT getSetting('max_threads')", settings={"max_threads": 3}).result_rows == [(3,)]
    assert client.command("SELECT getSetting('max_threads')") == default
    client.command("SET max_threads = 5")  # no session: a SET lives for its own request only
    assert client.command("SELECT getSetting('max_threads')") == default
    status, headers, body = raw(ep, "SELECT timezone()", params={"session_timezone": "America/New_York"})
    assert body == b"America/New_York\n" and headers["X-ClickHouse-Timezone"] == "America/New_York"
    assert raw(ep, "SELECT timezone()")[2] == b"UTC\n"
    with pytest.raises(DatabaseError) as err:
        client.query("SELECT 1", settings={"no_such_setting_xyz": 1})
    assert "UNKNOWN_SETTING" in str(err.value) or "no_such_setting_xyz" in str(err.value)
    status, headers, body = raw(ep, "SELECT 1", params={"no_such_setting_xyz": "1"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "115")
    # transport-level parameters are accepted and not treated as settings
    assert raw(ep, "SELECT 1", params={"wait_end_of_query": "1", "buffer_size": "1048576", "compress": "0",
                                       "client_protocol_version": "54405", "session_timeout": "60"})[0] == 200


def test_database_parameter(ep: Endpoint, db: str) -> None:
    c = connect(ep, database=db)
    assert c.command("SELECT currentDatabase()") == db
    c.command("CREATE TABLE here (a UInt8) ENGINE = Memory")
    assert c.command(f"SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'here'") == 1
    assert raw(ep, "SELECT currentDatabase()")[2] == b"default\n"  # not sticky
    status, headers, body = raw(ep, "SELECT 1", params={"database": "no_such_db_xyz"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "81")


def test_errors_look_like_the_server(ep: Endpoint, client: Client) -> None:
    with pytest.raises(DatabaseError) as err:
        client.query("SELEC 1")
    assert err.value.code == 62 and "SYNTAX_ERROR" in str(err.value)
    status, headers, body = raw(ep, "SELEC 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    m = ERROR_BODY.match(body.decode())
    assert m and m.groups() == ("62", "SYNTAX_ERROR")
    status, headers, body = raw(ep, "SELECT * FROM no_such_table_xyz")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    status, headers, body = raw(ep, "SELECT 1; SELECT 2")  # the HTTP interface takes one statement
    assert status == 400 and b"Multi-statements are not allowed" in body
    assert raw(ep, "SELECT 1;")[:3:2] == (200, b"1\n")
    status, headers, body = raw(ep, b"", method="POST")
    assert status == 400 and b"Empty query" in body
    status, headers, body = raw(ep, params={"query": "CREATE TABLE ro_t (a UInt8) ENGINE = Memory"})  # GET
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "164")
    assert b"method GET implies readonly" in body
    assert raw(ep, params={"query": "SELECT 2"})[2] == b"2\n"  # GET reads fine


def test_authentication(ep: Endpoint) -> None:
    with pytest.raises(DatabaseError) as err:
        connect(ep, password="wrong-pw-123")
    assert err.value.code == 516
    expected = (b"Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is "
                b"no user with such name. (AUTHENTICATION_FAILED) (version ")
    attempts: list[dict[str, Any]] = [
        {"password": "wrong-pw-123"}, {"password": None, "params": {"password": "wrong-pw-123"}},
        {"password": None, "headers": {"X-ClickHouse-User": "default", "X-ClickHouse-Key": "x"}}]
    for kwargs in attempts:
        status, headers, body = raw(ep, "SELECT 1", **kwargs)
        assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516")
        assert body.startswith(expected) and body.endswith(b")\n")
    status, _, body = raw(ep, "SELECT 1", password=None, headers={"X-ClickHouse-User": "nobody",
                                                                   "X-ClickHouse-Key": PASSWORD})
    assert status == 403 and body.startswith(b"Code: 516. DB::Exception: nobody: Authentication failed")
    ok = raw(ep, "SELECT 1", password=None, headers={"X-ClickHouse-User": "default", "X-ClickHouse-Key": PASSWORD})
    assert ok[0] == 200
    assert raw(ep, "SELECT 1", password=None, params={"user": "default", "password": PASSWORD})[0] == 200
    assert raw(ep, "SELECT 1", password=None)[0] == 403  # a password is configured
    dump = json.dumps(ep.log())
    assert "wrong-pw-123" not in dump and PASSWORD not in dump
    assert ep.stderr_path is not None
    assert PASSWORD not in ep.stderr_path.read_text() and "wrong-pw-123" not in ep.stderr_path.read_text()


def test_request_log(ep: Endpoint, client: Client, db: str) -> None:
    ep.clear_log()
    client.command(f"CREATE TABLE {db}.lg (a UInt32) ENGINE = MergeTree ORDER BY a")
    client.insert(f"{db}.lg", [[1], [2]], column_names=["a"])
    client.query(f"SELECT count() FROM {db}.lg")
    client.command(f"ALTER TABLE {db}.lg ADD COLUMN b String")
    log = ep.log()
    by_kind = {e["kind"]: e for e in log}
    assert by_kind["CREATE"]["write"] and by_kind["ALTER"]["write"] and by_kind["INSERT"]["write"]
    assert not by_kind["SELECT"]["write"] and not by_kind["DESCRIBE"]["write"]
    assert by_kind["INSERT"]["query"] == f"INSERT INTO {db}.lg (`a`) FORMAT Native"  # without the data
    assert by_kind["INSERT"]["data_bytes"] > 0
    assert all(e["method"] == "POST" and e["status"] == 200 and e["database"] == "default" for e in log)
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    ep.clear_log()
    assert ep.log() == []


def test_fault_injection(ep: Endpoint, client: Client, db: str) -> None:
    ep.fault(status=500, match=r"CREATE TABLE \S+\.f1", times=1)
    with pytest.raises(DatabaseError) as err:
        client.command(f"CREATE TABLE {db}.f1 (a UInt8) ENGINE = Memory")
    assert err.value.code == 1001
    status, headers, body = raw(ep, "SELECT 1")  # other queries are untouched
    assert status == 200
    client.command(f"CREATE TABLE {db}.f1 (a UInt8) ENGINE = Memory")  # fired once only
    # after=N lets N matching requests through; phase="after" runs the statement, then fails the answer
    ep.fault(status=503, match="f2", after=1, phase="after")
    client.command(f"CREATE TABLE {db}.f2 (a UInt8) ENGINE = MergeTree ORDER BY a")  # 24.8: Memory is per call
    with pytest.raises((DatabaseError, OperationalError)):
        client.command(f"INSERT INTO {db}.f2 VALUES (1)")
    assert client.command(f"SELECT count() FROM {db}.f2") == 1  # it ran
    status, headers, body = raw(ep, "SELECT 1", password=None)  # faults come after authentication
    assert status == 403
    # a dropped connection: a write surfaces it, a read is retried by clickhouse-connect
    ep.fault(drop_connection=True, match="f3", times=1)
    with pytest.raises(OperationalError):
        client.command(f"CREATE TABLE {db}.f3 (a UInt8) ENGINE = Memory")
    ep.fault(drop_connection=True, match="drop_me", times=1)
    assert client.query("SELECT 'drop_me'").result_rows == [("drop_me",)]
    entries = [e for e in ep.log() if "drop_me" in e["query"]]
    assert len(entries) == 2 and entries[0]["fault"]["drop_connection"] and entries[0]["status"] == 0
    ep.fault(status=500, times=None)
    with pytest.raises(DatabaseError):
        client.command("SELECT 1")
    ep.clear_fault()
    assert client.command("SELECT 1") == 1


def test_session_is_locked_while_in_use(ep: Endpoint) -> None:
    ep.fault(match="slow_session_query", delay=1.0, status=500, times=1)
    session = str(uuid.uuid4())
    first: list[int] = []
    t = threading.Thread(target=lambda: first.append(
        raw(ep, "SELECT 'slow_session_query'", params={"session_id": session})[0]))
    t.start()
    time.sleep(0.3)
    status, headers, body = raw(ep, "SELECT 1", params={"session_id": session})
    t.join()
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "373")
    assert first == [500]
    assert raw(ep, "SELECT 1", params={"session_id": session})[0] == 200


def _codec_modules() -> tuple[Any, Any]:
    lz4_frame = pytest.importorskip("lz4.frame")
    zstd = _zstd_module()
    if zstd is None:
        pytest.skip("no zstd module")
    return lz4_frame, zstd


def test_response_compression(ep: Endpoint) -> None:
    lz4_frame, zstd = _codec_modules()

    sql = "SELECT number, toString(number) FROM numbers(5000) FORMAT TabSeparated"
    plain = raw(ep, sql)[2]
    decoders = {"zstd": zstd.decompress, "lz4": lz4_frame.decompress, "gzip": gzip.decompress,
                "deflate": zlib.decompress}
    for accept, expected in (("gzip", "gzip"), ("deflate", "deflate"), ("lz4,zstd,gzip,deflate", "zstd"),
                             ("lz4", "lz4"), ("br, gzip", "gzip")):
        status, headers, body = raw(ep, sql, params={"enable_http_compression": "1"},
                                    headers={"Accept-Encoding": accept})
        assert headers.get("Content-Encoding") == expected, accept
        assert decoders[expected](body) == plain
    status, headers, body = raw(ep, sql, params={"enable_http_compression": "0"}, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers and body == plain


def test_drop_and_recreate(client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.d (a UInt8) ENGINE = MergeTree ORDER BY a")
    client.command(f"CREATE VIEW {db}.v AS SELECT a FROM {db}.d")
    client.command(f"DROP TABLE {db}.d SYNC")
    client.command(f"DROP VIEW {db}.v")
    client.command(f"CREATE TABLE {db}.d (b String) ENGINE = MergeTree ORDER BY b")
    client.command(f"INSERT INTO {db}.d VALUES ('x')")
    assert client.command(f"SELECT b FROM {db}.d") == "x"
    client.command(f"DROP DATABASE {db} SYNC")
    assert client.command(f"EXISTS DATABASE {db}") == 0


def test_concurrent_clients(ep: Endpoint, client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.c (w UInt8, i UInt32) ENGINE = MergeTree ORDER BY (w, i)")
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            c = connect(ep)
            for i in range(2):
                c.insert(f"{db}.c", [[w, i]], column_names=["w", "i"])
                c.query(f"SELECT count() FROM {db}.c")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    script = ("import clickhouse_connect, sys\n"
              "c = clickhouse_connect.get_client(host='127.0.0.1', port=int(sys.argv[1]), password=sys.argv[2])\n"
              "for i in range(2): c.insert(sys.argv[3] + '.c', [[int(sys.argv[4]), i]], column_names=['w', 'i'])\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(port(ep)), PASSWORD, db, str(w)])
             for w in (10, 11)]
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert not errors
    assert client.query(f"SELECT w, count() FROM {db}.c GROUP BY w ORDER BY w").result_rows == \
        [(0, 2), (1, 2), (2, 2), (10, 2), (11, 2)]


# ---------------------------------------------------------------------------------------------------------
# Endpoints of their own


def test_default_database_persists(engine: str, tmp_path: Path) -> None:
    path = tmp_path / "data"
    with start_endpoint(path, python=engine) as e:
        c = clickhouse_connect.get_client(host="127.0.0.1", port=port(e))
        c.command("CREATE TABLE seed_t (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
        c.insert("seed_t", [[1, "one"], [2, "two"]], column_names=["id", "s"])
        assert c.command("SELECT currentDatabase()") == "default"
        assert c.query("SELECT s FROM default.seed_t ORDER BY id").result_rows == [("one",), ("two",)]
        assert c.command("SELECT engine FROM system.databases WHERE name = 'default'") in ("Atomic", "Overlay")
    with start_endpoint(path, python=engine) as e:  # a new server process on the same directory
        c = clickhouse_connect.get_client(host="127.0.0.1", port=port(e))
        assert c.command("SELECT count() FROM seed_t") == 2


def test_endpoint_dies_with_its_parent(engine: str, tmp_path: Path) -> None:
    script = ("import sys, os, time\n"
              f"sys.path.insert(0, {str(REPO)!r})\n"
              "from tests.support.endpoint import start_endpoint\n"
              "ep = start_endpoint(sys.argv[1], python=sys.argv[2])\n"
              "print(ep.pid, flush=True)\n"
              "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "data"), engine],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pgid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 0
        if not alive:
            break
        time.sleep(0.1)
    else:
        os.killpg(pgid, signal.SIGKILL)
        pytest.fail("the endpoint outlived its parent")


def test_stop_leaves_no_process(engine: str, tmp_path: Path) -> None:
    e = start_endpoint(tmp_path / "data", python=engine)
    pgid = e.pid
    e.stop()
    e.stop()  # idempotent
    assert subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 1


# ---------------------------------------------------------------------------------------------------------
# Codecs used without the optional modules (the chdb 2.1.1 interpreter has neither lz4 nor zstd)


def test_pure_python_codecs() -> None:
    lz4_frame, zstd = _codec_modules()

    data = os.urandom(3000) + b"".join(uuid.uuid4().bytes + b"abc" * (i % 7) for i in range(5000))
    for kwargs in ({}, {"block_linked": False}, {"content_checksum": True, "block_checksum": True},
                   {"store_size": True, "block_size": lz4_frame.BLOCKSIZE_MAX4MB}):
        assert lz4_frame_decode(lz4_frame.compress(data, **kwargs), use_module=False) == data
    comp = lz4_frame.LZ4FrameCompressor()
    frames = b"".join(comp.begin(len(part)) + comp.compress(part) + comp.flush() for part in (data[:999], data[999:]))
    assert lz4_frame_decode(frames, use_module=False) == data  # clickhouse-connect sends a frame per block
    assert lz4_frame.decompress(lz4_frame_encode(data, use_module=False)) == data
    for payload in (data, b""):
        assert zstd.decompress(zstd_encode(payload, use_module=False)) == payload
