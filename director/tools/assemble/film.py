"""Assemble the film: title card, shots joined by their transitions, end card, burned-in
subtitles, the AI-generated label, container metadata and optional sound (voice lines and
music, mixed and normalised by ``mix``), in one ffmpeg pass after one pass measuring the sound.

The clean master (``assemble_clean``) is the same picture through the same command with two
switches turned: the storyboard caption band cut off each clip (the picture above it scaled to
fill the frame) and no subtitles burned in; they ride along as a soft track and as files, and
the film's own mixed sound is copied as it is.

Clips carry a tail handle as long as their outgoing transition (see ``clip_length``), so a
crossfade or fade through black overlaps into the handle and every shot keeps its planned time
on screen: the film lasts exactly ``plan.runtime_s``, to the frame.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import ffmpeg

from director.errors import AssemblyError
from director.records import Plan, Shot
from director.tools.assemble.cards import end_card, label_image, save_png, title_card
from director.tools.assemble.ffmpeg_bin import StepRecord, run_ffmpeg
from director.tools.assemble.fonts import FontInfo, find_font
from director.tools.assemble.mix import (  # noqa: F401 (the music's shape, read by export)
    MUSIC_FADE_IN_S,
    MUSIC_FADE_OUT_S,
    MUSIC_VOLUME,
    LoudnessTarget,
    Measured,
    PlacedLine,
    audio_graph,
    measure_and_write_stems,
    normalised,
)
from director.tools.assemble.probe import probe
from director.tools.assemble.subtitles import subtitle_events, timeline, write_srt, write_vtt

XFADE = {"crossfade": "fade", "fade-black": "fadeblack"}
CARD_FADE_S = 0.5
# libass lays out SRT text on a 288-line script and scales it to the frame, so these sizes are
# fractions of the frame height: text about 5.5% high, 5% up from the bottom (title-safe).
_ASS_LINES = 288
# Subtitles sit above the bottom 17% of the frame, clear of a storyboard caption band (14%),
# on a translucent box so they read over any picture.
SUBTITLE_SIZE, SUBTITLE_MARGIN = 0.055, 0.17
LABEL_MARGIN = 0.05
# Subtitle track languages (ISO 639-2) for the plan's languages.
TRACK_LANGUAGE = {"en": "eng", "zh": "zho"}


def clip_length(shot: Shot) -> float:
    """Seconds of clip a shot needs: its time on screen plus the outgoing transition's handle."""
    return shot.duration_s + (shot.transition_s if shot.transition != "cut" else 0.0)


@dataclass
class EncodeSettings:
    preset: str = "veryfast"
    crf: int = 20
    fps: int = 24


@dataclass
class FilmResult:
    film: Path
    srt: Path
    duration_s: float
    steps: list[StepRecord] = field(default_factory=list)
    loudness: Measured | None = None  # the sound as measured before normalisation
    stems: dict[str, Path] = field(default_factory=dict)  # "voice", "music" -> WAV


@dataclass
class CleanResult:
    master: Path
    srt: Path | None  # None when the film has no lines
    vtt: Path | None
    duration_s: float
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Picture:
    """What the film burns into its picture: the switches a clean master turns."""

    subtitles: bool = True  # the lines burned in
    # Shot id -> share of its clip's height at the bottom that is a storyboard caption band,
    # cut off (the picture above it scaled to fill the frame); none: the clips as they are.
    cut_bands: Mapping[str, float] = field(default_factory=dict)


@dataclass
class _Segment:
    stream: object
    onscreen: int  # frames on the film's timeline
    head: int  # first frames, blended with the previous segment's tail
    tail: int  # frames after ``onscreen``, blended with the next segment's head
    transition: str  # into the next segment


