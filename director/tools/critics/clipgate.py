"""The clip gate: checks on the frames of a rendered clip, the way keyframes are checked.

A clip is decoded once (ffmpeg, frames piped out as PPM) into a few evenly spaced frames, the
first and the last among them, and every frame's mean brightness. Three kinds of check follow:

- ``flicker``: brightness that jumps away and comes back within a few frames (strobing, a
  single-frame flash), while camera moves, fades and cuts, which change brightness smoothly or
  once, score near zero;
- ``continuity``: when the plan marks the shot continuous with the previous one, whether the
  previous clip's last frame and this clip's first frame show the same place under the same
  light: how much their colour distributions (CIELAB histograms) overlap, whatever the framing,
  since a cut on action continues the action in a new shot size or angle;
- each image critic's checks (identity, ...) on every sampled frame, folded into one clip-level
  check per name that holds only when it holds on every frame.

The defaults were chosen with ``bench/calibrate_clip_gate.py``, which renders storyboard clips
with the previz video backend (every camera move, several films, crossfades and fades) and
broken clips (strobes, flashes, mid-clip cuts, unrelated next shots, jumps in time of day), and
prints every check's pass rate and score spread.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from director.errors import InputError, ToolMissing
from director.records import CheckResult, Shot
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from director.tools.assemble.probe import parse_ffmpeg_summary
from director.tools.base import Critic, CriticContext
from director.tools.critics.imaging import lab, luma, pixels, shrink

DEFAULTS: dict[str, float] = {
    # Largest brightness spike (``flicker_spikes``, luma 0-255): how far a run of 1-3 frames
    # stands out of the trend on both sides. Storyboard clips measure at most 0.34 with any
    # camera move, 0.33 across crossfades of 0.5-0.75 s and 1.5 across fades through black
    # (365 clips). Brightening the whole frame by 4 for 1-3 frames measures 1.5-3.9 (barely
    # visible; passes); by 8, 7.1-8.1, and every other frame by 4 (a strobe) 5.9-7.8 (fail);
    # a white or a black frame 65-190.
    "max_flicker": 5.0,
    # Continuity (``continuity_parts``): how well the colours and light of the two frames
    # overlap (CIELAB histograms, whole frames or one frame against half-size windows of the
    # other), so a new framing of the same place and light passes. The planner's continuous
    # pairs drawn by previz (cuts on action, wide to medium, full to medium close-up) score
    # 0.79-0.89; a clip started from the previous clip's last frame 0.97-0.98, 0.80-0.98 with
    # the drift a video model adds (3-8% shift, 8-15% zoom, 10 luma either way, blur, noise).
    # The same place drawn at night scores 0.36-0.67, the same shot by day then at night
    # 0.28-0.52, a shot of another film 0.26-0.64, a previous clip that cuts away halfway
    # 0.31-0.67. Half the light 0.36-0.62, a colour cast (R +16, B -16) 0.48-0.64. Colour
    # cannot tell apart two places or times of day drawn in one palette and light: another
    # place of the same film (0.56-0.90) and dawn, day or dusk jumps (0.43-0.85) pass in a
    # quarter to a half of the cases.
    "min_continuity": 0.72,
}

# Frames sampled per clip for the image critics: first, last and three between, about one a
# second on a five-second clip.
SAMPLES = 5
# Fewest frames flicker can judge: a frame with two frames on each side.
FLICKER_MIN_FRAMES = 5
# Longest flash, in frames, that flicker measures as one: 3 frames is 1/8 s at 24 fps. A
# longer change of brightness reads as a change of light, not a flash.
FLASH_FRAMES = 3
# Seconds before the end decoded to find a clip's last frame.
TAIL_S = 0.5
# Mean brightness is read on every n-th pixel, leaving about this many columns: every 4th pixel
# of a 1280 px frame is plenty for a mean and keeps the per-frame cost near nothing.
LUMA_STEP_WIDTH = 320
# Continuity compares thumbnails this wide: the colours and light of the whole frame.
THUMB_WIDTH = 64
# The CIELAB histogram: L* 0-100 and a*, b* -64-64 (beyond: the edge bins) cut in LAB_BINS
# each, a bin 6.25 L* by 8 a*/b* units. Each pixel's weight is spread over neighbouring bins
# (a Gaussian LAB_SPREAD bins wide), so a small change of exposure or white balance moves
# weight gradually rather than all at once across a bin edge.
LAB_BINS = 16
LAB_RANGE = ((0.0, 100.0), (-64.0, 64.0), (-64.0, 64.0))
LAB_SPREAD = 1.0
# A cut on action shows part of what the wider shot showed: each frame is also compared with
# windows of the other this share of its width and height (a shot a size or two closer frames
# about half of the wider one), at the corners, the edge middles and the centre.
WINDOW_SHARE = 0.5

_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*-?\d+\s+pts_time:(-?[\d.]+)")
_STDERR_LINES = 4
_FIX = "Render the shot's clip again; the file is not a playable video."
_FFMPEG_FIX = "pip install imageio-ffmpeg, or set DIRECTOR_FFMPEG to an ffmpeg program."


# --- the gate --------------------------------------------------------------------------------


class ClipGate:
    """Checks a rendered clip: flicker, continuity with the previous shot's clip, and every
    image critic's checks on frames sampled from it.

    Give it the critics whose checks hold frame by frame (identity, technical quality, the
    latter only at full size: ``max_width`` shrinks the frames they see); a copy guard against
    accepted keyframes would find every frame a copy of its own keyframe. The run's gate gives
    it the registered critics that declare they judge clips.
    """

    # Declared as a critic's are: the thresholds the gate's own measures take.
    name = "clipgate"
    checks = ("flicker", "continuity")
    defaults = DEFAULTS
    judges = ("clip",)

    def __init__(
        self,
        critics: Sequence[Critic] = (),
        *,
        samples: int = SAMPLES,
        max_width: int | None = None,
        **thresholds: float,
    ) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        if samples < 2:
            raise InputError(
                f"The clip gate cannot sample {samples} frame(s) per clip.",
                "Sample at least 2 frames: the first and the last.",
            )
        self.critics = list(critics)
        self.samples, self.max_width = samples, max_width
        self.thresholds = {**DEFAULTS, **thresholds}

    def check_clip(
        self,
        clip_path: str | Path,
        shot: Shot,
        previous_clip_path: str | Path | None,
        context: CriticContext,
    ) -> list[CheckResult]:
        """Flicker, continuity, then the critics' checks folded over the sampled frames.

        Raises InputError when a clip is missing or cannot be decoded.
        """
        clip = read_clip(clip_path, self.samples, max_width=self.max_width)
        return [
            self.flicker(clip),
            self.continuity(clip, shot, previous_clip_path),
            *self.frame_checks(clip, shot, context),
        ]

    def flicker(self, clip: ClipFrames) -> CheckResult:
        if len(clip.luma) < FLICKER_MIN_FRAMES:
            return CheckResult.not_run(
                "flicker",
                f"not run: the clip has {len(clip.luma)} frame(s); flicker needs "
                f"{FLICKER_MIN_FRAMES}",
            )
        spikes, limit = flicker_spikes(clip.luma), self.thresholds["max_flicker"]
        worst = int(spikes.argmax())
        when = _seconds(clip.times[worst])
        return CheckResult.measured(
            "flicker",
            float(spikes[worst]),
            limit,
            f"brightness stands out of its trend by {spikes[worst]:.1f} (0-255) at {when} s, "
            f"frame {worst}; {int((spikes > limit).sum())} of {len(spikes)} frames over "
            f"{limit:g}",
            higher_is_better=False,
            digits=3,
            details={
                "worst_frame": worst,
                "worst_time_s": when,
                "frames_over": int((spikes > limit).sum()),
                "frames": len(spikes),
            },
        )

    def continuity(
        self, clip: ClipFrames, shot: Shot, previous_clip_path: str | Path | None
    ) -> CheckResult:
        if not shot.continuous:
            return CheckResult.not_run(
                "continuity", "not run: the shot does not continue the previous one"
            )
        if previous_clip_path is None:
            return CheckResult.not_run("continuity", "not run: no previous clip to continue from")
        then, before = last_frame(previous_clip_path, max_width=self.max_width)
        parts = continuity_parts(before, clip.samples[0][1])
        limit, name = self.thresholds["min_continuity"], Path(previous_clip_path).name
        return CheckResult.measured(
            "continuity",
            parts.score,
            limit,
            f"first frame vs the last frame of {name} ({then:.2f} s): colours and light "
            f"overlap {parts.score:.3f} (min {limit:.2f}), best as {parts.matched} (whole "
            f"frames {parts.whole:.2f}); mean lightness {parts.lightness_shift:+.1f} L*, mean "
            f"tint moved {parts.tint_shift:.1f} a*b*",
            details={
                "matched": parts.matched,
                "whole_frames": round(parts.whole, 4),
                "lightness_shift": round(parts.lightness_shift, 2),
                "tint_shift": round(parts.tint_shift, 2),
                "previous_clip": name,
                "previous_time_s": _seconds(then),
            },
        )

    def frame_checks(
        self, clip: ClipFrames, shot: Shot, context: CriticContext
    ) -> list[CheckResult]:
        """Each critic's checks on every sampled frame, folded into one result per name."""
        results: dict[str, list[tuple[float, CheckResult]]] = {}
        for critic in self.critics:
            for when, image in clip.samples:
                for result in critic.check(image, shot, context):
                    results.setdefault(result.name, []).append((when, result))
        return [fold(name, per_frame) for name, per_frame in results.items()]


