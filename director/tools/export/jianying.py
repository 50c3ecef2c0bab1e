"""A JianYing (剪映) / CapCut draft folder, through pyJianYingDraft: the video track of cards and
clips at the film's times in microseconds, the planned transitions (叠化 for a crossfade, 闪黑
for a fade through black), the subtitles as a text track, the voice lines on audio tracks (one
per speaker, each line a segment at its start) and the music on an audio track.

The export folder is the draft: copy it into JianYing's drafts folder and it opens there.
JianYing keeps absolute media paths; a moved draft asks to relink, and its media are in the
draft's own ``media/`` folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from director.errors import ToolMissing
from director.tools.export.otio_formats import INSTALL
from director.tools.export.timeline import Item, Timeline, Voice

TRANSITIONS = {"crossfade": "叠化", "fade-black": "闪黑"}


def microseconds(frames: int, fps: int) -> int:
    """A frame's time in JianYing's unit."""
    return round(frames * 1_000_000 / fps)


def write_draft(tl: Timeline, out_dir: Path) -> tuple[Path, list[str]]:
    jy = _module()
    script = jy.ScriptFile(tl.width, tl.height, tl.fps, True)
    shutil.copy(
        jy.draft_folder.assets.get_asset_path("DRAFT_META_TEMPLATE"),
        out_dir / "draft_meta_info.json",
    )
    script.append_track(jy.TrackSpec(jy.TrackType.video, "video"))
    for item in tl.items:
        script.add_segment(_segment(jy, item, tl, out_dir), "video")
    for name, voices in tl.voice_tracks():
        _voices(jy, script, name, voices, tl, out_dir)
    if tl.music is not None:
        _music(jy, script, tl, out_dir)
    if tl.subtitles:
        script.import_srt(str(out_dir / "film.srt"), "subtitles")
    path = out_dir / "draft_content.json"
    script.dump(str(path))
    notes = [
        "JianYing: no markers; the beats are listed in shots.json.",
        "JianYing: per-clip records (prompt slots, seed, model, scores) are in shots.json.",
        "JianYing: copy this folder into JianYing's drafts folder; its media paths are absolute, "
        "so a moved draft asks to relink (the media are in its media/ folder).",
    ]
    if any(i.transition_frames for i in tl.items):
        notes.append("JianYing: transitions are JianYing's own (叠化, 闪黑), centred on the cut.")
    return path, notes


def _module():
    try:
        import pyJianYingDraft
        import pyJianYingDraft.draft_folder
    except ImportError as exc:
        raise ToolMissing("pyJianYingDraft is not installed.", INSTALL) from exc
    return pyJianYingDraft


def _segment(jy, item: Item, tl: Timeline, out_dir: Path):
    material = jy.VideoMaterial(str(out_dir / item.media), material_name=item.name)
    segment = jy.VideoSegment(
        material,
        jy.Timerange(microseconds(item.record_in, tl.fps), microseconds(item.frames, tl.fps)),
        source_timerange=jy.Timerange(
            microseconds(item.source_in, tl.fps), microseconds(item.frames, tl.fps)
        ),
    )
    if item.transition_frames:
        kind = getattr(jy.TransitionType, TRANSITIONS[item.transition])
        segment.add_transition(kind, duration=microseconds(item.transition_frames, tl.fps))
    return segment


def _voices(jy, script, name: str, voices: list[Voice], tl: Timeline, out_dir: Path) -> None:
    """One audio track of a speaker's lines, each at the microsecond the film speaks it."""
    script.append_track(jy.TrackSpec(jy.TrackType.audio, name))
    for voice in voices:
        material = jy.AudioMaterial(str(out_dir / voice.media), material_name=voice.name)
        span = material.duration  # the line whole: JianYing times are finer than frames
        target = jy.Timerange(microseconds(voice.record_in, tl.fps), span)
        segment = jy.AudioSegment(material, target, source_timerange=jy.Timerange(0, span))
        script.add_segment(segment, name)


def _music(jy, script, tl: Timeline, out_dir: Path) -> None:
    """The music looped to the film's length at the film's level, faded in and out as the
    film fades it."""
    from director.tools.assemble.film import MUSIC_FADE_IN_S, MUSIC_FADE_OUT_S, MUSIC_VOLUME

    script.append_track(jy.TrackSpec(jy.TrackType.audio, "music"))
    material = jy.AudioMaterial(str(out_dir / tl.music.media))
    pieces = tl.music.pieces()
    for n, (start, frames) in enumerate(pieces):
        span = microseconds(frames, tl.fps)
        source = jy.Timerange(0, min(span, material.duration))
        target = jy.Timerange(microseconds(start, tl.fps), source.duration)
        segment = jy.AudioSegment(material, target, source_timerange=source, volume=MUSIC_VOLUME)
        fade_in = round(MUSIC_FADE_IN_S * 1_000_000) if n == 0 else 0
        fade_out = round(MUSIC_FADE_OUT_S * 1_000_000) if n == len(pieces) - 1 else 0
        if fade_in or fade_out:
            segment.add_fade(min(fade_in, span // 2), min(fade_out, span // 2))
        script.add_segment(segment, "music")
