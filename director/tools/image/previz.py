"""The previz image backend: deterministic storyboard frames drawn from a shot's prompt slots.

It runs anywhere with no weights: the camera slot sets the framing (size and angle), the
environment slot the place, time and weather, the subject and action slots who is there and how
they stand, and the style bible the colours and grain. A caption band names the shot and says
plainly that the frame is a previz storyboard. A frame is a pure function of its request: the
same request gives the same PNG bytes, another seed moves the composition around.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from director.errors import BackendError, InputError
from director.files import atomic_file
from director.tools.assemble.fonts import fit, pil_font, wrap
from director.tools.base import ImageBackend, ImageRequest, Job
from director.tools.image import figures as fig
from director.tools.image.look import (
    RGB,
    Look,
    figure_light,
    frame_colours,
    look_of,
    mix,
    palette_ramp,
    part_colours,
    scale,
)
from director.tools.image.scene import HUMAN, MACHINE, PLANT, ROBOT, Scene, read_scene
from director.tools.image.scenery import (
    Canvas,
    backdrop,
    draw_environment,
    draw_from_above,
    draw_haze,
    draw_sky,
    draw_weather,
)

MODEL = "storyboard-v1"
RENDERER = "storyboard-v1.0"
MIN_SIDE, MAX_SIDE = 64, 8192
CAPTION_SHARE = 0.14

# Framing per shot size: (figure height, eye line) in scene heights. The eye line sits at the
# horizon at eye level (the camera is at eye height); the figure height sets what is cut off:
# a medium shot ends at the waist, a medium close-up at the chest, a close-up below the
# shoulders.
FRAMING: dict[str, tuple[float, float]] = {
    "extreme-wide": (0.07, 0.6),
    "wide": (0.27, 0.5),
    "full": (0.8, 0.18),
    "medium": (1.9, 0.2),
    "medium-close-up": (3.0, 0.27),
    "close-up": (5.2, 0.34),
    "insert": (5.2, 0.34),
}
# How far behind the main subject a second one (named in the action) stands: its scale relative
# to the main subject, so it stays in frame even in a close-up.
DEPTH_BEHIND = {
    "extreme-wide": 0.8,
    "wide": 0.6,
    "full": 0.4,
    "medium": 0.25,
    "medium-close-up": 0.18,
    "close-up": 0.12,
    "insert": 0.12,
}
# Depth of field: how much the background is softened (a reduce factor) for closer sizes.
SOFTEN = {"medium": 2, "medium-close-up": 3, "close-up": 4, "insert": 5}
# Sizes that show the whole figure, so a kneeling or sitting person rests on the ground; closer
# sizes frame the head and shoulders the same way whatever the legs do.
GROUNDED = ("extreme-wide", "wide", "full")
# Heights of subjects relative to a person.
HEIGHT = {HUMAN: 1.0, ROBOT: 1.05, MACHINE: 1.35}
THIRDS = (1 / 3, 2 / 3, 1 / 2)

LABEL_COLOUR = (255, 192, 64)
TEXT_COLOUR = (232, 230, 224)


@dataclass(frozen=True)
class Layout:
    """Where things go, in scene pixels, for one frame."""

    horizon: float
    unit: float
    x: float
    feet: float
    facing: int
    light: float
    gain: float
    tilt: float


@dataclass
class PrevizFrame:
    image: Image.Image
    parts: np.ndarray  # per pixel: the code (``figures.PART_CODES``) of the subject part seen there
    scene: Scene

    @property
    def subject_mask(self) -> np.ndarray:
        """Where the main subject is."""
        return self.parts > 0

    def part_mask(self, part: str) -> np.ndarray:
        """Where a part of the main subject is seen ("body": the clothes of torso and arms)."""
        return self.parts == fig.PART_CODES[part]


class PrevizImage(ImageBackend):
    """Storyboard frames with no model: a drawing of the shot, captioned as previz."""

    name = "previz"
    renders_faces = False  # storyboard figures: an identity critic has no face to judge

    def __init__(self, model: str = MODEL) -> None:
        if model != MODEL:
            raise InputError(
                f"The previz image backend has no model {model!r}.",
                f"Use 'previz' or 'previz:{MODEL}'.",
            )
        self.model = model

    def submit(self, request: ImageRequest) -> Job:
        check_size(request.width, request.height)
        payload = request.model_dump(mode="json")
        digest = hashlib.sha256(
            json.dumps([RENDERER, payload], sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        params = {
            "width": request.width,
            "height": request.height,
            "seed": request.seed,
            "renderer": RENDERER,
            # The caption band at the bottom: clips hold it still while the picture moves.
            "caption_px": caption_height(request.height),
        }
        return Job.of(self, request, f"previz-{digest[:20]}", payload=payload, params=params)

    def collect(self, job: Job, dest: Path) -> None:
        if job.backend != self.name:
            raise BackendError(
                f"Job {job.id} belongs to the {job.backend!r} backend, not previz.",
                f"Collect it with the {job.backend!r} image backend.",
            )
        request = ImageRequest.model_validate(job.request)
        write_png(self.render(request), Path(dest))

    def render(self, request: ImageRequest) -> Image.Image:
        return render_frame(request).image


def check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InputError(
            f"Cannot draw a {width}x{height} storyboard frame.",
            f"Ask for a width and height between {MIN_SIDE} and {MAX_SIDE} pixels.",
        )


def write_png(image: Image.Image, dest: Path) -> None:
    """Write atomically: a reader never sees half a file, and a failed write leaves nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(dest) as fh:
        # Fast compression keeps a grainy 1280x720 frame well under a tenth of a second.
        image.save(fh, format="PNG", compress_level=1)


