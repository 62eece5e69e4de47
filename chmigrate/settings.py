"""Settings, loaded once with a clear precedence:
command-line flag > CHMIGRATE_* environment > the chosen environment's table > chmigrate.toml or
[tool.chmigrate] in pyproject.toml > default.

A named environment (`[tool.chmigrate.environments.NAME]`, chosen with --env NAME or CHMIGRATE_ENV) holds
the same settings as the top level and overrides them; it names its secrets only by reference (a password
file, or the name of an environment variable) and a password written in it is refused.

Errors name the setting (and its source). Passwords never come from the config
file itself (only a password *file* path may be named there).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chmigrate.errors import ConfigError
from chmigrate.masking import mask_url, masked_repr, url_secrets

ENGINES = ("clickhouse", "postgres")
LOCK_KINDS = ("auto", "keeper", "lease")
ENV_VAR = "CHMIGRATE_ENV"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """Seconds in `value`: a number of seconds, or a number with a unit s, m, h or d (`90m`, `48h`, `3d`).
    ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = _UNITS.get(text[-1:]) if text else None
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1)
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (seconds, or a number with s, m, h or d: 48h)") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{value!r}: a duration must be more than 0")
    return seconds


@dataclass(frozen=True)
class DoctorSettings:
    """What `doctor` looks at and when it complains: `[tool.chmigrate.doctor]` (or an environment's
    `doctor` table). The defaults are the platform's (../shared/SCHEMA.md)."""

    events_table: str = "llm_usage"
    rollup_table: str = "llm_usage_daily"
    rollup_view: str = "llm_usage_daily_mv"
    pricing_table: str = "orchestrator.model_pricing"
    river_table: str = "orchestrator.river_job"
    since: float = 7 * 86400.0  # the window: models seen, latest event, River jobs finalized in it
    freshness: float = 3600.0  # warn when the latest event is older
    pricing_max_age: float = 48 * 3600.0  # warn when the newest price fetch (or pricing_refresh job) is older
    rollup_days: int = 3  # complete days compared between the raw events and the rollup
    query_timeout: float = 30.0  # seconds each query may take


_DOCTOR_KINDS = {"events_table": "table", "rollup_table": "table", "rollup_view": "table",
                 "pricing_table": "pg_table", "river_table": "pg_table", "since": "duration",
                 "freshness": "duration", "pricing_max_age": "duration", "rollup_days": "days",
                 "query_timeout": "duration"}


