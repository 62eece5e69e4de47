"""`${NAME}` substitution in migration statements.

Substitution happens per statement after splitting (a value can never split a
statement); the checksum is taken over the raw file. `$${NAME}` stands for a
literal `${NAME}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REF = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnknownVariable(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def substitute(sql: str, variables: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1):  # escaped: $${NAME}
            return "${" + m.group(2) + "}"
        name = m.group(2)
        if name not in variables:
            raise UnknownVariable(name)
        return variables[name]

    return _REF.sub(repl, sql)


def references(sql: str) -> list[str]:
    return [m.group(2) for m in _REF.finditer(sql) if not m.group(1)]
