"""Every gate threshold a user can set, by name: its default, and which critic owns it.

Thresholds are configuration: the config file's ``[thresholds]`` table and ``director run
--threshold NAME=VALUE`` override the defaults, which live next to each critic's code with the
calibration behind them (docs/critics.md collects them). Each critic the registry holds declares
its own (``defaults``, see ``registered``); so does the clip gate, for the measures it takes on
whole clips.
"""

from __future__ import annotations

import math
from typing import Any

from director.errors import ConfigError, ToolMissing

CLIP_GATE = "clipgate"


def owners() -> dict[str, Any]:
    """Owner name -> the class that declares its thresholds: every registered critic, then the
    clip gate."""
    from director.tools.critics.clipgate import ClipGate
    from director.tools.critics.registered import critic_classes

    return {**critic_classes(), CLIP_GATE: ClipGate}


def known() -> dict[str, tuple[str, float | None]]:
    """Threshold name -> (owning critic, default); None where the default depends on the
    backend that measures it."""
    from director.tools.critics.registered import defaults_of

    found: dict[str, tuple[str, float | None]] = {}
    for owner, declared in owners().items():
        for name, default in defaults_of(declared).items():
            if name in found:
                raise ToolMissing(
                    f"The critics {found[name][0]!r} and {owner!r} both declare the threshold "
                    f"{name!r}.",
                    "Uninstall one of the packages that provide them, or ask its authors to "
                    "rename the threshold.",
                )
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
        if not math.isfinite(value):
            raise ConfigError(
                f"Threshold {name} in {where} is {value!r}, not a finite number.",
                f"Write it as a finite number, e.g. {name} = {_example(table[name][1])}.",
            )
        checked[name] = float(value)
    return checked


def for_critic(values: dict[str, float], owner: str) -> dict[str, float]:
    """The thresholds one critic takes as keyword arguments."""
    table = known()
    # a name no critic declares now (a plugin uninstalled since the run began) goes to none
    return {name: v for name, v in values.items() if table.get(name, ("",))[0] == owner}


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
