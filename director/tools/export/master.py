"""The clean master: a finished run's film rendered again for an editor or a platform, without
the storyboard caption band and without burned-in subtitles, from the same accepted clips,
cards and transitions as the film (read through the export's timeline) and with the film's own
mixed sound. The subtitles go beside it as ``.srt`` and ``.vtt`` and inside it as a soft track.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from director.errors import InputError
from director.memory.runs import RunPaths
from director.tools.assemble.film import CleanResult

SUFFIXES = (".mp4", ".mov", ".m4v")
DEFAULT_NAME = "film-clean.mp4"


def out_file(paths: RunPaths, out: Path | None) -> Path:
    """Where the master goes: ``--out`` (a file, or a folder to put film-clean.mp4 in), else
    beside the film; its folder is made, and one that cannot be is a one-line input error."""
    target = Path(out).expanduser() if out is not None else paths.root / DEFAULT_NAME
    if target.is_dir():
        target = target / DEFAULT_NAME
    if target.suffix.lower() not in SUFFIXES:
        raise InputError(
            f"--out {target} is not a video file name.",
            f"Name a file ending in {', '.join(SUFFIXES)} (or a folder to write into).",
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe_file = target.parent / f".{target.name}.write-test"
        probe_file.touch()
        probe_file.unlink()
    except OSError as exc:
        raise InputError(
            f"Cannot write the clean master to {target} ({exc.strerror or exc}).",
            "Pass --out with a file in a folder you can write to.",
        ) from exc
    return target.absolute()


def caption_share(record: dict[str, Any]) -> float:
    """The share of a shot's clip that is caption band: the accepted keyframe's band (drawn by
    the previz backend) over its height; a frame without one (a model's, a human's) has none."""
    keyframe = record.get("keyframe") or {}
    params = keyframe.get("params") or {}
    band, height = params.get("caption_px") or 0, params.get("height") or 0
    return band / height if band > 0 and height > band else 0.0


def clean_master(
    paths: RunPaths,
    out: Path | None = None,
    *,
    on_progress: Callable[[float], None] | None = None,
) -> CleanResult:
    """Render RUN's clean master; raises InputError for a run with no film yet, a clip missing
    from disk, or an ``out`` that cannot be written."""
    from director.files import read_json_object
    from director.memory.runs import RESTORE
    from director.tools.assemble.film import EncodeSettings, assemble_clean
    from director.tools.assemble.fonts import find_font
    from director.tools.export.timeline import build_timeline

    tl = build_timeline(paths, command="render")
    target = out_file(paths, out)
    if target == paths.film.absolute():
        raise InputError(
            f"--out {target} is the film itself.", "Name another file for the clean master."
        )
    options = {}
    if paths.run_json.exists():
        options = read_json_object(paths.run_json, "The run's record", RESTORE).get("options", {})
    clips = {item.metadata["shot_id"]: item.source for item in tl.shots}
    bands = {item.metadata["shot_id"]: caption_share(item.metadata) for item in tl.shots}
    return assemble_clean(
        tl.plan,
        clips,
        paths.film,
        target,
        bands=bands,
        font=find_font(options.get("font")),
        encode=EncodeSettings(fps=tl.fps),
        on_progress=on_progress,
    )
