"""Decoding a rendered clip for the clip gate: one ffmpeg pass (frames piped out as PPM) yields
a few evenly spaced frames, the first and the last among them, every frame's time and every
frame's mean brightness; a clip's last frame is found by decoding only its end."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from director.errors import InputError, ToolMissing
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from director.tools.assemble.probe import parse_ffmpeg_summary
from director.tools.critics.imaging import luma

# Frames sampled per clip for the image critics: first, last and three between, about one a
# second on a five-second clip.
SAMPLES = 5
# Seconds before the end decoded to find a clip's last frame.
TAIL_S = 0.5
# Mean brightness is read on every n-th pixel, leaving about this many columns: every 4th pixel
# of a 1280 px frame is plenty for a mean and keeps the per-frame cost near nothing.
LUMA_STEP_WIDTH = 320

_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*-?\d+\s+pts_time:(-?[\d.]+)")
_STDERR_LINES = 4
_FIX = "Render the shot's clip again; the file is not a playable video."
_FFMPEG_FIX = "pip install imageio-ffmpeg, or set DIRECTOR_FFMPEG to an ffmpeg program."


@dataclass
class ClipFrames:
    """What one decode of a clip yields."""

    samples: list[tuple[float, Image.Image]]
    times: np.ndarray  # every frame's time in seconds
    luma: np.ndarray  # every frame's mean brightness, 0-255
    size: tuple[int, int]  # decoded width and height


def read_clip(
    path: str | Path, count: int = SAMPLES, *, max_width: int | None = None
) -> ClipFrames:
    """Decode ``path`` once: ``count`` evenly spaced frames (the first and the last included;
    fewer when the clip has fewer frames) and every frame's mean brightness.

    ``max_width`` decodes a smaller copy (never enlarged). Raises InputError when the clip is
    missing or cannot be decoded.
    """
    if count < 2:
        raise ValueError("sample at least 2 frames: the first and the last")
    picker, lumas, size = None, [], (0, 0)
    with _Decoder(path, max_width) as decoder:
        for index, frame in enumerate(decoder.frames()):
            # The input summary is in ffmpeg's log before the first frame comes out.
            picker = picker or _Picker(count, decoder.expected_frames())
            picker.add(index, frame)
            lumas.append(mean_luma(frame))
            size = (frame.shape[1], frame.shape[0])
        times = decoder.times(len(lumas))
    if picker is None:
        raise _unreadable(path, "no video frames")
    samples = [(float(times[i]), Image.fromarray(f)) for i, f in picker.pick(len(lumas))]
    return ClipFrames(samples=samples, times=times, luma=np.array(lumas), size=size)


def sample_frames(
    path: str | Path, count: int = SAMPLES, *, max_width: int | None = None
) -> list[tuple[float, Image.Image]]:
    """(time in seconds, RGB image) of ``count`` evenly spaced frames, first and last included."""
    return read_clip(path, count, max_width=max_width).samples


def frame_luma(path: str | Path, *, max_width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's time and mean brightness, from one decode at thumbnail size."""
    clip = read_clip(path, 2, max_width=max_width)
    return clip.times, clip.luma


def last_frame(path: str | Path, *, max_width: int | None = None) -> tuple[float, Image.Image]:
    """The clip's last frame and its time, decoding only its end."""
    with _Decoder(path, max_width, tail_s=TAIL_S) as decoder:
        frames = list(enumerate(decoder.frames()))
        times = decoder.times(len(frames))
    if not frames:  # a clip whose end cannot be sought: decode it all
        return sample_frames(path, 2, max_width=max_width)[-1]
    return float(times[-1]), Image.fromarray(frames[-1][1])


