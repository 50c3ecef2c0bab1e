"""Storyboard figures: people, robots, machines, plants and hands as a few clean shapes.

A figure is built as a list of ``Shape`` in its own units (feet at the origin, y pointing down,
height 1), then placed in the frame and painted. Keeping geometry apart from painting lets the
same shapes be drawn three times: a rim of light, the figure itself, and the subject mask that
tests and critics can measure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import ImageDraw

Point = tuple[float, float]

# Joint angles in degrees from straight down, positive toward where the figure faces:
# (lean, front arm (upper, fore), back arm (upper, fore), front leg (thigh, shin),
#  back leg (thigh, shin)).
POSE_ANGLES: dict[str, tuple[float, Point, Point, Point, Point]] = {
    "stand": (0, (10, 4), (-8, -3), (4, 0), (-4, 0)),
    "walk": (4, (-24, -8), (26, 48), (22, 6), (-20, -38)),
    "run": (15, (50, 115), (-48, 15), (58, -8), (-32, -100)),
    "kneel": (10, (40, 62), (22, 40), (86, 0), (-8, -92)),
    "reach": (6, (84, 90), (6, 0), (14, 0), (-12, -6)),
    "raise": (-5, (155, 170), (-150, -168), (5, 0), (-5, 0)),
    "sit": (0, (38, 80), (26, 70), (86, 2), (80, -4)),
}

# Body proportions in figure heights (a figure about seven and a half heads tall).
HEAD_R, NECK, TORSO = 0.065, 0.035, 0.31
UPPER_ARM, FOREARM, THIGH, SHIN = 0.175, 0.16, 0.245, 0.245
SHOULDER_X, HIP_X = 0.1, 0.05


# Every part a shape can be, each with a code for the part map a frame returns beside its image.
PARTS = ("body", "legs", "skin", "hair", "dark", "metal", "glow", "leaf", "soil", "petal", "paint")
PART_CODES = {part: i + 1 for i, part in enumerate(PARTS)}


@dataclass(frozen=True)
class Shape:
    kind: str  # "ellipse" (points = two corners), "polygon", or "line" (a path with width)
    points: tuple[Point, ...]
    part: str
    width: float = 0.0


def _dir(angle: float) -> Point:
    a = math.radians(angle)
    return math.sin(a), math.cos(a)


def _add(p: Point, angle: float, length: float) -> Point:
    dx, dy = _dir(angle)
    return p[0] + dx * length, p[1] + dy * length


def _circle(c: Point, r: float, part: str) -> Shape:
    return Shape("ellipse", ((c[0] - r, c[1] - r), (c[0] + r, c[1] + r)), part)


def _limb(
    root: Point, upper: float, lower: float, lengths: Point, width: float, part: str
) -> tuple[Shape, Point]:
    joint = _add(root, upper, lengths[0])
    end = _add(joint, lower, lengths[1])
    return Shape("line", (root, joint, end), part, width), end


def _jitter(pose: str, rng: np.random.Generator) -> tuple[float, list[Point]]:
    lean, *limbs = POSE_ANGLES.get(pose, POSE_ANGLES["stand"])
    wobble = rng.uniform(-7, 7, size=(4, 2))
    return lean + float(rng.uniform(-3, 3)), [
        (a + float(d[0]), b + float(d[1])) for (a, b), d in zip(limbs, wobble, strict=True)
    ]


def _skeleton(pose: str, rng: np.random.Generator) -> dict[str, object]:
    """Joint positions of a figure, its lowest point resting on y = 0."""
    lean, (front_arm, back_arm, front_leg, back_leg) = _jitter(pose, rng)
    hip = (0.0, -(THIGH + SHIN))
    neck = _add(hip, 180 + lean, TORSO)
    legs = [
        _limb((hip[0] + s * HIP_X, hip[1]), a, b, (THIGH, SHIN), 0.075, "legs")
        for s, (a, b) in ((1, front_leg), (-1, back_leg))
    ]
    low = max(p[1] for shape, _ in legs for p in shape.points)
    return {
        "lean": lean,
        "hip": hip,
        "neck": neck,
        "legs": [s for s, _ in legs],
        "arms": (front_arm, back_arm),
        "drop": -low,
    }


def human(
    pose: str, rng: np.random.Generator, detailed: bool, grounded: bool = True
) -> list[Shape]:
    """A person seen from the front three-quarters, facing +x. ``grounded``: the lowest point
    rests on y = 0 (a kneeling person is shorter); otherwise the hips stay where a standing
    person's are, so a close shot frames the head the same way in every pose."""
    sk = _skeleton(pose, rng)
    lean, hip, neck = sk["lean"], sk["hip"], sk["neck"]
    shapes: list[Shape] = []
    if pose == "sit":
        shapes.append(
            Shape(
                "polygon",
                ((-0.2, hip[1] + 0.02), (0.15, hip[1] + 0.02), (0.15, 0.0), (-0.2, 0.0)),
                "dark",
            )
        )
    shapes += sk["legs"]
    shapes.append(_torso(hip, neck, lean))
    hands = []
    for s, (a, b) in zip((1, -1), sk["arms"], strict=True):
        root = _add(neck, 90 + lean, s * SHOULDER_X)
        arm, end = _limb(root, a, b, (UPPER_ARM, FOREARM), 0.055, "body")
        shapes.append(arm)
        hands.append(_circle(end, 0.032, "skin"))
    shapes += _head(_add(neck, 180 + lean, NECK + HEAD_R), detailed)
    shapes += hands if detailed else []
    return _drop(shapes, sk["drop"]) if grounded else shapes


