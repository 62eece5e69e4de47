"""`[tool.chmigrate.lint]`: rule severities, disabled rules, the target server version and the cluster.

```toml
[tool.chmigrate.lint]
disable = ["CH804"]
severity = { CH702 = "warning", CH101 = "warning" }
server_version = "24.8"
cluster = "main"   # Replicated* tables must then be created ON CLUSTER
```
Errors name the key (`[tool.chmigrate.lint] severity.CH999: unknown rule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chmigrate.errors import ConfigError
from chmigrate.lint import versions
from chmigrate.lint.rules import RULES, SEVERITIES, Severity

_KEYS = ("disable", "severity", "server_version", "cluster")
_WHERE = "[tool.chmigrate.lint]"


@dataclass(frozen=True)
class LintConfig:
    disabled: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    server_version: str | None = None
    cluster: str | None = None

    def severity_of(self, code: str) -> Severity:
        return self.severity.get(code, RULES[code].severity)


def _code(value: Any, key: str) -> str:
    code = str(value).upper()
    if code not in RULES:
        raise ConfigError(f"{_WHERE} {key}", f"unknown rule {value!r}", hint="`chmigrate lint --explain CODE` "
                          "describes a rule; the README lists them")
    return code


def load(raw: Mapping[str, Any], cluster: str | None = None) -> LintConfig:
    """`cluster`: the run's cluster setting, the default of the table's own `cluster` key."""
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{_WHERE} {unknown[0]}", "unknown key", hint="known keys: " + ", ".join(_KEYS))
    disable = raw.get("disable", [])
    if not isinstance(disable, list):
        raise ConfigError(f"{_WHERE} disable", "must be a list of rule codes")
    sev = raw.get("severity", {})
    if not isinstance(sev, dict):
        raise ConfigError(f"{_WHERE} severity", "must be a table of CODE = \"error\" | \"warning\" | \"notice\"")
    severity: dict[str, Severity] = {}
    for key, value in sev.items():
        code = _code(key, f"severity.{key}")
        if value not in SEVERITIES:
            raise ConfigError(f"{_WHERE} severity.{key}", f"{value!r} is not one of {', '.join(SEVERITIES)}")
        severity[code] = value
    version = raw.get("server_version")
    if version is not None:
        try:
            versions.parse(str(version))
        except ValueError as exc:
            raise ConfigError(f"{_WHERE} server_version", str(exc)) from None
    cluster = raw.get("cluster", cluster)
    return LintConfig(frozenset(_code(c, "disable") for c in disable), severity,
                      None if version is None else str(version), None if cluster is None else str(cluster))
