"""``director render``: a finished run's film rendered again as a clean master for an editor
or a platform."""

from __future__ import annotations

from pathlib import Path

import click

from director.cli.options import resolve_runs_dir, runs_dir_option


@click.command("render")
@click.argument("run")
@click.option(
    "--clean",
    is_flag=True,
    help="Leave out the storyboard caption band and the burned-in subtitles (required: the "
    "clean master is what render makes).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help="The master's file (.mp4, .mov or .m4v), or a folder to write film-clean.mp4 into. "
    "Default: RUN/film-clean.mp4.",
)
@runs_dir_option
def render_command(run: str, clean: bool, out: str | None, runs_dir: str | None) -> None:
    """Render RUN's clean master: the film's accepted clips, cards, transitions, label and
    mixed sound, without the previz caption band (cut off each clip, the picture scaled to
    fill the frame) and without burned-in subtitles, which are written beside it as .srt and
    .vtt and carried inside it as a soft subtitle track in the film's language. Same length,
    frame rate, codec and sound as the film. RUN: a run id or a run folder.
    """
    from director.agent.progress import RichProgress
    from director.memory.runs import resolve_run
    from director.tools.export.master import clean_master

    if not clean:
        raise click.UsageError("director render makes the clean master only: pass --clean")
    paths = resolve_run(run, resolve_runs_dir(runs_dir))
    progress = RichProgress()
    seconds = _film_seconds(paths)
    try:
        result = clean_master(
            paths,
            Path(out) if out else None,
            on_progress=lambda done: progress.encoding(done, seconds),
        )
    finally:
        progress.close()
    click.echo(str(result.master))
    subtitles = ", ".join(str(p) for p in (result.srt, result.vtt) if p) or "none (no lines)"
    click.echo(f"  {result.duration_s:.3f} s; subtitles: {subtitles}")


def _film_seconds(paths) -> float:
    from director.errors import DirectorError
    from director.tools.assemble.probe import probe

    try:
        return probe(paths.film).duration_s if paths.film.is_file() else 0.0
    except DirectorError:
        return 0.0
