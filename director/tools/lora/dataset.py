"""The training set of a style LoRA: the images, one caption each, and the file that holds the
captions for the user to edit.

From runs, the images are the keyframes each run accepted, and a caption is written from the
shot's prompt slots (subject, action, environment, camera) with the style slot replaced by the
trigger word: the words describe the content, so what the LoRA has left to learn from the
images is the style, which only the trigger word names. The trigger comes first, in the first
77-token text window, the one SDXL's pooled embedding reads. From a folder, an image's caption is the
text file beside it (``name.txt``, as kohya's trainers read it) after the trigger word, or the
trigger word alone.

Images are kept once: an exact copy (the same bytes) and a near-duplicate (a perceptual hash
within the duplicate critic's distance) of an image already kept are dropped, with the reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from director.errors import InputError
from director.files import write_text_atomic
from director.text import is_chinese

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
ACCEPTED = ("accept", "accept-below-threshold")  # as the export reads a run's decisions
CAPTIONS = "captions.txt"
CONTENT_SLOTS = ("subject", "action", "environment", "camera")
TRIGGER = re.compile(r"^[\w-]{2,40}$")


@dataclass(frozen=True)
class Item:
    """One training image: where it came from, its content hash and its caption."""

    source: Path
    origin: str  # what the document says it is: "run film, shot s001" or the file's name
    sha256: str
    caption: str
    stem: str  # a readable part of the name it is copied under

    @property
    def name(self) -> str:
        """Its file name in the dataset folder: readable, and the same for the same image."""
        return f"{self.stem}-{self.sha256[:8]}{self.source.suffix.lower()}"


@dataclass
class Dataset:
    items: list[Item]
    language: str = "en"
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (origin, why)

    @property
    def sha256(self) -> str:
        """One hash of the images and their captions: what the weights were trained on."""
        digest = hashlib.sha256()
        for item in sorted(self.items, key=lambda i: i.name):
            digest.update(f"{item.sha256}\t{item.caption}\n".encode())
        return digest.hexdigest()


# --- captions --------------------------------------------------------------------------------


def check_trigger(trigger: str) -> str:
    if not TRIGGER.match(trigger):
        raise InputError(
            f"The trigger word {trigger!r} is not one word.",
            "Use 2-40 letters, digits, '_' or '-', a word the base model does not know "
            "(e.g. --trigger lhkstyle).",
        )
    return trigger


def caption_from_slots(slots: dict[str, str], trigger: str) -> str:
    """The shot's content slots after the trigger word; the style slot is left out."""
    parts = [slots.get(name, "").strip().rstrip(".,，。") for name in CONTENT_SLOTS]
    parts = [p for p in parts if p]
    sep = "，" if is_chinese(" ".join(parts)) else ", "
    return sep.join([trigger, *parts])


def caption_from_text(text: str, trigger: str) -> str:
    text = " ".join(text.split())
    if not text:
        return trigger
    return text if trigger in text.split(", ")[0].split() else f"{trigger}, {text}"


# --- sources ---------------------------------------------------------------------------------


def from_runs(runs: list, trigger: str) -> tuple[list[Item], str]:
    """Each run's accepted keyframes with captions from their shots; the films' language."""
    items, languages = [], []
    for paths in runs:
        plan, keyframes = _accepted_keyframes(paths)
        languages.append(plan.story.language)
        for shot in plan.shots:
            attempt = keyframes.get(shot.id)
            if attempt is None:
                continue
            source = paths.root / attempt.artifact
            origin = f"run {paths.run_id}, shot {shot.id}, attempt {attempt.number}"
            caption = caption_from_slots(shot.prompt.slots(), trigger)
            stem = shot.id if len(runs) == 1 else f"{paths.run_id}-{shot.id}"
            items.append(Item(source, origin, _hash(source, origin), caption, _safe(stem)))
    language = "zh" if languages.count("zh") > languages.count("en") else "en"
    return items, language


def _accepted_keyframes(paths) -> tuple:
    """The run's plan and, per shot, the keyframe attempt its last decision accepted."""
    from pydantic import ValidationError

    from director.files import read_json_object
    from director.memory.events import read_events
    from director.memory.runs import RESTORE
    from director.records import Plan
    from director.replay.record import fold

    if not paths.plan_json.is_file():
        raise InputError(f"Run {paths.run_id} has no plan yet, so it has no keyframes.", RESTORE)
    data = read_json_object(paths.plan_json, f"Run {paths.run_id}'s plan", RESTORE)
    try:
        plan = Plan.model_validate(data)
    except ValidationError:
        raise InputError(
            f"Run {paths.run_id}'s plan {paths.plan_json} is not a plan.", RESTORE
        ) from None
    record = fold(read_events(paths.events))
    chosen = {}
    for shot in plan.shots:
        decision = record.final_decision(shot.id)
        if decision is None or decision.action not in ACCEPTED:
            continue
        attempt = next((a for a in record.keyframes[shot.id] if a.number == decision.attempt), None)
        if attempt is not None and (paths.root / attempt.artifact).is_file():
            chosen[shot.id] = attempt
    return plan, chosen


