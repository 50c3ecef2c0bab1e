"""Options shared by several commands."""

from __future__ import annotations

import click

runs_dir_option = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder that holds the runs [env DIRECTOR_RUNS_DIR; default ./runs].",
)


def resolve_runs_dir(value: str | None):
    import os
    from pathlib import Path

    from director.agent.configuration import DEFAULTS, ENV_VARS, load_config_file

    chosen = value or os.environ.get(ENV_VARS["runs_dir"]) or load_config_file().get("runs_dir")
    return Path(chosen or DEFAULTS["runs_dir"]).expanduser()
