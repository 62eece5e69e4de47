"""Which statements are harmless to run twice.

The executor records progress around every statement that is *not* harmless to
repeat, so that after a crash the next run knows exactly where to continue.
Statements that are harmless to repeat (`CREATE ... IF NOT EXISTS`,
`DROP ... IF EXISTS`, `ALTER ... MODIFY ...`) are simply rerun, which keeps
the happy path at statements + 2 requests per migration.
"""

from __future__ import annotations

import re

from chmigrate.migrations.splitter import strip_comments, top_level_commas

_WS = re.compile(r"\s+")
_IDENT = r"(?:`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|[A-Za-z_][A-Za-z0-9_$]*)"
_QUALIFIED = rf"{_IDENT}(?:\.{_IDENT})?"
_ON_CLUSTER = rf"(?:ON CLUSTER {_IDENT} )?"

_CREATE_IF_NOT_EXISTS = re.compile(
    r"^CREATE (?:TEMPORARY )?(?:TABLE|VIEW|MATERIALIZED VIEW|LIVE VIEW|WINDOW VIEW|DICTIONARY|DATABASE|"
    r"FUNCTION|ROLE|USER|QUOTA|ROW POLICY|POLICY|SETTINGS PROFILE|PROFILE|NAMED COLLECTION) IF NOT EXISTS ",
    re.I,
)
_CREATE_OR_REPLACE = re.compile(r"^(?:CREATE OR REPLACE|REPLACE) (?:TEMPORARY )?(?:TABLE|VIEW|DICTIONARY|FUNCTION) ",
                                re.I)
_DROP_IF_EXISTS = re.compile(
    r"^DROP (?:TEMPORARY )?(?:TABLE|VIEW|DICTIONARY|DATABASE|FUNCTION|ROLE|USER|QUOTA|ROW POLICY|POLICY|"
    r"SETTINGS PROFILE|PROFILE|NAMED COLLECTION) IF EXISTS ",
    re.I,
)
_READ_ONLY = re.compile(r"^(?:SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN|SET|USE|OPTIMIZE|SYSTEM FLUSH|"
                        r"SYSTEM SYNC|CHECK TABLE)\b", re.I)
_ALTER = re.compile(rf"^ALTER TABLE (?:IF EXISTS )?{_QUALIFIED} {_ON_CLUSTER}(?P<rest>.*)$", re.I | re.S)
_HARMLESS_ALTER = re.compile(
    r"^(?:ADD (?:COLUMN|INDEX|PROJECTION|CONSTRAINT|STATISTICS) IF NOT EXISTS|"
    r"DROP (?:COLUMN|INDEX|PROJECTION|CONSTRAINT|STATISTICS) IF EXISTS|"
    r"(?:MODIFY|COMMENT|CLEAR|MATERIALIZE) COLUMN|RENAME COLUMN IF EXISTS|MODIFY TTL|REMOVE TTL|"
    r"MODIFY SETTING|RESET SETTING|MODIFY COMMENT|MODIFY QUERY|MODIFY SQL SECURITY|MODIFY DEFINER|"
    r"MATERIALIZE (?:INDEX|PROJECTION|TTL|STATISTICS)|CLEAR (?:INDEX|PROJECTION))\b",
    re.I,
)


def normalized(sql: str) -> str:
    return _WS.sub(" ", strip_comments(sql)).strip()


def is_rerunnable(sql: str) -> bool:
    """True when running the statement a second time has the same effect as running it once."""
    text = normalized(sql)
    if _CREATE_IF_NOT_EXISTS.match(text) or _CREATE_OR_REPLACE.match(text) or _DROP_IF_EXISTS.match(text):
        return True
    if _READ_ONLY.match(text):
        return True
    m = _ALTER.match(text)
    if m:
        clauses = [c.strip() for c in top_level_commas(m["rest"])]
        return bool(clauses) and all(_HARMLESS_ALTER.match(c) for c in clauses)
    return False
