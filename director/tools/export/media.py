"""The export folder's media: every file the timeline points at, placed under ``media/`` beside
the timeline file (hard-linked where the run and the export share a disk, else copied), so the
folder can be moved or sent as it is and an editor finds the media by relative path.

The title and end cards are drawn as the film draws them (same font, same fades) into short
video files, since not every format takes a still image on the video track.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from director.errors import InputError
from director.files import write_text_atomic
from director.tools.assemble.cards import end_card, label_image, save_png, title_card
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe, run_ffmpeg
from director.tools.assemble.film import CARD_FADE_S
from director.tools.assemble.fonts import FontInfo
from director.tools.assemble.probe import probe
from director.tools.assemble.subtitles import write_srt, write_vtt
from director.tools.export.timeline import Item, Timeline

MEDIA = "media"


def prepare_folder(out_dir: Path) -> Path:
    """The export folder, made if needed; a path that is a file is a one-line input error."""
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(
            f"--out {out_dir} is a file, not a folder.",
            "Pass a folder to write the export into (it is made if it does not exist).",
        )
    try:
        (out_dir / MEDIA).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"Cannot make the export folder {out_dir} ({exc.strerror or exc}).",
            "Pass --out with a folder you can write to.",
        ) from exc
    return out_dir.absolute()


def package(tl: Timeline, out_dir: Path, font: FontInfo) -> list[str]:
    """Place every file the timeline needs under ``out_dir``; returns notes for the user."""
    notes: list[str] = []
    media = out_dir / MEDIA
    for item in tl.items:
        if item.kind == "card":
            _draw_card(tl, item, media, font)
        else:
            _place_clip(tl, item, media, notes)
    if tl.music is not None:
        notes += _place_music(tl, media)
    notes += _place_voices(tl, media)
    if tl.label:
        save_png(label_image(tl.label, tl.height, font), media / "label.png")
    return notes


def write_sidecars(tl: Timeline, out_dir: Path) -> list[Path]:
    """``film.srt`` and ``film.vtt`` (the subtitles, as the clean master has them) and
    ``shots.json`` (every clip's record) beside the timeline: what a format cannot carry is
    still in the folder."""
    written = [out_dir / "shots.json"]
    records = [
        {
            "name": i.name,
            "media": i.media,
            "record_in": i.record_in,
            "frames": i.frames,
            **i.metadata,
        }
        for i in tl.items
    ]
    beats = [{"frame": m.frame, "name": m.name, "note": m.note} for m in tl.markers]
    transitions = [
        {
            "after": i.name,
            "kind": i.transition,
            "record_in": i.record_out,
            "frames": i.transition_frames,
        }
        for i in tl.items
        if i.transition_frames
    ]
    body = {
        "run_id": tl.run_id,
        "fps": tl.fps,
        "frames": tl.frames,
        "clips": records,
        "beats": beats,
        "transitions": transitions,
        "music": tl.music.media if tl.music else None,
        "voices": [
            {
                "name": v.name,
                "media": v.media,
                "record_in": v.record_in,
                "frames": v.frames,
                **v.metadata,
            }
            for v in tl.voices
        ],
    }
    write_text_atomic(written[0], json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    if tl.subtitles:
        written.append(write_srt(tl.subtitles, out_dir / "film.srt"))
        written.append(write_vtt(tl.subtitles, out_dir / "film.vtt"))
    return written


# --- cards, clips, music --------------------------------------------------------------------


def _draw_card(tl: Timeline, item: Item, media: Path, font: FontInfo) -> None:
    """A card as the film shows it: the still for its frames, fading as the film fades it."""
    name = "title" if item.source.name == "title" else "end"
    still = save_png(
        (title_card if name == "title" else end_card)(tl.plan, font), media / f"{name}.png"
    )
    fade = min(CARD_FADE_S, item.frames / tl.fps / 4)
    before = tl.items[tl.items.index(item) - 1] if name == "end" else None
    fades = (
        []
        if before is not None and before.transition != "cut"
        else [f"fade=t=in:st=0:d={fade:.3f}"]
    )
    fades.append(f"fade=t=out:st={item.frames / tl.fps - fade:.6f}:d={fade:.3f}")
    target = media / f"{name}.mp4"
    argv = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-loop", "1", "-framerate", str(tl.fps), "-i", str(still),
        "-vf", ",".join([f"scale={tl.width}:{tl.height}", "setsar=1", *fades, "format=yuv420p"]),
        "-frames:v", str(item.frames), "-r", str(tl.fps),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        str(target),
    ]  # fmt: skip
    run_ffmpeg(argv, step=f"{name} card", output=target)
    item.source, item.media, item.media_frames = target, f"{MEDIA}/{name}.mp4", item.frames


def _place_clip(tl: Timeline, item: Item, media: Path, notes: list[str]) -> None:
    shot_id = item.metadata["shot_id"]
    target = media / f"{shot_id}{item.source.suffix or '.mp4'}"
    link_or_copy(item.source, target)
    info = probe(target)
    item.media = f"{MEDIA}/{target.name}"
    item.media_frames = round(info.duration_s * tl.fps)
    needed = item.source_in + item.frames + item.transition_frames
    if item.media_frames < needed:
        notes.append(
            f"shot {shot_id}: its clip has {item.media_frames} frames where the film uses "
            f"{needed}; the film holds its last frame, an editor shows it shorter or asks to "
            "extend it."
        )


def _place_music(tl: Timeline, media: Path) -> list[str]:
    music = tl.music
    if not music.source.is_file():
        tl.music = None
        return [f"the film's music {music.source} is no longer there: no music track."]
    target = media / f"music{music.source.suffix.lower() or '.audio'}"
    link_or_copy(music.source, target)
    music.media = f"{MEDIA}/{target.name}"
    try:
        music.media_frames = max(1, round(probe(target).duration_s * tl.fps))
    except Exception:  # noqa: BLE001 - its length unknown, the track is one piece as long as the film
        music.media_frames = None
    return []


def _place_voices(tl: Timeline, media: Path) -> list[str]:
    """Each spoken line as its own file, ``media/voice_SHOT.wav``; a line whose file is gone
    is left off the timeline and named."""
    notes, kept = [], []
    for voice in tl.voices:
        if not voice.source.is_file():
            notes.append(f"the voice line of shot {voice.metadata['shot_id']} ({voice.source}) "
                         "is no longer there: left off the voice track.")  # fmt: skip
            continue
        target = media / f"voice_{voice.metadata['shot_id']}{voice.source.suffix or '.wav'}"
        link_or_copy(voice.source, target)
        voice.media = f"{MEDIA}/{target.name}"
        kept.append(voice)
    tl.voices = kept
    return notes


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link where possible (no space taken, the export stays movable), else a copy."""
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
