"""A run's options, resolved once: the option table of ``director.config`` with the checks
only a tool can make (the diffusers settings, the gate thresholds) composed on top.

The option table, the config file and ``RunOptions`` live in ``director.config``; the names
re-exported here keep the callers that import them from this module working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from director.config import (
    ConfigFile,
    RunOptions,
    Section,
    checked_approve,
    load_config_file,
    parse_size,
    resolve_option,
    resolve_options,
    validate_logline,
)
from director.errors import InputError

__all__ = [
    "RunOptions",
    "parse_size",
    "resolve",
    "resolve_option",
    "resolve_thresholds",
    "validate_logline",
]


def resolve(flags: dict[str, Any]) -> RunOptions:
    """Merge flags, environment, config file and defaults, then check: the config file is read
    once, and each table is handed to the part it configures."""
    file = load_config_file()
    values = resolve_options(flags, file)
    logline = validate_logline(flags.get("logline"))
    approve = checked_approve(flags)
    return RunOptions(
        **values,
        logline=logline,
        run_id=flags.get("run_id"),
        yes=approve == "auto",
        approve=approve,
        cast=list(flags.get("cast") or []),
        characters=list(flags.get("character") or []),
        style_refs=_style_refs(flags.get("style_ref") or []),
        thresholds=_thresholds(file.section("thresholds"), flags.get("threshold") or []),
        diffusers=_diffusers(str(values["image"]), str(values["video"]), flags, file),
    )


def _diffusers(image: str, video: str, flags: dict, file: ConfigFile) -> dict[str, Any]:
    """The diffusers settings when the run uses a diffusers backend, checked before any run
    folder exists; their flags are refused on a run that uses none."""
    from director.registry import split_spec
    from director.tools import diffusers_local

    given = {name: flags.get(name) for name in diffusers_local.FLAGS}
    if "diffusers" in (split_spec(image)[0], split_spec(video)[0]):
        return diffusers_local.resolve_settings(
            given, from_flags=True, section=file.section(diffusers_local.TABLE)
        )
    named = [f"--{name}" for name, value in given.items() if value is not None]
    if named:
        raise InputError(
            f"{', '.join(named)} set the diffusers backends, and this run uses none.",
            "Choose one with --image diffusers:/path/to/model (or --video), or drop the flag.",
        )
    return {}


def resolve_thresholds(flags: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Thresholds for commands other than run: the config file's table, then the flags."""
    return _thresholds(load_config_file().section("thresholds"), list(flags))


def _thresholds(table: Section, flags: list[str]) -> dict[str, float]:
    """The config file's [thresholds] table, with --threshold flags on top."""
    from director.tools.critics import thresholds

    from_file = thresholds.validate(dict(table.values), table.path)
    return {**from_file, **thresholds.parse_flags(flags)}


def _style_refs(paths: list[str]) -> list[str]:
    """Absolute paths of readable style references, so the run folder records where they were."""
    found = []
    for path in paths:
        image = Path(path).expanduser()
        if not image.is_file():
            raise InputError(
                f"Style reference {path} does not exist.", "Pass the path of a PNG or JPEG file."
            )
        found.append(str(image.resolve()))
    return found