def assemble(
    plan: Plan,
    clips: dict[str, Path],
    out_dir: Path,
    *,
    music: Path | None = None,
    lines: list[PlacedLine] = (),
    loudness: LoudnessTarget | None = None,
    font: FontInfo | None = None,
    encode: EncodeSettings | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> FilmResult:
    """Write ``film.mp4`` and ``film.srt`` to ``out_dir``; neither appears unless both succeed.

    ``lines`` are voice lines placed on the film's timeline; with them or ``music`` the sound
    is mixed, normalised to ``loudness`` (-16 LUFS, -1 dBTP by default), and its stems
    (voice.wav, music.wav) are written beside the film. ``on_progress`` receives the seconds of
    film encoded so far while the film renders.
    """
    encode = encode or EncodeSettings()
    _check_inputs(plan, clips, music)
    font = font or find_font()
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    steps: list[StepRecord] = []

    def record(step: StepRecord) -> None:
        steps.append(step)
        if on_step is not None:
            on_step(step)

    film, srt = out_dir / "film.mp4", out_dir / "film.srt"
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".assembly-") as work_dir:
        work = Path(work_dir)
        events = subtitle_events(plan, encode.fps)
        write_srt(events, work / "film.srt")
        sound = _Sound(list(lines), music, loudness or LoudnessTarget())
        seconds = timeline(plan, encode.fps)[-1] / encode.fps
        stems = sound.measure(seconds, work, record)
        argv = film_command(
            plan,
            clips,
            work,
            font,
            encode,
            music,
            picture=Picture(subtitles=bool(events)),
            sound=sound if sound.any else None,
        )
        run_ffmpeg(argv, step="film", output=film, on_step=record, on_progress=on_progress)
        os.replace(work / "film.srt", srt)
        os.replace(work / "film.mp4", film)
        stems = _keep_stems(stems, out_dir)
    duration = probe(film).duration_s
    return FilmResult(film, srt, duration, steps, loudness=sound.measured, stems=stems)


@dataclass
class _Sound:
    lines: list[PlacedLine]
    music: Path | None
    target: LoudnessTarget
    measured: Measured | None = None

    @property
    def any(self) -> bool:
        return bool(self.lines) or self.music is not None

    def measure(self, seconds: float, work: Path, record) -> dict[str, Path]:
        """Pass one of the loudness normalisation; writes the stems into ``work``."""
        if not self.any:
            return {}
        self.measured, stems = measure_and_write_stems(
            self.lines, self.music, seconds, work, self.target, record
        )
        return stems


def _keep_stems(stems: dict[str, Path], out_dir: Path) -> dict[str, Path]:
    """The stems beside the film; a stem of an earlier assembly that this one lacks goes."""
    kept = {}
    for name in ("voice", "music"):
        dest = out_dir / f"{name}.wav"
        if name in stems:
            os.replace(stems[name], dest)
            kept[name] = dest
        elif dest.exists():
            dest.unlink()
    return kept


def assemble_clean(
    plan: Plan,
    clips: dict[str, Path],
    film: Path,
    out: Path,
    *,
    bands: Mapping[str, float],
    font: FontInfo | None = None,
    encode: EncodeSettings | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> CleanResult:
    """Write the clean master to ``out``: the film's picture without the caption ``bands`` and
    without burned-in subtitles, the subtitles as a soft track in the plan's language and as
    ``.srt`` and ``.vtt`` files beside it, and ``film``'s mixed sound copied as it is. Nothing
    appears unless all of it succeeds."""
    encode = encode or EncodeSettings()
    _check_inputs(plan, clips, None)
    font = font or find_font()
    out = Path(out).absolute()
    steps: list[StepRecord] = []
    sidecars = {".srt": out.with_suffix(".srt"), ".vtt": out.with_suffix(".vtt")}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".master-") as work_dir:
        work = Path(work_dir)
        events = subtitle_events(plan, encode.fps)
        if events:
            write_srt(events, work / "film.srt")
            write_vtt(events, work / "film.vtt")
        has_sound = probe(film).audio_codec is not None
        argv = film_command(
            plan,
            clips,
            work,
            font,
            encode,
            None,
            picture=Picture(subtitles=False, cut_bands=bands),
            sound_from=Path(film).absolute() if has_sound else None,
            soft_subtitles=TRACK_LANGUAGE.get(plan.story.language, "und") if events else None,
        )
        step = run_ffmpeg(argv, step="clean master", output=out, on_progress=on_progress)
        steps.append(step)
        if on_step is not None:
            on_step(step)
        for suffix, dest in sidecars.items():
            if events:
                os.replace(work / f"film{suffix}", dest)
            elif dest.exists():
                dest.unlink()  # an earlier master's subtitles, which this film no longer has
        os.replace(work / "film.mp4", out)
    srt, vtt = (sidecars[".srt"], sidecars[".vtt"]) if events else (None, None)
    return CleanResult(out, srt, vtt, probe(out).duration_s, steps)


