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
    insightface_root: str | None = None,
    clip_weights: str | None = None,
    clip_model: str | None = None,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Every applicable check on one image, as ``{"verdict", "checks": {name: {...}}}``.
    Identity uses insightface where a model pack is present under ``insightface_root``; the
    prompt and style checks use CLIP where weights are found (see ``clip_weights``)."""
    image = _open(image_path, "image")
    for path in style_refs or []:
        _open(path, "--style-ref")
    characters = _characters(cast or [], refs or [])
    width, height = size or image.size
    shot = _shot(prompt, list(characters))
    context = CriticContext(
        bible=_bible(width, height), style_anchors=[str(p) for p in style_refs or []]
    )
    # CLIP is loaded only for a prompt or style anchors to compare with: it takes seconds.
    clip = (clip_model, clip_weights) if prompt.strip() or style_refs else None
    critics = _critics(characters, insightface_root, clip, thresholds or {})
    checks = [c for critic in critics for c in critic.check(image, shot, context)]
    if size is None:
        checks = [_no_size(c) if c.name == "resolution" else c for c in checks]
    if clip is None:
        checks += [CheckResult.not_run(name, "") for name in ("prompt", "style")]
    checks = [_no_input(c, prompt, style_refs or []) for c in checks]
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


def _critics(
    characters: dict[str, list[str]],
    insightface_root: str | None,
    clip: tuple[str | None, str | None] | None,
    thresholds: dict[str, float],
) -> list:
    """The registered critics that judge keyframes, plugins included, built for one image. The
    near-duplicate guard has no accepted keyframes to compare with outside a film, and CLIP is
    left out without a prompt or style anchors to compare with (it takes seconds to load)."""
    from director.records import Character
    from director.tools.critics.registered import CriticSetup, build, critic_classes, judges

    model, weights = clip or (None, None)
    setup = CriticSetup(
        thresholds=thresholds,
        cast=[Character(name=n, description="", references=r) for n, r in characters.items()],
        clip_model=model,
        clip_weights=weights,
        insightface_root=insightface_root,
    )
    left_out = {"duplicate", *(() if clip else ("clip",))}
    wanted = [
        critic
        for name, critic in critic_classes().items()
        if name not in left_out and judges(critic, "keyframe")
    ]
    return [critic for critic in (build(c, setup) for c in wanted) if critic is not None]


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
    return CheckResult.not_run(
        check.name, "not run: no target size to compare with (pass --size WxH)"
    )


def _no_input(check: CheckResult, prompt: str, style_refs: list[Path]) -> CheckResult:
    """A CLIP check left without its input says which option gives it."""
    missing = {"prompt": not prompt.strip(), "style": not style_refs}
    if not missing.get(check.name):
        return check
    option = "--prompt" if check.name == "prompt" else "--style-ref"
    return CheckResult.not_run(check.name, f"not run: no {option} given")
