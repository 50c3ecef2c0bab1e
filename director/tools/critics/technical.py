"""Technical quality of a frame, from its pixels alone: exposure, contrast, sharpness, size.

The whole image is scored, whatever made it, so the same critic serves every image backend.
The defaults were chosen with ``bench/calibrate_pixel_critics.py``, which renders about 200
storyboard frames (every environment, time of day, weather, shot size and angle, several seeds,
grain strengths and frame sizes, portrait included) and a set of broken images (black, white,
flat grey, blurred, too small), and prints every check's pass rate and score spread; then the
same checks on real photos, as they are and badly exposed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from director.records import CheckResult, Shot
from director.tools.base import Critic, CriticContext
from director.tools.critics.imaging import as_rgb, luma, pixels, shrink

DEFAULTS: dict[str, float] = {
    # Share of pixels clipped: every pixel blown to white (luma >= 253), and the pixels crushed
    # to black (luma <= 2) beyond ``black_allowance`` of the frame. Storyboard frames score 0
    # (95th percentile). Real photos blow at most 3.0% to white (a chandelier, a studio light);
    # the same photos brightened two stops blow 11-39%, and an all-white frame 100% (real
    # photos in bench/calibrate_pixel_critics.py).
    "max_clipped": 0.05,
    # Share of the frame that may be pure black before it counts as clipped. Real, well-exposed
    # photos crush up to 22% to black (the astronaut's space background 12.6%, a portrait on a
    # black backdrop 22%, a retina photograph's surround 22%): dark skies, night and low-key
    # shots are looks, not faults. A frame fails at 50% black (45% allowed plus 5%); a black
    # frame (a failed or filtered render) scores 55%.
    "black_allowance": 0.45,
    # RMS contrast (std of luma / 255). Storyboard frames measure 0.09-0.26 (5th-95th
    # percentile; the low end is fog), real photos 0.05-0.35 (the moon 0.052); a flat frame
    # measures 0, a washed-out one under 0.05 (a white mask photographed on white 0.037).
    "min_contrast": 0.05,
    # Variance of the Laplacian of luma (0-255 units) on a box-averaged copy at most 640 px
    # wide. Storyboard frames measure 600-3500 (5th-95th percentile). Blurring a 1280 px frame
    # with a Gaussian of radius 1 px leaves 170-280 (passes), radius 2 px sits at the line
    # (17-40: visibly out of focus), radius 3 px drops to 5-12 and radius 4 px to about 3.
    # Real photos measure 50 or more, but for one blurred by camera motion (24).
    "min_sharpness": 25.0,
    # Size per side relative to the bible's width x height: anything smaller was not made at
    # the size the film needs and would have to be upscaled.
    "min_resolution": 1.0,
}

# Width of the copy sharpness is measured on, so the score does not depend on the image's size.
SHARPNESS_WIDTH = 640
BLACK, WHITE = 2.0, 253.0


class TechnicalCritic(Critic):
    name = "technical"
    checks = ("exposure", "contrast", "sharpness", "resolution")
    defaults = DEFAULTS
    judges = ("keyframe",)

    def __init__(self, **thresholds: float) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.thresholds = {**DEFAULTS, **thresholds}

    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        image = as_rgb(image)
        y = luma(pixels(image))
        return [
            self.exposure(y),
            self.contrast(y),
            self.sharpness(image),
            self.resolution(image.width, image.height, context),
        ]

    def exposure(self, y: np.ndarray) -> CheckResult:
        black, white = float(np.mean(y <= BLACK)), float(np.mean(y >= WHITE))
        allowance, limit = self.thresholds["black_allowance"], self.thresholds["max_clipped"]
        clipped = white + max(0.0, black - allowance)
        return CheckResult.measured(
            "exposure",
            clipped,
            limit,
            f"{clipped:.1%} of pixels clipped ({white:.1%} blown to white, {black:.1%} crushed "
            f"to black of which {allowance:.0%} is allowed for dark areas; max {limit:.1%})",
            higher_is_better=False,
            digits=5,
            details={"white": round(white, 5), "black": round(black, 5)},
        )

    def contrast(self, y: np.ndarray) -> CheckResult:
        value, limit = float(y.std() / 255.0), self.thresholds["min_contrast"]
        return CheckResult.measured(
            "contrast",
            value,
            limit,
            f"RMS contrast {value:.3f} (min {limit:.3f})",
            digits=5,
        )

    def sharpness(self, image: Any) -> CheckResult:
        small = shrink(image, SHARPNESS_WIDTH)
        if small.width < 3 or small.height < 3:
            return CheckResult.not_run(
                "sharpness",
                f"a {small.width}x{small.height} image is too small to measure sharpness",
            )
        value, limit = laplacian_variance(luma(pixels(small))), self.thresholds["min_sharpness"]
        return CheckResult.measured(
            "sharpness",
            value,
            limit,
            f"Laplacian variance {value:.1f} at {small.width} px wide (min {limit:.1f})",
            digits=3,
        )

    def resolution(self, width: int, height: int, context: CriticContext) -> CheckResult:
        want_w, want_h = context.bible.width, context.bible.height
        value = min(width / want_w, height / want_h)
        limit = self.thresholds["min_resolution"]
        return CheckResult.measured(
            "resolution",
            value,
            limit,
            f"{width}x{height} px for {want_w}x{want_h} asked: {value:.2f} of the size "
            f"per side (min {limit:.2f})",
        )


def laplacian_variance(y: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior of a 2-D brightness array."""
    lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4.0 * y[1:-1, 1:-1]
    return float(lap.var())