def fold(name: str, per_frame: list[tuple[float, CheckResult]]) -> CheckResult:
    """One clip-level result from a check's result on each sampled frame: it passes only if it
    passes on every frame that ran, and shows the worst frame's score, threshold and reason.
    Not run on every frame: not run, with the first frame's reason."""
    ran = [(when, r) for when, r in per_frame if r.passed is not None]
    if not ran:
        first = per_frame[0][1]
        return first.model_copy(update={"name": name, "details": {}})
    when, worst = min(ran, key=lambda item: _badness(item[1]))
    failed = sum(1 for _, r in ran if r.passed is False)
    skipped = len(per_frame) - len(ran)
    note = f"; not run on {skipped}" if skipped else ""
    return CheckResult(
        name=name,
        score=worst.score,
        threshold=worst.threshold,
        passed=failed == 0,
        reason=f"worst of {len(ran)} frames, at {_seconds(when)} s: {worst.reason} "
        f"(failed on {failed} of {len(ran)}{note})",
        higher_is_better=worst.higher_is_better,
        details={
            **worst.details,
            "worst_time_s": _seconds(when),
            "failed_frames": failed,
            "frames": [
                {"time_s": _seconds(t), "score": r.score, "passed": r.passed} for t, r in per_frame
            ],
        },
    )