def _torso(hip: Point, neck: Point, lean: float) -> Shape:
    side = 90 + lean
    return Shape(
        "polygon",
        (
            _add(neck, side, 0.118),
            _add(neck, side, -0.118),
            _add(hip, side, -0.095),
            _add(hip, side, 0.095),
        ),
        "body",
    )


def _head(c: Point, detailed: bool) -> list[Shape]:
    x, y = c
    shapes = [
        Shape(
            "ellipse",
            ((x - HEAD_R * 1.06, y - HEAD_R * 1.12), (x + HEAD_R * 0.96, y + HEAD_R * 0.6)),
            "hair",
        ),
        Shape(
            "ellipse",
            ((x - HEAD_R * 0.88, y - HEAD_R * 0.72), (x + HEAD_R * 1.0, y + HEAD_R)),
            "skin",
        ),
    ]
    if detailed:
        for ex in (0.2, 0.62):
            shapes.append(_circle((x + ex * HEAD_R, y + 0.02 * HEAD_R), 0.065 * HEAD_R, "dark"))
    return shapes


def robot(
    pose: str, rng: np.random.Generator, detailed: bool, grounded: bool = True
) -> list[Shape]:
    """A boxy humanoid robot on the same skeleton as a person."""
    sk = _skeleton(pose, rng)
    hip, neck, lean = sk["hip"], sk["neck"], sk["lean"]
    shapes = [replace(s, part="metal", width=0.085) for s in sk["legs"]]
    shapes.append(_box(hip[0] - 0.14, neck[1], hip[0] + 0.14, hip[1] + 0.03, "metal"))
    shapes.append(_box(-0.07, neck[1] + 0.06, 0.07, neck[1] + 0.12, "glow"))
    for s, (a, b) in zip((1, -1), sk["arms"], strict=True):
        root = _add(neck, 90 + lean, s * 0.16)
        arm, end = _limb(root, a, b, (UPPER_ARM, FOREARM), 0.06, "metal")
        shapes += [arm, _circle(end, 0.035, "dark")]
    hx, hy = neck[0], neck[1] - NECK
    shapes += [
        _box(hx - 0.08, hy - 0.15, hx + 0.08, hy, "metal"),
        _box(hx - 0.06, hy - 0.11, hx + 0.075, hy - 0.07, "glow"),
        Shape("line", ((hx, hy - 0.15), (hx, hy - 0.21)), "dark", 0.012),
        _circle((hx, hy - 0.215), 0.015, "glow"),
    ]
    return _drop(shapes, sk["drop"]) if grounded else shapes


