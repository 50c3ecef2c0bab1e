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
    from pathlib import Path

    from director.agent.configuration import resolve_option

    return Path(resolve_option("runs_dir", value)).expanduser()


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
    from director.agent.configuration import resolve_option

    chosen = resolve_option("insightface_root", value)
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
    from director.agent.configuration import resolve_option

    def pick(key: str, flag: str | None) -> str | None:
        chosen = resolve_option(key, flag)
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
    """The most used settings of the diffusers backends, as flags; the rest, and these too,
    come from DIRECTOR_DIFFUSERS_* variables or the config file's [diffusers] table."""
    where = "[env DIRECTOR_DIFFUSERS_{}; config [diffusers] {}; default {}]"
    flags = (
        click.option(
            "--device",
            default=None,
            metavar="DEVICE",
            help="Where the diffusers backends run: auto, cpu, cuda or cuda:N "
            + where.format("DEVICE", "device", "auto, the GPU when one is visible"),
        ),
        click.option(
            "--dtype",
            default=None,
            metavar="DTYPE",
            help="Weight precision of the diffusers backends: auto, float32, bfloat16, float16 "
            + where.format("DTYPE", "dtype", "auto: float32 on the CPU, bfloat16 on a GPU"),
        ),
        click.option(
            "--steps",
            type=int,
            default=None,
            help="Denoising steps of the diffusers backends "
            + where.format("STEPS", "steps", "the model's own"),
        ),
        click.option(
            "--offload/--no-offload",
            default=None,
            help="Keep the parts of a diffusers model not in use in RAM, for a model larger "
            "than the GPU's memory " + where.format("OFFLOAD", "offload", "off"),
        ),
    )
    for flag in reversed(flags):
        command = flag(command)
    return command
