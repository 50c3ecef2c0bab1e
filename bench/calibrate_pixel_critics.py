"""Calibrate the critics that need no weights (technical, palette, duplicate) on storyboard frames
and real photos.

Renders about 200 previz frames over every environment kind, time of day and weather, every shot
size and angle, several frame sizes (landscape and portrait) and three style bibles, plus a set of
broken images, scores them all with the default thresholds, and prints a table:
pass rates per check on the sound frames, and the verdict on each broken image. Then the
technical checks on real photos (scikit-image's and insightface's sample photos, and every image
under ``--photos DIR``), as they are and brightened or darkened until they are badly exposed.

    PYTHONPATH=. python bench/calibrate_pixel_critics.py [--frames 198] [--photos DIR]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from PIL import Image, ImageFilter

from director.records import Shot, ShotPrompt, StyleBible
from director.tools.base import CriticContext, ImageRequest
from director.tools.critics.duplicate import DuplicateCritic, phash
from director.tools.critics.palette import PaletteCritic
from director.tools.critics.technical import TechnicalCritic
from director.tools.image.previz import render_frame

PALETTES = {
    "amber": ["#1c1410", "#4a3020", "#8c5a32", "#d09a5a", "#f4e0b8"],
    "teal": ["#0c1a1e", "#1e3f48", "#3f7480", "#8fb8b8", "#e4f0ec"],
    "ash": ["#141516", "#3a3b3d", "#6f7072", "#adaeb0", "#e9e9ea"],
}
NEON = ["#2a0033", "#7a00a0", "#ff00aa", "#00ffcc", "#f0ff00"]
INK = ["#000000", "#101418", "#303840", "#8090a0", "#e0e8f0"]
PLACES = [
    "a city street",
    "desert dunes",
    "the ocean shore",
    "a pine forest",
    "a vegetable garden",
    "inside a small kitchen",
    "outer space near the moon",
    "the ruins of a town",
    "a mountain valley",
    "a snow field",
    "a farm field",
]
TIMES = ["", " at night", " at dawn", " at dusk", " in the rain", " in thick fog"]
SIZES = [
    "extreme wide shot",
    "wide shot",
    "full shot",
    "medium shot",
    "medium close-up",
    "close-up",
    "insert shot",
]
ANGLES = [
    "eye level",
    "low angle",
    "high angle",
    "over-the-shoulder",
    "bird's-eye view",
    "Dutch tilt",
]
SUBJECTS = [
    ("an old woman in a grey coat", "kneels and touches a seedling"),
    ("a small robot", "walks forward"),
    ("two children", "run across"),
    ("a farmer", "stands and watches a bulldozer"),
    ("老奶奶", "伸手触摸幼苗"),
    ("a young man", "looks up at the sky"),
]
FRAME_SIZES = [(1280, 720), (640, 360), (1920, 1080), (720, 1280), (256, 144)]


GRAINS = (0.0, 0.25, 0.5)


def bible(name: str, palette: list[str], size: tuple[int, int], grain: float = 0.25) -> StyleBible:
    return StyleBible(
        name=name,
        suffix="storyboard",
        negative="",
        palette=palette,
        aspect_ratio="16:9",
        width=size[0],
        height=size[1],
        grain=grain,
    )


def request(i: int, palette_name: str, palette: list[str], seed: int) -> ImageRequest:
    subject, action = SUBJECTS[i % len(SUBJECTS)]
    camera = f"{SIZES[i % len(SIZES)]}, {ANGLES[(i // len(SIZES)) % len(ANGLES)]}"
    environment = PLACES[i % len(PLACES)] + TIMES[(i // len(PLACES)) % len(TIMES)]
    prompt = ShotPrompt(
        subject=subject, action=action, environment=environment, camera=camera, style="storyboard"
    )
    shot = Shot(
        id=f"S{i:03d}",
        beat_id="B1",
        index=i,
        role="wide",
        size="wide",
        angle="eye-level",
        move="static",
        duration_s=4.0,
        prompt=prompt,
    )
    size = FRAME_SIZES[i % len(FRAME_SIZES)]
    grain = GRAINS[(i // 3) % len(GRAINS)]
    return ImageRequest(
        shot=shot,
        bible=bible(palette_name, palette, size, grain),
        seed=seed,
        width=size[0],
        height=size[1],
        prompt=prompt.render(),
    )


def save(img: Image.Image, folder: Path, name: str) -> str:
    path = folder / f"{name}.png"
    img.save(path, compress_level=1)
    return str(path)


def score(
    img: Image.Image,
    req: ImageRequest,
    critics: list,
    anchors: list[str] | None = None,
    accepted: dict[str, str] | None = None,
    palette: list[str] | None = None,
) -> dict:
    b = req.bible.model_copy(update={"palette": palette or req.bible.palette})
    ctx = CriticContext(bible=b, style_anchors=anchors or [], accepted=accepted or {})
    return {c.name: c for critic in critics for c in critic.check(img, req.shot, ctx)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=198)
    parser.add_argument("--photos", help="folder of more real photos to score (searched deeply)")
    args = parser.parse_args()
    critics = TechnicalCritic(), PaletteCritic(), DuplicateCritic()
    with tempfile.TemporaryDirectory(prefix="calibrate-") as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        rows, frames, anchors = _score_frames(args.frames, critics, tmp)
        print(f"{len(frames)} previz frames, {time.perf_counter() - started:.1f} s in all\n")
        _pass_table(rows)
        _rerolls(frames[:30])
        _cross_palette(frames, anchors, critics[1])
        _broken(frames, *critics, tmp)
    _real_photos(critics[0], real_photos(args.photos))


def _score_frames(n: int, critics: tuple, tmp: Path) -> tuple[dict, list, dict]:
    """Render n frames round-robin over the palettes; each film's earlier frames are its
    accepted keyframes, and its first three 1280 px frames its style anchors."""
    technical, palette, duplicate = critics
    rows: dict[str, list] = defaultdict(list)
    anchors: dict[str, list[str]] = defaultdict(list)
    accepted: dict[str, dict[str, str]] = defaultdict(dict)
    frames = []
    for i in range(n):
        name = list(PALETTES)[i % len(PALETTES)]
        req = request(i, name, PALETTES[name], seed=1000 + i)
        img = render_frame(req).image
        frames.append((req, img))
        if anchors[name]:
            rows["anchor"].append(
                score(img, req, [palette], anchors=anchors[name])["style_colours"]
            )
        checks = score(img, req, [technical, palette])
        checks |= score(img, req, [duplicate], accepted=accepted[name])
        for check in checks.values():
            rows[check.name].append((check, req))
        path = save(img, tmp, req.shot.id)
        accepted[name][req.shot.id] = path
        if len(anchors[name]) < 3 and req.width == 1280:
            anchors[name].append(path)
    return rows, frames, anchors


def _pass_table(rows: dict[str, list]) -> None:
    print(f"{'check':16} {'ran':>5} {'passed':>7} {'rate':>7}   score p5 / median / p95")
    for name in (
        "exposure",
        "contrast",
        "sharpness",
        "resolution",
        "style_palette",
        "near_duplicate",
    ):
        _row(name, [c for c, _ in rows[name]])
    _row("style_colours", [c for c in rows["anchor"]])
    print()
    fails = defaultdict(list)
    for name in (
        "exposure",
        "contrast",
        "sharpness",
        "resolution",
        "style_palette",
        "near_duplicate",
    ):
        for check, req in rows[name]:
            if check.passed is False:
                fails[name].append(
                    f"{req.shot.id} {req.width}x{req.height} "
                    f"{req.shot.prompt.environment} / {req.shot.prompt.camera}: "
                    f"{check.reason}"
                )
    for name, lines in fails.items():
        print(f"failed {name} ({len(lines)}):")
        for line in lines[:12]:
            print("   ", line)
    print()


def _row(name: str, checks: list) -> None:
    ran = [c for c in checks if c.passed is not None]
    passed = sum(1 for c in ran if c.passed)
    scores = sorted(c.score for c in ran)
    if not scores:
        print(f"{name:16} {0:>5}")
        return
    q = statistics.quantiles(scores, n=20) if len(scores) > 1 else [scores[0]] * 19
    print(
        f"{name:16} {len(ran):>5} {passed:>7} {passed / len(ran):>7.1%}   "
        f"{q[0]:.4g} / {statistics.median(scores):.4g} / {q[-1]:.4g}"
    )


def _rerolls(frames: list) -> None:
    """Hash distance between a frame and a reroll of the same shot (the next seed)."""
    distances = []
    for req, img in frames:
        again = render_frame(req.model_copy(update={"seed": req.seed + 1})).image
        distances.append(int((phash(img) != phash(again)).sum()))
    print(
        f"reroll vs original (same shot, next seed), pHash bits: min {min(distances)}, "
        f"median {statistics.median(distances)}, max {max(distances)} "
        f"(n={len(distances)})\n"
    )


def _cross_palette(frames: list, anchors: dict, palette: PaletteCritic) -> None:
    """Frames scored against another film's palette and anchors: how well the check separates."""
    counts = defaultdict(lambda: [0, 0, []])
    for req, img in frames:
        own = req.bible.name
        for other, colours in {**PALETTES, "neon": NEON}.items():
            if other == own:
                continue
            checks = score(img, req, [palette], palette=colours)
            _count(counts[f"vs {other} palette"], checks["style_palette"])
            if other in anchors:
                checks = score(img, req, [palette], anchors=anchors[other])
                _count(counts["vs other film's anchors"], checks["style_colours"])
    print(
        "style_palette and style_colours on frames of one film scored against another film's look "
        "(should mostly fail):"
    )
    for label, (ok, n, scores) in counts.items():
        q = statistics.quantiles(scores, n=20)
        print(
            f"    {label:26} passed {ok}/{n} ({ok / n:.0%}); score p5 / median / p95 "
            f"{q[0]:.3f} / {statistics.median(scores):.3f} / {q[-1]:.3f}"
        )
    print()


