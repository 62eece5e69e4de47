"""The container image: built from the Dockerfile with podman, then run the way this machine allows.

Containers cannot run here (crun: setrlimit is refused), so the test mounts the built image
(`podman image mount`, read-only like the Job's readOnlyRootFilesystem) and runs its entrypoint with
`chroot --userspec` as the image's user, in a private mount namespace with a tmpfs on /tmp (the Job's
emptyDir), /dev and /proc. The base image must exist offline: `deploy/make-base-image.sh` makes one
(debootstrap + podman import); without it, or without podman or root, the test skips and says why."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import chmigrate

REPO = Path(__file__).resolve().parents[2]
BASE = os.environ.get("CHMIGRATE_TEST_IMAGE_BASE", "localhost/chmigrate-base:bookworm")


def _podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman); the image is not built here")
    if os.geteuid() != 0:
        pytest.skip("mounting and chroot-ing the image needs root")
    if _podman("image", "exists", BASE).returncode != 0:
        pytest.skip(f"no base image {BASE}: run `sh deploy/make-base-image.sh` (debootstrap + podman import)")
    tag = f"localhost/chmigrate-test:{uuid.uuid4().hex[:8]}"
    built = _podman("build", "--isolation", "chroot", "--build-arg", f"BASE={BASE}", "-t", tag, str(REPO),
                    timeout=1200)
    assert built.returncode == 0, built.stderr[-2000:]
    try:
        yield tag
    finally:
        _podman("image", "unmount", tag)
        _podman("rmi", "-f", tag)


def _run_in(image: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`chmigrate ARGS` inside the mounted image, as its user, with /tmp writable and nothing else."""
    config = json.loads(_podman("image", "inspect", image).stdout)[0]["Config"]
    mnt = _podman("image", "mount", image).stdout.strip()
    env = ["/usr/bin/env", "-i", *config["Env"]]
    inner = " ".join([*env, "sh", "-c", f"'cd {config['WorkingDir']} && exec {' '.join(config['Entrypoint'])} "
                      + " ".join(args) + "'"])
    script = (f"mount -t tmpfs tmpfs {mnt}/tmp && mount --rbind /dev {mnt}/dev && mount -t proc proc {mnt}/proc"
              f" && chroot --userspec={config['User']} {mnt} {inner}")
    return subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", script], capture_output=True, text=True,
                          timeout=300)


def test_image_runs_chmigrate_as_a_non_root_user_from_the_migrations(image: str) -> None:
    config = json.loads(_podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["chmigrate"]
    assert config["WorkingDir"] == "/migrations"
    assert not config["User"].startswith("0") and config["User"] != "root"
    version = _run_in(image, "--version")
    assert version.returncode == 0, version.stderr
    assert chmigrate.__version__ in version.stdout


def test_image_plans_the_platform_schema(image: str) -> None:
    r = _run_in(image, "plan", "--only", "clickhouse")
    assert r.returncode == 0, r.stderr[-1500:]
    for name in sorted(p.name for p in (REPO / "clickhouse").glob("*.sql")):
        assert name in r.stdout, r.stdout[-1500:]
    assert re.search(r"CREATE TABLE\s+(IF NOT EXISTS\s+)?llm_usage\b", r.stdout)


def test_image_holds_no_tests_bench_or_local_state(image: str) -> None:
    mnt = Path(_podman("image", "mount", image).stdout.strip())
    assert sorted(p.name for p in (mnt / "migrations").iterdir()) == ["clickhouse", "postgres"]
    assert not (mnt / "src").exists()
    assert not list((mnt / "opt" / "chmigrate").rglob("tests/deploy"))