def _badness(result: CheckResult) -> tuple[bool, bool, float]:
    """Sort key, worst first: failed before passed, no score (nothing found) before a score,
    then the score on the wrong side."""
    score = result.score if result.score is not None else 0.0
    return (
        bool(result.passed),
        result.score is not None,
        score if result.higher_is_better else -score,
    )


def _seconds(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 3)


# --- decoding --------------------------------------------------------------------------------


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


# --- measures --------------------------------------------------------------------------------


def flicker_spikes(series: np.ndarray, longest: int = FLASH_FRAMES) -> np.ndarray:
    """How far each frame's brightness stands out of the trend on *both* sides of it.

    For every run of 1 to ``longest`` frames, each frame of the run is compared with the
    straight line continued from the two frames before the run and with the line continued
    back from the two frames after it. The run stands out by the smallest of those deviations
    when all of them point the same way. A camera move, a fade or a crossfade follows a line on
    at least one side (a fade's corner, a fade through black's darkest frame) and a cut follows
    one on each side, so they score near zero; a flash or a strobe departs from both.
    """
    y = np.asarray(series, dtype=np.float64)
    spikes = np.zeros(len(y))
    for run in range(1, longest + 1):
        steps = np.arange(1, run + 1)
        for start in range(2, len(y) - run - 1):
            end = start + run
            inside = y[start:end]
            left = y[start - 1] + (y[start - 1] - y[start - 2]) * steps
            right = y[end] + (y[end] - y[end + 1]) * steps[::-1]
            deviations = np.concatenate([inside - left, inside - right])
            if np.all(deviations > 0) or np.all(deviations < 0):
                stand_out = float(np.abs(deviations).min())
                spikes[start:end] = np.maximum(spikes[start:end], stand_out)
    return spikes


