"""Calibrate the clip gate's flicker and continuity checks on storyboard clips.

Plans several films with the offline planner, draws the keyframes of the shots around each shot
planned as continuous with the one before, and animates them with the previz video backend
(every camera move, clips as long as the film needs them, transition handles included).

Sound cases: every clip; crossfades and fades through black between neighbouring clips, fades
in and out; the planner's continuous pairs as drawn (a cut on action: the same place, light and
time in a new framing); continuous shots started from the previous clip's last frame, as an
image-to-video pipeline continues a shot, also with the drifts a video model adds (a few percent
of shift or zoom, a little exposure, softness, noise) and a reframing (zoom 15%).

Broken cases: flashes of 1-3 frames and strobes of several strengths written into sound clips,
white and black frames; previous clips that cut to another film halfway, shots of another place
or another film; a jump in time of day in the same place (the planned next shot, or the previous
shot itself, drawn with another time of day's words in its environment slot). Colour casts and
a halved exposure are scored for reference.

Prints each check's score spread and pass rate under the default thresholds, via
``ClipGate.check_clip``, and the time the gate takes on a 5 s 1280x720 clip.

    PYTHONPATH=. python bench/calibrate_clip_gate.py [--films 10] [--width 640]  (10-13 min)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from director.records import Shot, ShotPrompt, StyleBible
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from director.tools.assemble.film import clip_length
from director.tools.base import ClipRequest, CriticContext, ImageRequest
from director.tools.critics.clipgate import DEFAULTS, ClipGate, last_frame
from director.tools.image.previz import caption_height, render_frame
from director.tools.image.scene import read_scene
from director.tools.llm.language import load_data
from director.tools.llm.offline import OfflinePlanner
from director.tools.video.previz import PrevizVideo, camera_move

FILMS = [
    ("The last gardener defends her garden from robots.", "en"),
    ("A lighthouse keeper waits for a ship that never comes.", "en"),
    ("A boy builds a kite to reach his father in the sky.", "en"),
    ("2075: the last human walks through an empty city.", "en"),
    ("A baker in a flooded town keeps the oven burning.", "en"),
    ("最后一个守林人在大火前救下一棵古树。", "zh"),
    ("A night nurse walks the empty hospital corridors until dawn.", "en"),
    ("Two brothers race across the desert to bury their grandfather.", "en"),
    ("A girl follows a fox into a snowy forest.", "en"),
    ("An astronaut repairs a broken antenna on the far side of the moon.", "en"),
]
FPS = 24
MAX_CLIP_S = 4.0  # longer shots are trimmed: a move is eased over the clip whatever its length
FLASHES = (4, 8, 16, 32)  # luma added to the flashing frames, 0-255 units
IN_FLIGHT = 2
TIMES = ("dawn", "day", "dusk", "night")  # the planner's times of day (its "times" wordings)
Pair = tuple[Path, Path]


class Film:
    def __init__(self, number: int, logline: str, language: str, width: int, height: int):
        planner = OfflinePlanner()
        story = planner.develop(logline, language=language, seed=1)
        beats = planner.beat_sheet(story, structure="default", runtime_s=300, seed=1)
        self.bible, cards = planner.bible(story, beats, width=width, height=height, seed=1)
        self.shots = planner.shot_list(story, beats, self.bible, cards, seed=1)
        self.places = {b.id: b.location for b in beats.beats}
        self.number, self.language = number, language

    def place(self, shot: Shot) -> str:
        return self.places[shot.beat_id]

    def continuous(self) -> list[int]:
        return [i for i, s in enumerate(self.shots) if s.continuous and i > 0]

    def at_time(self, shot: Shot, when: str) -> Shot | None:
        """The shot with its environment's time-of-day words swapped for ``when``'s wording of
        the same rank (the id, hence the composition, kept); None when no wording is found."""
        times = load_data(f"{self.language}.json")["times"]
        env = shot.prompt.environment
        for words in times.values():
            for rank, phrase in enumerate(words):
                if phrase in env:
                    prompt = shot.prompt.model_copy(
                        update={"environment": env.replace(phrase, times[when][rank])}
                    )
                    return shot.model_copy(update={"prompt": prompt})
        return None


def light(shot: Shot) -> str:
    """The time of day the storyboard renderer reads from the shot's environment slot."""
    found = [m for m in read_scene(shot).modifiers if m in TIMES]
    return "+".join(found) or "day"


