"""Lint results as text (grouped by file), JSON, GitHub annotations and SARIF 2.1.0 (no I/O here)."""

from __future__ import annotations

from typing import Any

from chmigrate.cli.render import JSON_VERSION
from chmigrate.lint.rules import RULES
from chmigrate.results import LintResult
from chmigrate.schema.render import github_annotation

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "notice": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "notice": "notice"}


def lint_text(result: LintResult) -> list[str]:
    lines: list[str] = []
    current = None
    for f in result.findings:
        if f.file != current:
            current = f.file
            lines.append(f.file)
        lines.append(f"  {f.line:>4}  {f.severity:<7}  {f.code}  {f.message}")
    lines.append(lint_summary(result))
    return lines


def lint_summary(result: LintResult) -> str:
    counts = ", ".join(f"{result.count(s)} {s}{'s' if result.count(s) != 1 else ''}"
                       for s in ("error", "warning", "notice"))
    version = f"; server version {result.server_version}" if result.server_version else \
        "; no server version (version rules skipped: --server-version)"
    hidden = f"; {result.suppressed} suppressed by lint-ignore" if result.suppressed else ""
    return f"lint: {len(result.files)} file(s), {counts}{hidden}{version}"


def lint_document(result: LintResult) -> dict[str, Any]:
    return {"version": JSON_VERSION, "files": list(result.files), "selection": result.selection,
            "server_version": result.server_version,
            "findings": [{"code": f.code, "severity": f.severity, "file": f.file, "line": f.line,
                          "object": f.object, "message": f.message} for f in result.findings]}


def lint_github(result: LintResult) -> str:
    return "".join(github_annotation(f.message, level=_GITHUB_LEVEL[f.severity], file=f.file, line=str(f.line),
                                     title=f"{f.code} {RULES[f.code].summary}") + "\n" for f in result.findings)


def lint_sarif(result: LintResult, version: str) -> dict[str, Any]:
    """One run; every rule with its help text; one result per finding, located on its file and line."""
    codes = sorted(RULES)
    rules = [{"id": c, "name": c, "shortDescription": {"text": RULES[c].summary},
              "fullDescription": {"text": RULES[c].doc}, "help": {"text": RULES[c].doc},
              "defaultConfiguration": {"level": _SARIF_LEVEL[RULES[c].severity]}} for c in codes]
    results = [{"ruleId": f.code, "ruleIndex": codes.index(f.code), "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                                                    "region": {"startLine": max(1, f.line)}}}]}
               for f in result.findings]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "chmigrate", "version": version, "rules": rules}},
        "results": results}]}
