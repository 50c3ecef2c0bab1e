"""``director critique``: run the critique gate on one image, outside any film."""

from __future__ import annotations

import json
from pathlib import Path

import click

from director.cli.options import (
    clip_model_option,
    clip_weights_option,
    insightface_root_option,
    threshold_option,
)


@click.command("critique")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--prompt", default="", help="The prompt the image was made from.")
@click.option("--cast", "cast_names", multiple=True, help="A cast member expected in the image.")
@click.option(
    "--ref",
    "refs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A reference photo of the person expected in the image; repeat for several.",
)
@click.option(
    "--style-ref",
    "style_refs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A style anchor image; repeat for several.",
)
@click.option("--size", default=None, help="The size the image was asked for, WIDTHxHEIGHT.")
@insightface_root_option
@clip_weights_option
@clip_model_option
@threshold_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def critique_command(
    image: str,
    prompt: str,
    cast_names: tuple[str, ...],
    refs: tuple[str, ...],
    style_refs: tuple[str, ...],
    size: str | None,
    insightface_root: str | None,
    clip_weights: str | None,
    clip_model: str | None,
    threshold: tuple[str, ...],
    as_json: bool,
) -> None:
    """Score IMAGE with every check that can run, each against its threshold.

    Exit code 0 whether the verdict is pass or fail; 2 for bad input.
    """
    from director.agent.configuration import resolve_thresholds
    from director.cli.options import resolve_clip, resolve_insightface_root
    from director.config import parse_size
    from director.errors import refuse_undecodable
    from director.tools.critics.standalone import critique_image

    if cast_names and refs:
        raise click.UsageError("Pass either --cast or --ref, not both.")
    refuse_undecodable(prompt, "The prompt")
    clip_weights, clip_model = resolve_clip(clip_weights, clip_model)
    result = critique_image(
        Path(image),
        prompt=prompt,
        cast=list(cast_names),
        refs=[Path(r) for r in refs],
        style_refs=[Path(s) for s in style_refs],
        size=parse_size(size) if size else None,
        insightface_root=resolve_insightface_root(insightface_root),
        clip_weights=clip_weights,
        clip_model=clip_model,
        thresholds=resolve_thresholds(threshold),
    )
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print(result)


def _print(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("check", "score", "threshold", "passed", "reason")
    for name, check in result["checks"].items():
        passed = {True: "yes", False: "NO", None: "not run"}[check["passed"]]
        table.add_row(name, _num(check["score"]), _num(check["threshold"]), passed, check["reason"])
    console = Console()
    console.print(table)
    console.print(f"verdict: [bold]{result['verdict']}[/bold]")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
