"""A ClickHouse HTTP interface served by chDB, for tests (never part of the installed product).

It serves the part of the ClickHouse HTTP interface that clickhouse-connect's HTTP client uses, as a
ClickHouse 24.8 server does it, and runs every query on chDB:

- chdb >= 3 (ClickHouse 25/26): in process, one fresh chDB connection (so fresh settings and current
  database) per request on the data directory, calls serialised with a lock; the engine starts with a
  config file that enables KeeperMap tables on ClickHouse's in-memory test Keeper (`<zookeeper>
  <implementation>testkeeper`), whose contents live as long as the endpoint process;
- chdb 2.x (ClickHouse 24.8, see shared/CHDB-2.1.1.md): every call in a forked child of a helper process
  that loaded the library without running a query; settings, query parameters and the database are
  prefixed to the call (`USE db; SET a = 'v'; SET param_x = 'v'; <query>`) and the files in which
  clickhouse-local persists them (`<path>/set_statements`, `<path>/default_database`) are removed after
  every call; `DROP ... SYNC` loses its SYNC and `metadata_dropped/` is emptied; the start failure
  `Code: 722 ... recursive_mutex lock failed` is retried; a `config.xml` in the helper's working
  directory moves clickhouse-local's scratch database to `_local`, so that `default` is an ordinary,
  persistent Atomic database;
- both configurations name clusters of local replicas (`main`, `one`) and one with an unreachable replica
  (`unreachable`) for clusterAllReplicas (see `_CLUSTERS_XML`).

Only the standard library and chdb are needed (lz4 / zstd modules are used when importable; LZ4 request
bodies are decoded in pure Python otherwise), because it also runs under another interpreter (the chdb
2.1.1 virtualenv) as a subprocess: ``python endpoint.py --path DIR --port 0 --password-file F`` prints
its URL on the first line of stdout once it serves.

Test hooks (no authentication): ``GET /_endpoint/log`` (JSON list of requests), ``POST
/_endpoint/log/clear``, ``POST /_endpoint/fault`` (JSON spec, see `FaultSpec`), ``POST
/_endpoint/fault/clear``, ``GET /_endpoint/info``.

From tests use `start_endpoint(path, password=...)`, which returns an `Endpoint`.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import contextlib
import email.parser
import email.policy
import glob
import gzip
import http.server
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import lzma
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, cast

# ---------------------------------------------------------------------------------------------------------
# Errors in ClickHouse's shape

ERROR_NAMES: dict[int, str] = {
    1: "UNSUPPORTED_METHOD",
    36: "BAD_ARGUMENTS",
    48: "NOT_IMPLEMENTED",
    62: "SYNTAX_ERROR",
    81: "UNKNOWN_DATABASE",
    115: "UNKNOWN_SETTING",
    159: "TIMEOUT_EXCEEDED",
    164: "READONLY",
    354: "ZLIB_INFLATE_FAILED",
    372: "SESSION_NOT_FOUND",
    373: "SESSION_IS_LOCKED",
    381: "HTTP_LENGTH_REQUIRED",
    516: "AUTHENTICATION_FAILED",
    561: "ZSTD_DECODER_FAILED",
    618: "LZ4_DECODER_FAILED",
    1000: "POCO_EXCEPTION",
    1001: "STD_EXCEPTION",
}

# HTTP status by exception name, as ClickHouse 24.8's HTTPHandler maps it (everything else: 500).
_STATUS_BY_NAME: dict[str, int] = {"REQUIRED_PASSWORD": 401}
for _name in ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED"):
    _STATUS_BY_NAME[_name] = 403
for _name in ("CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING",
              "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
              "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE",
              "TOO_DEEP_AST", "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA",
              "TYPE_MISMATCH"):
    _STATUS_BY_NAME[_name] = 400
for _name in ("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
              "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING",
              "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE",
              "UNKNOWN_TYPE_OF_QUERY"):
    _STATUS_BY_NAME[_name] = 404
_STATUS_BY_NAME.update({"QUERY_IS_TOO_LARGE": 413, "NOT_IMPLEMENTED": 501, "SOCKET_TIMEOUT": 503,
                        "CANNOT_OPEN_FILE": 503, "HTTP_LENGTH_REQUIRED": 411, "TIMEOUT_EXCEEDED": 408})

_CODE_RE = re.compile(r"^Code: (\d+)\. ")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})\)")


class ClickHouseError(Exception):
    """An error as ClickHouse reports it: `Code: N. DB::Exception: text. (NAME)`."""

    def __init__(self, code: int, message: str, name: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.name = name

    @classmethod
    def make(cls, code: int, text: str) -> ClickHouseError:
        name = ERROR_NAMES.get(code, "UNKNOWN_EXCEPTION")
        return cls(code, f"Code: {code}. DB::Exception: {text.rstrip('.')}. ({name})", name)

    @classmethod
    def from_engine(cls, text: str) -> ClickHouseError:
        text = text.strip()
        m = _CODE_RE.match(text)
        if not m:
            return cls.make(1001, text or "unknown engine error")
        names = _NAME_RE.findall(text)  # the last one: messages may nest "... (NAME) (version X). (NAME)"
        return cls(int(m.group(1)), text, names[-1] if names else "")

    @property
    def http_status(self) -> int:
        return _STATUS_BY_NAME.get(self.name, 500)


# ---------------------------------------------------------------------------------------------------------
# A small ClickHouse SQL lexer: enough to find statement boundaries, the leading keyword, a trailing
# FORMAT clause and where the data of an INSERT begins (as ParserInsertQuery does).


@dataclass(frozen=True)
class _Tok:
    kind: str  # word | quoted | string | number | open | close | semi | op
    start: int
    end: int


_HEREDOC_RE = re.compile(r"\$([A-Za-z0-9_]*)\$")


def _skip_string(text: str, i: int, quote: str) -> int:
    n = len(text)
    i += 1
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _tokens(text: str, i: int = 0) -> Iterator[_Tok]:
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r\f\v":
            i += 1
        elif c == "-" and text.startswith("--", i) or c == "#" and text[i + 1:i + 2] in (" ", "!"):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'":
            j = _skip_string(text, i, c)
            yield _Tok("string", i, j)
            i = j
        elif c in "\"`":
            j = _skip_string(text, i, c)
            yield _Tok("quoted", i, j)
            i = j
        elif c == "$" and (m := _HEREDOC_RE.match(text, i)):
            j = text.find(m.group(0), m.end())
            j = n if j < 0 else j + len(m.group(0))
            yield _Tok("string", i, j)
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            yield _Tok("word", i, j)
            i = j
        elif c.isdigit():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            yield _Tok("number", i, j)
            i = j
        elif c in "([{":
            yield _Tok("open", i, i + 1)
            i += 1
        elif c in ")]}":
            yield _Tok("close", i, i + 1)
            i += 1
        elif c == ";":
            yield _Tok("semi", i, i + 1)
            i += 1
        else:
            yield _Tok("op", i, i + 1)
            i += 1


WRITE_KINDS = frozenset({
    "INSERT", "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "OPTIMIZE", "SYSTEM", "ATTACH", "DETACH",
    "EXCHANGE", "UNDROP", "DELETE", "UPDATE", "GRANT", "REVOKE", "KILL", "BACKUP", "RESTORE", "MOVE",
    "REPLACE",
})
OUTPUT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK",
                          "WATCH", "KILL", "("})


@dataclass
class Statement:
    """One request's SQL, split from its INSERT data (if any)."""

    sql: str  # the statement to run (for an INSERT with data: only the part before FORMAT/VALUES)
    kind: str  # the leading keyword, upper case ("(" for a parenthesised SELECT)
    output_format: str | None = None  # a trailing FORMAT clause of a non-INSERT statement
    data: bytes | None = None  # INSERT data
    insert_format: str | None = None
    insert_settings: str = ""  # a SETTINGS clause between the table and FORMAT/VALUES
    insert_columns: bool = False  # the INSERT names its columns: INSERT INTO t (a, b) ...

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS

    @property
    def log_text(self) -> str:
        if self.data is None:
            return self.sql
        settings = f" {self.insert_settings}" if self.insert_settings else ""
        return f"{self.sql}{settings} FORMAT {self.insert_format}"