# --- the frame --------------------------------------------------------------------------------


def render_frame(request: ImageRequest) -> PrevizFrame:
    """Draw the frame for a request; also returns where each part of the main subject is seen."""
    check_size(request.width, request.height)
    scene = read_scene(request.shot)
    rng = np.random.default_rng(_seed_words(request))
    w, band = request.width, caption_height(request.height)
    hs = request.height - band
    layout = frame_layout(scene, rng, w, hs)
    ramp = palette_ramp(request.bible.palette)
    colours = frame_colours(scene.kind, scene.modifiers, ramp)
    canvas = _background(scene, layout, colours, ramp, rng, w, hs)
    mask = Image.new("L", (w, hs), 0)
    _draw_subjects(canvas, scene, layout, mask)
    draw_weather(canvas)
    img, mask = _tilt(canvas.img, mask, layout.tilt)
    img = _tone(img, rng, request.bible.grain, layout.gain)
    full = Image.new("RGB", (w, request.height))
    full.paste(img, (0, 0))
    draw_caption(full, request, band)
    parts = np.zeros((request.height, w), dtype=np.uint8)
    parts[:hs] = np.asarray(mask)
    return PrevizFrame(image=full, parts=parts, scene=scene)


def caption_height(height: int) -> int:
    return max(16, round(height * CAPTION_SHARE))


def _seed_words(request: ImageRequest) -> list[int]:
    digest = hashlib.sha256(f"{request.seed}|{request.shot.id}".encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4)]


def frame_layout(scene: Scene, rng: np.random.Generator, w: int, hs: int) -> Layout:
    """Subject scale and place, horizon and light for the scene's size and angle, varied by seed."""
    fig_h, eye = FRAMING[scene.size]
    eye += float(rng.uniform(-0.03, 0.03))
    third = THIRDS[int(rng.choice(3, p=(0.4, 0.4, 0.2)))]
    if w < hs:
        # A portrait frame is too narrow for thirds: the subject stays near the middle.
        third = 0.5 + (third - 0.5) * 0.35
    x = (third + float(rng.uniform(-0.03, 0.03))) * w
    facing = 1 if third < 0.5 else -1 if third > 0.5 else int(rng.choice((-1, 1)))
    horizon, scale_k = eye, 1.0
    if scene.angle == "low-angle":
        eye += 0.2 if scene.size in ("extreme-wide", "wide") else 0.0
        scale_k = 1.12
        horizon = min(eye + 0.9 * fig_h * scale_k, 0.9) - 0.03
    elif scene.angle == "high-angle":
        eye += 0.06
        scale_k = 0.85
        horizon = eye - 0.32
    elif scene.size == "insert":
        horizon = 0.12
    feet = eye + 0.9 * fig_h * scale_k
    tilt = 0.0
    if scene.angle == "dutch":
        tilt = float(rng.uniform(8, 12)) * float(rng.choice((-1, 1)))
    return Layout(
        horizon=horizon * hs,
        unit=fig_h * scale_k * hs,
        x=x,
        feet=feet * hs,
        facing=facing,
        light=float(rng.uniform(-1, 1)),
        gain=float(rng.uniform(0.92, 1.04)),
        tilt=tilt,
    )