def film_command(
    plan: Plan,
    clips: dict[str, Path],
    work: Path,
    font: FontInfo,
    encode: EncodeSettings,
    music: Path | None,
    *,
    picture: Picture,
    sound: _Sound | None = None,
    sound_from: Path | None = None,
    soft_subtitles: str | None = None,
) -> list[str]:
    """The ffmpeg arguments that render ``work/film.mp4``; cards are drawn into ``work``.
    ``sound`` (voice lines, music, pass one's measurement) replaces plain ``music``;
    ``sound_from`` is a file whose sound is copied instead of mixing any. ``soft_subtitles``
    (a language code) adds ``work/film.srt`` as a subtitle track (MP4's mov_text)."""
    total = timeline(plan, encode.fps)[-1]
    segments = _segments(plan, clips, work, font, encode.fps, picture.cut_bands)
    video = _overlay_label(_join(segments, encode.fps), plan, work, font)
    if picture.subtitles:
        video = video.filter(
            "subtitles",
            filename=str(work / "film.srt"),
            fontsdir=str(_fonts_dir(font, work)),
            charenc="UTF-8",
            force_style=_subtitle_style(font),
        )
    streams = [video.filter("format", pix_fmts="yuv420p")]
    audio_args = {}
    if sound_from is not None:
        streams.append(ffmpeg.input(str(sound_from)).audio)
        audio_args = {"acodec": "copy"}
    elif music is not None or sound is not None:
        sound = sound or _Sound([], music, LoudnessTarget())
        mix = audio_graph(sound.lines, sound.music, total / encode.fps)["mix"]
        streams.append(normalised(mix, sound.measured) if sound.measured else mix)
        audio_args = {"acodec": "aac", "b:a": "160k"}
    if soft_subtitles is not None:
        streams.append(ffmpeg.input(str(work / "film.srt"))["s"])
        audio_args |= {"scodec": "mov_text", "metadata:s:s:0": f"language={soft_subtitles}"}
    output = ffmpeg.output(
        *streams,
        str(work / "film.mp4"),
        vcodec="libx264",
        preset=encode.preset,
        crf=encode.crf,
        pix_fmt="yuv420p",
        r=encode.fps,
        movflags="+faststart",
        map_metadata=-1,
        **{"frames:v": total},
        **audio_args,
    )
    args = output.get_args()
    return [*args[:-1], *_metadata(plan), args[-1]]


# --- segments and transitions ---------------------------------------------------------------


def _segments(
    plan: Plan,
    clips: dict[str, Path],
    work: Path,
    font: FontInfo,
    fps: int,
    bands: Mapping[str, float] | None = None,
) -> list[_Segment]:
    """Title card, shots, end card, each with its frames on screen and its transitions;
    ``bands`` (shot id -> share of the clip's height) are caption bands cut off the clips."""
    bands = bands or {}
    bounds = timeline(plan, fps)
    onscreen = [b - a for a, b in pairwise(bounds)]
    tails = [0, *_handles(plan, onscreen, fps), 0]
    transitions = ["cut", *(s.transition for s in plan.shots), "cut"]
    transitions = [t if h else "cut" for t, h in zip(transitions, tails, strict=True)]
    title = save_png(title_card(plan, font), work / "title.png")
    end = save_png(end_card(plan, font), work / "end.png")
    streams = [_card(title, onscreen[0], fps, fade_in=True)]
    inputs = _clip_inputs([clips[s.id] for s in plan.shots])
    for i, (shot, stream) in enumerate(zip(plan.shots, inputs, strict=True), start=1):
        streams.append(_fit_clip(stream, plan, onscreen[i] + tails[i], fps, bands.get(shot.id, 0)))
    streams.append(_card(end, onscreen[-1], fps, fade_in=transitions[-2] == "cut"))
    heads = [0, *tails[:-1]]
    segments = [
        _Segment(stream, onscreen[i], heads[i], tails[i], transitions[i])
        for i, stream in enumerate(streams)
    ]
    # A card of zero seconds is left out rather than drawn for no frames.
    return [s for s in segments if s.onscreen > 0]


