"""The one shape of a metric that could not be measured: ``{"not_measured": why}``, never a
zero that reads like a score."""

from __future__ import annotations

from statistics import mean
from typing import Any


def not_measured(reason: str) -> dict[str, str]:
    return {"not_measured": reason}


def is_measured(value: Any) -> bool:
    return not (isinstance(value, dict) and "not_measured" in value)


def reason(value: Any) -> str:
    return value["not_measured"] if not is_measured(value) else ""


def mean_or(values: list[float | None], why: str) -> float | dict[str, str]:
    """The mean of the values that were measured, or why none was."""
    found = [v for v in values if v is not None]
    return round(mean(found), 4) if found else not_measured(why)
