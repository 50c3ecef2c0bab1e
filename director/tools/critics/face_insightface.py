"""The insightface face backend: SCRFD face detector and ArcFace embedding from a model pack.

A pack is a folder of ONNX files, ``<root>/models/<pack>/`` (root ``~/.insightface`` unless
given; ``buffalo_l`` holds ``det_10g.onnx`` and ``w600k_r50.onnx``). director never downloads
one: insightface's pretrained packs are licensed for non-commercial research only, so placing a
pack is the user's decision. Embeddings are L2-normalised and compared by cosine similarity.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from director.errors import ToolMissing
from director.tools.critics.faces import Face, FaceBackend

PACK = "buffalo_l"
DEFAULT_ROOT = "~/.insightface"
LICENCE = "insightface's pretrained model packs are licensed for non-commercial research only."
INSTALL = "Install them with: pip install 'director[insightface]'"
# ArcFace's input side; chips are cut at the same size and with the same alignment.
CHIP_SIDE = 112
# SCRFD's own default score threshold.
DETECTION_THRESHOLD = 0.5


class InsightFaces(FaceBackend):
    name = "insightface"
    # Cosine similarity of normed embeddings at or above which two faces are one person:
    # insightface 2.x's own default recognition threshold (insightface/gui/core/constants.py,
    # DEFAULT_THRESHOLD = 0.4); its web demo calls 0.20-0.28 "likely the same" and 0.28 and above
    # "the same" (web-demos/src_recognition/main.py). Recalibrate with bench/calibrate_identity.py
    # once a pack is present: the right value depends on the pack and on rendered faces.
    threshold = 0.4

    def __init__(self, root: str | Path | None = None, pack: str = PACK) -> None:
        require_packages()
        self.folder = pack_folder(root, pack)
        if not has_models(self.folder):
            raise ToolMissing(
                f"No insightface model pack {pack!r} in {self.folder}.", placement_hint(pack)
            )

    def detect(self, image_rgb: np.ndarray, *, expect: int = 1) -> list[Face]:
        # SCRFD looks at two scales (128 and 640 px) on every call, so ``expect`` changes nothing.
        app = self.load()
        bgr = np.ascontiguousarray(np.asarray(image_rgb, dtype=np.uint8)[:, :, ::-1])
        with _quiet():
            return [self._face(bgr, found) for found in app.get(bgr)]

    @property
    def cache_key(self) -> str:
        return f"{self.name}:{self.folder}"

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(a @ b / norm) if norm > 0 else 0.0

    def load(self) -> Any:
        """The loaded ``FaceAnalysis`` (detection and recognition only), once per pack."""
        return _analysis(str(self.folder))

    def _face(self, bgr: np.ndarray, found: Any) -> Face:
        from insightface.utils.face_align import norm_crop

        chip = norm_crop(bgr, landmark=found.kps, image_size=CHIP_SIDE)
        h, w = bgr.shape[:2]
        x1, y1, x2, y2 = (int(round(float(v))) for v in found.bbox)
        box = (max(x1, 0), max(y1, 0), min(x2, w - 1), min(y2, h - 1))
        embedding = np.asarray(found.normed_embedding, dtype=np.float32)
        return Face(box=box, embedding=embedding, chip=np.ascontiguousarray(chip[:, :, ::-1]))


def pack_folder(root: str | Path | None = None, pack: str = PACK) -> Path:
    return (Path(root or DEFAULT_ROOT).expanduser() / "models" / pack).absolute()


def has_models(folder: Path) -> bool:
    """A pack is there when its folder holds ONNX files (or a manifest of version-2 packs)."""
    return folder.is_dir() and (any(folder.glob("*.onnx")) or (folder / "manifest.json").is_file())


def packages_present() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in ("insightface", "onnxruntime"))


def require_packages() -> None:
    if not packages_present():
        raise ToolMissing(
            "The insightface face backend needs the insightface and onnxruntime packages.",
            INSTALL,
        )


def placement_hint(pack: str) -> str:
    return (
        f"Unpack the {pack} pack so that its .onnx files lie in <root>/models/{pack}/ (root "
        "~/.insightface unless --insightface-root or DIRECTOR_INSIGHTFACE_ROOT names another). "
        f"director never downloads packs: {LICENCE}"
    )


def providers() -> list[str]:
    """CUDA first where onnxruntime has it, else the CPU. insightface's own choice would also
    take CoreML on a Mac or whatever provider a custom onnxruntime build lists first."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


@lru_cache(maxsize=2)
def _analysis(folder: str) -> Any:
    """Load a pack's detector and recogniser (about a second for buffalo_l on a CPU).

    ``FaceAnalysis`` is given the folder itself, never a pack name: given a name it does not
    find, it downloads."""
    from insightface.app import FaceAnalysis

    chosen = providers()
    hint = placement_hint(Path(folder).name)
    try:
        app = FaceAnalysis(
            name=folder, allowed_modules=["detection", "recognition"], providers=chosen
        )
    except AssertionError as exc:  # insightface asserts that a detector was found
        raise ToolMissing(f"The insightface pack in {folder} has no face detector.", hint) from exc
    except Exception as exc:  # a truncated or foreign file: onnx and onnxruntime raise their own
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ToolMissing(
            f"The insightface pack in {folder} does not load: {reason}", hint
        ) from exc
    if "recognition" not in app.models:
        raise ToolMissing(f"The insightface pack in {folder} has no recognition model.", hint)
    ctx_id = 0 if chosen[0] == "CUDAExecutionProvider" else -1
    app.prepare(ctx_id=ctx_id, det_thresh=DETECTION_THRESHOLD)
    return app


@contextmanager
def _quiet() -> Iterator[None]:
    """insightface's alignment calls a scikit-image method that warns of its own deprecation on
    every face; the warning is for insightface's authors, not director's users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*estimate.*deprecated", category=FutureWarning)
        yield