def _word(text: str, tok: _Tok | None) -> str:
    return text[tok.start:tok.end].upper() if tok is not None and tok.kind == "word" else ""


def _syntax_error(text: str, pos: int, what: str) -> ClickHouseError:
    rest = text[pos:pos + 60]
    return ClickHouseError.make(62, f"Syntax error ({what}): failed at position {pos + 1}: {rest}. ")


def analyze(raw: bytes) -> Statement:
    """Split a request's query text (URL `query` + body, as ClickHouse concatenates them)."""
    text = raw.decode("latin-1")  # one character per byte: token offsets are byte offsets
    toks = _tokens(text)
    first = next(toks, None)
    if first is None:
        raise ClickHouseError.make(62, "Empty query")
    kind = "(" if first.kind == "open" else _word(text, first)
    if kind == "INSERT":
        stmt = _analyze_insert(raw, text, toks)
        if stmt is not None:
            return stmt
    depth = 0
    end = len(text)
    toks = _tokens(text)
    prev: list[_Tok] = []
    fmt_at: int | None = None
    for tok in toks:
        if tok.kind == "open":
            depth += 1
        elif tok.kind == "close":
            depth = max(0, depth - 1)
        elif tok.kind == "semi" and depth == 0:
            end = tok.start
            after = next(toks, None)
            while after is not None and after.kind == "semi":
                after = next(toks, None)
            if after is not None:
                raise _syntax_error(text, tok.start, "Multi-statements are not allowed")
            break
        if depth == 0 and tok.kind in ("word", "quoted"):
            prev.append(tok)
            if len(prev) >= 2 and _word(text, prev[-2]) == "FORMAT":
                fmt_at = len(prev) - 1
    output_format = None
    if fmt_at is not None:
        after_fmt = prev[fmt_at + 1:]
        if not after_fmt or _word(text, after_fmt[0]) == "SETTINGS":
            output_format = text[prev[fmt_at].start:prev[fmt_at].end].strip("`\"")
    sql = raw[:end].decode("utf-8", "replace").strip()
    return Statement(sql=sql, kind=kind, output_format=output_format)


def _analyze_insert(raw: bytes, text: str, toks: Iterator[_Tok]) -> Statement | None:
    """INSERT ... [SETTINGS ...] FORMAT F <data> | VALUES <data>; None for INSERT SELECT / FROM INFILE."""
    depth = 0
    settings_at: int | None = None
    prev: _Tok | None = None
    before_prev: _Tok | None = None
    columns = False
    for tok in toks:
        if tok.kind == "open":
            # a parenthesis at the top level is the column list, unless it holds table function arguments
            columns = columns or depth == 0 and _word(text, before_prev) != "FUNCTION"
            depth += 1
        elif tok.kind == "close":
            depth = max(0, depth - 1)
        if depth or tok.kind != "word":
            before_prev, prev = prev, tok
            continue
        w = _word(text, tok)
        if w in ("SELECT", "WITH", "WATCH") or w == "INFILE" and _word(text, prev) == "FROM":
            return None
        if w == "SETTINGS" and settings_at is None:
            settings_at = tok.start
        elif w == "VALUES":
            data = raw[tok.end:].rstrip(b" \t\r\n\f\v")
            while data.endswith(b";"):
                data = data[:-1].rstrip(b" \t\r\n\f\v")
            return _insert(raw, tok.start, settings_at, "Values", data, columns)
        elif w == "FORMAT":
            name = next(toks, None)
            if name is None or name.kind not in ("word", "quoted"):
                return None
            pos = name.end
            if pos < len(raw) and raw[pos:pos + 1] == b";":
                raise ClickHouseError.make(62, "You have excessive ';' symbol before data for INSERT")
            while pos < len(raw) and raw[pos:pos + 1] in (b" ", b"\t", b"\f"):
                pos += 1
            if raw[pos:pos + 1] == b"\r":
                pos += 1
            if raw[pos:pos + 1] == b"\n":
                pos += 1
            fmt = text[name.start:name.end].strip("`\"")
            return _insert(raw, tok.start, settings_at, fmt, raw[pos:], columns)
        before_prev, prev = prev, tok
    return None


def _insert(raw: bytes, kw_at: int, settings_at: int | None, fmt: str, data: bytes, columns: bool) -> Statement:
    head_end = settings_at if settings_at is not None else kw_at
    settings = raw[head_end:kw_at].decode("utf-8", "replace").strip() if settings_at is not None else ""
    head = raw[:head_end].decode("utf-8", "replace").strip()
    return Statement(sql=head, kind="INSERT", data=data, insert_format=fmt, insert_settings=settings,
                     insert_columns=columns)


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DROP_SYNC_RE = re.compile(r"\s+(SYNC|NO\s+DELAY)\s*$", re.I)

# ---------------------------------------------------------------------------------------------------------
# Compression (HTTP Content-Encoding as ClickHouse understands it)


