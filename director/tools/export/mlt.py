"""MLT XML: the engine of Kdenlive and Shotcut, rendered by ``melt`` on any machine.

Written by director rather than through OTIO's Kdenlive adapter, which is deprecated by its
authors and fixes every project to 1080p. The playlist mirrors the film's assembly: each part's
body as an entry, and each transition as a small tractor of its own, the outgoing clip's tail
handle on one track and the incoming part's first frames on the other, blended by MLT's
``luma`` dissolve, so the render lasts the film's frames exactly and cuts where the film cuts.
Each clip's record rides along as ``director:`` properties on its producer (MLT keeps
properties it does not know); beat markers are written as Kdenlive guides. The voice lines
sit on audio tracks of their own, one per speaker, each line an entry at the frame the film
speaks it; every audio track is mixed into the first track's sound.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from math import gcd
from pathlib import Path

from director.tools.export.timeline import Item, Timeline, Voice

_COLORS = 9  # Kdenlive's guide categories: 0..8


def write_mlt(tl: Timeline, out_dir: Path) -> tuple[Path, list[str]]:
    root = ET.Element(
        "mlt", {"LC_NUMERIC": "C", "version": "7.0.0", "title": tl.title, "producer": "main"}
    )
    root.append(_profile(tl))
    for item in tl.items:
        root.append(_producer(item, tl))
    if tl.music is not None:
        root.append(_music_producer(tl))
    for voice in tl.voices:
        root.append(_voice_producer(voice))
    video = _video_playlist(tl, root)
    tracks = [video]
    for n, (name, voices) in enumerate(tl.voice_tracks(), start=1):
        tracks.append(_voice_playlist(f"A{n}", name, voices, root))
    if tl.music is not None:
        tracks.append(_music_playlist(tl, root, f"A{len(tracks)}"))
    root.append(_main_tractor(tl, tracks))
    path = out_dir / "film.mlt"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    from director.tools.export.otio_formats import write_otio

    write_otio(tl, out_dir)  # what Kdenlive 25.04 and later import natively
    notes = [
        "MLT: film.mlt opens in Shotcut and renders with melt; Kdenlive 25.04 or later imports "
        "film.otio, written beside it, as a project of its own.",
    ]
    if tl.subtitles:
        notes.append("MLT: no subtitle track; the subtitles are in film.srt beside it.")
    if any(i.transition == "fade-black" for i in tl.items):
        notes.append(
            "MLT: a fade through black is a dissolve with both pictures dimmed to black mid-way."
        )
    return path, notes


def _profile(tl: Timeline) -> ET.Element:
    d = gcd(tl.width, tl.height)
    return ET.Element(
        "profile",
        {
            "description": f"{tl.width}x{tl.height} {tl.fps} fps",
            "width": str(tl.width),
            "height": str(tl.height),
            "progressive": "1",
            "sample_aspect_num": "1",
            "sample_aspect_den": "1",
            "display_aspect_num": str(tl.width // d),
            "display_aspect_den": str(tl.height // d),
            "frame_rate_num": str(tl.fps),
            "frame_rate_den": "1",
            "colorspace": "709",
        },
    )


def _producer(item: Item, tl: Timeline) -> ET.Element:
    length = max(item.media_frames or 0, item.source_in + item.frames + item.transition_frames)
    producer = ET.Element("producer", {"id": _id(item), "in": "0", "out": str(length - 1)})
    _props(
        producer,
        {"resource": item.media, "mlt_service": "avformat-novalidate", "length": str(length)},
    )
    _props(producer, {"kdenlive:clipname": item.name, "director:kind": item.kind})
    if item.metadata:
        _props(
            producer,
            {
                "director:shot_id": item.metadata.get("shot_id", ""),
                "director:record": json.dumps(item.metadata, ensure_ascii=False),
            },
        )
    return producer


def _music_producer(tl: Timeline) -> ET.Element:
    length = tl.music.media_frames or tl.frames
    producer = ET.Element("producer", {"id": "music", "in": "0", "out": str(length - 1)})
    _props(
        producer,
        {"resource": tl.music.media, "mlt_service": "avformat-novalidate", "length": str(length)},
    )
    return producer


def _voice_producer(voice: Voice) -> ET.Element:
    producer = ET.Element(
        "producer", {"id": Path(voice.media).stem, "in": "0", "out": str(voice.frames - 1)}
    )
    _props(
        producer,
        {
            "resource": voice.media,
            "mlt_service": "avformat-novalidate",
            "length": str(voice.frames),
            "kdenlive:clipname": voice.name,
            "director:kind": "voice",
            "director:shot_id": voice.metadata.get("shot_id", ""),
            "director:record": json.dumps(voice.metadata, ensure_ascii=False),
        },
    )
    return producer


def _voice_playlist(track: str, name: str, voices: list[Voice], root: ET.Element) -> ET.Element:
    """The lines at their frames, blanks between."""
    playlist = ET.Element("playlist", {"id": track})
    _props(playlist, {"kdenlive:track_name": f"{track} {name}", "kdenlive:audio_track": "1"})
    at = 0
    for voice in voices:
        if voice.record_in > at:
            ET.SubElement(playlist, "blank", {"length": str(voice.record_in - at)})
        _entry(playlist, Path(voice.media).stem, 0, voice.frames)
        at = voice.record_out
    root.append(playlist)
    return playlist


def _video_playlist(tl: Timeline, root: ET.Element) -> ET.Element:
    """Bodies and transition tractors in film order; each body starts after the frames the
    previous transition already showed."""
    playlist = ET.Element("playlist", {"id": "V1"})
    _props(playlist, {"kdenlive:track_name": "V1"})
    head = 0  # frames of this part already shown inside the previous transition
    for i, item in enumerate(tl.items):
        start = item.source_in + head
        end = item.source_in + item.frames
        if end > start:
            _entry(playlist, _id(item), start, end)
        head = item.transition_frames
        if head:
            root.append(_mix(root, i, item, tl.items[i + 1]))
            _entry(playlist, f"mix{i}", 0, head)
    root.append(playlist)
    return playlist


def _mix(root: ET.Element, index: int, before: Item, after: Item) -> ET.Element:
    """A transition as its own two-track tractor; its tracks' playlists are written first,
    since MLT reads a reference only to what it has already read."""
    frames = before.transition_frames
    out = before.source_in + before.frames
    dim = before.transition == "fade-black"
    sides = ((before, out, "a"), (after, after.source_in, "b"))
    for item, start, side in sides:
        playlist = _clip_playlist(item, start, frames, dim=dim, rising=item is after)
        playlist.set("id", f"mix{index}{side}")
        root.append(playlist)
    tractor = ET.Element("tractor", {"id": f"mix{index}", "in": "0", "out": str(frames - 1)})
    for side in "ab":
        ET.SubElement(tractor, "track", {"producer": f"mix{index}{side}"})
    luma = ET.SubElement(tractor, "transition", {"in": "0", "out": str(frames - 1)})
    _props(luma, {"mlt_service": "luma", "a_track": "0", "b_track": "1", "kdenlive_id": "dissolve"})
    _props(tractor, {"director:transition": before.transition})
    return tractor


def _clip_playlist(item: Item, start: int, frames: int, *, dim: bool, rising: bool) -> ET.Element:
    playlist = ET.Element("playlist")
    entry = _entry(playlist, _id(item), start, start + frames)
    if dim:  # through black: the outgoing picture darkens, the incoming one brightens
        # Keyframes count the producer's frames, not the entry's: they start at its in point.
        # The outgoing picture is black by the middle, the incoming one rises from there.
        first, mid, last = start, start + frames // 2, start + frames - 1
        level = f"{first}=0;{mid}=0;{last}=1" if rising else f"{first}=1;{mid}=0;{last}=0"
        brightness = ET.SubElement(entry, "filter")
        _props(brightness, {"mlt_service": "brightness", "level": level})
    return playlist


def _music_playlist(tl: Timeline, root: ET.Element, track: str = "A1") -> ET.Element:
    playlist = ET.Element("playlist", {"id": track})
    _props(playlist, {"kdenlive:track_name": f"{track} music", "kdenlive:audio_track": "1"})
    for _, frames in tl.music.pieces():
        _entry(playlist, "music", 0, frames)
    root.append(playlist)
    return playlist


def _main_tractor(tl: Timeline, tracks: list[ET.Element]) -> ET.Element:
    tractor = ET.Element("tractor", {"id": "main", "in": "0", "out": str(tl.frames - 1)})
    _props(tractor, {"director:run_id": tl.run_id, "kdenlive:docproperties.guides": _guides(tl)})
    for i, playlist in enumerate(tracks):
        attrs = {"producer": playlist.get("id")}
        if i:
            attrs["hide"] = "video"
        ET.SubElement(tractor, "track", attrs)
    for i in range(1, len(tracks)):  # every audio track summed into the first track's sound
        mix = ET.SubElement(tractor, "transition")
        _props(
            mix,
            {
                "mlt_service": "mix",
                "a_track": "0",
                "b_track": str(i),
                "always_active": "1",
                "sum": "1",
            },
        )
    return tractor


def _guides(tl: Timeline) -> str:
    return json.dumps(
        [
            {"comment": m.name, "pos": m.frame, "type": i % _COLORS}
            for i, m in enumerate(tl.markers)
        ],
        ensure_ascii=False,
    )


def _entry(playlist: ET.Element, producer: str, start: int, end: int) -> ET.Element:
    """An entry of frames [start, end): MLT's ``out`` is inclusive."""
    return ET.SubElement(
        playlist, "entry", {"producer": producer, "in": str(start), "out": str(end - 1)}
    )


def _props(element: ET.Element, values: dict[str, str]) -> None:
    for name, value in values.items():
        ET.SubElement(element, "property", {"name": name}).text = value


def _id(item: Item) -> str:
    return Path(item.media).stem
