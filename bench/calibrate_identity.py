"""Calibrate the face-identity threshold and the copy-paste guard on labelled photos of real people.

For every usable face backend (dlib always; insightface where a model pack is present), finds
the face in every labelled photo and scores every pair of faces: same person (different photos
only, never a photo against itself or an edited copy of it) and different people. Prints both
score distributions, the threshold at the equal error rate, the lowest threshold that keeps false
accepts at or under 1%, and the false-accept and false-reject rates at the backend's current
threshold. Then the copy-paste guard: each face's photo pasted into another photo (full size,
half size, each also recompressed as JPEG quality 70) and scored against the original like a
keyframe against its reference (chip and embedding similarity), beside what must stay under
both limits: a warped, colour-quantised copy standing in for a re-render, different real
photos of the same person, and other people's faces.

Photos:

- installed (unless ``--no-installed``): skimage's astronaut (Eileen Collins), insightface's Tom_Hanks_54745.png
  (a 112 px aligned crop) and t1.jpg (a group photo: each of its six faces a different person).
  No one appears in two of them, so they give different-person pairs and copy-paste cases only.
- ``--face-recognition PATH``: the source distribution of face_recognition 1.3.0 (the .tar.gz
  or the unpacked folder), whose test images hold three different photos of Barack Obama and
  one of Joe Biden. Fetch it with
  ``pip download --no-deps --no-binary :all: -d photos face_recognition==1.3.0``.
- ``--photos DIR``: one subfolder per person, holding photos of that person (the largest face
  of each photo is taken). This is how users calibrate on their own cast: several photos or
  approved renders of each character, and other people's faces for the different-person side.

    PYTHONPATH=. python bench/calibrate_identity.py [--face-recognition PATH] [--photos DIR]
        [--insightface-root DIR] [--max-far 0.01] [--no-installed]
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from director.tools.critics.faces import Face, FaceBackend, chip_similarity
from director.tools.critics.identity import DEFAULTS as COPY_PASTE
from director.tools.critics.imaging import open_rgb, pixels

# Photos are shrunk to this many pixels a side: faces stay far above any detector's minimum,
# and a 24-megapixel photo does not cost a detector ten seconds.
MAX_SIDE = 2048
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
# face_recognition 1.3.0's test images. The others there are not new photos: 32bit.png is
# obama2.jpg saved again as 32-bit RGBA, and the two partial faces are crops of obama.jpg.
FACE_RECOGNITION = {
    "obama.jpg": "Barack Obama",
    "obama2.jpg": "Barack Obama",
    "obama3.jpg": "Barack Obama",
    "biden.jpg": "Joe Biden",
}
# Share of the face box added on each side when a face's photo is cut out to be pasted: the
# head with hair and some background, as an image editor's copy of the reference would be.
PASTE_MARGIN = 0.6
JPEG_QUALITY = 70
WARPED = "warped and colour-quantised (not a copy)"
# Fewer same-person pairs than this measure a false-reject rate only in steps of 5% or more.
FEW_PAIRS = 20


# --- labelled photos -----------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """One photo and who is in it. A group photo names no one: each of its faces is taken as a
    different person, seen in no other photo."""

    person: str | None
    source: str
    image: np.ndarray


@dataclass(frozen=True)
class Sample:
    person: str
    source: str
    face: Face
    image: np.ndarray


def installed_photos() -> list[Photo]:
    from skimage import data

    photos = [Photo("Eileen Collins", "skimage astronaut", data.astronaut())]
    folder = _insightface_images()
    if folder is not None:
        for name, person in (("Tom_Hanks_54745.png", "Tom Hanks"), ("t1.jpg", None)):
            image = open_rgb(folder / name)
            if image is not None:
                photos.append(Photo(person, f"insightface {name}", pixels(image)))
    return photos


def _insightface_images() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images"


def face_recognition_photos(path: Path) -> list[Photo]:
    """The labelled test images of face_recognition's source distribution."""
    found = dict(_tar_images(path) if path.is_file() else _folder_images(path))
    missing = sorted(set(FACE_RECOGNITION) - set(found))
    if missing:
        sys.exit(f"{path} lacks {', '.join(missing)}: is it face_recognition 1.3.0's sdist?")
    return [
        Photo(person, f"face_recognition {name}", found[name])
        for name, person in FACE_RECOGNITION.items()
    ]


