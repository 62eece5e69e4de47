"""Every doctor finding code has its sentence; durations parse and read as a person writes them."""

from __future__ import annotations

from typing import get_args

import pytest

from chmigrate.cli.wording import DOCTOR_TITLES, duration, finding_lines
from chmigrate.results import DOCTOR_CHECKS, Finding, FindingCode
from chmigrate.settings import parse_duration


@pytest.mark.parametrize("code", get_args(FindingCode))
def test_every_code_has_a_sentence(code: str) -> None:
    for status in ("pass", "warn", "fail", "skip"):
        text, step = finding_lines(Finding("pricing", status, code))  # type: ignore[arg-type]
        assert text and "\n" not in text and (step is None or "\n" not in step)


def test_every_check_has_a_title() -> None:
    assert set(DOCTOR_TITLES) == set(DOCTOR_CHECKS)


@pytest.mark.parametrize("text, seconds", [("48h", 172800), ("90m", 5400), ("7d", 604800), ("30", 30),
                                           ("1.5h", 5400), (" 2H ", 7200), (600, 600)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "0", "-1h", "h", "1w", True, "inf"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_duration_wording() -> None:
    assert [duration(s) for s in (20, 3600, 5400, 172800, 259200, 90)] == \
        ["20 s", "1 h", "90 min", "2 d", "3 d", "90 s"]
