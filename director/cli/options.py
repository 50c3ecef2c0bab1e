"""Command-line flags built from the option table (``director.config.OPTIONS``), so each
option's help, environment variable and default are written once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from director.config import OPTIONS

# What click checks for an option's value before director.config does.
PATHS = {
    "runs_dir": click.Path(file_okay=False),
    "insightface_root": click.Path(file_okay=False),
    "clip_weights": click.Path(dir_okay=False),
    "font": click.Path(dir_okay=False),
    "music": click.Path(dir_okay=False),
}


def option(name: str, *decls: str, **extra: Any):
    """The ``--NAME`` flag of an option in the table: its type, metavar and help from there;
    no default, so that an unset flag leaves the environment and the config file their turn."""
    spec = OPTIONS[name]
    settings: dict[str, Any] = {
        "type": PATHS.get(name, spec.kind),
        "default": None,
        "help": spec.help_text(),
    }
    if spec.metavar:
        settings["metavar"] = spec.metavar
    return click.option(spec.switch, *decls, **{**settings, **extra})


runs_dir_option = option("runs_dir")
insightface_root_option = option("insightface_root")
clip_weights_option = option("clip_weights")
clip_model_option = option("clip_model")


def resolve_runs_dir(value: str | None) -> Path:
    from director.config import resolve_option

    return Path(resolve_option("runs_dir", value)).expanduser()


def resolve_insightface_root(value: str | None) -> str | None:
    """Flag, then environment, then config file; None leaves the backend's default."""
    from director.config import resolve_option

    chosen = resolve_option("insightface_root", value)
    return str(chosen) if chosen else None


def resolve_clip(weights: str | None, model: str | None) -> tuple[str | None, str | None]:
    """The CLIP weights and model: flag, then environment, then config file; None for the
    critic's defaults."""
    from director.config import load_config_file, resolve_option

    file = load_config_file()

    def pick(key: str, flag: str | None) -> str | None:
        chosen = resolve_option(key, flag, file)
        return str(chosen) if chosen else None

    return pick("clip_weights", weights), pick("clip_model", model)


threshold_option = click.option(
    "--threshold",
    "threshold",
    multiple=True,
    metavar="NAME=VALUE",
    help="Replace one gate threshold, e.g. min_sharpness=30; repeatable [default: the config "
    "file's [thresholds], then the calibrated defaults in docs/critics.md].",
)


def diffusers_options(command):
    """The diffusers settings that have a ``director run`` flag, built from the settings table
    (``director.tools.diffusers_local.SETTINGS``); the rest, and these too, come from
    DIRECTOR_DIFFUSERS_* variables or the config file's [diffusers] table."""
    from director.tools.diffusers_local import FLAGS, SETTINGS, help_text

    for name in reversed(FLAGS):
        spec = SETTINGS[name]
        if spec.kind is bool:
            flag = click.option(f"--{name}/--no-{name}", default=None, help=help_text(name))
        else:
            kind = {int: int}.get(spec.kind, str)
            flag = click.option(
                f"--{name}", type=kind, default=None, metavar=spec.metavar, help=help_text(name)
            )
        command = flag(command)
    return command