# --- rendering ---------------------------------------------------------------------------------


class Renderer:
    """Previz clips, at most IN_FLIGHT rendering at once; one file per (film, shot, keyframe)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.video = folder, PrevizVideo()
        self.pending: list[tuple] = []
        self.done: dict[tuple, Path] = {}

    def clip(self, film: Film, shot: Shot, key: Path | None = None, tag: str = "") -> Path:
        """``tag`` names a variant of the shot (another time of day) drawn under the same id."""
        name = (film.number, shot.id, key.name if key else "", tag)
        if name in self.done:
            return self.done[name]
        stem = f"f{film.number}-{shot.id}{'-' + tag if tag else ''}"
        dest = self.folder / f"{stem}{'-' + key.stem if key else ''}.mp4"
        if key is None:
            key = dest.with_suffix(".png")
            render_frame(_image_request(shot, film.bible)).image.save(key, compress_level=1)
        job = self.video.submit(_clip_request(shot, film.bible, key))
        self.pending.append((job, dest))
        if len(self.pending) > IN_FLIGHT:
            self.finish(1)
        self.done[name] = dest
        return dest

    def finish(self, count: int | None = None) -> None:
        for job, dest in self.pending[:count]:
            self.video.collect(job, dest)
        self.pending = self.pending[count:] if count else []


def _image_request(shot: Shot, bible: StyleBible) -> ImageRequest:
    w, h = bible.width, bible.height
    return ImageRequest(
        shot=shot, bible=bible, seed=1 + shot.index * 1000, width=w, height=h, prompt=""
    )


def _clip_request(shot: Shot, bible: StyleBible, key: Path) -> ClipRequest:
    return ClipRequest(
        shot=shot,
        keyframe=str(key),
        seed=1,
        duration_s=min(clip_length(shot), MAX_CLIP_S),
        fps=FPS,
        width=bible.width,
        height=bible.height,
        hold_bottom_px=caption_height(bible.height),
    )


def frames_of(path: Path, limit: int | None = None) -> np.ndarray:
    return _decoded(path)[:limit]


@lru_cache(maxsize=8)  # the cases made from one clip are made one after another
def _decoded(path: Path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    w, h = next(reader)["size"]
    frames = np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])
    frames.flags.writeable = False
    return frames


def write_clip(frames: np.ndarray, path: Path) -> Path:
    """Encode (N, H, W, 3) uint8 frames as the video backends do (H.264, yuv420p)."""
    n, h, w, _ = frames.shape
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"]
    argv += ["-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "pipe:0"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"]
    subprocess.run([*argv, str(path)], input=frames.tobytes(), check=True)
    return path


# --- the cases ---------------------------------------------------------------------------------


def build(films: list[Film], folder: Path) -> tuple[dict[str, list[Path]], dict[str, list[Pair]]]:
    """Flicker cases {label: [clip]} and continuity cases {label: [(previous clip, clip)]}."""
    render = Renderer(folder)
    flicker: dict[str, list[Path]] = defaultdict(list)
    pairs: dict[str, list[Pair]] = defaultdict(list)
    cut_away: list[tuple[Path, Path, Path]] = []  # previous clip, next clip, another film's clip
    for film in films:
        stranger = films[(film.number + 1) % len(films)]
        for i in film.continuous():
            shots, shot = film.shots, film.shots[i]
            for s in shots[max(0, i - 2) : i + 3]:
                flicker[f"camera move: {camera_move(s)}"].append(render.clip(film, s))
            before = render.clip(film, shots[i - 1])
            after = render.clip(film, shot)
            pairs[_planned_label(shots[i - 1], shot)].append((before, after))
            other = next((s for s in shots if film.place(s) != film.place(shot)), None)
            if other is not None:
                pairs["broken: another place of the film"].append(
                    (before, render.clip(film, other))
                )
            elsewhere = render.clip(stranger, stranger.shots[i % len(stranger.shots)])
            pairs["broken: a shot of another film"].append((before, elsewhere))
            cut_away.append((before, after, elsewhere))
            for label, pair in _time_jumps(render, film, shots[i - 1], shot):
                pairs[label].append(pair)
    render.finish()
    for film in films:
        for i in film.continuous():
            before = render.clip(film, film.shots[i - 1])
            key = before.with_name(f"last-{before.stem}.png")
            last_frame(before)[1].save(key)
            pairs["continuous: started from the last frame"].append(
                (before, render.clip(film, film.shots[i], key))
            )
    render.finish()
    render.video.close()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        jobs = [
            *_drifts(pairs["continuous: started from the last frame"], folder),
            *_midcuts(cut_away, folder),
            *_transitions(flicker, folder),
            *_flashes(flicker, folder),
        ]
        made = list(pool.map(lambda job: job[1](), jobs))
        for ((table, label), _), item in zip(jobs, made, strict=True):
            (flicker if table == "flicker" else pairs)[label].append(item)
    return flicker, pairs


PLANNED = "continuous: planned next shot as drawn (cut on action, new framing)"


def _planned_label(before: Shot, after: Shot) -> str:
    """The planner's continuous pairs; those the renderer draws in another light apart."""
    if light(before) == light(after):
        return PLANNED
    return "reference: planned continuous pair drawn in another light"


