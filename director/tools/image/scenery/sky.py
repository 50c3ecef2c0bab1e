"""The sky of a frame: sun, moon, stars, a planet and clouds, chosen by the environment kind and
the time-of-day modifiers and drawn before the ground is laid back over them. ``draw_stars`` and
``sphere`` are shared with the views that show stars or round bodies.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from director.tools.image.look import RGB, mix, scale
from director.tools.image.scenery.canvas import Canvas

SUN = (255, 222, 160)


def draw_sky(c: Canvas) -> None:
    """Sun, moon, stars, planet and clouds; the ground is laid back over them afterwards so a
    low sun sets behind the horizon instead of spilling onto the land."""
    if c.kind == "interior" or c.ground_y <= 0:
        return
    g = int(math.ceil(c.ground_y))
    ground = c.img.crop((0, g, c.w, c.h)) if g < c.h else None
    _sky_things(c)
    if ground is not None:
        c.img.paste(ground, (0, g))


def _sky_things(c: Canvas) -> None:
    mods = c.modifiers
    if c.kind == "space" or "night" in mods:
        draw_stars(c, 0, 0, c.w, c.ground_y)
    if c.kind == "space":
        _planet(c)
    elif "night" in mods:
        _moon(c)
    elif "dawn" in mods or "dusk" in mods:
        _sun(c, c.ground_y - c.u(0.02, 0.08) * c.h, 0.09 * c.h)
    elif not mods & {"rain", "fog"}:
        _sun(c, c.ground_y - c.u(0.45, 0.7) * c.h, 0.045 * c.h)
    if c.kind != "space" and "night" not in mods:
        for _ in range(int(c.rng.integers(2, 6))):
            _cloud(c)


def draw_stars(c: Canvas, x0: float, y0: float, x1: float, y1: float) -> None:
    """Single-pixel stars set with numpy, and a few larger ones drawn as dots."""
    area = max(x1 - x0, 0) * max(y1 - y0, 0)
    n = int(area * 0.0008)
    if n == 0:
        return
    xs = c.rng.uniform(x0, x1, n).astype(int).clip(0, c.w - 1)
    ys = c.rng.uniform(y0, y1, n).astype(int).clip(0, c.h - 1)
    level = c.rng.uniform(0.45, 1.0, n)[:, None]
    pixels = np.asarray(c.img).copy()
    pixels[ys, xs] = (np.array(c.colours["accent"], np.float32) * level).astype(np.uint8)
    c.img.paste(Image.fromarray(pixels, "RGB"))
    r = max(1.0, c.h * 0.003)
    for x, y in zip(xs[: n // 25], ys[: n // 25], strict=True):
        c.draw.ellipse((x - r, y - r, x + r, y + r), fill=c.colours["accent"])


def _sun(c: Canvas, y: float, r: float) -> None:
    x = c.w * (0.5 + 0.32 * c.light)
    glow, sun = c.colours["sky_low"], c.graded(SUN)
    for k in range(4, 0, -1):
        rr = r * (1 + 0.3 * k)
        c.draw.ellipse((x - rr, y - rr, x + rr, y + rr), fill=mix(glow, sun, 0.5 - 0.1 * k))
    c.draw.ellipse((x - r, y - r, x + r, y + r), fill=mix(sun, c.colours["accent"], 0.2))


def _moon(c: Canvas) -> None:
    r = c.h * c.u(0.035, 0.06)
    x = c.w * (0.5 + 0.35 * c.light)
    y = min(c.ground_y - 2.5 * r, c.h * c.u(0.12, 0.3))
    sphere(c, x, y, r, c.graded(mix(c.colours["accent"], (235, 235, 225), 0.6)), (c.light, -0.3))


def _planet(c: Canvas) -> None:
    r = c.h * c.u(0.16, 0.3)
    x = c.w * (0.5 - 0.3 * c.light) + c.u(-0.1, 0.1) * c.w
    y = c.h * c.u(0.1, 0.3)
    sphere(c, x, y, r, c.colours["detail"], (c.light or 0.5, -0.4))
    band = scale(c.colours["detail"], 0.8)
    c.draw.arc(
        (x - r * 1.6, y - r * 0.35, x + r * 1.6, y + r * 0.35),
        200,
        340,
        fill=band,
        width=max(1, int(r * 0.06)),
    )


def sphere(
    c: Canvas, x: float, y: float, r: float, colour: RGB, light: tuple[float, float]
) -> None:
    """A lit sphere (moon, planet): Lambert shading computed with numpy in its bounding box."""
    box = (int(x - r), int(y - r), int(x + r) + 1, int(y + r) + 1)
    gx, gy = np.meshgrid(np.arange(box[0], box[2]) + 0.5 - x, np.arange(box[1], box[3]) + 0.5 - y)
    nx, ny = gx / r, gy / r
    inside = nx * nx + ny * ny <= 1.0
    nz = np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0, 1))
    lx, ly = light
    norm = math.sqrt(lx * lx + ly * ly + 0.6)
    shade = np.clip((nx * lx + ny * ly + nz * 0.77) / norm, 0.08, 1.0)
    rgb = (np.array(colour, np.float32) * shade[..., None]).clip(0, 255).astype(np.uint8)
    mask = Image.fromarray((inside * 255).astype(np.uint8), "L")
    c.img.paste(Image.fromarray(rgb, "RGB"), box[:2], mask)


def _cloud(c: Canvas) -> None:
    grey = {"rain", "fog"} & c.modifiers
    colour = mix(c.colours["sky_low"], c.graded((120, 124, 130) if grey else (250, 250, 250)), 0.55)
    cx, cy = c.u(-0.05, 1.05) * c.w, c.ground_y * c.u(0.1, 0.6)
    size = c.h * c.u(0.03, 0.07)
    for _ in range(int(c.rng.integers(3, 7))):
        dx, dy = c.u(-2.5, 2.5) * size, c.u(-0.4, 0.4) * size
        rx, ry = size * c.u(1.0, 1.8), size * c.u(0.5, 0.9)
        c.draw.ellipse((cx + dx - rx, cy + dy - ry, cx + dx + rx, cy + dy + ry), fill=colour)
