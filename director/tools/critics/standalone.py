"""The critique gate on one image, outside a film: what ``director critique`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from director.errors import InputError
from director.records import CheckResult, Critique, Shot, ShotPrompt, StyleBible
from director.tools.base import CriticContext
from director.tools.critics.imaging import open_rgb

REFERENCE = "reference"


def critique_image(
    image_path: Path,
    *,
    prompt: str = "",
    cast: list[str] | None = None,
    refs: list[Path] | None = None,
    style_refs: list[Path] | None = None,
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Every applicable check on one image, as ``{"verdict", "checks": {name: {...}}}``."""
    image = _open(image_path, "image")
    for path in style_refs or []:
        _open(path, "--style-ref")
    characters = _characters(cast or [], refs or [])
    width, height = size or image.size
    shot = _shot(prompt, list(characters))
    context = CriticContext(
        bible=_bible(width, height), style_anchors=[str(p) for p in style_refs or []]
    )
    checks = [c for critic in _critics(characters) for c in critic.check(image, shot, context)]
    if size is None:
        checks = [_no_size(c) if c.name == "resolution" else c for c in checks]
    checks.append(_prompt_check(prompt))
    return as_json(Critique(shot_id=shot.id, attempt=1, checks=checks))


def as_json(critique: Critique) -> dict[str, Any]:
    keep = ("score", "threshold", "passed", "reason")
    checks = {c.name: {k: getattr(c, k) for k in keep} for c in critique.checks}
    return {"verdict": critique.verdict, "checks": checks}


def _open(path: Path, what: str):
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist.", "Pass the path of an image file.")
    image = open_rgb(str(path))
    if image is None:
        raise InputError(
            f"{what} {path} is not an image director can read.", "Use a PNG, JPEG or WebP file."
        )
    return image


def _characters(cast: list[str], refs: list[Path]) -> dict[str, list[str]]:
    if refs:
        return {REFERENCE: [str(_checked(p)) for p in refs]}
    if not cast:
        return {}
    from director.memory.cast import CastStore

    store = CastStore()
    return {name: store.get(name).references for name in cast}


def _checked(path: Path) -> Path:
    _open(path, "--ref")
    return path


def _critics(characters: dict[str, list[str]]) -> list:
    from director.tools.critics.palette import PaletteCritic
    from director.tools.critics.technical import TechnicalCritic

    critics: list = [TechnicalCritic(), PaletteCritic()]
    if characters:
        from director.tools.critics.face_dlib import DlibFaces
        from director.tools.critics.identity import IdentityCritic

        critics.append(IdentityCritic(DlibFaces(), characters))
    return critics


def _shot(prompt: str, characters: list[str]) -> Shot:
    slots = ShotPrompt(subject=prompt, action="", environment="", camera="", style="")
    return Shot(
        id="image",
        beat_id="-",
        index=0,
        role="medium",
        size="medium",
        angle="eye-level",
        move="static",
        duration_s=1.0,
        prompt=slots,
        characters=characters,
    )


def _bible(width: int, height: int) -> StyleBible:
    return StyleBible(
        name="critique",
        suffix="",
        negative="",
        palette=[],
        aspect_ratio=f"{width}:{height}",
        width=width,
        height=height,
        grain=0.0,
    )


def _no_size(check: CheckResult) -> CheckResult:
    return CheckResult(
        name=check.name,
        score=None,
        threshold=None,
        passed=None,
        reason="not run: no target size to compare with (pass --size WxH)",
    )


def _prompt_check(prompt: str) -> CheckResult:
    reason = (
        "not run: prompt adherence needs the CLIP critic, which this version does not have"
        if prompt.strip()
        else "not run: no --prompt given"
    )
    return CheckResult(name="prompt", score=None, threshold=None, passed=None, reason=reason)
