"""Faces: the small interface every face backend implements, and the logic shared by all of them.

A backend finds faces and turns each into an identity embedding and an aligned crop (a "chip":
the face rotated and scaled so the eyes sit at fixed places). Matching faces to characters and
comparing chips pixel by pixel do not depend on the backend, so they live here.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from director.errors import InputError
from director.tools.critics.imaging import luma, open_rgb, pixels

# Reference faces found in this process, by face backend and file content, most recent last: a
# run checks each reference for one face before it starts and then compares every frame with
# it, and finding it (a CPU pass of a detector and an embedding network) is the costly part.
_REFERENCE_FACES: OrderedDict[tuple[type, str, str], list[Face]] = OrderedDict()
REFERENCE_CACHE_SIZE = 64

# Share of the chip trimmed from each side before chips are compared: the border holds hair and
# background, which a render may change while still pasting the reference's face.
CHIP_MARGIN = 0.15


@dataclass
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in pixels
    embedding: np.ndarray
    chip: np.ndarray  # the aligned crop, uint8 RGB


class Match(NamedTuple):
    """The face given to one character, with its best and mean similarity to the references."""

    face: Face | None
    best: float | None
    mean: float | None


class FaceBackend(ABC):
    name: ClassVar[str]
    threshold: ClassVar[float]  # similarity at or above which two faces are the same person

    @abstractmethod
    def detect(self, image_rgb: np.ndarray, *, expect: int = 1) -> list[Face]:
        """Every face in an (H, W, 3) uint8 RGB array. ``expect`` is how many faces the caller
        looks for: a backend may look harder (and slower) when it finds fewer."""

    @abstractmethod
    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """How alike two embeddings are; higher is more alike, 1.0 for identical."""

    @property
    def cache_key(self) -> str:
        """What tells this backend's faces from another's: its name, and whatever else changes
        the faces it finds (a model pack)."""
        return self.name

    def reference_face(self, path: str | Path) -> Face:
        """The one face of a reference image; refuses an image that cannot serve as one. Found
        once per process for each file content and backend."""
        faces = self._reference_faces(path)
        if len(faces) != 1:
            found = "no face" if not faces else f"{len(faces)} faces"
            raise InputError(
                f"The reference image {path} shows {found}; a reference must show exactly one.",
                "Use a photo or render of the character alone, face to camera, face at least "
                "80 pixels tall.",
            )
        return faces[0]

    def embed_reference(self, path: str | Path) -> np.ndarray:
        return self.reference_face(path).embedding

    def _reference_faces(self, path: str | Path) -> list[Face]:
        key = (type(self), self.cache_key, _digest(path))
        if key in _REFERENCE_FACES:
            _REFERENCE_FACES.move_to_end(key)
            return _REFERENCE_FACES[key]
        image = open_rgb(path)
        if image is None:
            raise InputError(
                f"Cannot read the reference image {path}.",
                "Give the path of a PNG or JPEG file that exists.",
            )
        faces = _REFERENCE_FACES[key] = self.detect(pixels(image), expect=1)
        while len(_REFERENCE_FACES) > REFERENCE_CACHE_SIZE:
            _REFERENCE_FACES.popitem(last=False)
        return faces


def _digest(path: str | Path) -> str:
    """The file's SHA-256, or its path where it cannot be read (reading it then says why)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"


def assign(
    faces: list[Face], references: dict[str, list[np.ndarray]], backend: FaceBackend
) -> dict[str, Match]:
    """Give each character at most one face and each face at most one character.

    Pairs are taken greedily, most similar first (similarity to a character is the best over its
    references), so two characters never claim the same face. A character left without a face
    gets ``Match(None, None, None)``.
    """
    scores: dict[tuple[str, int], tuple[float, float]] = {}
    for name, embeddings in references.items():
        for i, face in enumerate(faces):
            sims = [backend.similarity(face.embedding, e) for e in embeddings]
            if sims:
                scores[name, i] = (max(sims), float(np.mean(sims)))
    matches = {name: Match(None, None, None) for name in references}
    used: set[int] = set()
    for (name, i), (best, mean) in sorted(scores.items(), key=lambda kv: -kv[1][0]):
        if matches[name].face is None and i not in used:
            matches[name] = Match(faces[i], best, mean)
            used.add(i)
    return matches


def chip_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel similarity of two aligned chips: the normalised cross-correlation of their grey
    centres, -1 to 1. Brightness and contrast changes leave it unchanged; a different photo of
    the same face moves features by a few pixels and drops it well below 1."""
    ga, gb = _centre(luma(a)), _centre(luma(b))
    if ga.shape != gb.shape:
        return 0.0
    ga, gb = ga - ga.mean(), gb - gb.mean()
    norm = float(np.sqrt((ga * ga).sum() * (gb * gb).sum()))
    return float((ga * gb).sum() / norm) if norm > 0 else 0.0


def _centre(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    dy, dx = int(h * CHIP_MARGIN), int(w * CHIP_MARGIN)
    return grey[dy : h - dy, dx : w - dx].astype(np.float64)
