"""The dlib face backend: HOG face detector, 5-point landmarks and dlib's ResNet face embedding.

The weights ship inside the ``face_recognition_models`` package, so nothing is downloaded. Two
faces are the same person when their 128-d embeddings lie less than 0.6 apart (dlib's published
threshold, 99.38% on LFW); similarity here is 1 - distance, so that rule reads similarity >= 0.4.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from director.errors import ToolMissing
from director.tools.critics.faces import Face, FaceBackend

INSTALL = "Install them with: pip install dlib-bin face_recognition_models"
LANDMARKS = "shape_predictor_5_face_landmarks.dat"
EMBEDDING = "dlib_face_recognition_resnet_model_v1.dat"
# The side the embedding network was trained on; chips are cut at the same size.
CHIP_SIDE = 150


@dataclass(frozen=True)
class _Models:
    detector: Any
    landmarks: Any
    embedder: Any
    dlib: Any


class DlibFaces(FaceBackend):
    name = "dlib"
    # dlib's 0.6 distance. On real photos (bench/calibrate_identity.py; docs/calibration.md) different
    # people score 0.02-0.35 (63 pairs) and different photos of one person 0.58-0.68 (3 pairs):
    # no error either side, and too few same-person pairs to move dlib's LFW-measured value.
    threshold = 0.4

    def __init__(self, max_upsample: int = 1) -> None:
        # The HOG detector finds faces of about 80 px and more; each upsampling halves that, at
        # four times the cost, and makes false detections (badges, patterns) more likely.
        self.max_upsample = max_upsample

    def detect(self, image_rgb: np.ndarray, *, expect: int = 1) -> list[Face]:
        models = _models()
        image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        rects = models.detector(image, 0)
        upsample = 0
        while len(rects) < expect and upsample < self.max_upsample:
            upsample += 1
            rects = models.detector(image, upsample)
        return [self._face(models, image, r) for r in rects]

    @property
    def cache_key(self) -> str:
        return f"{self.name}:upsample {self.max_upsample}"

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return 1.0 - float(np.linalg.norm(np.asarray(a) - np.asarray(b)))

    def _face(self, models: _Models, image: np.ndarray, rect: Any) -> Face:
        shape = models.landmarks(image, rect)
        embedding = np.array(models.embedder.compute_face_descriptor(image, shape, 0))
        chip = np.asarray(models.dlib.get_face_chip(image, shape, size=CHIP_SIDE), dtype=np.uint8)
        h, w = image.shape[:2]
        box = (
            max(rect.left(), 0),
            max(rect.top(), 0),
            min(rect.right(), w - 1),
            min(rect.bottom(), h - 1),
        )
        return Face(box=box, embedding=embedding, chip=chip)


@lru_cache(maxsize=1)
def _models() -> _Models:
    """Load the three models once per process (about a second and 40 MB)."""
    try:
        import dlib
    except ImportError as exc:
        raise ToolMissing("The dlib face backend needs the dlib package.", INSTALL) from exc
    folder = model_folder()
    return _Models(
        detector=dlib.get_frontal_face_detector(),
        landmarks=dlib.shape_predictor(str(folder / LANDMARKS)),
        embedder=dlib.face_recognition_model_v1(str(folder / EMBEDDING)),
        dlib=dlib,
    )


def model_folder() -> Path:
    """The folder of dlib weights inside ``face_recognition_models``. Found without importing
    the package, whose ``__init__`` needs ``pkg_resources`` (gone from recent setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing(
            "The dlib face backend needs the face_recognition_models package.", INSTALL
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    missing = [n for n in (LANDMARKS, EMBEDDING) if not (folder / n).is_file()]
    if missing:
        raise ToolMissing(
            f"face_recognition_models lacks {', '.join(missing)} in {folder}.", INSTALL
        )
    return folder
