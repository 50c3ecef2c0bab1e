"""OpenTimelineIO: the timeline as an OTIO ``Timeline``, written as ``.otio`` and, through the
maintained adapters, as Final Cut Pro 7 XML (Premiere, Resolve), FCPXML (Final Cut Pro) and a
CMX 3600 EDL.

OTIO's model says a transition between two clips has an in offset (before the cut) and an out
offset (after it); the film's transitions start at the cut, so the in offset is zero and the
out offset the overlap. OTIO knows one transition kind, the dissolve: a fade through black is
written as a dissolve, with its planned kind in the metadata, and said in the output.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from director.errors import ToolMissing
from director.tools.export.timeline import Item, Timeline, Voice

INSTALL = "Install the export extra: pip install 'director[export]'."


def otio_module():
    try:
        import opentimelineio
    except ImportError as exc:
        raise ToolMissing("OpenTimelineIO is not installed.", INSTALL) from exc
    return opentimelineio


def to_otio(tl: Timeline):
    """The OTIO timeline: V1 (cards and clips with transitions), a track of voice lines per
    speaker, then the music, beat markers on the timeline's stack, the run's and each clip's
    records as ``director`` metadata."""
    otio = otio_module()
    timeline = otio.schema.Timeline(name=tl.title)
    timeline.global_start_time = _time(0, tl.fps)
    timeline.metadata["director"] = {
        **tl.metadata,
        "fps": tl.fps,
        "width": tl.width,
        "height": tl.height,
        "subtitles": "film.srt" if tl.subtitles else None,
        "label": tl.label,
        "label_image": "media/label.png" if tl.label else None,
    }
    timeline.tracks.append(_video_track(tl))
    for n, (name, voices) in enumerate(tl.voice_tracks(), start=1):
        timeline.tracks.append(_voice_track(f"A{n} {name}", voices, tl.fps))
    if tl.music is not None:
        timeline.tracks.append(_music_track(tl, len(tl.voice_tracks()) + 1))
    for marker in tl.markers:
        timeline.tracks.markers.append(
            otio.schema.Marker(
                name=marker.name,
                marked_range=_range(marker.frame, 1, tl.fps),
                color=otio.schema.MarkerColor.GREEN,
                metadata={"director": {"note": marker.note}},
                comment=marker.note,
            )
        )
    return timeline


def _video_track(tl: Timeline):
    otio = otio_module()
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for item in tl.items:
        track.append(_clip(item, tl.fps))
        if item.transition_frames:
            track.append(
                otio.schema.Transition(
                    name=item.transition,
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=_time(0, tl.fps),
                    out_offset=_time(item.transition_frames, tl.fps),
                    metadata={"director": {"transition": item.transition}},
                )
            )
    return track


def _clip(item: Item, fps: int):
    otio = otio_module()
    available = _range(0, item.media_frames, fps) if item.media_frames else None
    reference = otio.schema.ExternalReference(target_url=item.media, available_range=available)
    clip = otio.schema.Clip(
        name=item.name,
        media_reference=reference,
        source_range=_range(item.source_in, item.frames, fps),
    )
    clip.metadata["director"] = {"kind": item.kind, **copy.deepcopy(item.metadata)}
    return clip


def _voice_track(name: str, voices: list[Voice], fps: int):
    """Each line its own clip at the frame the film speaks it, gaps between."""
    otio = otio_module()
    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
    at = 0
    for voice in voices:
        if voice.record_in > at:
            track.append(otio.schema.Gap(source_range=_range(0, voice.record_in - at, fps)))
        reference = otio.schema.ExternalReference(
            target_url=voice.media, available_range=_range(0, voice.frames, fps)
        )
        clip = otio.schema.Clip(
            name=voice.name, media_reference=reference, source_range=_range(0, voice.frames, fps)
        )
        clip.metadata["director"] = copy.deepcopy(voice.metadata)
        track.append(clip)
        at = voice.record_out
    return track


def _music_track(tl: Timeline, number: int = 1):
    otio = otio_module()
    music = tl.music
    track = otio.schema.Track(name=f"A{number} music", kind=otio.schema.TrackKind.Audio)
    available = _range(0, music.media_frames, tl.fps) if music.media_frames else None
    for start, frames in music.pieces():
        reference = otio.schema.ExternalReference(target_url=music.media, available_range=available)
        clip = otio.schema.Clip(
            name=Path(music.media).name,
            media_reference=reference,
            source_range=_range(0, frames, tl.fps),
        )
        clip.metadata["director"] = {"kind": "music", "record_in": start}
        track.append(clip)
    return track


def _time(frames: int, fps: int):
    return otio_module().opentime.RationalTime(frames, fps)


def _range(start: int, frames: int, fps: int):
    return otio_module().opentime.TimeRange(_time(start, fps), _time(frames, fps))


# --- writers --------------------------------------------------------------------------------


def write_otio(tl: Timeline, out_dir: Path) -> tuple[Path, list[str]]:
    path = out_dir / "film.otio"
    otio_module().adapters.write_to_file(to_otio(tl), str(path), adapter_name="otio_json")
    return path, _subtitle_note(tl, "OTIO")


def write_fcp7(tl: Timeline, out_dir: Path) -> tuple[Path, list[str]]:
    """Final Cut Pro 7 XML (xmeml): Premiere Pro, DaVinci Resolve and Final Cut Pro 7 read it."""
    otio = otio_module()
    timeline = to_otio(tl)
    for transition in timeline.find_children(descended_from_type=otio.schema.Transition):
        # The film's transitions begin at the edit: FCP 7 calls that "start" alignment (the
        # adapter's default for no in offset, "start-black", means a fade up from black).
        transition.metadata["fcp_xml"] = {"alignment": "start"}
        transition.name = "Cross Dissolve"
    path = out_dir / "film.xml"
    _write(timeline, path, "fcp_xml")
    notes = _subtitle_note(tl, "FCP 7 XML") + _fade_black_note(tl, "FCP 7 XML")
    notes.append(
        "FCP 7 XML: per-clip records (prompt slots, seed, model, scores) are in shots.json."
    )
    return path, notes


def write_fcpxml(tl: Timeline, out_dir: Path) -> tuple[Path, list[str]]:
    """FCPXML for Final Cut Pro (10.x) and DaVinci Resolve."""
    timeline = _markers_on_clips(to_otio(tl))
    for clip in timeline.find_clips():
        # The adapter looks clips up by name in an XPath predicate, which a ' would end.
        clip.name = clip.name.replace("'", "\u2019")
    path = out_dir / "film.fcpxml"
    _write(timeline, path, "fcpx_xml")
    notes = _subtitle_note(tl, "FCPXML")
    if any(i.transition_frames for i in tl.items):
        notes.append(
            "FCPXML: the adapter writes no transitions; the cuts are where the film cuts, add the dissolves listed in shots.json."
        )
    notes.append("FCPXML: per-clip records (prompt slots, seed, model, scores) are in shots.json.")
    return path, notes


def write_edl(tl: Timeline, out_dir: Path) -> tuple[Path, list[str]]:
    """A CMX 3600 EDL: the video track only, each clip's file named in a comment."""
    otio = otio_module()
    timeline = _markers_on_clips(to_otio(tl))
    for track in [t for t in timeline.tracks if t.kind != otio.schema.TrackKind.Video]:
        timeline.tracks.remove(track)
    path = out_dir / "film.edl"
    _write(timeline, path, "cmx_3600", style="avid")
    left_out = [name for name, there in (("voice", tl.voices), ("music", tl.music)) if there]
    notes = [
        "EDL: one video track only"
        + (
            f"; the {' and '.join(left_out)} tracks are left out (media/ has their files)."
            if left_out
            else "."
        ),
        "EDL: no per-clip metadata; the records are in shots.json.",
        *_subtitle_note(tl, "EDL"),
        *_fade_black_note(tl, "EDL"),
    ]
    if tl.markers:
        notes.append("EDL: beat markers are written as LOC comments, which not every editor reads.")
    return path, notes