def _time_jumps(render: Renderer, film: Film, before: Shot, after: Shot) -> list[tuple[str, Pair]]:
    """The planned next shot drawn at each other time of day, and the previous shot itself by
    day, then at night: the same place, light that jumps."""
    out = []
    previous = render.clip(film, before)
    for when in TIMES:
        moved = film.at_time(after, when)
        if moved is not None and light(moved) != light(before):
            label = f"broken: same place, next shot drawn at {when}"
            out.append((label, (previous, render.clip(film, moved, tag=when))))
    day, night = film.at_time(before, "day"), film.at_time(before, "night")
    if day is not None and night is not None and light(day) != light(night):
        pair = (render.clip(film, day, tag="day"), render.clip(film, night, tag="night"))
        out.append(("broken: same shot, by day then at night", pair))
    return out


Job = tuple[tuple[str, str], Callable[[], object]]


def _job(table: str, label: str, make: Callable[[], object]) -> Job:
    return (table, label), make


DRIFTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "continuous, drifted: shift 3%": lambda im: _shift(im, 0.03),
    "continuous, drifted: shift 8%": lambda im: _shift(im, 0.08),
    "continuous, drifted: zoom 8%": lambda im: _zoom(im, 1.08),
    "continuous, drifted: +10 luma": lambda im: _add(im, (10, 10, 10)),
    "continuous, drifted: -10 luma": lambda im: _add(im, (-10, -10, -10)),
    "continuous, drifted: gaussian blur 2 px": lambda im: _blur(im, 2),
    "continuous, drifted: noise sigma 12": lambda im: _noise(im, 12),
    "continuous, reframed: zoom 15%": lambda im: _zoom(im, 1.15),
    "reference: colour cast (R +16, B -16)": lambda im: _add(im, (16, 0, -16)),
    "reference: shift 5%, zoom 10%, R +12, B -12": lambda im: _add(
        _zoom(_shift(im, 0.05), 1.1), (12, 0, -12)
    ),
    "reference: half the light (x0.5)": lambda im: _scale(im, 0.5),
}