def machine(rng: np.random.Generator) -> list[Shape]:
    """A bulldozer-like machine, facing +x, one unit tall and about two units long."""
    stretch = float(rng.uniform(0.9, 1.15))
    shapes = [
        Shape(
            "polygon",
            ((-0.95, -0.3), (0.75, -0.3), (0.85, -0.05), (0.7, 0.0), (-0.9, 0.0), (-1.05, -0.05)),
            "dark",
        ),
        _box(-0.8 * stretch, -0.62, 0.55, -0.28, "paint"),
        _box(-0.62 * stretch, -1.0, -0.12, -0.62, "paint"),
        _box(-0.55 * stretch, -0.93, -0.2, -0.68, "glow"),
        Shape("polygon", ((0.82, -0.6), (0.98, -0.62), (1.02, 0.0), (0.86, 0.0)), "metal"),
        Shape("line", ((0.55, -0.45), (0.84, -0.3)), "metal", 0.06),
        Shape("line", ((0.3, -0.62), (0.3, -0.9)), "dark", 0.04),
    ]
    shapes += [_circle((x, -0.15), 0.11, "metal") for x in np.linspace(-0.8, 0.6, 5)]
    return shapes


def seedling(rng: np.random.Generator) -> list[Shape]:
    """A young plant in a mound of soil, one unit tall."""
    bend = float(rng.uniform(-0.08, 0.08))
    top = (bend, -0.72)
    shapes = [
        Shape("ellipse", ((-0.5, -0.14), (0.5, 0.1)), "soil"),
        Shape("line", ((0.0, -0.08), (bend * 0.5, -0.4), top), "leaf", 0.045),
        _leaf(top, -1, 0.42),
        _leaf(top, 1, 0.38),
        _leaf((bend * 0.6, -0.45), 1, 0.26),
        _circle((top[0], top[1] - 0.06), 0.05, "petal"),
    ]
    return shapes


def _leaf(base: Point, side: int, length: float) -> Shape:
    """An almond-shaped leaf rising from ``base`` to one side."""
    angle = side * 120
    tip = _add(base, angle, length)
    mid = ((base[0] + tip[0]) / 2, (base[1] + tip[1]) / 2)
    nx, ny = _dir(angle + 90)
    bulge = 0.22 * length
    return Shape(
        "polygon",
        (
            base,
            (mid[0] + nx * bulge, mid[1] + ny * bulge),
            tip,
            (mid[0] - nx * bulge, mid[1] - ny * bulge),
        ),
        "leaf",
    )


def hand(rng: np.random.Generator, metal: bool) -> list[Shape]:
    """A hand reaching in from the left, palm at the origin, about one unit long."""
    skin, sleeve = ("metal", "dark") if metal else ("skin", "body")
    curl = float(rng.uniform(0, 25))
    shapes = [
        Shape("line", ((-1.6, 0.35), (-0.3, 0.02)), sleeve, 0.34),
        _box(-0.35, -0.17, 0.05, 0.17, skin)
        if metal
        else Shape("ellipse", ((-0.38, -0.18), (0.08, 0.2)), skin),
        Shape("line", ((-0.2, -0.12), (-0.05, -0.34), (0.12, -0.42)), skin, 0.09),
    ]
    for k, y in enumerate(np.linspace(-0.12, 0.15, 4)):
        length = 0.34 - 0.03 * abs(k - 1.2)
        knuckle = (0.02, float(y))
        mid = _add(knuckle, 90 - curl * 0.5, length * 0.55)
        tip = _add(mid, 90 - curl * 1.5, length * 0.45)
        shapes.append(Shape("line", (knuckle, mid, tip), skin, 0.08))
    return shapes


def shoulder(facing: int) -> list[Shape]:
    """The foreground shoulder and head of an over-the-shoulder shot, one unit tall."""
    return [
        Shape(
            "polygon",
            ((-0.9, 0.0), (-0.75, -0.42), (-0.3, -0.55), (0.3, -0.55), (0.75, -0.42), (0.9, 0.0)),
            "dark",
        ),
        Shape("ellipse", ((-0.3 * facing - 0.26, -1.0), (-0.3 * facing + 0.26, -0.4)), "dark"),
    ]


