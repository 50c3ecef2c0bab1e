"""``director evaluate``: measure finished runs and write the report."""

from __future__ import annotations

from pathlib import Path

import click

from director.cli.options import (
    clip_model_option,
    clip_weights_option,
    insightface_root_option,
    resolve_runs_dir,
    runs_dir_option,
    threshold_option,
)


@click.command("evaluate")
@click.argument("run")
@click.option(
    "--against",
    "against",
    multiple=True,
    metavar="RUN2",
    help="Another run to put side by side with RUN; repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for evaluation.json, the report and its plots [default: RUN's folder].",
)
@runs_dir_option
@insightface_root_option
@clip_weights_option
@clip_model_option
@threshold_option
def evaluate_command(
    run: str,
    against: tuple[str, ...],
    out: str | None,
    runs_dir: str | None,
    insightface_root: str | None,
    clip_weights: str | None,
    clip_model: str | None,
    threshold: tuple[str, ...],
) -> None:
    """Measure RUN (a run id or a run folder): identity, prompt alignment, style, technical
    quality, effort and the generated share; write evaluation.json, evaluation.md,
    evaluation.html and plots. Written into RUN's folder, its workflow document is written
    again with the evaluation summary."""
    from director.agent.configuration import resolve_thresholds
    from director.cli.options import resolve_clip, resolve_insightface_root
    from director.evaluate.runs import evaluate_runs
    from director.memory.runs import resolve_run

    folder = resolve_runs_dir(runs_dir)
    paths = resolve_run(run, folder)
    others = [resolve_run(r, folder) for r in against]
    target = Path(out).expanduser() if out else paths.root
    weights, model = resolve_clip(clip_weights, clip_model)
    result = evaluate_runs(
        [paths, *others],
        target,
        insightface_root=resolve_insightface_root(insightface_root),
        clip_model=model,
        clip_weights=weights,
        thresholds=resolve_thresholds(threshold),
        progress=lambda line: click.echo(line, err=True),
    )
    for path in result.written:
        click.echo(str(path))
    if target.resolve() == paths.root.resolve():
        _rewrite_workflow(paths)


def _rewrite_workflow(paths) -> None:
    """The workflow document carries the summary of the evaluation just written."""
    from director.replay.evaluation import documenting
    from director.replay.workflow import write_workflow

    with documenting(paths.root):
        for path in write_workflow(paths, html=(paths.root / "workflow.html").exists()):
            click.echo(str(path))
