"""The clip gate's measures: flicker (brightness that jumps away from its trend and comes
back) over a clip's brightness series, and continuity (how much the colours and light of two
frames overlap, whatever their framing) between the previous clip's last frame and this one's
first."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from director.tools.critics.imaging import lab, pixels, shrink

# Longest flash, in frames, that flicker measures as one: 3 frames is 1/8 s at 24 fps. A
# longer change of brightness reads as a change of light, not a flash.
FLASH_FRAMES = 3
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
