"""``director replay`` and ``director runs``: the record of runs, from their logs."""

from __future__ import annotations

import json

import click

from director.cli.options import resolve_runs_dir, runs_dir_option


@click.command("replay")
@click.argument("run")
@click.option(
    "--html",
    is_flag=True,
    help="Also write workflow.html, one self-contained page with thumbnails.",
)
@click.option(
    "--doc-lang",
    type=click.Choice(["en", "zh"]),
    default=None,
    help="The document's language [default: the run's --doc-lang, else the film's language].",
)
@runs_dir_option
def replay_command(run: str, html: bool, doc_lang: str | None, runs_dir: str | None) -> None:
    """Write RUN's workflow document from its event log (RUN: a run id or a run folder)."""
    from director.memory.runs import resolve_run
    from director.replay.workflow import write_workflow

    paths = resolve_run(run, resolve_runs_dir(runs_dir))
    for path in write_workflow(paths, html=html, lang=doc_lang):
        click.echo(str(path))


@click.command("runs")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def runs_command(runs_dir: str | None, as_json: bool) -> None:
    """List runs with status, duration and attempts, newest first."""
    from director.memory.runs import list_runs

    folder = resolve_runs_dir(runs_dir)
    runs = list_runs(folder)
    if as_json:
        click.echo(json.dumps([_row(r) for r in runs], ensure_ascii=False, indent=2))
        return
    if not runs:
        click.echo(f"No runs in {folder}.", err=True)
        return
    _print_table(runs)


def _row(r) -> dict:
    return {
        "run_id": r.run_id,
        "status": r.status,
        "started": r.started,
        "seconds": r.seconds,
        "shots": r.shots,
        "attempts": r.attempts,
        "rerolls": r.rerolls,
        "logline": r.logline,
        "path": str(r.path),
    }


def _print_table(runs) -> None:
    """A table when the terminal is wide enough to show every run id whole (the id is what
    every other command needs), else one block per run; the logline gives way first."""
    from rich.console import Console
    from rich.table import Column, Table

    console = Console()
    rows = [[r.run_id, *_cells(r)] for r in runs]
    heads = ["run", "status", "started", "time", "shots", "attempts", "rerolls"]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    if sum(widths) + 3 * len(widths) + 30 > console.width:
        for r, row in zip(runs, rows, strict=True):
            click.echo(r.run_id)
            click.echo(f"  {' | '.join(row[1:])} | {r.logline}")
        return
    table = Table(
        *(Column(h, no_wrap=True, min_width=w) for h, w in zip(heads, widths, strict=True)),
        Column("logline", no_wrap=True, overflow="ellipsis", ratio=1),
    )
    for r, row in zip(runs, rows, strict=True):
        table.add_row(*row, r.logline)
    console.print(table)


def _cells(r) -> list[str]:
    seconds = f"{r.seconds:.0f} s" if r.seconds is not None else "-"
    return [r.status, r.started[:19], seconds, str(r.shots), str(r.attempts), str(r.rerolls)]