@dataclass(frozen=True)
class Settings:
    clickhouse_url: str | None = None
    clickhouse_password: str | None = field(default=None, repr=False)
    clickhouse_user: str | None = None
    database: str | None = None  # None: the URL's database, else "default"
    ledger_table: str = "chmigrate_ledger"
    migrations_dir: Path = Path("clickhouse")
    local_dir: Path = Path(".chmigrate")
    postgres_url: str | None = None
    postgres_password: str | None = field(default=None, repr=False)
    postgres_dir: Path = Path("postgres")
    only: tuple[str, ...] = ENGINES
    lock_timeout: float = 60.0
    lock: str = "auto"  # "auto" (KeeperMap where the server has Keeper, else a lease) | "keeper" | "lease"
    lock_lease: float = 30.0  # seconds a ClickHouse lock claim lives without renewal
    connect_timeout: float = 10.0
    query_timeout: float = 300.0
    tls_verify: bool = True
    tls_ca_cert: str | None = None
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    allow_version_gaps: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)
    # A replicated target: DDL is sent ON CLUSTER this cluster (or, in a Replicated database, as it is) with
    # *MergeTree engines as Replicated*; also the ${cluster} variable of the migrations.
    cluster: str | None = None
    replica_path: str | None = None  # the Replicated* engines' Keeper path; None: the server's default
    replica_name: str | None = None  # their replica name (with replica_path; default '{replica}')
    ddl_timeout: float = 600.0  # distributed_ddl_task_timeout of each ON CLUSTER statement, seconds
    config_file: Path | None = None
    # A protected environment: `down` and `up` statements that destroy data are refused, whatever the flags.
    # True when the config file or CHMIGRATE_PROTECTED says so (either one: a lower-precedence `true` is
    # not switched off by another source); `protected_by` names the setting that did.
    protected: bool = False
    protected_by: str | None = None
    environment: str | None = None  # the named environment chosen (--env / CHMIGRATE_ENV)
    doctor: DoctorSettings = field(default_factory=DoctorSettings)
    # `[tool.chmigrate.lint]` (severities, disabled rules, server_version, cluster), checked by chmigrate.lint
    lint: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # where each value came from, as errors name it: "--clickhouse-url", "CHMIGRATE_CLICKHOUSE_URL", ...
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:  # the URLs may carry a password
        return masked_repr(self)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every password this run knows: the password settings and those inside the URLs."""
        found = [self.clickhouse_password, self.postgres_password,
                 *url_secrets(self.clickhouse_url), *url_secrets(self.postgres_url)]
        return tuple(dict.fromkeys(s for s in found if s))

    def wants(self, engine: str) -> bool:
        return engine in self.only

    def source(self, name: str) -> str:
        """How an error names setting `name`: where its value came from, else its environment variable."""
        return self.sources.get(name) or _ENV[name][0]

    def check_servers(self) -> None:
        """The embedded engines serve only runs that name no server at all: a run that names one engine's
        server and would use the other engine's embedded one (a production ClickHouse beside a local
        Postgres) is refused before anything is opened. ConfigError names both ways out."""
        for engine, other, var, flag, key in (
            ("postgres", "clickhouse", "CHMIGRATE_POSTGRES_URL", "--postgres-url", "postgres_url"),
            ("clickhouse", "postgres", "CHMIGRATE_CLICKHOUSE_URL", "--clickhouse-url", "clickhouse_url"),
        ):
            server = getattr(self, f"{other}_url")
            if not self.wants(engine) or getattr(self, key) is not None or server is None:
                continue
            names = {"postgres": "Postgres", "clickhouse": "ClickHouse"}
            way_out = (f"run with --only {other}" if self.only != (engine,)
                       else f"leave the {names[other]} URL unset to use the embedded engines")
            raise ConfigError(
                var,
                f"not set, but a {names[other]} server is ({self.source(f'{other}_url')}: {mask_url(server)}); "
                f"the embedded local {names[engine]} runs only when no server is configured: set {var} "
                f"(or {flag}, or {key} in chmigrate.toml) to the {names[engine]} server, or {way_out}",
            )


# name -> (environment variable, kind)
_ENV: dict[str, tuple[str, str]] = {
    "clickhouse_url": ("CHMIGRATE_CLICKHOUSE_URL", "str"),
    "clickhouse_user": ("CHMIGRATE_CLICKHOUSE_USER", "str"),
    "database": ("CHMIGRATE_DATABASE", "str"),
    "ledger_table": ("CHMIGRATE_LEDGER_TABLE", "str"),
    "migrations_dir": ("CHMIGRATE_MIGRATIONS_DIR", "path"),
    "local_dir": ("CHMIGRATE_LOCAL_DIR", "path"),
    "postgres_url": ("CHMIGRATE_POSTGRES_URL", "str"),
    "postgres_dir": ("CHMIGRATE_POSTGRES_DIR", "path"),
    "only": ("CHMIGRATE_ONLY", "only"),
    "lock_timeout": ("CHMIGRATE_LOCK_TIMEOUT", "float"),
    "lock": ("CHMIGRATE_LOCK", "lock"),
    "lock_lease": ("CHMIGRATE_LOCK_LEASE", "float"),
    "connect_timeout": ("CHMIGRATE_CONNECT_TIMEOUT", "float"),
    "query_timeout": ("CHMIGRATE_QUERY_TIMEOUT", "float"),
    "tls_verify": ("CHMIGRATE_TLS_VERIFY", "bool"),
    "allow_version_gaps": ("CHMIGRATE_ALLOW_VERSION_GAPS", "bool"),
    "tls_ca_cert": ("CHMIGRATE_TLS_CA_CERT", "str"),
    "tls_client_cert": ("CHMIGRATE_TLS_CLIENT_CERT", "str"),
    "tls_client_key": ("CHMIGRATE_TLS_CLIENT_KEY", "str"),
    "cluster": ("CHMIGRATE_CLUSTER", "name"),
    "replica_path": ("CHMIGRATE_REPLICA_PATH", "str"),
    "replica_name": ("CHMIGRATE_REPLICA_NAME", "str"),
    "ddl_timeout": ("CHMIGRATE_DDL_TIMEOUT", "float"),
    "clickhouse_password_file": ("CHMIGRATE_CLICKHOUSE_PASSWORD_FILE", "path"),
    "postgres_password_file": ("CHMIGRATE_POSTGRES_PASSWORD_FILE", "path"),
}
_FILE_ONLY = {"variables", "protected", "doctor", "environments", "clickhouse_password_env",
              "postgres_password_env", "lint"}
# keys an environment table may hold besides the settings
_ENVIRONMENT_ONLY: set[str] = set()
PROTECTED_ENV = "CHMIGRATE_PROTECTED"
# settings whose flag is not --NAME-WITH-DASHES
_FLAGS = {"clickhouse_password_file": "--password-file"}


def load(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build Settings from flags (None values ignored), the environment and the config file."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    file_values, config_file = _read_config(cwd, flags.get("config"))
    labels = {name: f"{config_file}: {name}" for name in file_values}  # how an error names a file value
    environment = flags.get("env") or env.get(ENV_VAR) or None
    if environment is not None:
        file_values, labels = _environment(file_values, labels, str(environment), config_file,
                                           "--env" if flags.get("env") else ENV_VAR)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (var, kind) in _ENV.items():
        if name in flags:
            raw, source = flags[name], _FLAGS.get(name, f"--{name.replace('_', '-')}")
        elif var in env and env[var] != "":
            raw, source = env[var], var
        elif name in file_values:
            raw, source = file_values[name], labels[name]
        else:
            continue
        values[name] = _coerce(name, raw, kind, source)
        sources[name] = source
    _check_urls(values, sources)
    unknown = set(file_values) - set(_ENV) - _FILE_ONLY
    if unknown:
        raise ConfigError(f"{config_file}: {sorted(unknown)[0]}", "unknown setting",
                          hint="known settings: " + ", ".join(sorted(set(_ENV) | _FILE_ONLY)))

    protected_by = None
    for raw, source in ((env.get(PROTECTED_ENV), PROTECTED_ENV),
                        (file_values.get("protected"), labels.get("protected", ""))):
        if raw is not None and raw != "" and _coerce("protected", raw, "bool", source):
            protected_by = f"{source} = {str(raw).lower()}"
            break

    ch_pw = _secret("clickhouse", values, sources, file_values, labels, env, "CLICKHOUSE_PASSWORD")
    pg_pw = _secret("postgres", values, sources, file_values, labels, env, "PGPASSWORD")

    variables: dict[str, str] = {}
    file_vars = file_values.get("variables", {})
    if not isinstance(file_vars, dict):
        raise ConfigError(labels.get("variables", "variables"), "must be a table of NAME = \"value\"")
    variables.update({str(k): str(v) for k, v in file_vars.items()})
    if values.get("cluster") is not None:  # files that spell `ON CLUSTER ${cluster}` keep working
        variables["cluster"] = values["cluster"]
    prefix = "CHMIGRATE_VAR_"
    variables.update({k[len(prefix):]: v for k, v in env.items() if k.startswith(prefix)})
    for item in flags.get("var", ()) or ():
        if "=" not in item:
            raise ConfigError("--var", f"{item!r} is not NAME=VALUE")
        k, v = item.split("=", 1)
        variables[k.strip()] = v

    for name in ("migrations_dir", "local_dir", "postgres_dir"):
        if name in values and not Path(values[name]).is_absolute():
            values[name] = cwd / values[name]
    defaults = Settings()
    for name in ("migrations_dir", "local_dir", "postgres_dir"):
        values.setdefault(name, cwd / getattr(defaults, name))
    if values.get("lock_lease", defaults.lock_lease) < 1:
        raise ConfigError("lock_lease", f"{values['lock_lease']:g} s is too short: a lock claim must live at least "
                          "1 s between renewals", hint="the default is 30 s")
    if "replica_name" in values and "replica_path" not in values:
        raise ConfigError(sources["replica_name"], "a replica name goes with a replica path: set replica_path too",
                          hint="without either, the Replicated* engines use the server's default_replica_path "
                          "and default_replica_name")
    if values.get("ddl_timeout", defaults.ddl_timeout) < 1:
        raise ConfigError(sources["ddl_timeout"], f"{values['ddl_timeout']:g} s is too short for distributed DDL",
                          hint="the default is 600 s")
    ledger = values.get("ledger_table", defaults.ledger_table)
    if not ledger or any(c in ledger for c in "`\"'.\n") or len(ledger) > 200:
        raise ConfigError("ledger_table", f"{ledger!r} is not a plain table name")
    doctor = _doctor(file_values.get("doctor", {}), labels.get("doctor", "doctor"))
    lint = file_values.get("lint", {})
    if not isinstance(lint, dict):
        raise ConfigError(labels.get("lint", f"{config_file}: lint"), "must be a table ([tool.chmigrate.lint])")
    return Settings(**values, clickhouse_password=ch_pw, postgres_password=pg_pw, variables=variables,
                    config_file=config_file, sources=sources, protected=protected_by is not None,
                    protected_by=protected_by, environment=environment, doctor=doctor, lint=dict(lint))


def _environment(file_values: Mapping[str, Any], labels: Mapping[str, str], name: str, config_file: Path | None,
                 chosen_by: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The config file's values with environment `name`'s table laid over them, and each value's label.
    Refuses an unknown environment and a password written in the table (secrets only by reference)."""
    tables = file_values.get("environments", {})
    where = str(config_file) if config_file else "no config file (chmigrate.toml or [tool.chmigrate] in pyproject.toml)"
    if not isinstance(tables, dict) or any(not isinstance(t, dict) for t in tables.values()):
        raise ConfigError(f"{config_file}: environments", "must hold tables: [tool.chmigrate.environments.NAME]")
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ConfigError(chosen_by, f"no environment {name!r} in {where} (known: {known})",
                          hint="environments are tables [tool.chmigrate.environments.NAME] (in chmigrate.toml: "
                          "[environments.NAME])")
    values, out_labels = dict(file_values), dict(labels)
    for key, value in tables[name].items():
        label = f"{config_file}: environments.{name}.{key}"
        if "password" in key and not key.endswith(("_password_file", "_password_env")):
            raise ConfigError(label, "a password is never written in the config: name a file "
                              "(clickhouse_password_file = \"PATH\") or an environment variable "
                              "(clickhouse_password_env = \"VARIABLE\"); likewise postgres_password_*")
        if key.endswith("_url") and url_secrets(str(value)):
            raise ConfigError(label, "this URL holds a password: a password is never written in the config; "
                              "name it with clickhouse_password_env / postgres_password_env (a variable) or "
                              "*_password_file (a file)")
        if key not in set(_ENV) | _FILE_ONLY | _ENVIRONMENT_ONLY or key == "environments":
            raise ConfigError(label, "unknown setting", hint="an environment holds the settings of the top level "
                              "(clickhouse_url, database, postgres_url, cluster, ..., doctor)")
        if key in ("variables", "doctor") and isinstance(value, dict) and isinstance(values.get(key), dict):
            value = {**values[key], **value}
        values[key], out_labels[key] = value, label
    return values, out_labels