def _markers_on_clips(timeline: Any) -> Any:
    """The timeline's markers moved onto the clips they fall in, for the adapters that write
    only clip markers (FCPXML, EDL)."""
    otio = otio_module()
    for marker in list(timeline.tracks.markers):
        for clip in timeline.tracks[0].find_clips():
            where = clip.range_in_parent()
            if where.contains(marker.marked_range.start_time):
                offset = marker.marked_range.start_time - where.start_time
                moved = otio.schema.Marker(
                    name=marker.name,
                    marked_range=otio.opentime.TimeRange(
                        clip.source_range.start_time + offset, marker.marked_range.duration
                    ),
                    color=marker.color,
                    metadata=marker.metadata,
                    comment=marker.comment,
                )
                clip.markers.append(moved)
                break
    timeline.tracks.markers[:] = []
    return timeline


def _write(timeline: Any, path: Path, adapter: str, **kwargs: Any) -> None:
    otio_module().adapters.write_to_file(timeline, str(path), adapter_name=adapter, **kwargs)


def _subtitle_note(tl: Timeline, fmt: str) -> list[str]:
    if not tl.subtitles:
        return []
    return [
        f"{fmt}: no subtitle track; the subtitles are in film.srt, import it beside the timeline."
    ]


def _fade_black_note(tl: Timeline, fmt: str) -> list[str]:
    faded = [i.metadata.get("shot_id", i.name) for i in tl.items if i.transition == "fade-black"]
    if not faded:
        return []
    return [f"{fmt}: fades through black (after {', '.join(faded)}) are written as dissolves."]
