"""One run's evaluation, as the JSON object ``evaluation.json`` holds: per shot, per character
and for the whole film. Every model is optional: what it would measure is then reported as not
measured, with why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import mean
from typing import Any

from director.errors import ToolMissing
from director.evaluate.alignment import measure_alignment, measure_colours
from director.evaluate.film import Film, ShotFrame
from director.evaluate.identity import measure_identity
from director.evaluate.measured import is_measured, mean_or, not_measured
from director.tools.critics.imaging import open_rgb

VERSION = 1


@dataclass
class Models:
    """The models an evaluation measures with, each None where absent, with why."""

    faces: Any = None
    faces_missing: str = ""
    clip: Any = None
    clip_missing: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)


def load_models(
    *,
    insightface_root: str | None,
    clip_model: str | None,
    clip_weights: str | None,
    thresholds: dict[str, float],
    faces: bool = True,
) -> Models:
    """The face backend the gate would choose (when ``faces``: a film has a cast) and the CLIP
    critic, loaded once for every run evaluated; an absent one is left None with the reason."""
    from director.tools.critics.clip import ClipCritic
    from director.tools.critics.face_choice import usable_face_backends

    models = Models(thresholds=thresholds)
    if faces:
        backend = usable_face_backends(insightface_root)[0]
        try:
            backend.detect(_probe(), expect=1)  # loads the weights: absent ones say so here
            models.faces = backend
        except ToolMissing as exc:
            models.faces_missing = f"no face model ({exc})"
    clip = ClipCritic(clip_model, clip_weights)
    if clip.unavailable:
        models.clip_missing = clip.unavailable
    else:
        models.clip = clip
    return models


def _probe():
    import numpy as np

    return np.zeros((8, 8, 3), dtype=np.uint8)


def evaluate_film(film: Film, models: Models) -> dict[str, Any]:
    # One scale for every run compared: the thresholds given to the command, not each run's.
    thresholds = models.thresholds
    characters = measure_identity(film, models.faces, thresholds)
    if models.faces is None:
        characters = {n: not_measured(models.faces_missing) for n in characters}
    aligned = measure_alignment(film, models.clip, models.clip_missing)
    colours = measure_colours(film, thresholds)
    shots = [_shot(film, f, aligned, colours, thresholds) for f in film.frames]
    return {
        "version": VERSION,
        "run_id": film.run_id,
        "title": film.title,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "thresholds": thresholds,
        "style_anchors": {"images": film.anchors, "from": film.anchors_from},
        "shots": shots,
        "characters": characters,
        "summary": summary(film, shots, characters),
    }


def _shot(
    film: Film, frame: ShotFrame, aligned: dict, colours: dict, thresholds: dict
) -> dict[str, Any]:
    r, sid = film.record, frame.shot.id
    keyframes, clips = r.attempts(sid, "keyframe"), r.attempts(sid, "clip")
    cost, unpriced = _cost(film, sid)
    entry: dict[str, Any] = {
        "id": sid,
        "beat": frame.shot.beat_id,
        "duration_s": frame.shot.duration_s,
        "characters": list(frame.shot.characters),
        "frame": film.paths.rel(frame.path) if frame.path else None,
        "made_by": frame.attempt.made_by if frame.attempt else None,
        "attempts": len(keyframes),
        "rerolls": max(len(keyframes) - 1, 0),
        "clip_attempts": len(clips),
        "seconds": round(sum(a.seconds for a in [*keyframes, *clips]), 3),
        "cost_usd": cost,
    }
    if unpriced:
        entry["cost_note"] = f"{unpriced} paid call(s) at no known price are not in cost_usd"
    if frame.path is None:
        why = (
            "the run accepted no keyframe for this shot"
            if frame.attempt is None
            else (f"its accepted keyframe {frame.attempt.artifact} is missing")
        )
        for key in ("technical", "prompt", "style_clip", "style_colours"):
            entry[key] = not_measured(why)
        return entry
    entry["technical"] = _technical(film, frame, thresholds)
    entry.update(aligned[sid])
    entry["style_colours"] = colours[sid]
    return entry


def _cost(film: Film, shot_id: str) -> tuple[float, int]:
    costs = [c for c in film.record.costs if c.shot_id == shot_id]
    return round(sum(c.amount or 0.0 for c in costs), 4), sum(c.amount is None for c in costs)


def _technical(film: Film, frame: ShotFrame, thresholds: dict) -> dict[str, Any]:
    from director.tools.base import CriticContext
    from director.tools.critics.technical import DEFAULTS, TechnicalCritic

    critic = TechnicalCritic(**{k: v for k, v in thresholds.items() if k in DEFAULTS})
    context = CriticContext(bible=film.record.bible)
    checks = critic.check(open_rgb(frame.path), frame.shot, context)
    return {
        c.name: {"score": c.score, "threshold": c.threshold, "passed": c.passed}
        if c.passed is not None
        else not_measured(c.reason)
        for c in checks
    }


def summary(film: Film, shots: list[dict], characters: dict[str, Any]) -> dict[str, Any]:
    from director.replay.workflow import GENERATED_SHARE

    measured = {n: c for n, c in characters.items() if is_measured(c)}
    why_identity = (
        next(iter(characters.values()))["not_measured"]
        if characters and not measured
        else "the film has no cast with reference images"
    )
    total = sum(s["duration_s"] for s in shots)
    hand = sum(s.duration_s for s, _ in film.record.by_hand())
    share = (total - hand) / total if total else 1.0
    return {
        "shots": len(shots),
        "accepted": sum(s["frame"] is not None for s in shots),
        "identity_cross": _over(measured, "cross", why_identity),
        "identity_self": _over(measured, "self", why_identity),
        "copy_paste_flagged": sorted(
            {s for c in measured.values() for s in c["copy_paste_flagged"]}
        ),
        "prompt_clipscore": _over_shots(shots, "prompt", "clipscore"),
        "prompt_slots": _slots(shots),
        "style_clip": _over_shots(shots, "style_clip", "score"),
        "style_colours": _over_shots(shots, "style_colours", "score"),
        "attempts": sum(s["attempts"] for s in shots),
        "rerolls": sum(s["rerolls"] for s in shots),
        "attempts_per_shot": round(mean(s["attempts"] for s in shots), 3) if shots else 0.0,
        "seconds": round(sum(s["seconds"] for s in shots), 3),
        "cost_usd": round(sum(s["cost_usd"] for s in shots), 4),
        "generated_share": round(share, 4),
        "generated_share_required": GENERATED_SHARE,
    }


def _over(characters: dict[str, Any], key: str, why: str):
    values = [c[key] for c in characters.values() if is_measured(c[key])]
    if not values:
        reasons = [c[key]["not_measured"] for c in characters.values()]
        return not_measured(reasons[0] if reasons else why)
    return round(mean(values), 4)


def _over_shots(shots: list[dict], key: str, field_name: str):
    found = [s[key][field_name] for s in shots if key in s and is_measured(s[key])]
    if found:
        return round(mean(found), 4)
    reasons = [s[key]["not_measured"] for s in shots if key in s]
    return not_measured(reasons[-1] if reasons else "no shot to measure")


def _slots(shots: list[dict]):
    scored = [s["prompt"]["slots"] for s in shots if "prompt" in s and is_measured(s["prompt"])]
    if not scored:
        return _over_shots(shots, "prompt", "clipscore")
    names = [
        n
        for n in ("subject", "action", "environment", "camera", "style")
        if any(n in s for s in scored)
    ]
    return {n: mean_or([s.get(n) for s in scored], "empty in every shot") for n in names}
