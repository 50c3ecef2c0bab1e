"""Environments seen from straight above: no sky, a pattern on the ground for each environment
kind (grid, blobs, lines, rings, craters, debris), looked up in ``TOP_VIEWS`` by
``draw_from_above`` with the colour role it is drawn in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from director.tools.image.look import RGB, mix, scale
from director.tools.image.scenery.canvas import Canvas
from director.tools.image.scenery.side_views import _rubble
from director.tools.image.scenery.sky import draw_stars


def draw_from_above(c: Canvas) -> None:
    """A bird's-eye view: no sky; each kind has its own pattern on the ground."""
    pattern, role = TOP_VIEWS[c.kind]
    pattern(c, c.colours[role])


def _td_grid(c: Canvas, colour: RGB) -> None:
    step = c.u(0.12, 0.2) * c.h
    gap = 0.18 * step
    y = -c.u(0, step)
    while y < c.h:
        x = -c.u(0, step)
        while x < c.w:
            w = step * c.u(0.8, 1.6)
            c.draw.rectangle((x, y, x + w - gap, y + step - gap), fill=c.vary(colour, 0.15))
            x += w
        y += step


def _td_blobs(c: Canvas, colour: RGB) -> None:
    shadow = scale(colour, 0.55)
    for _ in range(int(40 * c.w / max(c.h, 1))):
        x, y, r = c.u(0, 1) * c.w, c.u(0, 1) * c.h, c.u(0.03, 0.08) * c.h
        c.draw.ellipse((x - r + r * 0.3, y - r + r * 0.3, x + r * 1.3, y + r * 1.3), fill=shadow)
        c.draw.ellipse((x - r, y - r, x + r, y + r), fill=c.vary(colour, 0.15))


def _td_lines(c: Canvas, colour: RGB) -> None:
    step = c.u(0.035, 0.06) * c.h
    amp = 0.0 if c.kind in ("field", "interior") else step * 0.4
    phase = c.u(0, 6.28)
    xs = np.linspace(0, c.w, 48)
    for k, y in enumerate(np.arange(-step, c.h + step, step)):
        ys = y + amp * np.sin(xs / c.w * 6.0 + phase + 0.4 * k)
        c.draw.line(list(zip(xs, ys, strict=True)), fill=colour, width=max(1, int(step * 0.2)))


def _td_rings(c: Canvas, colour: RGB) -> None:
    cx, cy = c.u(0.2, 0.8) * c.w, c.u(0.2, 0.8) * c.h
    for k in range(12, 0, -1):
        r = k * 0.09 * c.h
        shade = mix(colour, c.colours["accent"], k / 14)
        c.draw.ellipse(
            (cx - 1.4 * r, cy - r, cx + 1.4 * r, cy + r), fill=shade, outline=scale(shade, 0.8)
        )


def _td_craters(c: Canvas, colour: RGB) -> None:
    draw_stars(c, 0, 0, c.w, c.h * 0.25)
    for _ in range(int(c.rng.integers(8, 16))):
        x, y, r = c.u(0, 1) * c.w, c.u(0.25, 1) * c.h, c.u(0.02, 0.09) * c.h
        c.draw.ellipse(
            (x - r, y - r, x + r, y + r),
            fill=scale(colour, 0.8),
            outline=scale(colour, 1.2),
            width=max(1, int(r * 0.2)),
        )


def _td_debris(c: Canvas, colour: RGB) -> None:
    width = max(2, int(c.h * 0.03))
    for _ in range(int(c.rng.integers(4, 8))):
        x, y = c.u(0, 1) * c.w, c.u(0, 1) * c.h
        length, vertical = c.u(0.1, 0.35) * c.w, c.u(0, 1) < 0.5
        end = (x, y + length) if vertical else (x + length, y)
        c.draw.line((x, y, *end), fill=colour, width=width)
    for _ in range(int(c.rng.integers(15, 30))):
        _rubble(c, c.u(0, 1) * c.w, c.u(0, 1) * c.h, c.u(0.01, 0.03) * c.h)


TOP_VIEWS: dict[str, tuple[Callable[[Canvas, RGB], None], str]] = {
    "city": (_td_grid, "far"),
    "garden": (_td_grid, "detail"),
    "interior": (_td_lines, "detail"),
    "field": (_td_lines, "ground_near"),
    "desert": (_td_lines, "ground_far"),
    "ocean": (_td_lines, "accent"),
    "forest": (_td_blobs, "detail"),
    "snow": (_td_blobs, "far"),
    "mountain": (_td_rings, "ground_far"),
    "space": (_td_craters, "ground_far"),
    "ruins": (_td_debris, "detail"),
}