def _zstd_module() -> types.ModuleType | None:
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _import(name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_LZ4_MAGIC = 0x184D2204


def lz4_frame_decode(data: bytes, *, use_module: bool = True) -> bytes:
    """Decode concatenated LZ4 frames (what clickhouse-connect sends); the lz4 module when importable."""
    lz4_frame = _import("lz4.frame") if use_module else None
    out = bytearray()
    if lz4_frame is not None:
        while data:
            d = lz4_frame.LZ4FrameDecompressor()
            out += d.decompress(data)
            data = d.unused_data
        return bytes(out)
    pos, n = 0, len(data)
    while pos < n:
        magic = int.from_bytes(data[pos:pos + 4], "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # skippable frame
            pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
            continue
        if magic != _LZ4_MAGIC:
            raise ValueError("not an LZ4 frame")
        flg = data[pos + 4]
        pos += 6 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0) + 1
        while True:
            size = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
            if size == 0:
                break
            if size & 0x80000000:
                size &= 0x7FFFFFFF
                out += data[pos:pos + size]
            else:
                _lz4_block(data[pos:pos + size], out)
            pos += size + (4 if flg & 0x10 else 0)
        pos += 4 if flg & 0x04 else 0
    return bytes(out)


def _lz4_block(src: bytes, out: bytearray) -> None:
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i:i + lit]
        i += lit
        if i >= n:
            break
        off = src[i] | (src[i + 1] << 8)
        i += 2
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - off
        if start < 0 or off == 0:
            raise ValueError("corrupt LZ4 block")
        if off >= ml:
            out += out[start:start + ml]
        else:
            chunk = bytes(out[start:])
            out += (chunk * (ml // off + 1))[:ml]


def lz4_frame_encode(data: bytes, *, use_module: bool = True) -> bytes:
    """One LZ4 frame; with stored (uncompressed) blocks when the lz4 module is missing."""
    lz4_frame = _import("lz4.frame") if use_module else None
    if lz4_frame is not None:
        return bytes(lz4_frame.compress(data))
    out = bytearray(b"\x04\x22\x4d\x18\x60\x40\x82")  # magic, FLG (v1, independent blocks), BD (64 KiB), HC
    for i in range(0, len(data), 65536):
        block = data[i:i + 65536]
        out += (len(block) | 0x80000000).to_bytes(4, "little") + block
    out += b"\x00\x00\x00\x00"
    return bytes(out)


def zstd_decode(data: bytes) -> bytes:
    mod = _zstd_module()
    if mod is not None:
        return bytes(mod.decompress(data))
    zstandard = _import("zstandard")
    if zstandard is not None:
        import io

        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as r:
            return bytes(r.read())
    raise ClickHouseError.make(561, "zstd request bodies need a zstd module in the endpoint's interpreter")


def zstd_encode(data: bytes, *, use_module: bool = True) -> bytes:
    """One zstd frame; with raw blocks when no zstd module is importable."""
    mod = _zstd_module() if use_module else None
    if mod is not None:
        return bytes(mod.compress(data))
    zstandard = _import("zstandard") if use_module else None
    if zstandard is not None:
        return bytes(zstandard.ZstdCompressor().compress(data))
    out = bytearray(b"\x28\xb5\x2f\xfd\x00\x38")  # magic, descriptor (no size, no checksum), window 128 KiB
    step = 128 * 1024
    chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
    for k, chunk in enumerate(chunks):
        header = (len(chunk) << 3) | (1 if k == len(chunks) - 1 else 0)  # raw block
        out += header.to_bytes(3, "little") + chunk
    return bytes(out)


def decode_body(body: bytes, encoding: str) -> bytes:
    method = encoding.strip().lower()
    if method in ("", "identity", "none"):
        return body
    try:
        if method == "gzip":
            return gzip.decompress(body)
        if method in ("deflate", "zlib"):
            return zlib.decompress(body)
        if method in ("zstd", "zst"):
            return zstd_decode(body)
        if method == "lz4":
            return lz4_frame_decode(body)
        if method == "xz":
            return lzma.decompress(body)
        if method in ("bz2", "bzip2"):
            return bz2.decompress(body)
        if method == "br":
            brotli = _import("brotli")
            if brotli is None:
                raise ClickHouseError.make(36, "br request bodies need the brotli module in the endpoint")
            return bytes(brotli.decompress(body))
    except ClickHouseError:
        raise
    except Exception as exc:
        codes = {"gzip": 354, "deflate": 354, "zlib": 354, "zstd": 561, "zst": 561, "lz4": 618}
        code = codes.get(method, 1001)
        raise ClickHouseError.make(code, f"Cannot decompress the request body ({method}): {exc}") from None
    raise ClickHouseError.make(36, f"Unknown compression method '{encoding}'. Only 'auto', 'none', 'gzip', "
                                   "'deflate', 'br', 'xz', 'zstd', 'lz4', 'bz2', 'snappy' are supported as "
                                   "compression methods")


def choose_response_encoding(accept: str) -> str | None:
    """ClickHouse's chooseHTTPCompressionMethod order (a method this endpoint cannot produce is skipped)."""
    for method in ("zstd", "br", "lz4", "snappy", "gzip", "deflate", "xz", "bz2"):
        if method in accept:
            if method == "snappy" or method == "br" and _import("brotli") is None:
                continue
            return method
    return None


def encode_body(data: bytes, method: str, level: int) -> bytes:
    if method == "zstd":
        return zstd_encode(data)
    if method == "lz4":
        return lz4_frame_encode(data)
    if method == "gzip":
        return gzip.compress(data, compresslevel=min(max(level, 1), 9))
    if method == "deflate":
        return zlib.compress(data, min(max(level, 1), 9))
    if method == "xz":
        return lzma.compress(data)
    if method == "bz2":
        return bz2.compress(data)
    if method == "br":
        brotli = _import("brotli")
        assert brotli is not None
        return bytes(brotli.compress(data))
    raise ValueError(method)


# ---------------------------------------------------------------------------------------------------------
# Engines


@dataclass
class EngineCall:
    statement: Statement
    database: str
    fmt: str
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class EngineResult:
    data: bytes
    result_rows: int = 0
    result_bytes: int = 0
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    elapsed: float = 0.0


_DEFAULTS_SQL = ("SELECT name, value FROM system.settings WHERE name IN ('enable_http_compression', "
                 "'http_zlib_compression_level', 'implicit_select') "
                 "FORMAT TabSeparated")


def _parse_defaults(data: bytes) -> dict[str, str]:
    rows = (line.split("\t", 1) for line in data.decode().splitlines() if "\t" in line)
    return {name: value for name, value in rows}


class Engine(Protocol):
    version: str
    label: str
    defaults: dict[str, str]  # server-side defaults of the settings the HTTP layer itself interprets

    def execute(self, call: EngineCall) -> EngineResult: ...

    def close(self) -> None: ...


def _check_names(call: EngineCall) -> None:
    for key in call.settings:
        if not _IDENT_RE.match(key):
            raise ClickHouseError.make(115, f"Unknown setting '{key}'")
    for key in call.params:
        if not _IDENT_RE.match(key):
            raise ClickHouseError.make(36, f"Bad query parameter name '{key}'")


def _infile_sql(stmt: Statement, path: str) -> str:
    settings = f" {stmt.insert_settings}" if stmt.insert_settings else ""
    return f"{stmt.sql} FROM INFILE {quote_string(path)}{settings} FORMAT {stmt.insert_format}"


class InProcessEngine:
    """chdb >= 3: a fresh connection per call (fresh settings, current database) on one data directory."""

    def __init__(self, path: Path, workdir: Path) -> None:
        from chdb import session as chdb_session

        self._session_cls = cast(Any, chdb_session.Session)
        self._path = str(path)
        self._workdir = workdir
        self._lock = threading.Lock()
        config = workdir / "keeper.xml"
        config.write_text(_KEEPER_XML)
        self._path += f"?config-file={config}"
        self.keeper = True
        self._keeper: Any = self._session_cls(self._path)  # keeps the engine open between calls
        self.version = self._keeper.query("SELECT version()", "TabSeparated").bytes().decode().strip()
        self.defaults = _parse_defaults(self._keeper.query(_DEFAULTS_SQL, "TabSeparated").bytes())
        # chDB turns implicit_select on; a server does not (24.8 does not know it).
        self._baseline = {"implicit_select": "0"} if "implicit_select" in self.defaults else {}
        import chdb

        self.label = f"chdb {chdb.__version__} in process"

    def execute(self, call: EngineCall) -> EngineResult:
        _check_names(call)
        stmt = call.statement
        infile: Path | None = None
        with self._lock:
            sess = self._session_cls(self._path)
            try:
                settings = {**self._baseline, **call.settings}
                prefix = []
                if settings:
                    prefix.append("SET " + ", ".join(f"{k} = {quote_string(v)}" for k, v in settings.items()))
                prefix.append(f"USE {quote_identifier(call.database)}")
                self._query(sess, "; ".join(prefix), "TabSeparated", None)
                sql = stmt.sql
                if stmt.data is not None:
                    infile = self._workdir / f"insert-{uuid.uuid4().hex}.data"
                    infile.write_bytes(stmt.data)
                    sql = _infile_sql(stmt, str(infile))
                res = self._query(sess, sql, call.fmt, call.params or None)
            finally:
                with contextlib.suppress(Exception):
                    sess.close()
                if infile is not None:
                    infile.unlink(missing_ok=True)
        data = bytes(res.bytes() or b"")
        return EngineResult(
            data=data, result_rows=int(res.rows_read()), result_bytes=int(res.bytes_read()),
            read_rows=int(res.storage_rows_read()), read_bytes=int(res.storage_bytes_read()),
            written_rows=int(res.rows_written()), written_bytes=int(res.bytes_written()),
            elapsed=float(res.elapsed()))

    @staticmethod
    def _query(sess: Any, sql: str, fmt: str, params: dict[str, str] | None) -> Any:
        try:
            if params:
                return sess.query(sql, fmt, params=params)
            return sess.query(sql, fmt)
        except Exception as exc:
            raise ClickHouseError.from_engine(str(exc)) from None

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._keeper.close()


# Clusters for clusterAllReplicas (`status`/`verify`/`diff --cluster`): a replica whose host is this machine and
# whose port is <tcp_port> is local (is_local = 1): the engine runs its part itself, no network is used and no
# port is opened. `main`: two local replicas (localhost, 127.0.0.1) of one shard, so every row comes twice;
# `one`: localhost alone; `unreachable`: a local replica and one at 127.0.0.2:1, where nothing listens
# (connection refused).
_CLUSTERS_XML = (
    "    <tcp_port>9000</tcp_port>\n    <remote_servers>\n"
    "        <main><shard><replica><host>localhost</host><port>9000</port></replica>"
    "<replica><host>127.0.0.1</host><port>9000</port></replica></shard></main>\n"
    "        <one><shard><replica><host>localhost</host><port>9000</port></replica></shard></one>\n"
    "        <unreachable><shard><replica><host>localhost</host><port>9000</port></replica>"
    "<replica><host>127.0.0.2</host><port>1</port></replica></shard></unreachable>\n"
    "    </remote_servers>\n")
_CONFIG_XML = "<clickhouse>\n    <default_database>_local</default_database>\n" + _CLUSTERS_XML + "</clickhouse>\n"
# KeeperMap on the in-memory test Keeper, and system.query_log as a server keeps it (chmigrate reads the outcome
# of an interrupted statement from it).
_KEEPER_XML = ("<clickhouse>\n    <keeper_map_path_prefix>/keeper_map_tables</keeper_map_path_prefix>\n"
               "    <zookeeper><implementation>testkeeper</implementation></zookeeper>\n"
               "    <macros><shard>s1</shard><replica>r1</replica></macros>\n"
               "    <query_log><database>system</database><table>query_log</table>"
               "<flush_interval_milliseconds>1000</flush_interval_milliseconds></query_log>\n" + _CLUSTERS_XML
               + "</clickhouse>\n")
_STATS_MARK = "__chmigrate_endpoint_stats__"
_STATS_SQL = (f"SELECT '{_STATS_MARK}', sumIf(value, event = 'InsertedRows'), "
              "sumIf(value, event = 'InsertedBytes') FROM system.events FORMAT TabSeparated")


def _load_chdb_extension() -> Any:
    """chdb 2.x's extension module without chdb/__init__.py, which runs a query (starting thread pools
    that a forked child would lack: its first query would wait forever)."""
    spec = importlib.util.find_spec("chdb")
    if spec is None or spec.origin is None:
        raise RuntimeError("chdb is not installed")
    pkgdir = os.path.dirname(spec.origin)
    sos = glob.glob(os.path.join(pkgdir, "_chdb*.so"))
    if not sos:
        raise RuntimeError(f"no _chdb extension in {pkgdir}")
    loader = importlib.machinery.ExtensionFileLoader("chdb._chdb", sos[0])
    ext_spec = importlib.util.spec_from_file_location("chdb._chdb", sos[0], loader=loader)
    assert ext_spec is not None
    module = importlib.util.module_from_spec(ext_spec)
    cwd = os.getcwd()
    os.chdir(pkgdir)  # as chdb/__init__.py does around this import
    try:
        loader.exec_module(module)
    finally:
        os.chdir(cwd)
    return module


def _set_pdeathsig() -> None:
    """Die (SIGKILL) when the parent goes away (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _zygote_main(sock: socket.socket) -> None:
    """The helper: loads chdb without running a query, then forks one child per call."""
    _set_pdeathsig()
    # clickhouse-local reads stdin for an INSERT (even FROM INFILE): give it nothing; keep its chatter
    # off the parent's stdout pipe.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    ext = _load_chdb_extension()
    rfile = sock.makefile("rb")
    for line in rfile:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _set_pdeathsig()
                _child_call(ext, req)
            finally:
                os._exit(0)
        status = _wait_child(pid, float(req["timeout"]))
        sock.sendall((json.dumps(status) + "\n").encode())
    os._exit(0)


def _child_call(ext: Any, req: dict[str, Any]) -> None:
    res = ext.query(req["sql"], req["fmt"], path=req["path"], udf_path="")
    out = req["out"]
    if res.has_error():
        meta: dict[str, Any] = {"error": str(res.error_message())}
    else:
        with open(out + ".data", "wb") as f:
            f.write(bytes(res.bytes() or b""))
        meta = {"rows_read": int(res.rows_read()), "bytes_read": int(res.bytes_read()),
                "elapsed": float(res.elapsed())}
    with open(out + ".tmp", "w") as f:
        json.dump(meta, f)
    os.rename(out + ".tmp", out + ".json")


def _wait_child(pid: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    pidfd = -1
    with contextlib.suppress(Exception):
        pidfd = os.pidfd_open(pid)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return {"status": status, "timeout": False}
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"status": -1, "timeout": True}
            if pidfd >= 0:
                _readable(pidfd, min(left, 1.0))
            else:
                time.sleep(0.001)
    finally:
        if pidfd >= 0:
            os.close(pidfd)


class ForkingEngine:
    """chdb 2.x (ClickHouse 24.8): each call in a forked child of a helper process (see module doc)."""

    RETRIES_722 = 5

    keeper = False  # each call is a fresh clickhouse-local: an in-memory Keeper would not outlive it

    def __init__(self, path: Path, workdir: Path, call_timeout: float) -> None:
        self._path = path
        self._workdir = workdir
        self._timeout = call_timeout
        self._lock = threading.Lock()
        (workdir / "config.xml").write_text(_CONFIG_XML)
        mine, theirs = socket.socketpair()
        cwd = os.getcwd()
        os.chdir(workdir)  # clickhouse-local reads config.xml from the working directory
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    mine.close()
                    _zygote_main(theirs)
                finally:
                    os._exit(0)
        finally:
            os.chdir(cwd)
        theirs.close()
        self._zygote = pid
        self._sock = mine
        self._rfile = mine.makefile("rb")
        self.label = f"chdb {importlib.metadata.version('chdb')}, a forked process per call"
        self._clean()
        self.version = self._raw("SELECT version()", "TabSeparated").data.decode().strip()
        self.defaults = _parse_defaults(self._raw(_DEFAULTS_SQL, "TabSeparated").data)
        self._raw("CREATE DATABASE IF NOT EXISTS default ENGINE = Atomic", "TabSeparated")

    def _clean(self) -> None:
        for name in ("set_statements", "default_database"):
            (self._path / name).unlink(missing_ok=True)
        dropped = self._path / "metadata_dropped"
        if dropped.is_dir():
            for p in dropped.iterdir():
                p.unlink(missing_ok=True)

    def _raw(self, sql: str, fmt: str) -> EngineResult:
        with self._lock:
            return self._call(sql, fmt)

    def _call(self, sql: str, fmt: str) -> EngineResult:
        for attempt in range(self.RETRIES_722 + 1):
            out = str(self._workdir / f"result-{uuid.uuid4().hex}")
            req = {"sql": sql, "fmt": fmt, "path": str(self._path), "out": out, "timeout": self._timeout}
            try:
                self._sock.sendall((json.dumps(req) + "\n").encode())
                line = self._rfile.readline()
                if not line:
                    raise ClickHouseError.make(1001, "the chdb helper process is gone")
                status = json.loads(line)
                meta_path, data_path = Path(out + ".json"), Path(out + ".data")
                if status["timeout"]:
                    raise ClickHouseError.make(159, f"Timeout exceeded: the chdb call took more than "
                                                    f"{self._timeout} seconds and was killed")
                if not meta_path.exists():
                    raise ClickHouseError.make(
                        1001, f"the chdb process died (wait status {status['status']}) without a result")
                meta = json.loads(meta_path.read_text())
                if "error" in meta:
                    err = ClickHouseError.from_engine(meta["error"])
                    if (err.code == 722 and "recursive_mutex lock failed" in err.message
                            and attempt < self.RETRIES_722):
                        continue
                    raise err
                return EngineResult(data=data_path.read_bytes(), result_rows=meta["rows_read"],
                                    result_bytes=meta["bytes_read"], read_rows=meta["rows_read"],
                                    read_bytes=meta["bytes_read"], elapsed=meta["elapsed"])
            finally:
                for suffix in (".json", ".data", ".tmp"):
                    Path(out + suffix).unlink(missing_ok=True)
                self._clean()
        raise AssertionError("unreachable")

    def execute(self, call: EngineCall) -> EngineResult:
        _check_names(call)
        stmt = call.statement
        parts = [f"USE {quote_identifier(call.database)}"]
        parts += [f"SET {k} = {quote_string(v)}" for k, v in call.settings.items()]
        parts += [f"SET param_{k} = {quote_string(v)}" for k, v in call.params.items()]
        infile: Path | None = None
        stats = False
        if stmt.data is not None and stmt.insert_columns and not _matches_by_name(stmt.insert_format or ""):
            # 24.8's INSERT ... (columns) FROM INFILE ignores the column list for positional formats: the
            # data rides in the query text (as the last statement: nothing may follow FORMAT data)
            try:
                text = stmt.data.decode("utf-8")
            except UnicodeDecodeError:
                raise ClickHouseError.make(48, f"{stmt.insert_format} data with a column list must be UTF-8 "
                                               "text on the chdb 2.x endpoint") from None
            settings = f" {stmt.insert_settings}" if stmt.insert_settings else ""
            if stmt.insert_format == "Values":
                parts += [f"{stmt.sql}{settings} VALUES {text}", _STATS_SQL]
                stats = True
            else:
                parts.append(f"{stmt.sql}{settings} FORMAT {stmt.insert_format}\n{text}")
        elif stmt.data is not None:
            infile = self._workdir / f"insert-{uuid.uuid4().hex}.data"
            infile.write_bytes(stmt.data)
            parts += [_infile_sql(stmt, str(infile)), _STATS_SQL]
            stats = True
        elif stmt.kind in ("DROP", "DETACH"):
            parts.append(_DROP_SYNC_RE.sub("", stmt.sql))
        else:
            parts.append(stmt.sql)
        if any("\x00" in part for part in parts):
            raise ClickHouseError.make(36, "a NUL byte in the query text (chdb 2.x cuts the query there)")
        try:
            with self._lock:
                res = self._call("; ".join(parts), call.fmt)
        finally:
            if infile is not None:
                infile.unlink(missing_ok=True)
        if stmt.data is not None:  # only the last statement's output comes back: the stats line
            line = res.data.decode(errors="replace").strip().split("\t") if stats else []
            res.data = b""
            res.result_rows = res.result_bytes = res.read_rows = res.read_bytes = 0
            if len(line) == 3 and line[0] == _STATS_MARK:
                res.written_rows, res.written_bytes = int(line[1]), int(line[2])
        return res

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sock.shutdown(socket.SHUT_RDWR)  # EOF for the helper (close() waits for makefile())
        with contextlib.suppress(Exception):
            self._rfile.close()
            self._sock.close()
        with contextlib.suppress(Exception):
            os.waitpid(self._zygote, 0)


def _matches_by_name(fmt: str) -> bool:
    """Input formats that match columns by name (or carry them), so an INSERT column list is not needed."""
    f = fmt.lower()
    return "withnames" in f or f in {
        "native", "jsoneachrow", "jsonlines", "ndjson", "jsonobjecteachrow", "jsonstringseachrow", "json",
        "tskv", "parquet", "arrow", "arrowstream", "orc", "avro", "bsoneachrow", "protobuf", "protobuflist",
        "capnproto", "npy"}


def chdb_major_version() -> int:
    return int(importlib.metadata.version("chdb").split(".")[0])


def open_engine(path: Path, workdir: Path, call_timeout: float = 300.0) -> Engine:
    """Open the data directory with the installed chdb (call before starting any thread for chdb 2.x)."""
    path.mkdir(parents=True, exist_ok=True)
    if chdb_major_version() >= 3:
        return InProcessEngine(path, workdir)
    return ForkingEngine(path, workdir, call_timeout)


# ---------------------------------------------------------------------------------------------------------
# Server state: request log, faults, sessions


@dataclass
class FaultSpec:
    """What `POST /_endpoint/fault` takes (JSON object).

    status: HTTP status of the injected failure (default 500); match: regex searched (case-insensitive)
    in the query text, None matches every query; after: let this many matching requests through first;
    times: fire this many times (None: for ever); drop_connection: close the socket without answering;
    phase: "before" (the query does not run) or "after" (it runs, then the answer is replaced);
    code / message: of the ClickHouse-like error body; delay: seconds to wait before failing; fail: False
    makes a fault that only delays the query (which then runs), without holding the engine meanwhile.
    """

    status: int = 500
    match: str | None = None
    after: int = 0
    times: int | None = 1
    drop_connection: bool = False
    phase: str = "before"
    code: int = 1001
    message: str = "Fault injected by the test endpoint"
    delay: float = 0.0
    fail: bool = True
    id: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.phase not in ("before", "after"):
            raise ValueError("phase must be 'before' or 'after'")
        self._re = re.compile(self.match, re.I | re.S) if self.match else None

    def matches(self, query: str) -> bool:
        return self._re is None or bool(self._re.search(query))


RESERVED_PARAMS = frozenset({
    "query", "compress", "decompress", "user", "password", "quota_key", "query_id", "stacktrace", "role",
    "buffer_size", "wait_end_of_query", "session_id", "session_timeout", "session_check",
    "client_protocol_version", "close_session", "database", "default_format",
})
# Settings this endpoint interprets itself instead of passing them to chDB.
LOCAL_SETTINGS = frozenset({"readonly"})

_CONTENT_TYPES = (
    (re.compile(r"^(TabSeparated|TSV)", re.I), "text/tab-separated-values; charset=UTF-8"),
    (re.compile(r"^CSVWithNames", re.I), "text/csv; charset=UTF-8; header=present"),
    (re.compile(r"^CSV", re.I), "text/csv; charset=UTF-8; header=absent"),
    (re.compile(r"^JSON", re.I), "application/json; charset=UTF-8"),
    (re.compile(r"^(Native|RowBinary|Arrow|Parquet|ORC|Avro|Protobuf|CapnProto|MsgPack|BSON)", re.I),
     "application/octet-stream"),
    (re.compile(r"^XML", re.I), "application/xml; charset=UTF-8"),
)


def content_type_for(fmt: str) -> str:
    for pattern, ctype in _CONTENT_TYPES:
        if pattern.match(fmt):
            return ctype
    return "text/plain; charset=UTF-8"


class EndpointState:
    def __init__(self, engine: Engine, password: str, user: str = "default") -> None:
        self.engine = engine
        self.user = user
        self._password = password
        self.display_name = socket.gethostname()
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._seq = 0
        self._faults: list[FaultSpec] = []
        self._fault_seq = 0
        self._sessions: dict[str, float] = {}
        self._active_sessions: set[str] = set()

    # auth ---------------------------------------------------------------------------------------------
    def check_password(self, user: str, password: str) -> bool:
        return user == self.user and password == self._password

    # log ----------------------------------------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._log.append(entry)

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # faults -------------------------------------------------------------------------------------------
    def add_fault(self, spec: dict[str, Any]) -> int:
        allowed = {f for f in FaultSpec.__dataclass_fields__ if f not in ("id", "fired")}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = FaultSpec(**spec)
        with self._lock:
            self._fault_seq += 1
            fault.id = self._fault_seq
            self._faults.append(fault)
            return fault.id

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, query: str, phase: str) -> FaultSpec | None:
        with self._lock:
            for fault in self._faults:
                if fault.phase != phase or not fault.matches(query):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # sessions -----------------------------------------------------------------------------------------
    def acquire_session(self, session_id: str, check: bool) -> None:
        with self._lock:
            if check and session_id not in self._sessions:
                raise ClickHouseError.make(372, f"Session {session_id} not found")
            if session_id in self._active_sessions:
                raise ClickHouseError.make(373, f"Session {session_id} is locked by a concurrent client")
            self._active_sessions.add(session_id)
            self._sessions[session_id] = time.time()

    def release_session(self, session_id: str, close: bool) -> None:
        with self._lock:
            self._active_sessions.discard(session_id)
            if close:
                self._sessions.pop(session_id, None)


# ---------------------------------------------------------------------------------------------------------
# HTTP


class _DropConnection(Exception):
    pass


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one segment (with TCP_NODELAY: no delayed-ACK stall)

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server: EndpointServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the request line may carry a password: never print it

    def send_response(self, code: int, message: str | None = None) -> None:
        self.send_response_only(code, message)  # as ClickHouse: a Date header, no Server header
        self.send_header("Date", self.date_time_string())

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    # plumbing -----------------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        self.wfile.write(reply.body)

    def _text(self, status: int, text: str, ctype: str = "text/plain; charset=UTF-8") -> None:
        self._send(_Reply(status, text.encode(), [("Content-Type", ctype)]))

    def _json(self, status: int, value: Any) -> None:
        self._send(_Reply(status, json.dumps(value).encode(), [("Content-Type", "application/json")]))

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        path = url.path
        if path.startswith("/_endpoint/"):
            self._control(path, body)
            return
        if path in ("/ping", "/replicas_status"):
            self._text(200, "Ok.\n", "text/html; charset=UTF-8")
            return
        if path != "/":
            self._text(404, f"There is no handle {path}\n\nUse / or /ping for health checks.\n"
                            "Or /replicas_status for more sophisticated health checks.\n\n"
                            "Send queries from your program with POST method or GET /?query=...\n")
            return
        params = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        if self.command == "GET" and not any(k == "query" for k, _ in params):
            self._text(200, "Ok.\n", "text/html; charset=UTF-8")
            return
        try:
            reply = self._query(params, body)
        except _DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        try:
            if path == "/_endpoint/log" and self.command == "GET":
                self._json(200, state.log())
            elif path == "/_endpoint/log/clear" and self.command == "POST":
                state.clear_log()
                self._json(200, {"ok": True})
            elif path == "/_endpoint/fault" and self.command == "POST":
                self._json(200, {"id": state.add_fault(json.loads(body or b"{}"))})
            elif path == "/_endpoint/fault/clear" and self.command == "POST":
                state.clear_faults()
                self._json(200, {"ok": True})
            elif path == "/_endpoint/info" and self.command == "GET":
                self._json(200, {"version": state.engine.version, "engine": state.engine.label,
                                 "pid": os.getpid(), "keeper": bool(getattr(state.engine, "keeper", False))})
            else:
                self._json(404, {"error": f"no control handle {self.command} {path}"})
        except (ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})

    # the query path -----------------------------------------------------------------------------------
    def _query(self, pairs: list[tuple[str, str]], body: bytes) -> _Reply:
        state = self.server.state
        started = time.monotonic()
        params: dict[str, str] = {}
        for key, value in pairs:
            params.setdefault(key, value)
        query_id = params.get("query_id") or self.headers.get("X-ClickHouse-Query-Id") or str(uuid.uuid4())
        database = self.headers.get("X-ClickHouse-Database") or params.get("database") or "default"
        session_id = params.get("session_id", "")
        entry: dict[str, Any] = {
            "time": time.time(), "method": self.command, "query": "", "database": database, "write": False,
            "kind": "", "status": 200, "error_code": None, "query_id": query_id, "session_id": session_id,
            "user": "", "settings": {}, "params": {}, "data_bytes": 0, "fault": None,
        }
        session_held = False
        output_settings: dict[str, str] | None = None  # set once a server would have its output set up
        try:
            user, password = self._authenticate(params)
            entry["user"] = user
            if not state.check_password(user, password):
                raise ClickHouseError.make(516, f"{user}: Authentication failed: password is incorrect, or "
                                                "there is no user with such name")
            if session_id:
                state.acquire_session(session_id, params.get("session_check") == "1")
                session_held = True
            output_settings = {k: v for k, v in params.items()
                               if k not in RESERVED_PARAMS and not k.startswith("param_")}
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("multipart/form-data"):
                form = self._form(ctype, body)
                body = b""
                for key, value in form.items():
                    if key == "query" or key.startswith("param_"):
                        params[key] = value
                    else:
                        raise ClickHouseError.make(48, "external data (multipart file fields) is not "
                                                       "supported by the test endpoint")
            elif params.get("decompress") in ("1", "true"):
                raise ClickHouseError.make(48, "decompress=1 (ClickHouse native compression) is not "
                                               "supported by the test endpoint")
            else:
                body = decode_body(body, self.headers.get("Content-Encoding", ""))
            stmt = analyze(params.get("query", "").encode() + body)
            entry.update(query=stmt.log_text, kind=stmt.kind, write=stmt.is_write,
                         data_bytes=len(stmt.data or b""))
            settings = {k: v for k, v in params.items()
                        if k not in RESERVED_PARAMS and not k.startswith("param_")}
            binds = {k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")}
            entry.update(settings=settings, params=binds)
            self._fault(stmt, "before", entry)
            if stmt.is_write and self.command == "GET":
                raise ClickHouseError.make(164, "Cannot execute query in readonly mode. For queries over "
                                                "HTTP, method GET implies readonly. You should use method "
                                                "POST for modifying queries")
            if stmt.is_write and settings.get("readonly", "0") not in ("0", ""):
                raise ClickHouseError.make(164, f"{user}: Cannot execute query in readonly mode")
            default_format = (self.headers.get("X-ClickHouse-Format") or params.get("default_format")
                              or "TabSeparated")
            call = EngineCall(statement=stmt, database=database, fmt=default_format,
                              settings={k: v for k, v in settings.items() if k not in LOCAL_SETTINGS},
                              params=binds)
            result = state.engine.execute(call)
            self._fault(stmt, "after", entry)
            reply = self._result_reply(stmt, call, result, query_id, started)
        except ClickHouseError as err:
            reply = self._error_reply(err, query_id, output_settings)
            entry["error_code"] = err.code
            entry["error"] = err.message
        except _DropConnection:
            entry["status"] = 0
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
            state.record(entry)
            raise
        except Exception as exc:  # a bug of the endpoint: answer like a server would, keep the trace
            import traceback

            traceback.print_exc()
            failure = ClickHouseError.make(1001, f"test endpoint failure: {type(exc).__name__}: {exc}")
            reply = self._error_reply(failure, query_id)
            entry["error_code"] = failure.code
            entry["error"] = failure.message
        finally:
            if session_held:
                state.release_session(session_id, params.get("close_session") in ("1", "true"))
        entry["status"] = reply.status
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        state.record(entry)
        return reply

    def _authenticate(self, params: dict[str, str]) -> tuple[str, str]:
        """(user, password) as ClickHouse's authenticateUserByHTTP finds them (the password is only compared,
        never logged)."""
        h_user = self.headers.get("X-ClickHouse-User")
        h_key = self.headers.get("X-ClickHouse-Key")
        auth = self.headers.get("Authorization")
        if h_user is not None or h_key is not None:
            if auth or "user" in params or "password" in params:
                raise ClickHouseError.make(516, "Invalid authentication: it is not allowed to use "
                                                "X-ClickHouse HTTP headers and other authentication methods "
                                                "simultaneously")
            return h_user or "default", h_key or ""
        if auth:
            if "user" in params or "password" in params:
                raise ClickHouseError.make(516, "Invalid authentication: it is not allowed to use "
                                                "Authorization HTTP header and authentication via parameters "
                                                "simultaneously")
            scheme, _, info = auth.partition(" ")
            if scheme.lower() != "basic":
                raise ClickHouseError.make(516, f"Invalid authentication: '{scheme}' HTTP Authorization "
                                                "scheme is not supported")
            try:
                user, _, password = base64.b64decode(info.strip()).decode().partition(":")
            except Exception:
                raise ClickHouseError.make(516, "Invalid authentication: bad Basic credentials") from None
            return user or "default", password
        return params.get("user") or "default", params.get("password", "")

    @staticmethod
    def _form(ctype: str, body: bytes) -> dict[str, str]:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        fields: dict[str, str] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                if part.get_param("filename", header="content-disposition"):
                    fields[f"{name}_file"] = payload.decode("utf-8", "replace")
                else:
                    fields[name] = payload.decode("utf-8", "replace")
        return fields

    def _fault(self, stmt: Statement, phase: str, entry: dict[str, Any]) -> None:
        fault = self.server.state.take_fault(stmt.log_text, phase)
        if fault is None:
            return
        entry["fault"] = {"id": fault.id, "phase": phase, "drop_connection": fault.drop_connection}
        if fault.delay:
            time.sleep(fault.delay)
        if not fault.fail and not fault.drop_connection:
            return
        if fault.drop_connection:
            raise _DropConnection()
        err = ClickHouseError.make(fault.code, fault.message)
        err.name = err.name if err.name != "UNKNOWN_EXCEPTION" else "STD_EXCEPTION"
        raise _FaultError(err, fault.status)

    def _common_headers(self, query_id: str) -> list[tuple[str, str]]:
        return [("X-ClickHouse-Server-Display-Name", self.server.state.display_name),
                ("X-ClickHouse-Query-Id", query_id)]

    def _result_reply(self, stmt: Statement, call: EngineCall, result: EngineResult, query_id: str,
                      started: float) -> _Reply:
        headers = self._common_headers(query_id)
        body = result.data
        fmt = stmt.output_format or call.fmt
        produces = stmt.data is None and (stmt.kind in OUTPUT_KINDS or bool(body))
        headers.append(("Content-Type", content_type_for(fmt) if produces else "text/plain; charset=UTF-8"))
        if produces:
            headers.append(("X-ClickHouse-Format", fmt))
        tz = call.settings.get("session_timezone") or "UTC"
        headers.append(("X-ClickHouse-Timezone", tz))
        summary = {
            "read_rows": str(result.read_rows), "read_bytes": str(result.read_bytes),
            "written_rows": str(result.written_rows), "written_bytes": str(result.written_bytes),
            "total_rows_to_read": str(result.read_rows), "result_rows": str(result.result_rows),
            "result_bytes": str(result.result_bytes),
            "elapsed_ns": str(int((time.monotonic() - started) * 1e9)),
        }
        # No X-ClickHouse-Progress: a server sends one only every http_headers_progress_interval_ms while
        # a query runs (clickhouse-connect asks for 120 s), so never for the short queries of tests.
        headers.append(("X-ClickHouse-Summary", json.dumps(summary, separators=(",", ":"))))
        body, encoding = self._maybe_compress(body, call.settings)
        if encoding:
            headers.append(("Content-Encoding", encoding))
        return _Reply(200, body, headers)

    def _setting(self, settings: dict[str, str], name: str) -> str:
        return settings.get(name, self.server.state.engine.defaults.get(name, ""))

    def _maybe_compress(self, body: bytes, settings: dict[str, str]) -> tuple[bytes, str | None]:
        accept = self.headers.get("Accept-Encoding", "")
        if not accept or self._setting(settings, "enable_http_compression") not in ("1", "true"):
            return body, None
        method = choose_response_encoding(accept)
        if method is None:
            return body, None
        try:
            level = int(self._setting(settings, "http_zlib_compression_level") or "3")
        except ValueError:
            level = 3
        return encode_body(body, method, level), method

    def _error_reply(self, err: ClickHouseError, query_id: str, settings: dict[str, str] | None = None) -> _Reply:
        status = err.http_status
        if isinstance(err, _FaultError):
            status = err.status
        headers = self._common_headers(query_id)
        headers += [("Content-Type", "text/plain; charset=UTF-8"),
                    ("X-ClickHouse-Exception-Code", str(err.code)),
                    ("X-ClickHouse-Summary", json.dumps(dict.fromkeys(_SUMMARY_KEYS, "0"), separators=(",", ":")))]
        version = f"(version {self.server.state.engine.version})"
        text = err.message if err.message.endswith(version) else f"{err.message} {version}"
        body = (text + "\n").encode()
        if settings is not None:  # the server had set up its (compressed) output before the failure
            body, encoding = self._maybe_compress(body, settings)
            if encoding:
                headers.append(("Content-Encoding", encoding))
        return _Reply(status, body, headers)


_SUMMARY_KEYS = ("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "result_rows",
                 "result_bytes", "elapsed_ns")


class _FaultError(ClickHouseError):
    def __init__(self, err: ClickHouseError, status: int) -> None:
        super().__init__(err.code, err.message, err.name)
        self.status = status


class EndpointServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: EndpointState) -> None:
        self.state = state
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------------------------
# The endpoint as a program


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    ap.add_argument("--path", required=True, help="chDB data directory")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--password-file", help="file holding the password of user 'default' (default: none)")
    ap.add_argument("--call-timeout", type=float, default=300.0, help="kill a chdb 2.x call after this long")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (parent gone)")
    ap.add_argument("--workdir", help="scratch directory (INSERT data files, chdb 2.x results and config.xml)")
    ap.add_argument("--cleanup-dir", help="a directory to remove on exit (start_endpoint's, with the log)")
    args = ap.parse_args(argv)
    password = Path(args.password_file).read_text() if args.password_file else ""
    os.environ["TZ"] = "UTC"
    time.tzset()
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="chmigrate-endpoint-"))
    stop = threading.Event()
    try:
        engine = open_engine(Path(args.path).resolve(), workdir, args.call_timeout)  # before any thread
        server = EndpointServer(args.port, EndpointState(engine, password))
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if args.exit_on_stdin_eof:
            threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        os.dup2(2, 1)  # nothing else goes to the parent's pipe, which nobody reads any more
        while not stop.wait(0.5):
            pass
        server.shutdown()
        server.server_close()
        engine.close()
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if args.cleanup_dir:
            shutil.rmtree(args.cleanup_dir, ignore_errors=True)


def _watch_stdin(stop: threading.Event) -> None:
    with contextlib.suppress(Exception):
        while os.read(sys.stdin.fileno(), 65536):
            pass
    stop.set()


# ---------------------------------------------------------------------------------------------------------
# The Python API for tests


class EndpointStartError(RuntimeError):
    pass


class Endpoint:
    """A running test endpoint. `url` has no credentials in it."""

    def __init__(self, url: str, path: Path, *, proc: subprocess.Popen[bytes] | None = None,
                 server: EndpointServer | None = None, engine: Engine | None = None,
                 stderr_path: Path | None = None, workdir: Path | None = None) -> None:
        self.url = url
        self.path = path
        self.stderr_path = stderr_path
        self._proc = proc
        self._server = server
        self._engine = engine
        self._workdir = workdir
        self._stopped = False

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else os.getpid()

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"endpoint {method} {path}: {exc.code} {detail}") from None

    def log(self) -> list[dict[str, Any]]:
        """Every query request so far: method, query (without INSERT data), database, write, kind,
        status, error_code, query_id, session_id, user, settings, params, data_bytes, fault, duration_ms,
        seq, time."""
        result: list[dict[str, Any]] = self._request("GET", "/_endpoint/log")
        return result

    def clear_log(self) -> None:
        self._request("POST", "/_endpoint/log/clear")

    def fault(self, **spec: Any) -> int:
        """Inject a failure (see `FaultSpec`): e.g. fault(status=500, match="CREATE TABLE x", times=1),
        fault(drop_connection=True, after=2), fault(status=500, phase="after")."""
        result: dict[str, int] = self._request("POST", "/_endpoint/fault", spec)
        return result["id"]

    def clear_fault(self) -> None:
        self._request("POST", "/_endpoint/fault/clear")

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/_endpoint/info")
        return result

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._engine is not None:
            self._engine.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()  # the endpoint stops when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        _killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (the chdb 2.x helper and its child)
        if proc.stdout is not None:
            proc.stdout.close()
        if self.stderr_path is not None and not os.environ.get("CHMIGRATE_ENDPOINT_KEEP_LOGS"):
            shutil.rmtree(self.stderr_path.parent, ignore_errors=True)

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self._stopped and self._proc is not None and self._proc.poll() is None:
                self.stop()


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def start_endpoint(path: str | Path, *, password: str = "", python: str | None = None,
                   in_process: bool = False, startup_timeout: float = 120.0,
                   call_timeout: float = 300.0) -> Endpoint:
    """Serve the ClickHouse HTTP interface on chDB over the data directory `path` (created if missing).

    By default the server is a subprocess running this file under `python` (default: this interpreter),
    so that its chDB data directory does not collide with one this process opens; with
    python="/path/to/venv248/bin/python" it runs on chdb 2.1.1 (ClickHouse 24.8). It is in its own
    process group (stop() kills the group) and stops when this process goes away. in_process=True
    serves from a thread of this process instead (chdb >= 3 only; this process must not open another
    chDB directory).
    """
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    if in_process:
        if python is not None:
            raise ValueError("in_process and python exclude each other")
        if chdb_major_version() < 3:
            raise ValueError("in_process needs chdb >= 3 (chdb 2.x forks a helper process)")
        workdir = Path(tempfile.mkdtemp(prefix="chmigrate-endpoint-"))
        engine = open_engine(path, workdir, call_timeout)
        server = EndpointServer(0, EndpointState(engine, password))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        return Endpoint(server.url, path, server=server, engine=engine, workdir=workdir)
    logdir = Path(tempfile.mkdtemp(prefix="chmigrate-endpoint-log-"))
    pwfile = logdir / "password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password)
    stderr_path = logdir / "stderr.log"
    cmd = [python or sys.executable, "-I", str(Path(__file__).resolve()), "--path", str(path), "--port", "0",
           "--password-file", str(pwfile), "--call-timeout", str(call_timeout), "--exit-on-stdin-eof",
           "--workdir", str(logdir / "work")]
    keep_logs = bool(os.environ.get("CHMIGRATE_ENDPOINT_KEEP_LOGS"))
    if not keep_logs:
        cmd += ["--cleanup-dir", str(logdir)]
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True, close_fds=True)
    try:
        url = _read_url(proc, startup_timeout)
    except BaseException:
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        tail = stderr_path.read_text(errors="replace")[-4000:]
        shutil.rmtree(logdir, ignore_errors=True)
        raise EndpointStartError(f"the test endpoint did not start ({' '.join(cmd[:3])}): {tail}") from None
    finally:
        pwfile.unlink(missing_ok=True)
    return Endpoint(url, path, proc=proc, stderr_path=stderr_path)


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` becomes readable within `timeout` seconds. poll(), not select(): select() refuses file
    descriptors numbered 1024 or more, which a long test session reaches."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def _read_url(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    stdout: IO[bytes] = proc.stdout
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no URL from the endpoint in time")
        if _readable(stdout.fileno(), min(left, 0.5)):
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                raise EOFError("the endpoint exited")
            buf += chunk
        elif proc.poll() is not None:
            raise EOFError("the endpoint exited")
    url = buf.split(b"\n", 1)[0].decode().strip()
    if not url.startswith("http://"):
        raise ValueError(f"unexpected first line {url!r}")
    return url


if __name__ == "__main__":
    raise SystemExit(main())
