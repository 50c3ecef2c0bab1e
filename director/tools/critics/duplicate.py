"""A guard against a keyframe that repeats one already accepted for another shot.

Each image is reduced to a 64-bit perceptual hash (pHash: the signs of the lowest 8x8 DCT
frequencies of a 32x32 grey copy, against their median), which survives resizing, re-encoding
and small colour changes; two images whose hashes differ in few bits look the same.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from director.records import CheckResult, Shot
from director.tools.base import Critic, CriticContext
from director.tools.critics.imaging import as_rgb, open_rgb

DEFAULTS: dict[str, int] = {
    # Fewest differing hash bits for two keyframes to count as different shots: 6 bits or
    # fewer is a near-duplicate. An exact, half-size JPEG, brightened or blurred copy stays
    # within 0-2 bits. Among storyboard frames of one film, the nearest other shot is 14 bits
    # or more away for 95% of frames (2 of 195 came within 6 bits and would be rerolled).
    "min_distance": 7,
}

HASH_SIDE, LOW = 32, 8


class DuplicateCritic(Critic):
    name = "duplicate"
    checks = ("near_duplicate",)
    defaults = DEFAULTS
    judges = ("keyframe",)

    def __init__(self, **thresholds: int) -> None:
        unknown = set(thresholds) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.thresholds = {**DEFAULTS, **thresholds}
        self._cache: dict[tuple[str, int, int], np.ndarray | None] = {}

    def check(self, image: Any, shot: Shot, context: CriticContext) -> list[CheckResult]:
        others = {sid: path for sid, path in context.accepted.items() if sid != shot.id}
        if not others:
            return self.not_run("no accepted keyframes to compare with yet")
        hashes = {sid: self._hash_of(path) for sid, path in others.items()}
        readable = {sid: h for sid, h in hashes.items() if h is not None}
        if not readable:
            return self.not_run(f"none of the {len(others)} accepted keyframes could be read")
        mine = phash(as_rgb(image))
        distances = {sid: int(np.count_nonzero(mine != h)) for sid, h in readable.items()}
        nearest = min(distances, key=distances.__getitem__)
        value, limit = distances[nearest], self.thresholds["min_distance"]
        verdict = "a near-duplicate of" if value < limit else "distinct from"
        return [
            CheckResult.measured(
                "near_duplicate",
                value,
                limit,
                f"{verdict} shot {nearest}'s keyframe: hashes differ in {value} of 64 bits "
                f"(at least {limit} needed; compared with {len(readable)} accepted)",
            )
        ]

    def _hash_of(self, path: str) -> np.ndarray | None:
        """Hash of an accepted keyframe, cached until the file changes."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in self._cache:
            img = open_rgb(path)
            self._cache[key] = None if img is None else phash(img)
        return self._cache[key]


def phash(image: Image.Image) -> np.ndarray:
    """The 64-bit perceptual hash of an image, as a bool array of 64."""
    grey = image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    d = _dct_matrix(HASH_SIDE)
    coeffs = d @ np.asarray(grey, dtype=np.float64) @ d.T
    low = coeffs[:LOW, :LOW]
    return (low > np.median(low)).reshape(-1)


@lru_cache(maxsize=2)
def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: rows are cosine basis vectors."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m