def mean_luma(frame: np.ndarray) -> float:
    step = max(1, frame.shape[1] // LUMA_STEP_WIDTH)
    return float(luma(frame[::step, ::step]).mean())


class _Decoder:
    """One ffmpeg process writing decoded frames as PPM to a pipe; ``showinfo`` logs each
    frame's timestamp to stderr, which goes to a file (an unread pipe could stall ffmpeg)."""

    def __init__(self, path: str | Path, max_width: int | None, tail_s: float | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"Clip {self.path} does not exist.", _FIX)
        self.argv = _decode_argv(self.path, max_width, tail_s)

    def __enter__(self) -> _Decoder:
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (closed in __exit__)
        try:
            self._process = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=1 << 20
            )
        except OSError as exc:
            self._stderr.close()
            raise ToolMissing(f"ffmpeg cannot run: {exc}.", _FFMPEG_FIX) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.stdout.close()
        self._process.wait()
        self._stderr.close()

    def frames(self) -> Iterator[np.ndarray]:
        while (frame := _read_ppm(self._process.stdout)) is not None:
            yield frame

    def expected_frames(self) -> int | None:
        """Frames the container announces (duration x rate), from the log written so far."""
        # pread leaves the file offset alone: ffmpeg shares it and is still writing.
        fd = self._stderr.fileno()
        log = os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
        info = parse_ffmpeg_summary(log.split("Stream mapping:")[0])
        return round(info.duration_s * info.fps) or None

    def times(self, count: int) -> np.ndarray:
        """The timestamps of the ``count`` frames read; raises InputError if ffmpeg failed."""
        code = self._process.wait()
        self._stderr.seek(0)
        log = self._stderr.read()
        if code != 0:
            raise _unreadable(self.path, _tail(log))
        stamps = {int(n): float(t) for n, t in _SHOWINFO.findall(log)}
        # A frame showinfo did not report is placed by the stream's frame rate.
        rate = parse_ffmpeg_summary(log.split("Stream mapping:")[0]).fps or np.nan
        return np.array([stamps.get(i, i / rate) for i in range(count)], dtype=np.float64)


def _decode_argv(path: Path, max_width: int | None, tail_s: float | None) -> list[str]:
    seek = ["-sseof", f"{-tail_s:g}", "-copyts"] if tail_s else []
    scale = f"scale='min(iw,{max_width})':-2:flags=area," if max_width else ""
    return [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        *seek,
        "-i",
        str(path.absolute()),
        "-map",
        "0:v:0",
        "-fps_mode",
        "passthrough",  # every decoded frame once: no frames duplicated or dropped
        "-vf",
        f"{scale}showinfo=checksum=0",
        "-pix_fmt",
        "rgb24",
        "-f",
        "image2pipe",
        "-c:v",
        "ppm",
        "pipe:1",
    ]


def _read_ppm(stream: IO[bytes]) -> np.ndarray | None:
    """The next binary PPM frame ("P6\\n<w> <h>\\n255\\n" and RGB bytes), or None at the end."""
    tokens: list[bytes] = []
    while len(tokens) < 4:
        line = stream.readline()
        if not line:
            return None
        tokens += line.split()
    width, height = int(tokens[1]), int(tokens[2])
    data = stream.read(width * height * 3)
    if len(data) < width * height * 3:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)


class _Picker:
    """Keeps the frames at ``count`` evenly spaced positions of the frame count the container
    announces; when the count turns out different (variable frame rate, a wrong header), the
    reservoir's nearly even spread stands in."""

    def __init__(self, count: int, expected: int | None) -> None:
        self.expected = expected
        spread = np.linspace(0, (expected or 1) - 1, min(count, expected or 1))
        self.targets = set(np.round(spread).astype(int).tolist()) if expected else set()
        self.exact: dict[int, np.ndarray] = {}
        self.reservoir = _Reservoir(count)

    def add(self, index: int, frame: np.ndarray) -> None:
        if index in self.targets:
            self.exact[index] = frame
        self.reservoir.add(index, frame)

    def pick(self, total: int) -> list[tuple[int, np.ndarray]]:
        if total == self.expected:
            return sorted(self.exact.items())
        return self.reservoir.pick(total)


class _Reservoir:
    """Keeps every ``stride``-th frame, doubling the stride whenever more than twice the wanted
    count are held, so frames spread evenly over a clip of unknown length in bounded memory."""

    def __init__(self, count: int) -> None:
        self.count, self.stride = count, 1
        self.kept: dict[int, np.ndarray] = {}
        self.last: tuple[int, np.ndarray] | None = None

    def add(self, index: int, frame: np.ndarray) -> None:
        self.last = (index, frame)
        if index % self.stride:
            return
        self.kept[index] = frame
        if len(self.kept) > 2 * self.count:
            self.stride *= 2
            self.kept = {i: f for i, f in self.kept.items() if i % self.stride == 0}

    def pick(self, total: int) -> list[tuple[int, np.ndarray]]:
        """The held frames nearest to ``count`` evenly spaced positions over ``total`` frames."""
        held = {**self.kept, self.last[0]: self.last[1]}
        indices = np.array(sorted(held))
        chosen = []
        for target in np.linspace(0, total - 1, min(self.count, total)):
            nearest = int(indices[np.abs(indices - target).argmin()])
            if nearest not in chosen:
                chosen.append(nearest)
        return [(i, held[i]) for i in chosen]


def _unreadable(path: str | Path, why: str) -> InputError:
    return InputError(f"Clip {path} cannot be read: {why}.", _FIX)


def _tail(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip() and "showinfo" not in line]
    return " | ".join(lines[-_STDERR_LINES:]) or "ffmpeg failed with no message"