def _background(
    scene: Scene,
    layout: Layout,
    colours: dict[str, RGB],
    ramp: list[RGB],
    rng: np.random.Generator,
    w: int,
    hs: int,
) -> Canvas:
    above = scene.angle == "birds-eye"
    horizon = -2.0 * hs if above else layout.horizon
    ground = horizon + 0.1 * hs if scene.kind == "interior" else horizon
    img = backdrop(w, hs, colours, ground, layout.light)
    canvas = Canvas(
        img, rng, colours, horizon, layout.light, scene.kind, frozenset(scene.modifiers), ramp
    )
    if above:
        draw_from_above(canvas)
    else:
        draw_sky(canvas)
        draw_environment(canvas)
    return canvas


# --- subjects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Shapes drawn together (a figure, with its prop), and the look of who it is."""

    shapes: list[fig.Shape]
    look: Look


def _draw_subjects(c: Canvas, scene: Scene, layout: Layout, mask: Image.Image) -> None:
    looks = [look_of(w.name, w.description, w.place) for w in scene.who]
    if scene.angle == "birds-eye":
        groups, behind = _from_above(c, scene, layout, looks), []
    elif scene.size == "insert":
        groups, behind = _insert(c, scene, layout, looks), []
    else:
        groups, behind = _side_view(c, scene, layout, looks)
    for group in behind:
        _paint_group(c, group, layout, shadow=True)
    factor = SOFTEN.get(scene.size, 1)
    if factor > 1:
        _soften(c, factor)
    draw_haze(c)  # the air between the camera and the distance, in front of no one
    for group in groups:
        _paint_group(c, group, layout, shadow=scene.size not in ("insert", "close-up"))
        fig.paint(ImageDraw.Draw(mask), group.shapes, fig.PART_CODES)
    if scene.angle == "over-the-shoulder":
        _over_shoulder(c, layout)


def _look(looks: list[Look], i: int, kind: str) -> Look:
    """The look of figure ``i``; someone the scene does not say is drawn in a look of their kind."""
    return looks[i] if i < len(looks) else look_of("", kind)


def _side_view(c: Canvas, scene: Scene, layout: Layout, looks: list[Look]) -> tuple[list, list]:
    detailed = layout.unit * fig.HEAD_R >= 5
    groups = []
    for i, kind in reversed(list(enumerate(scene.figures))):
        k = 0.88**i
        x = layout.x - layout.facing * i * 0.45 * layout.unit * HEIGHT[kind]
        shapes = _standing(
            c,
            kind,
            scene.pose,
            x,
            _depth(layout, k),
            layout.unit * k,
            layout.facing,
            detailed,
            grounded=scene.size in GROUNDED,
        )
        groups.append(Group(shapes, _look(looks, i, kind)))
    if groups and scene.prop == PLANT:
        x = layout.x + layout.facing * 0.28 * layout.unit
        plant = fig.place(fig.seedling(c.rng), x, layout.feet, 0.16 * layout.unit)
        groups[-1] = Group(groups[-1].shapes + plant, groups[-1].look)
    behind = []
    for kind in scene.background:
        k = DEPTH_BEHIND[scene.size]
        x = c.w * (1 - layout.x / c.w) + c.u(-0.05, 0.05) * c.w
        shapes = _standing(
            c,
            kind,
            scene.pose if kind != MACHINE else "",
            x,
            _depth(layout, k),
            layout.unit * k,
            -layout.facing,
            False,
        )
        behind.append(Group(shapes, look_of("", kind)))
    return groups, behind


