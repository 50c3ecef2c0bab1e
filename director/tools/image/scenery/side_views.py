"""Environments seen from the side: one drawing function per environment kind (city, street,
desert, ocean, forest, garden, interior, space, station, ruins, mountain, snow, field), looked
up in ``SIDE_VIEWS`` by ``draw_environment``, with the shapes they share (ridges, trees,
windows, houses, rubble).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from director.tools.image.look import RGB, mix, scale
from director.tools.image.scenery.canvas import Canvas
from director.tools.image.scenery.sky import draw_stars


def draw_environment(c: Canvas) -> None:
    SIDE_VIEWS[c.kind](c)


def _city(c: Canvas) -> None:
    g = c.ground_y
    x = -c.u(0, 0.05) * c.w
    while x < c.w:
        bw, bh = c.u(0.05, 0.13) * c.w, c.u(0.08, 0.45) * c.h
        body = c.vary(c.colours["far"], 0.15)
        c.draw.rectangle((x, g - bh, x + bw, g + 1), fill=body)
        _windows(c, x, g - bh, bw, bh, body)
        x += bw + c.u(0.0, 0.02) * c.w
    _street(c)


def _windows(c: Canvas, x: float, top: float, bw: float, bh: float, body: RGB) -> None:
    size = max(2.0, 0.012 * c.h)
    cols, rows = int(bw / (2.2 * size)), min(int(bh / (2.6 * size)), 12)
    lit_share = 0.45 if "night" in c.modifiers else 0.25 if "dusk" in c.modifiers else 0.06
    lit = c.rng.random((rows, cols)) < lit_share
    dark = scale(body, 0.72)
    for i in range(rows):
        for j in range(cols):
            wx, wy = x + (j + 0.6) * 2.2 * size, top + (i + 0.6) * 2.6 * size
            fill = c.colours["accent"] if lit[i, j] else dark
            c.draw.rectangle((wx, wy, wx + size, wy + 1.4 * size), fill=fill)


def _street(c: Canvas) -> None:
    vx, g = c.w * (0.5 + c.u(-0.15, 0.15)), c.ground_y
    line = scale(c.colours["ground_far"], 1.25)
    width = max(1, int(c.h * 0.006))
    for spread in (-1.1, -0.45, 0.45, 1.1):
        c.draw.line((vx, g, vx + spread * c.w, c.h), fill=line, width=width)


def _desert(c: Canvas) -> None:
    g = c.ground_y
    layers = (
        (g, 0.035, "far"),
        (g + 0.08 * c.h, 0.05, "ground_far"),
        (g + 0.3 * c.h, 0.08, "ground_near"),
    )
    for base, amp, role in layers:
        colour = c.vary(c.colours[role], 0.06)
        top = ridge(c, base, amp * c.h, c.u(1.0, 2.5), c.u(0, 6.28), colour)
        c.draw.line(top, fill=mix(colour, c.colours["accent"], 0.35), width=max(1, c.h // 240))


def ridge(
    c: Canvas, base: float, amp: float, waves: float, phase: float, colour: RGB
) -> list[tuple[float, float]]:
    """A filled rolling ridge (dunes, hills) from ``base`` down; returns its top line."""
    xs = np.linspace(-0.02 * c.w, 1.02 * c.w, 64)
    t = xs / c.w * waves * 2 * math.pi + phase
    ys = base - amp * (0.6 * np.sin(t) + 0.4 * np.sin(2.3 * t + 1.0))
    top = list(zip(xs.tolist(), ys.tolist(), strict=True))
    c.draw.polygon([*top, (xs[-1], c.h + 1), (xs[0], c.h + 1)], fill=colour)
    return top


def _ocean(c: Canvas) -> None:
    g = c.ground_y
    if c.u(0, 1) < 0.6:
        ix, iw = c.u(0.05, 0.9) * c.w, c.u(0.08, 0.25) * c.w
        c.draw.ellipse((ix, g - 0.03 * c.h, ix + iw, g + 0.02 * c.h), fill=c.colours["far"])
    foam = c.colours["accent"]
    for k in range(1, 18):
        d = (k / 18) ** 1.7
        y = g + d * (c.h - g)
        length, n = (0.015 + 0.06 * d) * c.w, int(4 + 10 * d)
        colour = mix(mix(c.colours["ground_far"], c.colours["ground_near"], d), foam, 0.4)
        for _ in range(n):
            x = c.u(-0.05, 1.0) * c.w
            c.draw.arc(
                (x, y - 0.01 * c.h * (1 + 3 * d), x + length, y + 0.01 * c.h),
                200,
                340,
                fill=colour,
                width=max(1, int(c.h * 0.004 * (1 + 2 * d))),
            )


def _forest(c: Canvas) -> None:
    g = c.ground_y
    band = c.colours["far"]
    x = -0.05 * c.w
    while x < c.w * 1.05:
        r = c.u(0.03, 0.07) * c.h
        c.draw.ellipse((x - r, g - 2.2 * r, x + r, g + 0.2 * r), fill=c.vary(band, 0.06))
        x += r * c.u(0.9, 1.5)
    trees = sorted(c.u(g + 0.02 * c.h, c.h * 1.1) for _ in range(int(c.rng.integers(5, 10))))
    for y in trees:
        _tree(c, c.u(-0.05, 1.05) * c.w, y, (0.18 + 0.9 * c.depth(y)) * c.h)


def _tree(c: Canvas, x: float, y: float, height: float) -> None:
    trunk = scale(c.colours["detail"], 0.6)
    c.draw.rectangle((x - 0.03 * height, y - 0.45 * height, x + 0.03 * height, y), fill=trunk)
    leaf = c.vary(mix(c.colours["detail"], c.colours["far"], 0.3), 0.12)
    if c.u(0, 1) < 0.5:
        for k in range(3):
            top, half = y - height * (1.0 - 0.2 * k), 0.16 * height * (1 + 0.45 * k)
            base = top + 0.4 * height
            c.draw.polygon([(x, top), (x - half, base), (x + half, base)], fill=leaf)
    else:
        for dx, dy, r in ((0, -0.75, 0.26), (-0.14, -0.6, 0.2), (0.15, -0.62, 0.21)):
            cx, cy, rr = x + dx * height, y + dy * height, r * height
            c.draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=leaf)


def _garden(c: Canvas) -> None:
    g = c.ground_y
    hedge = c.colours["far"]
    c.draw.rounded_rectangle(
        (-10, g - 0.06 * c.h, c.w + 10, g + 0.01 * c.h), radius=0.03 * c.h, fill=hedge
    )
    rows = int(c.rng.integers(3, 6))
    for k in range(rows):
        d = ((k + 0.7) / rows) ** 1.4
        y = g + d * (c.h - g)
        thick = (0.02 + 0.07 * d) * c.h
        c.draw.rectangle((-10, y, c.w + 10, y + thick), fill=scale(c.colours["ground_near"], 0.8))
        _plants(c, y, (0.012 + 0.05 * d) * c.h)


def _plants(c: Canvas, y: float, size: float) -> None:
    x = c.u(0, 1.5) * size
    leaf, flower = c.colours["detail"], c.colours["accent"]
    while x < c.w:
        c.draw.ellipse((x - size, y - 1.6 * size, x + size, y + 0.3 * size), fill=c.vary(leaf))
        if c.u(0, 1) < 0.35:
            r = 0.35 * size
            c.draw.ellipse((x - r, y - 1.8 * size - r, x + r, y - 1.8 * size + r), fill=flower)
        x += size * c.u(2.2, 3.4)


def _interior(c: Canvas) -> None:
    g = c.ground_y
    detail = c.colours["detail"]
    c.draw.rectangle((0, g - 0.015 * c.h, c.w, g + 0.005 * c.h), fill=detail)
    wx, ww, wh = c.u(0.1, 0.7) * c.w, c.u(0.16, 0.26) * c.w, c.u(0.25, 0.38) * c.h
    top = g - wh - c.u(0.12, 0.22) * c.h
    _window(c, (wx, top, wx + ww, top + wh))
    vx = c.w * (0.5 + c.u(-0.2, 0.2))
    for spread in np.linspace(-1.6, 1.6, 9):
        c.draw.line(
            (vx + spread * 0.2 * c.w, g, vx + spread * c.w, c.h),
            fill=scale(c.colours["ground_far"], 0.8),
            width=max(1, c.h // 360),
        )
    _table(c, c.u(0.05, 0.85) * c.w, g + 0.06 * (c.h - g))


def _window(c: Canvas, box: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = box
    c.window = box
    night = "night" in c.modifiers
    outside = c.graded((18, 26, 56) if night else mix((150, 190, 225), c.colours["sky_low"], 0.4))
    c.draw.rectangle(box, fill=outside)
    if night:
        draw_stars(c, x0, y0, x1, y1)
    frame = c.colours["detail"]
    width = max(2, int(c.h * 0.012))
    c.draw.rectangle(box, outline=frame, width=width)
    c.draw.line(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1), fill=frame, width=width)
    c.draw.line((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2), fill=frame, width=width)
    if not night:
        patch = mix(c.colours["ground_far"], c.colours["accent"], 0.35)
        g, shift = c.ground_y, -c.light * 0.15 * c.w
        c.draw.polygon(
            [(x0, g + 4), (x1, g + 4), (x1 + shift * 2, c.h), (x0 + shift * 2, c.h)], fill=patch
        )


def _table(c: Canvas, x: float, y: float) -> None:
    size = 0.28 * c.h
    wood = scale(c.colours["detail"], 0.9)
    c.draw.rectangle((x, y - 0.55 * size, x + 1.4 * size, y - 0.48 * size), fill=wood)
    for lx in (x + 0.05 * size, x + 1.3 * size):
        c.draw.rectangle((lx, y - 0.5 * size, lx + 0.06 * size, y), fill=wood)
    if "night" in c.modifiers:
        lamp = c.colours["accent"]
        r = 0.12 * size
        c.draw.ellipse(
            (x + 0.3 * size - r, y - 0.75 * size - r, x + 0.3 * size + r, y - 0.75 * size + r),
            fill=lamp,
        )


def _space(c: Canvas) -> None:
    g = c.ground_y
    if g < c.h:
        ridge(c, g, 0.02 * c.h, c.u(0.5, 1.5), c.u(0, 6.28), c.colours["ground_far"])
        for _ in range(int(c.rng.integers(4, 9))):
            y = c.u(g + 0.02 * c.h, c.h)
            d = c.depth(y)
            rx, ry = (0.02 + 0.12 * d) * c.w, (0.005 + 0.03 * d) * c.h
            x = c.u(0, 1) * c.w
            c.draw.ellipse(
                (x - rx, y - ry, x + rx, y + ry),
                fill=scale(c.colours["ground_near"], 0.8),
                outline=scale(c.colours["ground_far"], 1.15),
                width=max(1, int(ry * 0.3)),
            )
    _station(c)


def _station(c: Canvas) -> None:
    x, y = c.u(0.1, 0.9) * c.w, c.u(0.08, 0.35) * min(c.ground_y, c.h)
    s = c.u(0.02, 0.05) * c.h
    metal = c.graded(mix(c.colours["accent"], (160, 165, 175), 0.6))
    c.draw.rectangle((x - 2 * s, y - 0.4 * s, x + 2 * s, y + 0.4 * s), fill=metal)
    panel = c.graded(mix(c.colours["sky_low"], (70, 100, 170), 0.6))
    for side in (-1, 1):
        px = x + side * 2.3 * s
        c.draw.rectangle(
            (min(px, px + side * 2.2 * s), y - 1.1 * s, max(px, px + side * 2.2 * s), y + 1.1 * s),
            fill=panel,
            outline=metal,
        )


def _ruins(c: Canvas) -> None:
    g = c.ground_y
    xs = np.linspace(-0.02 * c.w, 1.02 * c.w, 40)
    ys = g - c.rng.uniform(0.02, 0.12, 40) * c.h
    c.draw.polygon(
        [*zip(xs, ys, strict=True), (xs[-1], g + 1), (xs[0], g + 1)], fill=c.colours["far"]
    )
    for _ in range(int(c.rng.integers(2, 5))):
        _broken_wall(c, c.u(-0.1, 0.9) * c.w, c.u(g, g + 0.25 * (c.h - g)))
    for _ in range(int(c.rng.integers(6, 14))):
        y = c.u(g, c.h * 1.02)
        _rubble(c, c.u(0, 1) * c.w, y, (0.01 + 0.05 * c.depth(y)) * c.h)


def _broken_wall(c: Canvas, x: float, y: float) -> None:
    d = 0.4 + 0.6 * c.depth(y)
    width, height = c.u(0.12, 0.3) * c.w * d, c.u(0.2, 0.45) * c.h * d
    steps = 8
    tops = [y - height * c.u(0.35, 1.0) for _ in range(steps + 1)]
    top = [(x + width * i / steps, t) for i, t in enumerate(tops)]
    wall = c.vary(c.colours["detail"], 0.15)
    c.draw.polygon([*top, (x + width, y), (x, y)], fill=wall)
    hole = scale(wall, 0.55)
    hx, hy = x + 0.3 * width, y - 0.3 * height
    c.draw.rectangle((hx, hy - 0.2 * height, hx + 0.2 * width, hy), fill=hole)


def _rubble(c: Canvas, x: float, y: float, size: float) -> None:
    """A chunky heap: a jittered half-disc resting on the ground."""
    angles = np.linspace(0, math.pi, 7)
    radii = c.rng.uniform(0.6, 1.2, 7) * size
    pts = [
        (x + math.cos(a) * r * 1.4, y - math.sin(a) * r * 0.8)
        for a, r in zip(angles, radii, strict=True)
    ]
    c.draw.polygon(pts, fill=c.vary(c.colours["ground_near"], 0.2))


def _mountain(c: Canvas) -> None:
    g = c.ground_y
    far = mix(c.colours["far"], c.colours["sky_low"], 0.35)
    _peaks(c, g, (0.22, 0.42), far, snow=True)
    _peaks(c, g, (0.1, 0.22), c.colours["far"], snow=False)
    ridge(c, g + 0.05 * c.h, 0.03 * c.h, c.u(1, 2), c.u(0, 6.28), c.colours["ground_far"])


def _peaks(c: Canvas, g: float, heights: tuple[float, float], colour: RGB, snow: bool) -> None:
    x = -c.u(0.05, 0.2) * c.w
    cap = c.colours["accent"]
    while x < c.w * 1.1:
        height, half = c.u(*heights) * c.h, c.u(0.12, 0.25) * c.w
        apex = (x, g - height)
        c.draw.polygon([apex, (x - half, g + 1), (x + half, g + 1)], fill=c.vary(colour, 0.05))
        if snow:
            k = 0.28
            c.draw.polygon(
                [apex, (x - half * k, g - height * (1 - k)), (x + half * k, g - height * (1 - k))],
                fill=cap,
            )
        x += half * c.u(0.8, 1.4)


def _snow(c: Canvas) -> None:
    g = c.ground_y
    ridge(c, g, 0.03 * c.h, c.u(0.8, 1.6), c.u(0, 6.28), c.colours["far"])
    pines = sorted(c.u(g, c.h) for _ in range(int(c.rng.integers(4, 9))))
    dark = c.colours["detail"]
    for y in pines:
        x, height = c.u(0, 1) * c.w, (0.08 + 0.5 * c.depth(y)) * c.h
        for k in range(3):
            top, half = y - height * (1 - 0.25 * k), 0.14 * height * (1 + 0.5 * k)
            c.draw.polygon(
                [(x, top), (x - half, top + 0.45 * height), (x + half, top + 0.45 * height)],
                fill=c.vary(dark, 0.1),
            )
    for _ in range(int(c.rng.integers(3, 7))):
        y = c.u(g, c.h)
        x, rx, ry = c.u(0, 1) * c.w, (0.05 + 0.2 * c.depth(y)) * c.w, 0.012 * c.h
        c.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=c.colours["accent"])


def _field(c: Canvas) -> None:
    g = c.ground_y
    ridge(c, g, 0.025 * c.h, c.u(0.6, 1.6), c.u(0, 6.28), c.colours["far"])
    x = c.u(0, 0.3) * c.w
    while x < c.w:
        r = c.u(0.012, 0.03) * c.h
        c.draw.ellipse(
            (x - r, g - 0.03 * c.h - r, x + r, g - 0.03 * c.h + r),
            fill=scale(c.colours["far"], 0.75),
        )
        x += c.u(0.03, 0.2) * c.w
    if c.u(0, 1) < 0.6:
        _house(c, c.u(0.1, 0.85) * c.w, g + 0.01 * c.h, c.u(0.05, 0.09) * c.h)
    vx = c.w * (0.5 + c.u(-0.3, 0.3))
    furrow = scale(c.colours["ground_near"], 0.8)
    for spread in np.linspace(-2.5, 2.5, 15):
        c.draw.line(
            (vx + spread * 0.05 * c.w, g + 0.06 * c.h, vx + spread * c.w, c.h),
            fill=furrow,
            width=max(1, c.h // 300),
        )


def _house(c: Canvas, x: float, y: float, s: float) -> None:
    wall, roof = c.vary(c.colours["accent"], 0.1), c.colours["detail"]
    c.draw.rectangle((x, y - s, x + 1.5 * s, y), fill=wall)
    c.draw.polygon(
        [(x - 0.15 * s, y - s), (x + 0.75 * s, y - 1.7 * s), (x + 1.65 * s, y - s)], fill=roof
    )


SIDE_VIEWS: dict[str, Callable[[Canvas], None]] = {
    "city": _city,
    "desert": _desert,
    "ocean": _ocean,
    "forest": _forest,
    "garden": _garden,
    "interior": _interior,
    "space": _space,
    "ruins": _ruins,
    "mountain": _mountain,
    "snow": _snow,
    "field": _field,
}