def _secret(engine: str, values: dict[str, Any], sources: Mapping[str, str], file_values: Mapping[str, Any],
            labels: Mapping[str, str], env: Mapping[str, str], fallback_var: str) -> str | None:
    """An engine's password: its password file (flag, CHMIGRATE_*_PASSWORD_FILE or the config), else the
    variable the config names (`*_password_env`), else `fallback_var` (CLICKHOUSE_PASSWORD, PGPASSWORD)."""
    setting = f"{engine}_password_file"
    path = values.pop(setting, None)
    ref = file_values.get(f"{engine}_password_env")
    from_config = sources.get(setting, "") == labels.get(setting)
    if ref is not None and path is not None and from_config:
        raise ConfigError(labels[f"{engine}_password_env"], f"give either {engine}_password_env or {setting}")
    if path is None and ref is not None:
        label = labels[f"{engine}_password_env"]
        if not isinstance(ref, str) or not ref:
            raise ConfigError(label, "must name an environment variable")
        if not env.get(ref):
            raise ConfigError(label, f"names the environment variable {ref}, which is not set")
        return env[ref]
    return _password(path, setting, env.get(fallback_var))


def _doctor(table: Any, label: str) -> DoctorSettings:
    """`[tool.chmigrate.doctor]`: names and thresholds; an error names the key."""
    if not isinstance(table, dict):
        raise ConfigError(label, "must be a table of settings, e.g. freshness = \"2h\"")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        where = f"{label}.{key}"
        kind = _DOCTOR_KINDS.get(key)
        if kind is None:
            raise ConfigError(where, "unknown setting", hint="known: " + ", ".join(_DOCTOR_KINDS))
        try:
            if kind == "duration":
                values[key] = parse_duration(raw)
            elif kind == "days":
                if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 366:
                    raise ValueError("a whole number of days from 1 to 366")
                values[key] = raw
            else:
                parts, most = str(raw).split("."), 2 if kind == "pg_table" else 1
                if not all(parts) or any(c in str(raw) for c in "`\"'\n ") or len(parts) > most:
                    raise ValueError("a plain table name" + (" (schema.table)" if kind == "pg_table" else ""))
                values[key] = str(raw)
        except ValueError as exc:
            raise ConfigError(where, f"invalid value {raw!r} ({exc})") from None
    return DoctorSettings(**values)


