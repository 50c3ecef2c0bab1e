"""Which face backend judges identity: insightface where its packages and a model pack are
present, else dlib, whose weights ship in a package.

Choosing only looks for packages and files; no model is loaded until a face is detected.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from director.errors import ToolMissing
from director.tools.critics.face_dlib import DlibFaces, model_folder
from director.tools.critics.face_insightface import PACK, InsightFaces
from director.tools.critics.faces import FaceBackend


def choose_face_backend(
    insightface_root: str | Path | None = None, pack: str = PACK
) -> FaceBackend:
    """The backend a run uses: insightface with a pack under ``insightface_root`` (default
    ``~/.insightface``), else dlib."""
    return usable_face_backends(insightface_root, pack)[0]


def usable_face_backends(
    insightface_root: str | Path | None = None, pack: str = PACK
) -> list[FaceBackend]:
    """Every face backend that can run here, the chosen one first. When none can, dlib alone:
    its first use says what to install."""
    found: list[FaceBackend] = []
    insightface = _insightface(insightface_root, pack)
    if insightface is not None:
        found.append(insightface)
    if _dlib_present():
        found.append(DlibFaces())
    return found or [DlibFaces()]


def _insightface(root: str | Path | None, pack: str) -> FaceBackend | None:
    try:
        return InsightFaces(root, pack)
    except ToolMissing:
        return None


def _dlib_present() -> bool:
    if importlib.util.find_spec("dlib") is None:
        return False
    try:
        model_folder()
    except ToolMissing:
        return False
    return True
