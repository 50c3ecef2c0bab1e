"""The frame being drawn and what every part of a background shares: the ``Canvas`` (image,
seeded generator, colour roles, horizon, light, kind and modifiers), the sky-and-ground
gradient that starts a frame (``backdrop``) and ``blend``, which lays a flat colour over the
frame through a mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from director.tools.image.look import BIBLE_TINT, RGB, scale, tint


@dataclass
class Canvas:
    """The frame being drawn and everything the drawing functions share."""

    img: Image.Image
    rng: np.random.Generator
    colours: dict[str, RGB]
    horizon: float
    light: float
    kind: str
    modifiers: frozenset[str]
    ramp: list[RGB] = field(default_factory=list)
    window: tuple[float, float, float, float] | None = None
    draw: ImageDraw.ImageDraw = field(init=False)

    def __post_init__(self) -> None:
        self.draw = ImageDraw.Draw(self.img)

    @property
    def w(self) -> int:
        return self.img.width

    @property
    def h(self) -> int:
        return self.img.height

    @property
    def ground_y(self) -> float:
        """Where the ground meets the sky (for interiors: where the floor meets the wall)."""
        return self.horizon + 0.1 * self.h if self.kind == "interior" else self.horizon

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def vary(self, colour: RGB, amount: float = 0.1) -> RGB:
        return scale(colour, 1.0 + self.u(-amount, amount))

    def graded(self, colour: RGB) -> RGB:
        """A colour not taken from the frame's roles, tinted toward the film's palette too."""
        return tint(colour, self.ramp, BIBLE_TINT) if self.ramp else colour

    def depth(self, y: float) -> float:
        """0 at the horizon, 1 at the bottom of the frame: how near a point on the ground is."""
        span = max(self.h - self.ground_y, 1.0)
        return min(max((y - self.ground_y) / span, 0.0), 1.0)


def backdrop(w: int, h: int, colours: dict[str, RGB], ground_y: float, light: float) -> Image.Image:
    """Sky and ground gradients, a little brighter on the side the light comes from."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    sky_t = np.clip(ys / max(ground_y, 1.0), 0, 1)
    ground_t = np.clip((ys - ground_y) / max(h - ground_y, 1.0), 0, 1)
    sky = _lerp(colours["sky_top"], colours["sky_low"], sky_t)
    ground = _lerp(colours["ground_far"], colours["ground_near"], ground_t)
    column = np.where(ys < ground_y, sky, ground)
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :, None]
    side = 1.0 + 0.07 * light * xs
    pixels = np.clip(column[:, None, :] * side, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _lerp(a: RGB, b: RGB, t: np.ndarray) -> np.ndarray:
    a_, b_ = np.array(a, np.float32), np.array(b, np.float32)
    return a_ + (b_ - a_) * t


def blend(img: Image.Image, alpha: Image.Image, colour: RGB) -> None:
    """Lay a flat colour over ``img`` in place, with per-pixel opacity from ``alpha``."""
    img.paste(Image.new("RGB", img.size, colour), (0, 0), alpha)
