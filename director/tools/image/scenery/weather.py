"""Weather over the frame: fog laid over the distance before the subjects are drawn
(``draw_haze``), and rain or snow falling over everything after them (``draw_weather``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from director.tools.image.look import haze_colour
from director.tools.image.scenery.canvas import Canvas, blend


def draw_haze(c: Canvas) -> None:
    """Fog, laid over the distance before the subjects are drawn: it hides the far shore, never
    the colours of the people in front of it."""
    if "fog" in c.modifiers:
        _fog(c)


def draw_weather(c: Canvas) -> None:
    """Falling rain or snow, over everything in the frame."""
    if "rain" in c.modifiers:
        _rain(c)
    if c.kind == "snow" and "rain" not in c.modifiers:
        _flakes(c)


def _rain(c: Canvas) -> None:
    """Streaks blended in at partial strength; indoors they fall only behind the window."""
    x0, y0, x1, y1 = c.window if c.kind == "interior" and c.window else (0, 0, c.w, c.h)
    layer = Image.new("L", c.img.size, 0)
    pen = ImageDraw.Draw(layer)
    n = int(max(x1 - x0, 0) * max(y1 - y0, 0) / (c.h * c.h) * 260)
    slant = c.u(0.1, 0.3) * (1 if c.light >= 0 else -1)
    for _ in range(n):
        x, y, length = c.u(x0, x1), c.u(y0, y1), c.u(0.03, 0.08) * c.h
        pen.line(
            (x, y, x + slant * length, y + length), fill=int(c.u(90, 170)), width=max(1, c.h // 400)
        )
    blend(c.img, layer, c.graded((205, 212, 220)))


def _flakes(c: Canvas) -> None:
    flake = c.graded((236, 240, 246))
    for _ in range(int(c.w * c.h / 3000)):
        x, y, r = c.u(0, 1) * c.w, c.u(0, 1) * c.h, c.u(0.5, 1.8) * max(1.0, c.h / 500)
        c.draw.ellipse((x - r, y - r, x + r, y + r), fill=flake)


def _fog(c: Canvas) -> None:
    """Haze thickest at the horizon (aerial perspective), thinner toward the camera."""
    ys = np.arange(c.h, dtype=np.float32)
    alpha = 0.2 + 0.4 * np.exp(-(((ys - c.ground_y) / (0.3 * c.h)) ** 2))
    layer = Image.fromarray((alpha[:, None] * 255).astype(np.uint8).repeat(c.w, axis=1), "L")
    blend(c.img, layer, c.graded(haze_colour(c.colours)))
