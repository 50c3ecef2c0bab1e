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


insightface_root_option = click.option(
    "--insightface-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder whose models/<pack> holds an insightface model pack; with a pack there, "
    "identity uses insightface instead of dlib [env DIRECTOR_INSIGHTFACE_ROOT; default "
    "~/.insightface].",
)


def resolve_insightface_root(value: str | None) -> str | None:
    """Flag, then environment, then config file; None leaves the backend's default."""
    import os

    from director.agent.configuration import ENV_VARS, load_config_file

    env = os.environ.get(ENV_VARS["insightface_root"])
    chosen = value or env or load_config_file().get("insightface_root")
    return str(chosen) if chosen else None


clip_weights_option = click.option(
    "--clip-weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="open_clip weights file for the prompt and CLIP style checks [env "
    "DIRECTOR_CLIP_WEIGHTS; default: the model's weights in the Hugging Face cache or "
    "~/.cache/clip, never downloaded].",
)
clip_model_option = click.option(
    "--clip-model",
    default=None,
    help="open_clip architecture of those weights: a name, hf-hub:ORG/REPO from the Hugging "
    "Face cache, or a .json model config [env DIRECTOR_CLIP_MODEL; default ViT-B-32-quickgelu].",
)


def resolve_clip(weights: str | None, model: str | None) -> tuple[str | None, str | None]:
    """The CLIP weights and model: flag, then environment, then config file; None for the
    critic's defaults."""
    import os

    from director.agent.configuration import ENV_VARS, load_config_file

    file_values = load_config_file()

    def pick(key: str, flag: str | None) -> str | None:
        chosen = flag or os.environ.get(ENV_VARS[key]) or file_values.get(key)
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