def _check_urls(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """A URL that does not parse is a configuration error naming where it came from (never its password)."""
    from chmigrate.targets.clickhouse import parse_url
    from chmigrate.targets.postgres import check_url

    if "clickhouse_url" in values:
        parse_url(values["clickhouse_url"], sources["clickhouse_url"])
    if "postgres_url" in values:
        check_url(values["postgres_url"], sources["postgres_url"])


def _password(path: Any, setting: str, fallback: str | None) -> str | None:
    if path is not None:
        p = Path(path)
        try:
            return p.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(setting, f"cannot read {p}: {exc.strerror or exc}") from None
    return fallback if fallback else None


def _coerce(name: str, value: Any, kind: str, source: str) -> Any:
    try:
        if kind == "str":
            return str(value)
        if kind == "path":
            return Path(os.path.expanduser(str(value)))
        if kind == "name":
            text = str(value).strip()
            if not text or any(c in text for c in "`'\"\n;"):
                raise ValueError("a cluster name, as in <remote_servers>")
            return text
        if kind == "float":
            f = float(value)
            if f < 0:
                raise ValueError("must not be negative")
            return f
        if kind == "bool":
            if isinstance(value, bool):
                return value
            v = str(value).strip().lower()
            if v in ("1", "true", "yes", "on"):
                return True
            if v in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind == "lock":
            v = str(value).strip().lower()
            if v not in LOCK_KINDS:
                raise ValueError(f"expected one of {', '.join(LOCK_KINDS)}")
            return v
        if kind == "only":
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            out = tuple(str(i).strip().lower() for i in items if str(i).strip())
            bad = [i for i in out if i not in ENGINES]
            if bad or not out:
                raise ValueError(f"expected clickhouse or postgres, got {value!r}")
            return out
    except (TypeError, ValueError) as exc:
        raise ConfigError(source, f"invalid value {value!r} ({exc})") from None
    raise AssertionError(kind)


def _read_config(cwd: Path, explicit: Any) -> tuple[dict[str, Any], Path | None]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    candidates: list[tuple[Path, bool]] = []
    if explicit is not None:
        candidates.append((Path(explicit), True))
    else:
        candidates += [(cwd / "chmigrate.toml", False), (cwd / "pyproject.toml", False)]
    for path, required in candidates:
        if not path.exists():
            if required:
                raise ConfigError("--config", f"{path} does not exist")
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(path), f"cannot parse: {exc}") from None
        if path.name == "pyproject.toml" and not explicit:
            section = data.get("tool", {}).get("chmigrate")
            if section is None:
                continue
            return dict(section), path
        return dict(data.get("tool", {}).get("chmigrate", data)), path
    return {}, None