def from_folder(folder: Path, trigger: str) -> tuple[list[Item], str]:
    """The folder's images (not its subfolders), in name order, captioned from their .txt."""
    if not folder.is_dir():
        raise InputError(f"No folder of images at {folder}.", "Pass --images DIR, a folder.")
    items = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        text = path.with_suffix(".txt")
        said = text.read_text(encoding="utf-8", errors="replace") if text.is_file() else ""
        caption = caption_from_text(said, trigger)
        items.append(Item(path, path.name, _hash(path, path.name), caption, _safe(path.stem)))
    language = "zh" if any(is_chinese(i.caption) for i in items) else "en"
    return items, language


def _hash(path: Path, origin: str) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(
            f"The training image {path} ({origin}) cannot be read: {exc.strerror or exc}.",
            "Check its permissions, or leave it out.",
        ) from None


def _safe(stem: str) -> str:
    return re.sub(r"[^\w-]+", "_", stem).strip("_")[:40] or "image"


# --- checking and de-duplicating -------------------------------------------------------------


def build(items: list[Item], language: str, where: str) -> Dataset:
    """The items every one of which reads as an image, each kept once; an InputError for an
    unreadable image or for nothing left to train on."""
    from director.tools.critics.duplicate import DEFAULTS, phash
    from director.tools.critics.imaging import open_rgb

    kept: list[Item] = []
    hashes: list[np.ndarray] = []
    dropped: list[tuple[str, str]] = []
    seen: dict[str, Item] = {}
    for item in items:
        if item.sha256 in seen:
            dropped.append((item.origin, f"the same file as {seen[item.sha256].origin}"))
            continue
        image = open_rgb(item.source)
        if image is None:
            raise InputError(
                f"The training image {item.source} ({item.origin}) cannot be read as an image.",
                "Replace it with a PNG, JPEG or WebP file, or remove it.",
            )
        mine = phash(image)
        near = [
            i
            for i, h in enumerate(hashes)
            if np.count_nonzero(mine != h) < DEFAULTS["min_distance"]
        ]
        if near:
            dropped.append((item.origin, f"a near-duplicate of {kept[near[0]].origin}"))
            continue
        seen[item.sha256] = item
        kept.append(item)
        hashes.append(mine)
    if not kept:
        raise InputError(
            f"There is nothing to train on: {where} holds no images.",
            "Pass runs that accepted keyframes (--from RUN) or a folder of PNG/JPEG/WebP "
            "images (--images DIR).",
        )
    return Dataset(kept, language, dropped)


# --- the dataset folder and the captions file ------------------------------------------------


def write(dataset: Dataset, out: Path) -> Path:
    """Copy the images into ``out/dataset`` and write the captions file, keeping the captions
    the user edited in it; returns the captions file."""
    folder = out / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    for item in dataset.items:
        dest = folder / item.name
        if not dest.is_file():
            dest.write_bytes(item.source.read_bytes())
    path = out / CAPTIONS
    write_text_atomic(path, captions_text(dataset))
    return path


def apply_edits(dataset: Dataset, out: Path) -> tuple[Dataset, int]:
    """The dataset with the captions of ``out``'s captions file where it names an image, and
    how many of them differ from those written from the slots."""
    path = out / CAPTIONS
    if not path.is_file():
        return dataset, 0
    edited = read_captions(path)
    items, changed = [], 0
    for item in dataset.items:
        caption = edited.get(item.name, item.caption)
        changed += caption != item.caption
        items.append(Item(item.source, item.origin, item.sha256, caption, item.stem))
    return Dataset(items, dataset.language, dataset.dropped), changed


HEADER = (
    "# One training image a line: its file name in dataset/, a colon, its caption.\n"
    "# Edit the captions, then run the same `director lora train` command again: it trains on\n"
    "# them. Describe what is in the picture, not its look; keep the trigger word.\n"
)


def captions_text(dataset: Dataset) -> str:
    lines = [f"{item.name}: {item.caption}" for item in dataset.items]
    return HEADER + "\n".join(lines) + "\n"


def read_captions(path: Path) -> dict[str, str]:
    captions = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, caption = line.partition(": ")
        if not sep or not caption.strip():
            raise InputError(
                f"Line {number} of {path} is not 'FILE: caption'.",
                "Write each line as the image's file name, a colon and a space, then its caption.",
            )
        captions[name.strip()] = " ".join(caption.split())
    return captions
