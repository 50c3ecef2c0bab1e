"""Every gate threshold a user can set, by name: its default, and which critic owns it.

Thresholds are configuration: the config file's ``[thresholds]`` table and ``director run
--threshold NAME=VALUE`` override the defaults, which live next to each critic's code with the
calibration behind them (docs/critics.md collects them).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from director.errors import ConfigError

# Critic name -> the module whose DEFAULTS it reads.
OWNERS = {
    "technical": "director.tools.critics.technical",
    "palette": "director.tools.critics.palette",
    "duplicate": "director.tools.critics.duplicate",
    "identity": "director.tools.critics.identity",
    "clip": "director.tools.critics.clip",
    "clipgate": "director.tools.critics.clipgate",
}

# Named here, not in a DEFAULTS table: its default is the face backend's own threshold.
IDENTITY = "identity"


@cache
def known() -> dict[str, tuple[str, float | None]]:
    """Threshold name -> (owning critic, default); None where the default depends on the
    backend that measures it."""
    found: dict[str, tuple[str, float | None]] = {IDENTITY: ("identity", None)}
    for owner, module in OWNERS.items():
        for name, default in importlib.import_module(module).DEFAULTS.items():
            found[name] = (owner, default)
    return found


def validate(values: dict[str, Any], where: str) -> dict[str, float]:
    """Known names with numeric values, or a ConfigError that lists the known names."""
    table = known()
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise ConfigError(
            f"Unknown thresholds in {where}: {', '.join(unknown)}.",
            f"Known thresholds: {', '.join(sorted(table))} (see docs/critics.md).",
        )
    checked = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"Threshold {name} in {where} is {value!r}, not a number.",
                f"Write it as a number, e.g. {name} = {_example(table[name][1])}.",
            )
        checked[name] = float(value)
    return checked


def for_critic(values: dict[str, float], owner: str) -> dict[str, float]:
    """The thresholds one critic takes as keyword arguments."""
    table = known()
    return {name: v for name, v in values.items() if table[name][0] == owner}


def parse_flags(flags: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``NAME=VALUE`` pairs from the command line."""
    values: dict[str, Any] = {}
    for flag in flags:
        name, _, value = flag.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--threshold {flag!r} is not NAME=NUMBER.",
                "Write it as e.g. --threshold min_sharpness=30.",
            ) from None
    return validate(values, "--threshold")


def _example(default: float | None) -> str:
    return f"{default:g}" if default is not None else "0.45"
