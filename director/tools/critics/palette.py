"""Style consistency from colour statistics, for when no CLIP weights are at hand.

With style anchor images, the candidate's colour distribution (a coarse histogram of CIELAB
chroma) is compared with each anchor's and the overlaps are averaged (check ``style_colours``).
With none, the candidate is compared with the style bible's palette (check ``style_palette``): the share of its pixels that lie near the palette's ramp (the
path through CIELAB from the darkest palette colour to the lightest), since a graded look maps
every tone onto such a ramp.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from director.records import CheckResult, Shot
from director.tools.base import Critic, CriticContext
from director.tools.critics.imaging import as_rgb, hex_pixels, lab, open_rgb, pixels, shrink

DEFAULTS: dict[str, float] = {
    # Mean chroma-histogram overlap with the anchors. Storyboard frames of one film (one
    # palette; other places, times of day and sizes) overlap its anchors by 0.61 or more in
    # 95% of cases; frames made with another film's palette have a median overlap of 0.47.
    "min_anchor_overlap": 0.55,
    # Share of pixels within ``palette_delta_e`` of the palette ramp. Storyboard frames made
    # with the palette keep 58% or more near it in 95% of cases (median 99%); a frame in
    # neon colours keeps about 13%. Two muted palettes are told apart less reliably: against
    # another muted palette a third to four fifths of frames still pass.
    "min_on_palette": 0.5,
    # CIELAB distance counted as "near the ramp": about the difference between two colours a
    # viewer would name differently (tan and sand), far above the 2-3 units first noticed.
    "palette_delta_e": 20.0,
}

# Size of the copy colour statistics are computed on: colour distributions need no detail.
STATS_WIDTH = 160
# Histogram of chroma only (a and b, -48..48, clipped, 8 bins each): the look of a film is its
# colour cast and saturation, and a night scene belongs to the same film as a day scene.
BINS = 8
CHROMA_RANGE = 48.0


class PaletteCritic(Critic):
    name = "palette"
    # Two measures with two thresholds, so two names: a document reports each as applied.
    checks = ("style_palette", "style_colours")
    defaults = DEFAULTS
    judges = ("keyframe",)

    def __init__(self, **thresholds: float) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.thresholds = {**DEFAULTS, **thresholds}
        self._anchor_cache: dict[str, np.ndarray | None] = {}

    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        colours = lab(pixels(shrink(as_rgb(image), STATS_WIDTH))).reshape(-1, 3)
        if context.style_anchors:
            return [self._against_anchors(colours, context.style_anchors)]
        if context.bible.palette:
            return [self._against_palette(colours, context.bible.palette)]
        reason = "no style anchors and no palette in the style bible to compare with"
        return [CheckResult.not_run("style_palette", reason)]

    def _against_anchors(self, colours: np.ndarray, anchors: Sequence[str]) -> CheckResult:
        hists = [h for h in (self._anchor_hist(p) for p in anchors) if h is not None]
        if not hists:
            reason = f"none of the {len(anchors)} style anchor images could be read"
            return CheckResult.not_run("style_colours", reason)
        mine = histogram(colours)
        value = float(np.mean([np.minimum(mine, h).sum() for h in hists]))
        limit = self.thresholds["min_anchor_overlap"]
        return CheckResult.measured(
            "style_colours",
            value,
            limit,
            f"colour distribution overlaps the {len(hists)} style anchor(s) by "
            f"{value:.0%} on average (min {limit:.0%})",
        )

    def _against_palette(self, colours: np.ndarray, palette: list[str]) -> CheckResult:
        try:
            ramp = lab(hex_pixels(palette)).astype(np.float32)
        except (ValueError, IndexError):
            reason = f"the style bible's palette {palette} is not a list of #rrggbb colours"
            return CheckResult.not_run("style_palette", reason)
        radius, limit = self.thresholds["palette_delta_e"], self.thresholds["min_on_palette"]
        value = float(np.mean(ramp_distance(colours, ramp) <= radius))
        return CheckResult.measured(
            "style_palette",
            value,
            limit,
            f"{value:.0%} of pixels within ΔE {radius:g} of the bible's palette (min {limit:.0%})",
        )

    def _anchor_hist(self, path: str) -> np.ndarray | None:
        if path not in self._anchor_cache:
            img = open_rgb(path)
            self._anchor_cache[path] = (
                None
                if img is None
                else histogram(lab(pixels(shrink(img, STATS_WIDTH))).reshape(-1, 3))
            )
        return self._anchor_cache[path]


def histogram(colours: np.ndarray) -> np.ndarray:
    """A normalised, lightly smoothed 2-D histogram of the a*, b* chroma of (N, 3) Lab colours."""
    r = CHROMA_RANGE
    ab = np.clip(colours[:, 1:3], -r, r - 1e-3)
    hist, _, _ = np.histogram2d(ab[:, 0], ab[:, 1], bins=BINS, range=((-r, r), (-r, r)))
    for axis in (0, 1):
        # A [1, 2, 1] blur along each axis, so a colour on a bin edge counts on both sides.
        padded = np.pad(hist, [(1, 1) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        lo = np.take(padded, range(0, BINS), axis=axis)
        hi = np.take(padded, range(2, BINS + 2), axis=axis)
        hist = 0.25 * lo + 0.5 * hist + 0.25 * hi
    return hist / max(hist.sum(), 1e-9)


def ramp_distance(colours: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """CIELAB distance from each colour to the polyline through the ramp colours, in order."""
    if len(ramp) == 1:
        return np.linalg.norm(colours - ramp[0], axis=1)
    best = np.full(len(colours), np.inf, dtype=np.float32)
    for a, b in zip(ramp[:-1], ramp[1:], strict=True):
        seg = b - a
        t = np.clip((colours - a) @ seg / max(float(seg @ seg), 1e-9), 0.0, 1.0)
        d = np.linalg.norm(colours - (a + t[:, None] * seg), axis=1)
        best = np.minimum(best, d)
    return best
