"""The only module that knows Rich. Commands render through `Terminal`.

On a TTY: Rich tables and progress lines, in colour unless NO_COLOR is set. Piped: plain lines, no colour.
`--quiet`: errors only; `--verbose`: every statement in full. Machine formats
(`--format json`): exactly one document on stdout; everything else on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO


class Terminal:
    def __init__(self, *, machine: bool = False, json: bool = False, stdout: TextIO | None = None,
                 stderr: TextIO | None = None, quiet: bool = False, verbose: bool = False):
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.machine = machine or json
        self.json = json  # stdout is one JSON document: the result, or the error when there is none
        self.documented = False
        self.errors: list[tuple[str, str | None]] = []  # (message, hint) as printed by error()
        self.environment: str | None = None  # the named environment (--env): every JSON document names it
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.rich = (not machine) and self.out.isatty()
        self._console: Any = None

    # -- plain text --------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        """A line of human output: stdout normally, stderr when stdout carries a machine document."""
        if self.quiet:
            return
        stream = self.err if self.machine else self.out
        if self.rich:
            self.console.print(text, highlight=False, markup=False)
        else:
            print(text, file=stream, flush=True)

    def info(self, text: str) -> None:
        """Progress and context: always stderr, so stdout stays clean for results."""
        if self.quiet:
            return
        print(text, file=self.err, flush=True)

    def error(self, text: str, hint: str | None = None) -> None:
        self.errors.append((text, hint))
        print(f"error: {text}", file=self.err, flush=True)
        if hint:
            print(f"hint: {hint}", file=self.err, flush=True)

    @property
    def interactive(self) -> bool:
        """A person can answer: stdin and stdout are both a terminal."""
        try:
            return sys.stdin.isatty() and self.out.isatty()
        except (AttributeError, ValueError):
            return False

    def ask(self, question: str) -> bool:
        """Ask y/N (even under --quiet: the answer decides); anything but y or yes is no."""
        stream = self.err if self.machine else self.out
        print(f"{question} [y/N] ", end="", file=stream, flush=True)
        answer = sys.stdin.readline()
        return answer.strip().lower() in ("y", "yes")

    def document(self, data: Any) -> None:
        self.documented = True
        if self.environment is not None and isinstance(data, dict):
            head = {k: data[k] for k in ("version",) if k in data}
            data = {**head, "environment": self.environment, **data}
        json.dump(data, self.out, indent=2, sort_keys=False, default=str)
        self.out.write("\n")
        self.out.flush()

    def raw(self, text: str) -> None:
        self.documented = True
        self.out.write(text if text.endswith("\n") or not text else text + "\n")
        self.out.flush()

    # -- tables ------------------------------------------------------------------------
    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False, no_color=bool(os.environ.get("NO_COLOR")))
        return self._console

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
              styles: Sequence[str | None] | None = None) -> None:
        if self.rich:
            from rich.table import Table

            t = Table(title=title, title_justify="left")
            for c in columns:
                t.add_column(c)
            for i, r in enumerate(rows):
                t.add_row(*r, style=(styles[i] if styles else None))
            self.console.print(t)
            return
        self.line(title)
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        self.line("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
        for r in rows:
            self.line("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


class PartitionProgress:
    """Progress of work done in named units (a backfill's partitions): on a terminal a Rich bar per unit
    (rows read, elapsed, estimate); otherwise one plain line as each unit starts and ends (stderr)."""

    def __init__(self, term: Terminal) -> None:
        self.term = term
        self._progress: Any = None
        self._task: Any = None
        if term.rich and not term.quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("rows read"), TimeElapsedColumn(), TimeRemainingColumn(),
                                      console=term.console, transient=False)
            self._progress.start()

    def start(self, name: str, total: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(name, total=max(total, 1))
        else:
            self.term.info(f"{name}: {total:,} source rows ...")

    def advance_to(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)

    def finish(self, line: str, total: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=max(total, 1))
            self._task = None
        else:
            self.term.info(line)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
