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
@runs_dir_option
def replay_command(run: str, html: bool, runs_dir: str | None) -> None:
    """Write RUN's workflow document from its event log (RUN: a run id or a run folder)."""
    from director.memory.runs import resolve_run
    from director.replay.workflow import write_workflow

    paths = resolve_run(run, resolve_runs_dir(runs_dir))
    for path in write_workflow(paths, html=html):
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
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "status", "started", "time", "shots", "attempts", "rerolls", "logline")
    for r in runs:
        seconds = f"{r.seconds:.0f} s" if r.seconds is not None else "-"
        table.add_row(
            r.run_id,
            r.status,
            r.started[:19],
            seconds,
            str(r.shots),
            str(r.attempts),
            str(r.rerolls),
            r.logline[:50],
        )
    Console().print(table)