def _handles(plan: Plan, onscreen: list[int], fps: int) -> list[int]:
    """Overlap frames after each shot, clamped so a transition never outlasts the next part."""
    handles = []
    for i, shot in enumerate(plan.shots):
        wanted = round(shot.transition_s * fps) if shot.transition != "cut" else 0
        handles.append(max(0, min(wanted, onscreen[i + 2])))
    return handles


def _join(segments: list[_Segment], fps: int):
    """One concat of bodies and transitions; only the overlapping frames go through xfade.

    xfade costs per frame even where it only passes frames on, so each transition gets just
    the tail of one segment and the head of the next, trimmed from split copies.
    """
    parts, tail, transition = [], None, "cut"
    for seg in segments:
        ranges = {"head": (0, seg.head), "body": (seg.head, seg.onscreen)}
        ranges["tail"] = (seg.onscreen, seg.onscreen + seg.tail)
        pieces = _pieces(seg.stream, {k: r for k, r in ranges.items() if r[1] > r[0]})
        if "head" in pieces:
            parts.append(_xfade(tail, pieces["head"], transition, seg.head / fps))
        if "body" in pieces:
            parts.append(pieces["body"])
        tail, transition = pieces.get("tail"), seg.transition
    joined = ffmpeg.concat(*parts, v=1, a=0) if len(parts) > 1 else parts[0]
    return joined.filter("settb", f"1/{fps}")


def _pieces(stream, ranges: dict[str, tuple[int, int]]) -> dict[str, object]:
    """Frame ranges of one stream, each starting at time zero."""
    copies = [stream] if len(ranges) == 1 else list(_split(stream, len(ranges)))
    return {
        name: copy.filter("trim", start_frame=start, end_frame=end).filter("setpts", "N")
        for (name, (start, end)), copy in zip(ranges.items(), copies, strict=True)
    }


def _xfade(before, after, transition: str, seconds: float):
    return ffmpeg.filter(
        [before, after],
        "xfade",
        transition=XFADE[transition],
        duration=f"{seconds:.6f}",
        offset=0,
    )


def _card(image: Path, frames: int, fps: int, *, fade_in: bool):
    fade = min(CARD_FADE_S, frames / fps / 4)
    stream = _frames(ffmpeg.input(str(image)).video.filter("loop", loop=frames - 1, size=1), fps)
    if fade_in:
        stream = stream.filter("fade", t="in", st=0, d=f"{fade:.3f}")
    return stream.filter("fade", t="out", st=f"{frames / fps - fade:.6f}", d=f"{fade:.3f}")


def _clip_inputs(paths: list[Path]) -> list[object]:
    """One input per file; a file used by several shots is split rather than opened twice."""
    uses = Counter(str(Path(p).absolute()) for p in paths)
    pools = {}
    for path, count in uses.items():
        stream = ffmpeg.input(path).video
        pools[path] = [stream] if count == 1 else list(_split(stream, count))
    return [pools[str(Path(p).absolute())].pop(0) for p in paths]


def _split(stream, count: int):
    node = stream.split()
    return (node.stream(i) for i in range(count))


