"""Discovery: the filename grammar, checksums, down parts, ${NAME}, and failing fast on bad files."""

import hashlib
from pathlib import Path

import pytest

from chmigrate.errors import ConfigError, MigrationFileError
from chmigrate.migrations import filenames
from chmigrate.migrations.discovery import discover


def write(d: Path, name: str, text: str | bytes) -> Path:
    p = d / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_version_gap_is_an_error_unless_allowed(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "0003_c.sql", "SELECT 3;")
    with pytest.raises(MigrationFileError) as err:
        discover(tmp_path)
    assert "0003_c.sql" in str(err.value) and "expected version 2" in str(err.value)
    assert [m.version for m in discover(tmp_path, allow_gaps=True)] == ["0001", "0003"]


def test_orders_by_number_and_checksums_the_raw_file(tmp_path: Path) -> None:
    write(tmp_path, "10_later.sql", "SELECT 10;")
    raw = "CREATE TABLE t (x Int8) ENGINE = Memory;\n-- chmigrate:down\nDROP TABLE t;\n"
    write(tmp_path, "0002_first.sql", raw)
    write(tmp_path, "README.md", "not a migration")
    ms = discover(tmp_path, allow_gaps=True)
    assert [m.version for m in ms] == ["0002", "10"]
    assert ms[0].checksum == hashlib.sha256(raw.encode()).hexdigest()
    assert [s.sql for s in ms[0].up] == ["CREATE TABLE t (x Int8) ENGINE = Memory"]
    assert ms[0].down is not None and [s.sql for s in ms[0].down] == ["DROP TABLE t"]
    assert ms[0].down[0].line == 3
    assert ms[1].down is None


def test_variables_substituted_per_statement_checksum_over_raw(tmp_path: Path) -> None:
    raw = "CREATE TABLE t ON CLUSTER ${CLUSTER} (x Int8) ENGINE = Memory; SELECT '$${LITERAL}';"
    write(tmp_path, "0001_v.sql", raw)
    ms = discover(tmp_path, {"CLUSTER": "prod;x"})
    assert ms[0].up[0].sql == "CREATE TABLE t ON CLUSTER prod;x (x Int8) ENGINE = Memory"
    assert ms[0].up[0].raw.endswith("${CLUSTER} (x Int8) ENGINE = Memory")
    assert ms[0].up[1].sql == "SELECT '${LITERAL}'"
    assert ms[0].checksum == hashlib.sha256(raw.encode()).hexdigest()


@pytest.mark.parametrize(
    "files,needle",
    [
        ({"0001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 2;"}, "duplicate version 001"),
        ({"1-bad name.sql": "SELECT 1;"}, "file name does not follow"),
        ({"0001_a.sql": b"SELECT '\xff\xfe';"}, "not valid UTF-8"),
        ({"0001_a.sql": "SELECT 1;\nSELECT 'open;\n"}, "unterminated string literal"),
        ({"0001_a.sql": "SELECT 1;\nSELECT ${NOPE};"}, "unknown variable ${NOPE}"),
    ],
)
def test_bad_files_fail_fast_naming_the_file(tmp_path: Path, files: dict[str, str | bytes], needle: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(MigrationFileError) as err:
        discover(tmp_path)
    msg = str(err.value)
    assert needle in msg
    assert str(tmp_path) in msg
    assert err.value.exit_code == 2


def test_errors_name_statement_and_line(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;\n\nSELECT ${NOPE};")
    with pytest.raises(MigrationFileError) as err:
        discover(tmp_path)
    assert "0001_a.sql statement 2 (line 3)" in str(err.value)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        discover(tmp_path / "nope")
    assert "migrations_dir" in str(err.value)


def test_grammar_round_trips() -> None:
    name = filenames.format_name(12, "Add region column!")
    assert name == "0012_add_region_column.sql"
    parsed = filenames.parse(name)
    assert parsed is not None and parsed.number == 12 and parsed.name == "add_region_column"
    assert filenames.parse("abc.sql") is None


def test_a_file_with_only_comments_is_a_migration_without_statements(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "-- 0001_a.sql: describe the change here.\n")
    (m,) = discover(tmp_path)
    assert m.version == "0001" and m.up == ()
