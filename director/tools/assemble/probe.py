"""Read a media file's streams, duration and container tags.

ffprobe is used where it is installed; the ffmpeg that ships with imageio-ffmpeg comes without
it, so the usual path parses the stream summary that ``ffmpeg -i`` prints.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from director.errors import AssemblyError
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe

_DURATION = re.compile(r"^\s*Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"^\s*Stream #0:\d+.*?: Video: (.*)$")
_AUDIO = re.compile(r"^\s*Stream #0:\d+.*?: Audio: (\w+)")
_TAG = re.compile(r"^ {4}(\S.*?)\s*:\s?(.*)$")
_TAG_MORE = re.compile(r"^ {4}\s*:\s?(.*)$")
_SIZE = re.compile(r"^(\d+)x(\d+)")
_RATE = re.compile(r"^([\d.]+)(k?) (fps|tbr)$")


@dataclass
class MediaInfo:
    video_codec: str | None
    pix_fmt: str | None
    width: int | None
    height: int | None
    fps: float
    duration_s: float
    frames: int | None
    audio_codec: str | None
    tags: dict[str, str] = field(default_factory=dict)


def probe(path: str | Path, *, count_frames: bool = False) -> MediaInfo:
    """What ``path`` holds; ``count_frames`` counts video packets when the container does not say.

    Raises AssemblyError when ffmpeg cannot read the file.
    """
    path = Path(path).absolute()
    ffprobe = ffprobe_exe()
    info = _probe_ffprobe(ffprobe, path) if ffprobe else _probe_ffmpeg(path)
    if count_frames and info.frames is None and info.video_codec:
        info.frames = _count_frames(path)
    return info


def ffprobe_exe() -> str | None:
    return shutil.which("ffprobe")


# --- ffmpeg -i ------------------------------------------------------------------------------


def _probe_ffmpeg(path: Path) -> MediaInfo:
    # With no output file ffmpeg exits 1 after printing the input summary; that is expected.
    done = _run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)])
    if "Input #0" not in done.stderr:
        raise _unreadable(path, done.stderr)
    return parse_ffmpeg_summary(done.stderr)


def parse_ffmpeg_summary(text: str) -> MediaInfo:
    """Parse the ``Input #0`` summary that ``ffmpeg -i`` writes to stderr."""
    lines = text.splitlines()
    video = next((m.group(1) for m in map(_VIDEO.match, lines) if m), None)
    audio = next((m.group(1) for m in map(_AUDIO.match, lines) if m), None)
    duration = next((_seconds(m) for m in map(_DURATION.match, lines) if m), 0.0)
    codec, pix_fmt, width, height, fps = _video_fields(video) if video else (None,) * 4 + (0.0,)
    return MediaInfo(
        video_codec=codec,
        pix_fmt=pix_fmt,
        width=width,
        height=height,
        fps=fps,
        duration_s=duration,
        frames=None,
        audio_codec=audio,
        tags=_format_tags(lines),
    )


def _video_fields(description: str) -> tuple[str, str | None, int | None, int | None, float]:
    parts = _split_top_level(description)
    codec = parts[0].split()[0]
    pix_fmt = re.match(r"\w+", parts[1]).group(0) if len(parts) > 1 else None
    size = next((m for m in (_SIZE.match(p) for p in parts) if m), None)
    width, height = (int(size.group(1)), int(size.group(2))) if size else (None, None)
    return codec, pix_fmt, width, height, _rate(parts)


def _rate(parts: list[str]) -> float:
    # "fps" is the stream's frame rate; "tbr" is ffmpeg's guess, used only when fps is absent.
    rates = {m.group(3): m for m in (_RATE.match(p.split(" (")[0]) for p in parts) if m}
    match = rates.get("fps") or rates.get("tbr")
    if not match:
        return 0.0
    return float(match.group(1)) * (1000 if match.group(2) else 1)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _format_tags(lines: list[str]) -> dict[str, str]:
    """Container tags: the Metadata block of Input #0 before its Duration line."""
    tags: dict[str, str] = {}
    inside, last = False, None
    for line in lines:
        if line.startswith("  Metadata:"):
            inside = True
        elif inside and (more := _TAG_MORE.match(line)) and last:
            tags[last] += "\n" + more.group(1)
        elif inside and (tag := _TAG.match(line)):
            last = tag.group(1)
            tags[last] = tag.group(2)
        elif inside or line.startswith("  Duration:"):
            break
    return tags


def _seconds(match: re.Match[str]) -> float:
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


# --- ffprobe --------------------------------------------------------------------------------


def _probe_ffprobe(ffprobe: str, path: Path) -> MediaInfo:
    argv = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    done = _run([*argv, str(path)])
    if done.returncode != 0:
        raise _unreadable(path, done.stderr)
    data = json.loads(done.stdout or "{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio = next((s for s in streams if s.get("codec_type") == "audio"), {})
    fmt = data.get("format", {})
    return MediaInfo(
        video_codec=video.get("codec_name"),
        pix_fmt=video.get("pix_fmt"),
        width=video.get("width"),
        height=video.get("height"),
        fps=_fraction(video.get("avg_frame_rate") or video.get("r_frame_rate")),
        duration_s=float(fmt.get("duration", 0.0)),
        frames=int(video["nb_frames"]) if str(video.get("nb_frames", "")).isdigit() else None,
        audio_codec=audio.get("codec_name"),
        tags={str(k): str(v) for k, v in fmt.get("tags", {}).items()},
    )


def _fraction(value: str | None) -> float:
    try:
        return float(Fraction(value)) if value else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0


# --- shared ---------------------------------------------------------------------------------


def _count_frames(path: Path) -> int:
    # Copying packets to the null muxer counts frames without decoding them.
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
    argv += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    done = _run(argv)
    counts = re.findall(r"^frame=(\d+)$", done.stdout, flags=re.M)
    if done.returncode != 0 or not counts:
        raise _unreadable(path, done.stderr)
    return int(counts[-1])


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=120)


def _unreadable(path: Path, stderr: str) -> AssemblyError:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    reason = lines[-1] if lines else "no media streams"
    return AssemblyError(
        f"ffmpeg cannot read {path}: {reason}.",
        "Check that the file exists and is a video, image or audio file ffmpeg can play.",
    )