def _count(tally: list, check) -> None:
    tally[0] += bool(check.passed)
    tally[1] += 1
    tally[2].append(check.score)


def _broken(frames: list, technical, palette, duplicate, tmp: Path) -> None:
    req, good = next(
        (r, im)
        for r, im in frames
        if r.width == 1280 and not r.shot.prompt.environment.endswith(("night", "fog"))
    )
    w, h = good.size
    buf = io.BytesIO()
    good.resize((w // 2, h // 2)).save(buf, "JPEG", quality=70)
    recoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").resize((w, h))
    neon_req = request(0, "neon", NEON, seed=7)
    neon_req = neon_req.model_copy(update={"shot": req.shot})
    dark_req = request(0, "ink", INK, seed=2)
    dark_prompt = dark_req.shot.prompt.model_copy(update={"environment": "outer space at night"})
    dark_req = dark_req.model_copy(
        update={
            "shot": dark_req.shot.model_copy(update={"prompt": dark_prompt}),
            "bible": dark_req.bible.model_copy(update={"grain": 1.0}),
            "width": w,
            "height": h,
        }
    )
    cases = {
        "sound frame (reference)": good,
        "all black": Image.new("RGB", (w, h), (0, 0, 0)),
        "all white": Image.new("RGB", (w, h), (255, 255, 255)),
        "flat grey": Image.new("RGB", (w, h), (128, 128, 128)),
        "gaussian blur r=1": good.filter(ImageFilter.GaussianBlur(1)),
        "gaussian blur r=2": good.filter(ImageFilter.GaussianBlur(2)),
        "gaussian blur r=4": good.filter(ImageFilter.GaussianBlur(4)),
        "gaussian blur r=8": good.filter(ImageFilter.GaussianBlur(8)),
        "tiny (320x180)": good.resize((320, 180)),
        "wrong palette (neon)": render_frame(
            neon_req.model_copy(update={"width": w, "height": h})
        ).image,
        "night, ink palette, grain 1": render_frame(dark_req).image,
        "exact copy": good.copy(),
        "half-size JPEG copy": recoded,
        "brightened copy": Image.eval(good, lambda v: min(255, int(v * 1.1))),
    }
    reference = save(good, tmp, "reference")
    print(f"broken images ({w}x{h}, palette {req.bible.name}):")
    print(
        f"    {'case':26} {'exposure':>9} {'contrast':>9} {'sharp':>9} {'res':>6} "
        f"{'palette':>8} {'dup bits':>8}"
    )
    for label, img in cases.items():
        accepted = {} if label == "sound frame (reference)" else {"REF": reference}
        checks = score(img, req, [technical, palette, duplicate], accepted=accepted)
        cells = [
            _cell(checks[n])
            for n in (
                "exposure",
                "contrast",
                "sharpness",
                "resolution",
                "style_palette",
                "near_duplicate",
            )
        ]
        print(
            f"    {label:26} "
            + " ".join(f"{c:>9}" for c in cells[:3])
            + f" {cells[3]:>6} {cells[4]:>8} {cells[5]:>8}"
        )
    print("\n(each cell: score, then + for pass, x for fail, - for not run)")


def _cell(check) -> str:
    mark = "-" if check.passed is None else "+" if check.passed else "x"
    if check.score is None:
        return mark
    value = check.score
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{text}{mark}"


# --- real photos ---------------------------------------------------------------------------

# scikit-image's sample photos of scenes, people and things; its scans (page, text), microscope
# images and the horse silhouette are not photos a film would hold. ``clock`` is a photo blurred
# by camera motion: a real photo that should fail sharpness.
SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "moon",
    "hubble_deep_field",
    "retina",
    "coins",
    "grass",
    "gravel",
    "brick",
    "immunohistochemistry",
    "clock",
)
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
# Badly exposed versions of every photo: encoded pixel values scaled, as an exposure slider
# does (x2 is about two stops over in sRGB, x0.15 about five and a half under).
EXPOSURES = {"x2 (two stops over)": 2.0, "x3": 3.0, "x0.15 (5.5 stops under)": 0.15}


def real_photos(folder: str | None) -> dict[str, Image.Image]:
    import importlib.util

    import numpy as np
    from skimage import data

    photos = {}
    for name in SKIMAGE_PHOTOS:
        pixels = np.asarray(getattr(data, name)())
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        photos[f"skimage {name}"] = Image.fromarray(pixels[..., :3])
    spec = importlib.util.find_spec("insightface")
    if spec is not None and spec.submodule_search_locations:
        images = Path(list(spec.submodule_search_locations)[0]) / "data" / "images"
        photos |= _photos_in(images, "insightface ")
    if folder:
        photos |= _photos_in(Path(folder), "")
    return photos


def _photos_in(folder: Path, prefix: str) -> dict[str, Image.Image]:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            with Image.open(path) as img:
                found[f"{prefix}{path.relative_to(folder)}"] = img.convert("RGB")
    return found


def _real_photos(technical: TechnicalCritic, photos: dict[str, Image.Image]) -> None:
    print(f"\nreal photos ({len(photos)}), technical checks as they are:")
    print(
        f"    {'photo':38} {'size':>9} {'black':>6} {'white':>6} {'exposure':>9} "
        f"{'contrast':>9} {'sharp':>9}"
    )
    for label, img in photos.items():
        checks = _technical(technical, img)
        black, white = (checks["exposure"].details[k] for k in ("black", "white"))
        cells = [_cell(checks[n]) for n in ("exposure", "contrast", "sharpness")]
        print(
            f"    {label[:38]:38} {f'{img.width}x{img.height}':>9} {black:>6.1%} {white:>6.1%} "
            + " ".join(f"{c:>9}" for c in cells)
        )
    _badly_exposed(technical, photos)


def _badly_exposed(technical: TechnicalCritic, photos: dict[str, Image.Image]) -> None:
    print("\nthe same photos badly exposed:")
    cases = {
        **{k: _scaled(f) for k, f in EXPOSURES.items()},
        "all black": lambda im: Image.new("RGB", im.size, (0, 0, 0)),
        "all white": lambda im: Image.new("RGB", im.size, (255, 255, 255)),
    }
    for label, change in cases.items():
        checks = {name: _technical(technical, change(img)) for name, img in photos.items()}
        exposure = {name: c["exposure"] for name, c in checks.items()}
        failed = [name for name, c in exposure.items() if c.passed is False]
        flat = sum(c["contrast"].passed is False for c in checks.values())
        scores = sorted(c.score for c in exposure.values())
        print(
            f"    {label:24} exposure fails {len(failed)}/{len(checks)} (score min / median / "
            f"max {scores[0]:.3g} / {statistics.median(scores):.3g} / {scores[-1]:.3g}); "
            f"contrast fails {flat}/{len(checks)}"
        )
        odd = failed if len(failed) <= len(checks) / 2 else set(checks) - set(failed)
        if odd:
            verdict = "failed" if len(failed) <= len(checks) / 2 else "passed"
            print(f"        exposure {verdict}: {', '.join(sorted(odd))}")


def _scaled(factor: float):
    return lambda im: Image.eval(im, lambda v: min(255, int(v * factor)))


def _technical(technical: TechnicalCritic, img: Image.Image) -> dict:
    b = bible("photo", [], (img.width, img.height))
    shot = request(0, "photo", [], seed=0).shot
    return {c.name: c for c in technical.check(img, shot, CriticContext(bible=b))}


if __name__ == "__main__":
    main()