@dataclass(frozen=True)
class ContinuityParts:
    """``score`` (0-1): the best overlap of CIELAB histograms among the whole frames and each
    frame against the windows of the other; ``matched`` says which; ``whole``: the whole
    frames' overlap; ``lightness_shift``: the mean L* of the later frame minus that of the
    earlier; ``tint_shift``: how far the mean a*, b* moved."""

    score: float
    matched: str
    whole: float
    lightness_shift: float
    tint_shift: float


def continuity_parts(before: Image.Image, after: Image.Image) -> ContinuityParts:
    """Whether two frames show the same place under the same light, whatever their framing: a
    cut on action shows part of what the wider shot showed, so its colours are those of a part
    of the wider frame, not of the whole."""
    a, b = (lab(pixels(shrink(image, THUMB_WIDTH))) for image in (before, after))
    whole_a, whole_b = lab_histogram(a), lab_histogram(b)
    overlaps = {
        "whole frames": histogram_intersection(whole_a, whole_b),
        "this frame in part of the previous one": max(
            histogram_intersection(part, whole_b) for part in _window_histograms(a)
        ),
        "part of this frame in the previous one": max(
            histogram_intersection(whole_a, part) for part in _window_histograms(b)
        ),
    }
    matched = max(overlaps, key=overlaps.__getitem__)
    shift = b.reshape(-1, 3).mean(axis=0) - a.reshape(-1, 3).mean(axis=0)
    return ContinuityParts(
        score=overlaps[matched],
        matched=matched,
        whole=overlaps["whole frames"],
        lightness_shift=float(shift[0]),
        tint_shift=float(np.hypot(shift[1], shift[2])),
    )


def histogram_intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Shared share of two histograms that each sum to 1: 1 for the same colours in the same
    shares, wherever they are in the frame."""
    return float(np.minimum(a, b).sum())


def _window_histograms(lab_image: np.ndarray) -> Iterator[np.ndarray]:
    """Histograms of the WINDOW_SHARE windows at the corners, the edge middles and the centre."""
    height, width = lab_image.shape[:2]
    h, w = max(1, round(height * WINDOW_SHARE)), max(1, round(width * WINDOW_SHARE))
    for top in np.linspace(0, height - h, 3).round().astype(int):
        for left in np.linspace(0, width - w, 3).round().astype(int):
            yield lab_histogram(lab_image[top : top + h, left : left + w])


def lab_histogram(lab_pixels: np.ndarray, bins: int = LAB_BINS) -> np.ndarray:
    """Share of the (..., 3) CIELAB pixels in each (L*, a*, b*) bin, each pixel's weight spread
    over the neighbouring bins."""
    lab_pixels = lab_pixels.reshape(-1, 3)
    code = np.zeros(len(lab_pixels), dtype=np.int64)
    for axis, (low, high) in enumerate(LAB_RANGE):
        cell = np.floor((lab_pixels[:, axis] - low) * bins / (high - low)).astype(np.int64)
        code = code * bins + np.clip(cell, 0, bins - 1)
    counts = np.bincount(code, minlength=bins**3).reshape(bins, bins, bins).astype(np.float64)
    spread = _spread(bins)
    for axis in range(3):
        counts = np.moveaxis(np.tensordot(spread, counts, axes=(1, axis)), 0, axis)
    return counts / counts.sum()


def _spread(bins: int) -> np.ndarray:
    """(to, from) weights: a Gaussian over the bins, each column summing to 1."""
    to, source = np.indices((bins, bins))
    weights = np.exp(-0.5 * ((to - source) / LAB_SPREAD) ** 2)
    return weights / weights.sum(axis=0, keepdims=True)
