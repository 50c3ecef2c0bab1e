"""Export a run's film to an editor: one timeline model (``timeline``), its media packaged
beside it (``media``), and one writer per format. What a format cannot carry is returned as a
note for the user, never dropped in silence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from director.memory.runs import RunPaths
from director.tools.export.timeline import Timeline

Writer = Callable[[Timeline, Path], tuple[Path, list[str]]]


def _writers() -> dict[str, Writer]:
    from director.tools.export import jianying, mlt, otio_formats

    return {
        "otio": otio_formats.write_otio,
        "fcpxml": otio_formats.write_fcpxml,
        "xml": otio_formats.write_fcp7,
        "edl": otio_formats.write_edl,
        "kdenlive": mlt.write_mlt,
        "jianying": jianying.write_draft,
    }


FORMATS = ("otio", "fcpxml", "xml", "edl", "kdenlive", "jianying")
DESCRIBED = {
    "otio": "OpenTimelineIO (.otio): Resolve, Kdenlive 25.04+, any OTIO tool",
    "fcpxml": "FCPXML (.fcpxml): Final Cut Pro, DaVinci Resolve",
    "xml": "Final Cut Pro 7 XML (.xml): Premiere Pro, DaVinci Resolve",
    "edl": "CMX 3600 EDL (.edl): any editor, video track only",
    "kdenlive": "MLT XML (.mlt): Shotcut, Kdenlive's engine, melt",
    "jianying": "JianYing / CapCut draft folder (draft_content.json)",
}


def music_note(fmt: str) -> str:
    from director.tools.assemble.film import MUSIC_FADE_IN_S, MUSIC_FADE_OUT_S, MUSIC_VOLUME

    return (
        f"{fmt}: the music's level and fades are not set: the film plays it at "
        f"{MUSIC_VOLUME:.0%} with a {MUSIC_FADE_IN_S:g} s fade-in and a {MUSIC_FADE_OUT_S:g} s "
        "fade-out; set them in the editor."
    )


def voice_notes(tl: Timeline, fmt: str) -> list[str]:
    """What an editor should know of the voice tracks: the film's mix is not carried, and a
    scratch voice is for timing only."""
    if not tl.voices:
        return []
    notes = []
    if fmt != "edl":
        tracks = len(tl.voice_tracks())
        ducked = "ducks the music under them and " if tl.music is not None else ""
        notes.append(
            f"{fmt}: {len(tl.voices)} voice lines on {tracks} audio track(s), one clip per line "
            f"at its start; the film {ducked}normalises the mix to its loudness target, which "
            "the timeline leaves to the editor."
        )
    if any(v.scratch for v in tl.voices):
        notes.append(
            "the voices are a scratch track (offline speech synthesis), for timing only: replace "
            "them with recorded or hosted voices."
        )
    return notes


@dataclass
class ExportResult:
    timeline_file: Path
    folder: Path
    timeline: Timeline
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_run(paths: RunPaths, fmt: str, out_dir: Path) -> ExportResult:
    """Write RUN's film as ``fmt`` into ``out_dir`` with its media; raises InputError for a run
    that has no film yet or an ``out_dir`` that is a file."""
    from director.files import read_json_object
    from director.memory.runs import RESTORE
    from director.tools.assemble.fonts import find_font
    from director.tools.export.media import package, prepare_folder, write_sidecars
    from director.tools.export.timeline import build_timeline

    writer = _writers()[fmt]
    tl = build_timeline(paths)
    folder = prepare_folder(out_dir)
    options = {}
    if paths.run_json.exists():
        options = read_json_object(paths.run_json, "The run's record", RESTORE).get("options", {})
    font = find_font(options.get("font"))  # the cards drawn in the film's own font
    notes = package(tl, folder, font)
    files = write_sidecars(tl, folder)
    path, said = writer(tl, folder)
    if tl.music is not None and fmt not in ("jianying", "edl"):
        said.append(music_note(fmt))
    said += voice_notes(tl, fmt)
    if tl.label:
        said.append(
            f"the film's visible label ({tl.label!r}) is media/label.png: put it over the "
            "picture, top right, as the film has it."
        )
    return ExportResult(path, folder, tl, [path, *files], notes + said)