def _depth(layout: Layout, k: float) -> float:
    """Feet of a subject ``k`` times the main one's size: nearer the horizon, as in perspective."""
    return layout.horizon + (layout.feet - layout.horizon) * k


def _standing(
    c: Canvas,
    kind: str,
    pose: str,
    x: float,
    feet: float,
    unit: float,
    facing: int,
    detailed: bool,
    grounded: bool = True,
) -> list[fig.Shape]:
    if kind == MACHINE:
        shapes = fig.machine(c.rng)
    elif kind == ROBOT:
        shapes = fig.robot(pose, c.rng, detailed, grounded)
    else:
        shapes = fig.human(pose, c.rng, detailed, grounded)
    return fig.place(shapes, x, feet, unit * HEIGHT[kind], facing)


def _insert(c: Canvas, scene: Scene, layout: Layout, looks: list[Look]) -> list[Group]:
    """A detail: the plant, or a hand, or the working end of a machine, filling the frame."""
    hs, x, facing = c.h, layout.x, layout.facing
    look = _look(looks, 0, scene.main or HUMAN)
    if scene.prop == PLANT:
        groups = [Group(fig.place(fig.seedling(c.rng), x, hs * 0.97, hs * 0.85), look)]
        if scene.main in (HUMAN, ROBOT):
            palm = (x - facing * 0.34 * hs, hs * 0.5)
            hand = fig.place(fig.hand(c.rng, scene.main == ROBOT), *palm, hs * 0.42, facing)
            groups.append(Group(hand, look))
        return groups
    if scene.main == MACHINE:
        shapes = fig.place(fig.machine(c.rng), x - facing * 0.9 * hs, hs * 1.05, hs * 1.5, facing)
        return [Group(shapes, look)]
    hand = fig.hand(c.rng, scene.main == ROBOT)
    return [Group(fig.place(hand, x, hs * 0.55, hs * 0.62, facing, turn=c.u(-20, 20)), look)]


def _from_above(c: Canvas, scene: Scene, layout: Layout, looks: list[Look]) -> list[Group]:
    unit = c.h * min(FRAMING[scene.size][0], 3.0) * 0.75
    groups = []
    for i, kind in enumerate(scene.figures):
        turn = c.u(0, 360)
        x = layout.x + i * 0.35 * unit * (-layout.facing)
        y = c.h * c.u(0.4, 0.6) + i * 0.1 * unit
        shapes = fig.place(
            fig.from_above(kind, scene.pose, c.rng), x, y, unit * HEIGHT[kind], 1, turn
        )
        groups.append(Group(shapes, _look(looks, i, kind)))
    if scene.prop == PLANT:
        plant = fig.place(fig.seedling(c.rng), layout.x + 0.25 * unit, c.h * 0.7, 0.2 * unit)
        groups.append(Group(plant, _look(looks, 0, HUMAN)))
    return groups


def _paint_group(c: Canvas, group: Group, layout: Layout, shadow: bool) -> None:
    shapes = group.shapes
    if not shapes:
        return
    box = fig.extent(shapes)
    parts = part_colours(c.colours, group.look, figure_light(c.modifiers), c.ramp)
    height = box[3] - box[1]
    if shadow:
        _cast_shadow(c, shapes, box, height)
    nudge = max(1.0, 0.01 * min(height, c.h))
    rim = (nudge * (1 if layout.light >= 0 else -1), -nudge * 0.5)
    fig.paint(c.draw, shapes, {}, rim, every=parts["rim"])
    fig.paint(c.draw, shapes, parts)


def _cast_shadow(c: Canvas, shapes: list[fig.Shape], box: tuple, height: float) -> None:
    floor = box[3]
    if floor > c.h or floor < c.ground_y:
        return
    width = (box[2] - box[0]) * 0.6 + 0.1 * height
    cx = (box[0] + box[2]) / 2 - c.light * 0.15 * height
    shade = scale(c.colours["ground_near"], 0.6)
    c.draw.ellipse(
        (cx - width, floor - 0.025 * height, cx + width, floor + 0.025 * height), fill=shade
    )