def from_above(kind: str, pose: str, rng: np.random.Generator) -> list[Shape]:
    """A figure seen from straight above: a shadow, shoulders and the top of a head."""
    if kind == "machine":
        return [
            _box(-0.6, -0.35, 0.6, 0.35, "paint"),
            _box(-0.55, -0.45, 0.55, -0.32, "dark"),
            _box(-0.55, 0.32, 0.55, 0.45, "dark"),
            _box(-0.4, -0.2, 0.0, 0.2, "glow"),
        ]
    reach = 0.3 if pose in ("reach", "raise") else 0.12
    part = "metal" if kind == "robot" else "body"
    shapes = [
        Shape("ellipse", ((-0.06, -0.13), (0.1, 0.13)), "legs")
        if pose in ("walk", "run")
        else Shape("ellipse", ((-0.02, -0.1), (0.04, 0.1)), "legs"),
        Shape("line", ((0.0, -0.12), (reach, -0.1)), part, 0.05),
        Shape("line", ((0.0, 0.12), (0.1 + float(rng.uniform(0, 0.06)), 0.13)), part, 0.05),
        Shape("ellipse", ((-0.07, -0.15), (0.07, 0.15)), part),
    ]
    if kind == "robot":
        return [
            *shapes,
            _box(-0.06, -0.06, 0.06, 0.06, "metal"),
            _box(0.02, -0.04, 0.06, 0.04, "glow"),
        ]
    return [*shapes, _circle((0.0, 0.0), 0.065, "hair")]


def _box(x0: float, y0: float, x1: float, y1: float, part: str) -> Shape:
    return Shape("polygon", ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), part)


def _drop(shapes: list[Shape], dy: float) -> list[Shape]:
    return [replace(s, points=tuple((x, y + dy) for x, y in s.points)) for s in shapes]


# --- placing and painting -------------------------------------------------------------------


def place(
    shapes: Iterable[Shape], x: float, y: float, unit: float, facing: int = 1, turn: float = 0.0
) -> list[Shape]:
    """Shapes in frame pixels: scaled by ``unit`` px, mirrored to face left when ``facing`` is
    -1, turned by ``turn`` degrees, with their origin at (x, y)."""
    cos, sin = math.cos(math.radians(turn)), math.sin(math.radians(turn))

    def move(p: Point) -> Point:
        px, py = p[0] * unit * facing, p[1] * unit
        return x + px * cos - py * sin, y + px * sin + py * cos

    return [
        replace(s, points=tuple(move(p) for p in s.points), width=s.width * unit) for s in shapes
    ]


def paint(
    draw: ImageDraw.ImageDraw,
    shapes: Iterable[Shape],
    colours: Mapping[str, object],
    offset: Point = (0.0, 0.0),
    every: object = None,
) -> None:
    """Draw shapes in their parts' colours (a part missing from ``colours`` is skipped), or all
    in the one colour ``every`` (a rim of light, a mask)."""
    dx, dy = offset
    for shape in shapes:
        fill = every if every is not None else colours.get(shape.part)
        if fill is None:
            continue
        pts = [(x + dx, y + dy) for x, y in shape.points]
        _paint_one(draw, shape, pts, fill)


def _paint_one(draw: ImageDraw.ImageDraw, shape: Shape, pts: list[Point], fill: object) -> None:
    if shape.kind == "ellipse":
        (x0, y0), (x1, y1) = pts
        draw.ellipse((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=fill)
    elif shape.kind == "polygon":
        draw.polygon(pts, fill=fill)
    else:
        width = max(1, int(round(shape.width)))
        draw.line(pts, fill=fill, width=width, joint="curve")
        r = shape.width / 2
        if r >= 1.5:
            for x, y in (pts[0], pts[-1]):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def extent(shapes: Iterable[Shape]) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of shapes, line widths included."""
    xs, ys = [], []
    for s in shapes:
        pad = s.width / 2
        for x, y in s.points:
            xs += [x - pad, x + pad]
            ys += [y - pad, y + pad]
    return min(xs), min(ys), max(xs), max(ys)