def _fit_clip(stream, plan: Plan, frames: int, fps: int, band: float = 0.0):
    """Any clip to the film's size and rate; a short clip holds its last frame. A caption
    ``band`` (a share of the clip's height) is cut off first, to an even number of rows kept so
    no chroma of the band bleeds into the picture, which then fills the frame."""
    w, h = plan.bible.width, plan.bible.height
    if band > 0:
        stream = stream.filter("crop", w="iw", h=f"2*floor(ih*{1 - band:.6f}/2)", x=0, y=0)
    stream = (
        stream.filter("fps", fps)
        .filter("scale", w=w, h=h, force_original_aspect_ratio="increase")
        .filter("crop", w=w, h=h)
        .filter("setsar", "1")
        .filter("format", pix_fmts="yuv420p")
        .filter("tpad", stop=-1, stop_mode="clone")
        .filter("trim", end_frame=frames)
    )
    return _frames(stream, fps)


def _frames(stream, fps: int):
    # One time base and frame-numbered timestamps everywhere: xfade and concat then line up
    # exactly, and offsets computed in frames hold.
    return (
        stream.filter("settb", f"1/{fps}")
        .filter("setpts", "N")
        .filter("fps", fps)
        .filter("format", pix_fmts="yuv420p")
    )


# --- label, subtitles, metadata ------------------------------------------------------


def _overlay_label(video, plan: Plan, work: Path, font: FontInfo):
    if not plan.cards.label.strip():
        return video
    w, h = plan.bible.width, plan.bible.height
    label = save_png(label_image(plan.cards.label, h, font), work / "label.png")
    margin_x, margin_y = round(w * LABEL_MARGIN), round(h * LABEL_MARGIN)
    return ffmpeg.overlay(video, ffmpeg.input(str(label)), x=f"W-w-{margin_x}", y=margin_y)


def _fonts_dir(font: FontInfo, work: Path) -> Path:
    """A folder holding only the film's font: libass loads every file in ``fontsdir``."""
    folder = work / "fonts"
    folder.mkdir(exist_ok=True)
    try:
        (folder / font.path.name).symlink_to(font.path)
    except OSError:
        return font.directory  # no symlinks here; the font's own folder works too
    return folder


def _subtitle_style(font: FontInfo) -> str:
    size = round(SUBTITLE_SIZE * _ASS_LINES)
    margin = round(SUBTITLE_MARGIN * _ASS_LINES)
    return (
        f"FontName={font.family},FontSize={size},PrimaryColour=&H00FFFFFF,"
        f"OutlineColour=&H60000000,BackColour=&H60000000,BorderStyle=3,Outline=3,Shadow=0,"
        f"MarginV={margin}"
    )


def _metadata(plan: Plan) -> list[str]:
    """Container tags: the implicit AI-generated label beside the visible one."""
    label = plan.cards.label.strip()
    comment = "AI-generated" if label == "AI-generated" else f"AI-generated ({label})"
    description = f"AI-generated film made with director. {plan.story.logline.strip()}"
    tags = {"title": plan.cards.title, "comment": comment, "description": description}
    return [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]


# --- validation -----------------------------------------------------------------------------


def _check_inputs(plan: Plan, clips: dict[str, Path], music: Path | None) -> None:
    if plan.cards is None or plan.bible is None:
        raise AssemblyError(
            "The plan has no cards or style bible, so the film cannot be assembled.",
            "Plan the style bible (it sets the cards and the frame size) first.",
        )
    if not plan.shots:
        raise AssemblyError("The plan has no shots.", "Plan the shot list before assembling.")
    for shot in plan.shots:
        path = clips.get(shot.id)
        if path is None or not Path(path).is_file():
            where = f" ({path} does not exist)" if path is not None else ""
            raise AssemblyError(
                f"Shot {shot.id} has no clip{where}.",
                f"Render the clip for shot {shot.id} (resume the run), then assemble again.",
            )
    if music is not None:
        _check_music(Path(music))


def _check_music(path: Path) -> None:
    try:
        info = probe(path)
    except AssemblyError as exc:
        raise AssemblyError(
            f"ffmpeg cannot read the music file {path}: {exc.message}",
            "Use an MP3, WAV, M4A or FLAC file, or leave out --music.",
        ) from exc
    if info.audio_codec is None:
        raise AssemblyError(
            f"The music file {path} has no audio stream that ffmpeg can read.",
            "Use an MP3, WAV, M4A or FLAC file, or leave out --music.",
        )