def _over_shoulder(c: Canvas, layout: Layout) -> None:
    """A dark shoulder and head of the other person, close to the camera, opposite the subject."""
    side = -1 if layout.x >= c.w / 2 else 1
    x = c.w / 2 + side * c.u(0.34, 0.46) * c.w
    shapes = fig.place(fig.shoulder(side), x, c.h * c.u(1.02, 1.12), c.h * c.u(0.65, 0.85))
    dark = c.graded(mix(scale(c.colours["detail"], 0.4), (16, 16, 18), 0.5))
    fig.paint(c.draw, shapes, {"dark": dark})


def _soften(c: Canvas, factor: int) -> None:
    small = c.img.reduce(factor)
    c.img.paste(small.resize(c.img.size, Image.Resampling.BILINEAR))


# --- the finish: tilt, tone, grain, caption ----------------------------------------------------


def _tilt(img: Image.Image, mask: Image.Image, degrees: float) -> tuple[Image.Image, Image.Image]:
    """Dutch tilt: rotate about the centre, zoomed just enough that no corner is left empty."""
    if not degrees:
        return img, mask
    w, h = img.size
    a = math.radians(degrees)
    zoom = abs(math.cos(a)) + abs(math.sin(a)) * max(w / h, h / w)
    cos, sin = math.cos(a) / zoom, math.sin(a) / zoom
    cx, cy = w / 2, h / 2
    data = (cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy)
    turn = Image.Transform.AFFINE
    return (
        img.transform(img.size, turn, data, Image.Resampling.BILINEAR),
        mask.transform(mask.size, turn, data, Image.Resampling.NEAREST),
    )


@lru_cache(maxsize=8)
def _vignette(w: int, h: int) -> np.ndarray:
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    return (1.0 - 0.11 * (xs * xs + ys * ys)).astype(np.float32)


def _tone(img: Image.Image, rng: np.random.Generator, grain: float, gain: float) -> Image.Image:
    """Exposure, a light vignette and monochrome film grain, in one numpy pass."""
    w, h = img.size
    pixels = np.asarray(img, dtype=np.float32)
    k = _vignette(w, h) * np.float32(gain)
    if grain > 0:
        noise = rng.standard_normal((h, w), dtype=np.float32) * np.float32(14.0 * grain)
        out = pixels * k[..., None] + noise[..., None]
    else:
        out = pixels * k[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def draw_caption(img: Image.Image, request: ImageRequest, band: int) -> None:
    """The caption band: what the shot is, and that this is a previz storyboard frame."""
    w, h = img.size
    top = h - band
    darkest = palette_ramp(request.bible.palette)[0]
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, top, w, h), fill=mix(darkest, (16, 16, 18), 0.7))
    size = max(8, int(min(band * 0.18, w / 40)))
    font, line_h, pad = pil_font(size), int(size * 1.28), max(2, band // 14)
    rows = max(1, (band - 2 * pad) // line_h)
    label = f"PREVIZ storyboard · seed {request.seed}"
    draw.text((pad * 2, top + pad), fit(label, font, w - 4 * pad), font=font, fill=LABEL_COLOUR)
    shot_id = request.shot.id
    room = w - 6 * pad - font.getlength(label)
    if font.getlength(shot_id) <= room:
        draw.text(
            (w - 2 * pad - font.getlength(shot_id), top + pad), shot_id, font=font, fill=TEXT_COLOUR
        )
    for i, line in enumerate(_caption_lines(request, font, w - 4 * pad, rows - 1)):
        draw.text((pad * 2, top + pad + (i + 1) * line_h), line, font=font, fill=TEXT_COLOUR)


def _caption_lines(request: ImageRequest, font, width: float, rows: int) -> list[str]:
    p = request.shot.prompt
    story = wrap(f"{p.subject} — {p.action}", font, width, max(1, rows - 1))
    frame = [fit(f"{p.environment} · {p.camera}", font, width)]
    return (story + frame)[:rows] if rows > 1 else story[:rows]