def _tar_images(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name in FACE_RECOGNITION and "test_images" in member.name:
                data = tar.extractfile(member).read()
                yield name, pixels(Image.open(io.BytesIO(data)))


def _folder_images(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    for file in path.rglob("*"):
        if file.name in FACE_RECOGNITION and file.parent.name == "test_images":
            image = open_rgb(file)
            if image is not None:
                yield file.name, pixels(image)


def folder_photos(root: Path) -> list[Photo]:
    """``root/<person>/<photo>``: every readable photo, labelled with its folder's name."""
    if not root.is_dir():
        sys.exit(f"--photos {root}: not a folder (give one subfolder per person)")
    photos = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.iterdir()):
            image = open_rgb(file) if file.suffix.lower() in PHOTO_SUFFIXES else None
            if image is not None:
                photos.append(Photo(folder.name, f"{folder.name}/{file.name}", pixels(image)))
    return photos


def shrink_photo(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return image
    scale = MAX_SIDE / max(h, w)
    size = (round(w * scale), round(h * scale))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


# --- faces and pairs -------------------------------------------------------------------------


def detect_samples(backend: FaceBackend, photos: Iterable[Photo]) -> tuple[list[Sample], list]:
    """The labelled faces, and the sources in which no face was found."""
    samples, missed = [], []
    for photo in photos:
        image = shrink_photo(photo.image)
        faces = backend.detect(image, expect=1)
        if not faces:
            missed.append(photo.source)
        elif photo.person is None:
            samples += [
                Sample(f"{photo.source} face {i + 1}", photo.source, f, image)
                for i, f in enumerate(faces)
            ]
        else:
            samples.append(Sample(photo.person, photo.source, _largest(faces), image))
    return samples, missed


def _largest(faces: list[Face]) -> Face:
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def pairs(samples: list[Sample]) -> tuple[list[tuple], list[tuple]]:
    """Same-person pairs (two different photos) and different-person pairs."""
    same, different = [], []
    for a, b in itertools.combinations(samples, 2):
        if a.person != b.person:
            different.append((a, b))
        elif a.source != b.source:
            same.append((a, b))
    return same, different


def similarities(backend: FaceBackend, pair_list: list[tuple]) -> list[float]:
    return [backend.similarity(a.face.embedding, b.face.embedding) for a, b in pair_list]


# --- the calibration itself ------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    count: int
    min: float
    p5: float
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, scores: Iterable[float]) -> Spread:
        s = np.asarray(list(scores), dtype=np.float64)
        if s.size == 0:
            return cls(0, *([float("nan")] * 5))
        p5, p50, p95 = np.percentile(s, [5, 50, 95])
        return cls(int(s.size), float(s.min()), float(p5), float(p50), float(p95), float(s.max()))


@dataclass(frozen=True)
class Calibration:
    """Two faces count as one person when their similarity is at or above a threshold."""

    same: Spread
    different: Spread
    eer_threshold: float  # the threshold where the worse of the two error rates is least
    eer: float  # that worse rate there
    max_far: float
    far_threshold: float  # the lowest threshold with at most max_far false accepts
    frr_at_far_threshold: float
    current: float
    far_at_current: float
    frr_at_current: float


def rates(same: Iterable[float], different: Iterable[float], threshold: float) -> tuple:
    """(false accepts, false rejects) at a threshold: the share of different-person pairs that
    score at or above it, and the share of same-person pairs below it."""
    s, d = np.asarray(list(same), dtype=float), np.asarray(list(different), dtype=float)
    far = float(np.mean(d >= threshold)) if d.size else 0.0
    frr = float(np.mean(s < threshold)) if s.size else 0.0
    return far, frr


def calibrate(
    same: list[float], different: list[float], current: float, max_far: float = 0.01
) -> Calibration:
    cuts = _cuts(same, different)
    table = [rates(same, different, t) for t in cuts]
    worst = [max(far, frr) for far, frr in table]
    best = min(worst)
    first = worst.index(best)
    last = len(worst) - 1 - worst[::-1].index(best)
    eer_threshold = _between(cuts, first, last)
    allowed = next(i for i, (far, _) in enumerate(table) if far <= max_far)
    far_threshold = _between(cuts, allowed, allowed)
    far_now, frr_now = rates(same, different, current)
    return Calibration(
        same=Spread.of(same),
        different=Spread.of(different),
        eer_threshold=eer_threshold,
        eer=max(rates(same, different, eer_threshold)),
        max_far=max_far,
        far_threshold=far_threshold,
        frr_at_far_threshold=rates(same, different, far_threshold)[1],
        current=current,
        far_at_current=far_now,
        frr_at_current=frr_now,
    )


def _cuts(same: list[float], different: list[float]) -> list[float]:
    """Every distinct score, and one above them all (which rejects every pair). A threshold
    anywhere in (cut i-1, cut i] accepts exactly the pairs cut i accepts."""
    scores = sorted({*map(float, same), *map(float, different)})
    if not scores:
        raise ValueError("no scores to calibrate on")
    return [*scores, scores[-1] + 0.02]


def _between(cuts: list[float], first: int, last: int) -> float:
    """The middle of the range of thresholds that behave like cuts first..last: as far as the
    data allows from the scores on either side."""
    below = cuts[first - 1] if first > 0 else cuts[0] - 0.02
    return (below + cuts[last]) / 2


# --- the copy-paste guard --------------------------------------------------------------------


@dataclass(frozen=True)
class PasteScore:
    case: str
    chip: float
    embedding: float


def paste_cases(backend: FaceBackend, sample: Sample, host: np.ndarray) -> list[PasteScore]:
    """The sample's head cut from its photo and pasted into ``host`` at full and half size,
    each also recompressed, scored against the sample as a keyframe against its reference.
    A case whose face the backend no longer finds is left out."""
    scores = []
    for label, frame in pasted_frames(sample, host):
        faces = backend.detect(frame, expect=1)
        if faces:
            face = max(faces, key=lambda f: backend.similarity(f.embedding, sample.face.embedding))
            scores.append(PasteScore(label, *_copy_scores(backend, face, sample.face)))
    return scores


def pasted_frames(sample: Sample, host: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    head = _head(sample)
    for scale, size in ((1.0, "full size"), (0.5, "half size")):
        frame = _paste(head, host, scale)
        yield f"pasted at {size}", frame
        yield f"pasted at {size}, JPEG q{JPEG_QUALITY}", _recompress(frame)
    height = sample.face.box[3] - sample.face.box[1]
    yield WARPED, _paste(_restyle(head, height), host, 1.0)


def _restyle(head: np.ndarray, face_height: int) -> np.ndarray:
    """A stand-in for a new render that keeps the reference's pose and lighting: every pixel
    moved smoothly by up to 7% of the face's height (features shift as with another
    expression), then reduced to 12 colours."""
    amp, period = 0.07 * face_height, 2.0 * face_height
    h, w = head.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    sx = (xx + amp * np.sin(2 * np.pi * yy / period)).clip(0, w - 1).astype(int)
    sy = (yy + amp * np.sin(2 * np.pi * xx / period)).clip(0, h - 1).astype(int)
    moved = Image.fromarray(np.ascontiguousarray(head[sy, sx]))
    return pixels(moved.quantize(12).convert("RGB"))


def _head(sample: Sample) -> np.ndarray:
    left, top, right, bottom = sample.face.box
    mx, my = int((right - left) * PASTE_MARGIN), int((bottom - top) * PASTE_MARGIN)
    h, w = sample.image.shape[:2]
    return sample.image[
        max(top - my, 0) : min(bottom + my, h), max(left - mx, 0) : min(right + mx, w)
    ]


def _paste(head: np.ndarray, host: np.ndarray, scale: float) -> np.ndarray:
    """``head`` resized by ``scale`` on ``host``, which is enlarged where needed to hold it
    with room around (a keyframe is larger than the face it shows)."""
    patch = Image.fromarray(head)
    if scale != 1.0:
        size = (max(1, round(patch.width * scale)), max(1, round(patch.height * scale)))
        patch = patch.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.fromarray(host)
    grow = max(1.0, 2 * patch.width / canvas.width, 2 * patch.height / canvas.height)
    if grow > 1.0:
        canvas = canvas.resize((round(canvas.width * grow), round(canvas.height * grow)))
    canvas.paste(
        patch, (canvas.width // 3 - patch.width // 2, canvas.height // 2 - patch.height // 2)
    )
    return np.asarray(canvas)


def _recompress(frame: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return pixels(Image.open(io.BytesIO(buffer.getvalue())))


def _copy_scores(backend: FaceBackend, a: Face, b: Face) -> tuple[float, float]:
    return chip_similarity(a.chip, b.chip), backend.similarity(a.embedding, b.embedding)


def flagged(chip: float, embedding: float) -> bool:
    """The copy-paste guard's verdict, as IdentityCritic gives it."""
    return chip > COPY_PASTE["copy_paste_chip"] or embedding > COPY_PASTE["copy_paste_embedding"]


def host_photo() -> np.ndarray:
    """A photo with no face in it, to paste faces into."""
    from skimage import data

    return data.coffee()


# --- the report ------------------------------------------------------------------------------


def report(backend: FaceBackend, photos: list[Photo], max_far: float) -> None:
    started = time.perf_counter()
    samples, missed = detect_samples(backend, photos)
    same_pairs, different_pairs = pairs(samples)
    same = similarities(backend, same_pairs)
    different = similarities(backend, different_pairs)
    people = len({s.person for s in samples})
    print(f"## {backend.name}: {len(samples)} faces of {people} people from {len(photos)} photos")
    if missed:
        print(f"no face found in: {', '.join(missed)}")
    if not same and not different:
        print("fewer than two faces: nothing to compare\n")
        return
    twice = [
        f"{a.source} ~ {b.source}"
        for (a, b), v in zip(same_pairs, same, strict=True)
        if v > COPY_PASTE["copy_paste_embedding"]
    ]
    if twice:
        print(f"same-person pairs as alike as one photo twice (left in): {'; '.join(twice)}")
    _print_identity(calibrate(same, different, backend.threshold, max_far))
    _print_copy_paste(backend, samples, same_pairs, different_pairs)
    print(f"\n({time.perf_counter() - started:.1f} s)\n")


def _print_identity(c: Calibration) -> None:
    print("\n| pairs | count | min | p5 | median | p95 | max |\n|---|---|---|---|---|---|---|")
    for label, s in (("same person, different photos", c.same), ("different people", c.different)):
        cells = " | ".join(f"{v:.3f}" for v in (s.min, s.p5, s.p50, s.p95, s.max))
        print(f"| {label} | {s.count} | {cells} |")
    if c.same.count == 0:
        print(
            f"\nno one is in two photos, so only false accepts can be measured: at the "
            f"current threshold {c.current:.3f}, {c.far_at_current:.1%} (add photos of the "
            "same people with --face-recognition or --photos DIR)"
        )
        return
    print(
        f"\nequal error rate: threshold {c.eer_threshold:.3f}, worse error rate there {c.eer:.1%}"
        f"\nlowest threshold with at most {c.max_far:.0%} false accepts: {c.far_threshold:.3f}, "
        f"false rejects there {c.frr_at_far_threshold:.1%}"
        f"\ncurrent threshold {c.current:.3f}: false accepts {c.far_at_current:.1%}, "
        f"false rejects {c.frr_at_current:.1%}"
    )
    if c.same.count < FEW_PAIRS:
        print(
            f"(only {c.same.count} same-person pairs: too few to move a threshold on; add "
            "photos with --photos DIR)"
        )


def _print_copy_paste(
    backend: FaceBackend, samples: list[Sample], same_pairs: list, different_pairs: list
) -> None:
    host = host_photo()
    rows: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        for score in paste_cases(backend, sample, host):
            rows.setdefault(score.case, []).append((score.chip, score.embedding))
    rows["same person, different photo"] = [
        _copy_scores(backend, a.face, b.face) for a, b in same_pairs
    ]
    rows["different people"] = [_copy_scores(backend, a.face, b.face) for a, b in different_pairs]
    limits = (
        f"chip > {COPY_PASTE['copy_paste_chip']}, embedding > {COPY_PASTE['copy_paste_embedding']}"
    )
    print(f"\ncopy-paste guard ({len(samples)} reference faces; flagged when {limits}):\n")
    print("| case | n | chip min / median / max | embedding min / median / max | flagged |")
    print("|---|---|---|---|---|")
    for case, scores in rows.items():
        print(_paste_row(case, scores))


def _paste_row(case: str, scores: list[tuple[float, float]]) -> str:
    if not scores:
        return f"| {case} | 0 | - | - | - |"
    chips, embeddings = zip(*scores, strict=True)
    hits = sum(flagged(c, e) for c, e in scores)
    return (
        f"| {case} | {len(scores)} | {_three(chips)} | {_three(embeddings)} | "
        f"{hits}/{len(scores)} |"
    )


def _three(values: Iterable[float]) -> str:
    v = np.asarray(list(values))
    return f"{v.min():.3f} / {np.median(v):.3f} / {v.max():.3f}"


def collect(args: argparse.Namespace) -> list[Photo]:
    photos = [] if args.no_installed else installed_photos()
    if args.face_recognition:
        photos += face_recognition_photos(Path(args.face_recognition))
    if args.photos:
        photos += folder_photos(Path(args.photos))
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", help="folder with one subfolder of photos per person")
    parser.add_argument(
        "--face-recognition", help="face_recognition 1.3.0's sdist (.tar.gz or folder)"
    )
    parser.add_argument(
        "--no-installed", action="store_true", help="leave out the photos that ship installed"
    )
    parser.add_argument(
        "--insightface-root", help="folder whose models/<pack> holds an insightface pack"
    )
    parser.add_argument(
        "--max-far", type=float, default=0.01, help="false accepts allowed (default 0.01)"
    )
    args = parser.parse_args()
    from director.tools.critics.face_choice import usable_face_backends

    photos = collect(args)
    print(f"{len(photos)} labelled photos: {', '.join(p.source for p in photos)}\n")
    backends = usable_face_backends(args.insightface_root)
    if all(b.name != "insightface" for b in backends):
        print(f"insightface: not run. {_insightface_missing(args.insightface_root)}\n")
    for backend in backends:
        report(backend, photos, args.max_far)


def _insightface_missing(root: str | None) -> str:
    from director.errors import ToolMissing
    from director.tools.critics.face_insightface import InsightFaces

    try:
        InsightFaces(root)
    except ToolMissing as exc:
        return exc.message
    return "it did not load"


if __name__ == "__main__":
    main()
