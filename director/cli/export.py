"""``director export``: hand a run's film to an editor as a timeline with its media."""

from __future__ import annotations

from pathlib import Path

import click

from director.cli.options import resolve_runs_dir, runs_dir_option

FORMATS = ("otio", "fcpxml", "xml", "edl", "kdenlive", "jianying")  # director.tools.export.FORMATS


@click.command("export")
@click.argument("run")
@click.option(
    "--to",
    "fmt",
    required=True,
    type=click.Choice(FORMATS),
    help="otio (OpenTimelineIO), fcpxml (Final Cut Pro), xml (Final Cut Pro 7 XML: Premiere, "
    "Resolve), edl (CMX 3600), kdenlive (MLT XML: Kdenlive's and Shotcut's engine), jianying "
    "(a JianYing/CapCut draft folder).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help="Folder to write into (made if missing). Default: RUN/export/FORMAT.",
)
@runs_dir_option
def export_command(run: str, fmt: str, out: str | None, runs_dir: str | None) -> None:
    """Export RUN's film as a timeline for an editor, with its media copied beside it.

    One video track of the title card, each shot's accepted clip at its planned in and out
    points with the planned transitions, and the end card; the voice lines (a track per
    speaker, one clip per line at its start) and the music track; beat markers;
    subtitles; every clip's record (shot, prompt slots, seed, model, scores). What the format
    cannot carry is said in the output. RUN: a run id or a run folder.
    """
    from director.memory.runs import resolve_run
    from director.tools.export import export_run

    paths = resolve_run(run, resolve_runs_dir(runs_dir))
    folder = Path(out).expanduser() if out else paths.root / "export" / fmt
    result = export_run(paths, fmt, folder)
    tl = result.timeline
    click.echo(f"{result.timeline_file}")
    click.echo(
        f"  {len(tl.shots)} shots, {len(tl.items) - len(tl.shots)} cards, {tl.frames} frames "
        f"at {tl.fps} fps; {len(tl.markers)} beat markers; {len(tl.subtitles)} subtitles; "
        f"voice lines: {len(tl.voices)}; music: {'yes' if tl.music else 'none'}; media in "
        f"{result.folder / 'media'}"
    )
    for note in result.notes:
        click.echo(f"  note: {note}")
