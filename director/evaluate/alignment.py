"""Prompt alignment and style, per shot: CLIPScore against the whole prompt and against each of
its five slots scored alone, CLIP image similarity to the style anchors, and (needing no
weights) the colour-distribution overlap with the anchors that the gate uses without CLIP."""

from __future__ import annotations

from typing import Any

from director.evaluate.film import Film
from director.evaluate.measured import not_measured
from director.records import CheckResult
from director.tools.base import CriticContext
from director.tools.critics.imaging import open_rgb

SLOTS = ("subject", "action", "environment", "camera", "style")


def measure_alignment(film: Film, clip: Any | None, why_not: str) -> dict[str, dict[str, Any]]:
    """Shot id -> {"prompt": ..., "style_clip": ...}; ``clip`` is a loaded ``ClipCritic`` or
    None, with ``why_not`` saying why."""
    frames = [f for f in film.accepted]
    if clip is None:
        return {
            f.shot.id: {"prompt": not_measured(why_not), "style_clip": not_measured(why_not)}
            for f in frames
        }
    images = [open_rgb(f.path) for f in frames]
    context = _context(film)
    checks = clip.check_batch(images, [f.shot for f in frames], context)
    slots = _slot_scores(clip, film, images)
    return {
        f.shot.id: {
            "prompt": _prompt(by_name(found, "prompt"), slots[f.shot.id]),
            "style_clip": _style(by_name(found, "style")),
        }
        for f, found in zip(frames, checks, strict=True)
    }


def measure_colours(film: Film, thresholds: dict[str, float]) -> dict[str, Any]:
    """Shot id -> the colour overlap with the style anchors (the palette critic's
    ``style_colours``), or why it was not measured."""
    from director.tools.critics.palette import DEFAULTS, PaletteCritic

    if not film.anchors:
        why = "no style anchor: the run had no --style-ref and accepted no keyframe clean"
        return {f.shot.id: not_measured(why) for f in film.accepted}
    critic = PaletteCritic(**{k: v for k, v in thresholds.items() if k in DEFAULTS})
    context = _context(film)
    found = {}
    for frame in film.accepted:
        check = critic.check(open_rgb(frame.path), frame.shot, context)[0]
        found[frame.shot.id] = _style(check)
    return found


def _context(film: Film) -> CriticContext:
    return CriticContext(bible=film.record.bible, style_anchors=film.anchors)


def by_name(checks: list[CheckResult], name: str) -> CheckResult | None:
    return next((c for c in checks if c.name == name), None)


def _prompt(check: CheckResult | None, slots: dict[str, float]) -> dict[str, Any]:
    if check is None or check.passed is None:
        return not_measured(
            (check.reason if check else "").removeprefix("not run: ") or "no prompt"
        )
    return {
        "clipscore": check.score,
        "threshold": check.threshold,
        "passed": check.passed,
        "slots": slots,
    }


def _style(check: CheckResult | None) -> Any:
    if check is None or check.passed is None:
        return not_measured((check.reason if check else "").removeprefix("not run: "))
    return {"score": check.score, "threshold": check.threshold, "passed": check.passed}


def _slot_scores(clip: Any, film: Film, images: list) -> dict[str, dict[str, float]]:
    """Each slot's CLIPScore alone, the style slot included (the bible's suffix when the shot
    leaves it empty); empty slots are left out."""
    from director.tools.critics.clip import clip_score

    frames = film.accepted
    texts = {f.shot.id: _slot_texts(film, f.shot) for f in frames}
    wanted = [t for slots in texts.values() for t in slots.values()]
    if not wanted:
        return {f.shot.id: {} for f in frames}
    embedded = clip.embed_texts(wanted)
    pictures = clip.embed_images(images)
    return {
        f.shot.id: {
            slot: round(clip_score(float(picture @ embedded[text])), 4)
            for slot, text in texts[f.shot.id].items()
        }
        for f, picture in zip(frames, pictures, strict=True)
    }


def _slot_texts(film: Film, shot) -> dict[str, str]:
    slots = shot.prompt.slots()
    if not slots.get("style", "").strip() and film.record.bible is not None:
        slots = {**slots, "style": film.record.bible.suffix}
    return {s: slots[s] for s in SLOTS if slots.get(s, "").strip()}