def _drifts(chained: list[Pair], folder: Path) -> list[Job]:
    """Continuations whose first half second is altered; continuity reads the first frame."""
    jobs = []
    for k, (before, after) in enumerate(chained):
        for n, (label, change) in enumerate(DRIFTS.items()):

            def make(before=before, after=after, change=change, out=folder / f"d{k}-{n}.mp4"):
                frames = frames_of(after, FPS // 2)
                moved = np.stack([np.asarray(change(Image.fromarray(f))) for f in frames])
                return before, write_clip(moved, out)

            jobs.append(_job("pairs", label, make))
    return jobs


def _midcuts(cut_away: list[tuple[Path, Path, Path]], folder: Path) -> list[Job]:
    """The previous clip cuts to another film's clip halfway; then the planned next shot."""
    jobs = []
    for k, (before, after, stranger) in enumerate(cut_away):

        def make(before=before, after=after, stranger=stranger, out=folder / f"cut{k}.mp4"):
            a, b = frames_of(before), frames_of(stranger)
            n = min(len(a), len(b))
            return write_clip(np.concatenate([a[: n // 2], b[n // 2 : n]]), out), after

        jobs.append(_job("pairs", "broken: previous clip cuts to another film halfway", make))
    return jobs


def _transitions(flicker: dict[str, list[Path]], folder: Path) -> list[Job]:
    """Neighbouring clips joined as ffmpeg's xfade does ('fade' blends linearly, 'fadeblack'
    goes through black), and fades of one clip."""
    clips = list(dict.fromkeys(p for ps in flicker.values() for p in ps))
    jobs = []
    for k in range(0, len(clips) - 1, 2):
        a_path, b_path = clips[k], clips[k + 1]
        for label, join in (
            ("crossfade 0.5 s between clips", lambda a, b: _crossfade(a, b, FPS // 2)),
            ("crossfade 0.75 s between clips", lambda a, b: _crossfade(a, b, FPS * 3 // 4)),
            ("fade through black 1 s between clips", _through_black),
            ("fade in over the whole clip", lambda a, b: _fade(a, np.linspace(0, 1, len(a)))),
            ("fade out over 0.5 s", lambda a, b: _fade(a, _tail_ramp(len(a), FPS // 2))),
        ):
            out = folder / f"t{k}-{len(jobs)}.mp4"

            def make(a_path=a_path, b_path=b_path, join=join, out=out):
                return write_clip(join(frames_of(a_path), frames_of(b_path)), out)

            jobs.append(_job("flicker", label, make))
    return jobs


def _flashes(flicker: dict[str, list[Path]], folder: Path) -> list[Job]:
    """Flashes and strobes written into two-second stretches of every third sound clip."""
    moves = [p for label, ps in flicker.items() if label.startswith("camera") for p in ps]
    jobs = []
    for k, path in enumerate(list(dict.fromkeys(moves))[::3]):
        for label, change in _flash_kinds().items():
            out = folder / f"f{k}-{len(jobs)}.mp4"

            def make(path=path, change=change, out=out):
                frames = frames_of(path)
                mid = len(frames) // 2
                stretch = frames[max(0, mid - FPS) : mid + FPS]
                return write_clip(change(stretch), out)

            jobs.append(_job("flicker", label, make))
    return jobs


def _flash_kinds() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    kinds = {}
    for amount in FLASHES:
        for length in (1, 2, 3):
            kinds[f"broken: {length}-frame flash +{amount}"] = lambda f, a=amount, n=length: (
                _brighten(f, slice(len(f) // 2, len(f) // 2 + n), a)
            )
        kinds[f"broken: strobe, every other frame +{amount}"] = lambda f, a=amount: _brighten(
            f, np.arange(len(f)) % 2 == 1, a
        )
    kinds["broken: one white frame"] = lambda f: _set(f, len(f) // 2, 255)
    kinds["broken: one black frame (dropout)"] = lambda f: _set(f, len(f) // 2, 0)
    return kinds


# --- frame arithmetic -------------------------------------------------------------------------


def _mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    w = weight[:, None, None, None]
    return np.round(a * (1 - w) + b * w).astype(np.uint8)


def _crossfade(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([a[:-n], _mix(a[-n:], b[:n], np.linspace(0, 1, n)), b[n:]])


def _through_black(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = FPS // 2
    black = np.zeros((n, *a.shape[1:]), np.uint8)
    down, up = _mix(a[-n:], black, np.linspace(0, 1, n)), _mix(black, b[:n], np.linspace(0, 1, n))
    return np.concatenate([a[:-n], down, up, b[n:]])


def _fade(a: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return _mix(np.zeros_like(a), a, weight)


def _tail_ramp(length: int, n: int) -> np.ndarray:
    ramp = np.ones(length)
    ramp[-n:] = np.linspace(1, 0, n)
    return ramp


def _brighten(frames: np.ndarray, index, amount: float) -> np.ndarray:
    out = frames.astype(np.int16)
    out[index] += int(amount)
    return np.clip(out, 0, 255).astype(np.uint8)


def _set(frames: np.ndarray, index: int, value: int) -> np.ndarray:
    out = frames.copy()
    out[index] = value
    return out


def _shift(im: Image.Image, frac: float) -> Image.Image:
    w, h = im.size
    return im.crop((round(w * frac), 0, w, h)).resize((w, h), Image.Resampling.BICUBIC)


def _zoom(im: Image.Image, factor: float) -> Image.Image:
    w, h = im.size
    cw, ch = w / factor, h / factor
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return im.crop(box).resize((w, h), Image.Resampling.BICUBIC)


def _add(im: Image.Image, rgb: tuple[int, int, int]) -> Image.Image:
    out = np.asarray(im).astype(np.int16) + np.array(rgb, np.int16)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _scale(im: Image.Image, k: float) -> Image.Image:
    return Image.fromarray(np.round(np.asarray(im) * k).astype(np.uint8))


def _blur(im: Image.Image, radius: float) -> Image.Image:
    from PIL import ImageFilter

    return im.filter(ImageFilter.GaussianBlur(radius))


def _noise(im: Image.Image, sigma: float) -> Image.Image:
    a = np.asarray(im).astype(np.float32)
    a += np.random.default_rng(0).normal(0, sigma, a.shape).astype(np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


# --- scoring ---------------------------------------------------------------------------------


def _shot(continuous: bool) -> Shot:
    prompt = ShotPrompt(subject="", action="", environment="", camera="", style="")
    return Shot(
        id="S", beat_id="B", index=0, role="wide", size="wide", angle="eye-level",
        move="static", duration_s=4.0, prompt=prompt, continuous=continuous,
    )  # fmt: skip


def score(flicker: dict, pairs: dict, bible: StyleBible) -> tuple[dict, dict]:
    gate, context = ClipGate(), CriticContext(bible=bible)
    plain, continuous = _shot(False), _shot(True)
    fl = {k: [gate.check_clip(p, plain, None, context)[0] for p in v] for k, v in flicker.items()}
    co = {
        k: [gate.check_clip(b, continuous, a, context)[1] for a, b in v] for k, v in pairs.items()
    }
    return fl, co


def table(title: str, rows: dict[str, list], keys: tuple[str, ...] = ()) -> None:
    extra = "".join(f" {k} median |" for k in keys)
    print(f"{title}\n\n| case | n | passed | score min / median / max |{extra}")
    print("|---|---|---|---|" + "---|" * len(keys))
    for label, checks in rows.items():
        scores = [c.score for c in checks]
        ok = sum(bool(c.passed) for c in checks)
        spread = " / ".join(
            f"{x:.3g}" for x in (min(scores), statistics.median(scores), max(scores))
        )
        cells = "".join(f" {statistics.median(c.details[k] for c in checks):.2f} |" for k in keys)
        print(f"| {label} | {len(checks)} | {ok / len(checks):.0%} | {spread} |{cells}")
    print()


def timing(folder: Path) -> None:
    """Seconds for check_clip on a 5 s 1280x720 clip with a camera move, median of 3."""
    film = Film(0, *FILMS[0], 1280, 720)
    shot = film.shots[film.continuous()[0]].model_copy(update={"duration_s": 5.0})
    render = Renderer(folder)
    before, clip = render.clip(film, film.shots[film.continuous()[0] - 1]), render.clip(film, shot)
    render.finish()
    gate, context = ClipGate(), CriticContext(bible=film.bible)
    for label, width in (("full size", None), ("decoded at 640 px", 640)):
        gate.max_width = width
        times = []
        for _ in range(3):
            started = time.perf_counter()
            gate.check_clip(clip, shot, before, context)
            times.append(time.perf_counter() - started)
        print(f"check_clip on a 5 s 1280x720 clip ({label}): {statistics.median(times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=len(FILMS))
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    width, height = args.width, args.width * 9 // 16 // 2 * 2
    started = time.perf_counter()
    films = [Film(n, *FILMS[n], width, height) for n in range(args.films)]
    with tempfile.TemporaryDirectory(prefix="calibrate-clips-") as tmp:
        flicker, pairs = build(films, Path(tmp))
        built = time.perf_counter() - started
        fl, co = score(flicker, pairs, films[0].bible)
        scored = time.perf_counter() - started - built
        print(
            f"{len(films)} films at {width}x{height}, {FPS} fps: {sum(map(len, fl.values()))} "
            f"clips for flicker, {sum(map(len, co.values()))} pairs for continuity; built in "
            f"{built:.0f} s, scored in {scored:.0f} s\n"
        )
        sound = {k: v for k, v in fl.items() if not k.startswith("broken")}
        broken = {k: v for k, v in fl.items() if k.startswith("broken")}
        limit = DEFAULTS["max_flicker"]
        table(f"flicker, sound clips (luma 0-255, lower is better; max {limit:g})", sound)
        table("flicker, broken clips", broken)
        limit, shifts = (
            DEFAULTS["min_continuity"],
            ("whole_frames", "lightness_shift", "tint_shift"),
        )
        for group in ("continuous", "broken", "reference"):
            rows = {k: v for k, v in co.items() if k.startswith(group)}
            title = f"continuity, {group} pairs (CIELAB histogram overlap; min {limit:g})"
            table(title, rows, shifts)
        timing(Path(tmp))


if __name__ == "__main__":
    main()
