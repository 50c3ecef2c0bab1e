"""The escalation ladder: what to try next when an attempt fails the gate.

One fixed order for every shot: a new seed, then a repair of the weakest prompt slot, then
stronger reference conditioning, then an edit of the failing region, then a closer framing, then
the human (in automatic mode: the closest attempt, flagged). A rung that cannot help this shot,
or that the backend cannot do, is skipped, and the skip is logged with its reason. Every attempt
counts against the shot's cap and the run's; when either runs out the ladder goes to the human.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from director import prompts
from director.agent.state import Candidate, Variant
from director.records import CheckResult, Critique, Decision, Rung, Shot, shortfall
from director.text import is_chinese
from director.tools.base import Planner

LADDER: tuple[Rung, ...] = ("reseed", "repair", "references", "edit", "reframe", "human")

# The slots a clip's prompt is made of (the keyframe already shows the rest).
CLIP_SLOTS = ("action", "camera")

# Clip checks that judge the clip's first frame, which is its keyframe: no new clip can pass
# them, so a clip that fails only these goes straight to the human rung.
FIRST_FRAME = ("continuity",)

# Shot sizes from wide to close; reframing moves one step right.
CLOSER = ("extreme-wide", "wide", "full", "medium", "medium-close-up", "close-up")

# A face box shorter than this is too small to judge. Embedders work on 112-150 px aligned
# crops, and a smaller face is upsampled more than twice into them, which blurs away what tells
# two people apart. (dlib's box runs from brow to chin: the astronaut's 512 px portrait gives a
# 72 px box that still identifies her.)
MIN_FACE_PX = 64

# Reference conditioning starts here and grows by STRENGTH_STEP each time the rung is climbed.
FIRST_STRENGTH, STRENGTH_STEP = 0.6, 0.2

# Edits repaint the failing face with this much margin around it (a share of the face size),
# so hair and jaw line blend into the untouched picture.
EDIT_MARGIN = 0.25


@dataclass(frozen=True)
class Limits:
    """What the ladder may still spend on this shot."""

    max_attempts: int
    run_attempts_left: int | None = None  # None: no cap on the run
    cost_left: float | None = None  # budget left after one more attempt; None: no budget
    automatic: bool = True


@dataclass(frozen=True)
class Backend:
    """The rungs the generator can climb, and the references it could condition on."""

    name: str
    kind: str = "keyframe"
    accepts_references: bool = False
    edits: bool = False
    references: tuple[str, ...] = ()


@dataclass
class Step:
    """The ladder's answer: the decisions to log (skips first) and the next attempt's variant."""

    decisions: list[Decision]
    variant: Variant | None = None
    rung: int = -1
    chosen: int | None = None
    flagged: bool = False

    @property
    def final(self) -> Decision:
        return self.decisions[-1]


def climb(
    critique: Critique,
    candidates: list[Candidate],
    shot: Shot,
    *,
    rung: int,
    variant: Variant,
    backend: Backend,
    limits: Limits,
    planner: Planner | None = None,
) -> Step:
    """The next step for a shot whose latest attempt was just critiqued.

    ``rung`` is the index in LADDER of the last rung climbed (-1 after the first attempt), and
    ``variant`` what the latest attempt changed from the plan."""
    if critique.verdict == "pass":
        return Step([_decision(critique, "accept", _passed_reason(critique))], chosen=None)
    if critique.verdict == "not judged":
        # nothing could be measured, and a new attempt would not be measured either
        why = "; ".join(f"{c.name}: {c.reason}" for c in critique.checks) or "no critic judges it"
        return Step([_decision(critique, "accept", f"not judged: no check could run ({why})")])
    cap = _cap_reached(candidates, limits)
    if cap:
        return _human(critique, candidates, limits, cap)
    if _first_frame_only(critique):
        why = f"a clip starts on its keyframe, so no new clip can fix {_failures(critique)}"
        return _human(critique, candidates, limits, why)
    if any(c.name == "moderation" for c in critique.failed):
        return _moderated(critique, candidates, shot, rung, variant, limits, planner)
    skips: list[Decision] = []
    for index in range(rung + 1, len(LADDER)):
        name = LADDER[index]
        if name == "human":
            return _more_seeds(critique, skips, variant, index - 1)
        outcome = RUNGS[name](critique, candidates, shot, variant, backend, planner)
        if isinstance(outcome, str):
            skips.append(_decision(critique, "skip", outcome, rung=name))
            continue
        changes, reason, by = outcome
        nxt: Variant = {**variant, **changes}
        decision = _decision(critique, "reroll", reason, rung=name, changes=changes, by=by)
        return Step([*skips, decision], variant=nxt, rung=index)
    raise AssertionError("the ladder ends with the human rung")


def _more_seeds(critique: Critique, skips: list[Decision], variant: Variant, rung: int) -> Step:
    """Every rung below the human was climbed or cannot help: spend the attempts left on new
    seeds, keeping every change made so far; the human comes when the cap is reached."""
    reason = f"failed {_failures(critique)}; every other rung is spent, so try a new seed"
    decision = _decision(critique, "reroll", reason, rung="reseed")
    return Step([*skips, decision], variant=dict(variant), rung=rung)


def _cap_reached(candidates: list[Candidate], limits: Limits) -> str:
    if len(candidates) >= limits.max_attempts:
        return f"the shot's cap of {limits.max_attempts} attempts is reached"
    if limits.run_attempts_left is not None and limits.run_attempts_left <= 0:
        return "the run's cap on attempts is reached"
    if limits.cost_left is not None and limits.cost_left < 0:
        return "the budget cannot pay for another attempt"
    return ""


def _human(
    critique: Critique,
    candidates: list[Candidate],
    limits: Limits,
    why: str,
    skips: list[Decision] | None = None,
) -> Step:
    best = best_candidate(candidates)
    if best is None:
        reason = f"{why}; no attempt produced an image to use ({_failures(critique)})"
        decision = _decision(critique, "accept-below-threshold", reason, rung="human", by="auto")
        return Step([*(skips or []), decision], chosen=None, flagged=True)
    still = ", ".join(best.get("failed", [])) or "its checks"
    chosen = f"attempt {best['attempt']} of {len(candidates)}, the closest to passing"
    if limits.automatic:
        reason = (
            f"{why}; automatic mode (--yes) takes {chosen} (still failing {still}), and flags it"
        )
    else:
        reason = (
            f"{why}; take {chosen} (still failing {still}) and flag it for the human at the "
            "beat's checkpoint"
        )
    decision = _decision(
        critique, "accept-below-threshold", reason, rung="human", by="auto", attempt=best["attempt"]
    )
    return Step([*(skips or []), decision], chosen=best["attempt"], flagged=True)


def best_candidate(candidates: list[Candidate]) -> Candidate | None:
    """The attempt closest to passing (smallest total shortfall); earliest wins ties. Attempts
    that produced nothing (a failed generation) are never chosen."""
    usable = [c for c in candidates if c.get("artifact")]
    return min(usable, key=lambda c: (c["margin"], c["attempt"])) if usable else None


# --- the rungs: each returns (changes, reason, by) or the reason it is skipped ----------------

Outcome = tuple[dict[str, Any], str, str] | str


def _reseed(critique, candidates, shot, variant, backend, planner) -> Outcome:
    return {}, f"failed {_failures(critique)}; try a new seed", "policy"


def _first_frame_only(critique: Critique) -> bool:
    return critique.kind == "clip" and all(_base(c) in FIRST_FRAME for c in critique.failed)


def _repair(critique, candidates, shot, variant, backend, planner: Planner | None) -> Outcome:
    slots = dict(variant.get("slots") or shot.prompt.slots())
    targets = _repair_targets(critique, shot)
    if not targets:
        if shot.edited_slots:
            return (
                f"the slots that could fix {_failures(critique)} were written by a human "
                f"({', '.join(shot.edited_slots)}), and no later stage rewrites them"
            )
        return f"no failed check is fixed by rewording ({_failures(critique)})"
    reasons = [c.reason for c in critique.failed]
    for slot, phrase in targets:
        text = planner.repair_slot(shot, slots, slot, reasons) if planner else None
        if text and text.strip() and text.strip() != slots[slot].strip():
            return _repaired(slots, slot, text.strip(), critique, "llm")
        if phrase and phrase not in slots[slot]:
            return _repaired(slots, slot, _append(slots[slot], phrase), critique, "policy")
    return "every repair for these failures is already in the prompt"


def _repaired(slots: dict[str, str], slot: str, text: str, critique: Critique, by: str) -> Outcome:
    reason = f"failed {_failures(critique)}; rewrite the {slot} slot as {text!r}"
    return {"slots": {**slots, slot: text}, "repaired": slot}, reason, by


def _repair_targets(critique: Critique, shot: Shot) -> list[tuple[str, str]]:
    """(slot, phrase) pairs to try, the most useful first: CLIP's weakest slot, then the
    slots behind the other failed checks, largest shortfall first."""
    rules = repair_rules()
    language = "zh" if _cjk(shot.prompt.subject + shot.prompt.action) else "en"
    found: list[tuple[str, str]] = []
    for check in sorted(critique.failed, key=shortfall, reverse=True):
        if check.name == "human":  # a human's note: the slot they named, in their words
            found.append((check.details.get("slot", "action"), check.reason))
            continue
        if check.name == "prompt":
            for slot in _weakest_slots(check):
                if critique.kind == "keyframe" or slot in CLIP_SLOTS:
                    found.append((slot, rules["slots"][slot][language]))
            continue
        rule = rules["checks"].get(check.name.split(":")[0])
        if rule and critique.kind == "clip":
            rule = rule.get("clip", rule)
        if rule and (critique.kind == "keyframe" or rule["slot"] in CLIP_SLOTS):
            found.append((rule["slot"], rule[language]))
    human = critique.failed and critique.failed[0].name == "human"
    return [(slot, phrase) for slot, phrase in found if human or slot not in shot.edited_slots]


def _weakest_slots(check: CheckResult) -> list[str]:
    scores = check.details.get("slots") or {}
    known = [s for s in scores if s in ("subject", "action", "environment", "camera")]
    return sorted(known, key=lambda s: scores[s])


def _references(critique, candidates, shot, variant, backend: Backend, planner) -> Outcome:
    if not backend.accepts_references:
        return f"the {backend.name} backend takes no reference images"
    if not backend.references:
        return "no character in this shot has reference images"
    if not any(_base(c) in ("identity", "style") for c in critique.failed):
        return "no identity or style failure for references to fix"
    before = variant.get("reference_strength")
    strength = FIRST_STRENGTH if before is None else min(1.0, before + STRENGTH_STEP)
    if before is not None and strength <= before:
        return "reference conditioning is already at full strength"
    changes = {"references": list(backend.references), "reference_strength": round(strength, 2)}
    reason = (
        f"failed {_failures(critique)}; condition on {len(backend.references)} reference "
        f"image(s) at strength {strength:.1f}"
    )
    return changes, reason, "policy"


def _edit(critique, candidates, shot, variant, backend: Backend, planner) -> Outcome:
    if not backend.edits:
        return f"the {backend.name} backend cannot edit an image"
    if best_candidate(candidates) is None:
        return "no attempt produced an image to edit"
    boxes = [
        c.details.get("box") for c in critique.failed if _base(c) in ("identity", "copy_paste")
    ]
    boxes = [b for b in boxes if b]
    if not boxes or len(critique.failed) > len(boxes):
        return "the failures are not confined to a face region that an edit could repaint"
    best = best_candidate(candidates)
    region = _grow(boxes[0], EDIT_MARGIN)
    changes = {"edit_source": best["artifact"], "edit_region": region}
    reason = f"failed {_failures(critique)}; repaint region {region} of attempt {best['attempt']}"
    return changes, reason, "policy"


def _reframe(critique, candidates, shot, variant, backend: Backend, planner) -> Outcome:
    if backend.kind != "keyframe":
        return "a clip keeps the framing of its accepted keyframe"
    small = [c for c in critique.failed if _base(c) == "identity" and _face_too_small(c)]
    if not small:
        return "no face was missing or too small to judge"
    if "camera" in shot.edited_slots:
        return "a human wrote the camera slot, and no later stage rewrites it"
    size = variant.get("size") or shot.size
    if size not in CLOSER or size == CLOSER[-1]:
        return f"the shot is already a {size}"
    closer = CLOSER[CLOSER.index(size) + 1]
    camera = _reframed_camera(
        variant.get("slots", {}).get("camera") or shot.prompt.camera, size, closer
    )
    slots = {**(variant.get("slots") or shot.prompt.slots()), "camera": camera}
    reason = f"{small[0].reason}; reframe from {size} to {closer}"
    return {"size": closer, "slots": slots}, reason, "policy"


def _face_too_small(check: CheckResult) -> bool:
    """The expected face was not found, or was found too small to judge."""
    if check.score is None:
        return True
    face_px = check.details.get("face_px")
    return face_px is not None and face_px < MIN_FACE_PX


def _reframed_camera(camera: str, size: str, closer: str) -> str:
    from director.tools.llm.language import load_vocab

    phrases = load_vocab("camera.json")["size"]
    for language in ("en", "zh"):
        old, new = phrases[size][language], phrases[closer][language]
        if old in camera:
            return camera.replace(old, new, 1)
    language = "zh" if _cjk(camera) else "en"
    return _append(phrases[closer][language], camera)


def _moderated(
    critique: Critique,
    candidates: list[Candidate],
    shot: Shot,
    rung: int,
    variant: Variant,
    limits: Limits,
    planner: Planner | None,
) -> Step:
    """A prompt the content filter refused is never sent again unchanged: it is rewritten
    without the flagged wording (the words the service named, then the words filters commonly
    flag, in the prompt's language), or by the language-model planner when one is configured;
    when nothing can be changed, the shot goes to the human at once."""
    refused = next(c for c in critique.failed if c.name == "moderation")
    slots = dict(variant.get("slots") or shot.prompt.slots())
    flagged = [w for w in str(refused.details.get("flagged", "")).split(",") if w.strip()]
    softer, by = _soften(slots, flagged), "policy"
    if softer == slots and planner is not None:
        softer, by = _planner_softened(planner, shot, slots, refused.reason), "llm"
    if softer == slots:
        why = (
            f"{refused.reason}; nothing in the prompt is worded the way content filters flag"
            f"{'' if planner else ' and no language-model planner is configured to rewrite it'}"
            ", so it is not sent again unchanged"
        )
        return _human(critique, candidates, limits, why)
    changed = sorted(k for k in slots if softer[k] != slots[k])
    reason = (
        f"{refused.reason}; rewrote the {', '.join(changed)} slot(s) without the wording "
        f"content filters flag, and retry"
    )
    changes = {"slots": softer, "repaired": changed[0]}
    decision = _decision(critique, "reroll", reason, rung="repair", changes=changes, by=by)
    return Step([decision], variant={**variant, **changes}, rung=rung)


def _planner_softened(
    planner: Planner, shot: Shot, slots: dict[str, str], reason: str
) -> dict[str, str]:
    """The first content slot the planner rewrites for a refused prompt (human text kept)."""
    ask = [f"{reason}: rewrite this without anything a content filter could flag"]
    for slot in ("action", "subject", "environment"):
        if slot in shot.edited_slots:
            continue
        text = planner.repair_slot(shot, slots, slot, ask)
        if text and text.strip() and text.strip() != slots[slot].strip():
            return {**slots, slot: text.strip()}
    return slots


def _soften(slots: dict[str, str], flagged: list[str]) -> dict[str, str]:
    rules = moderation_rules()
    out = {}
    for slot, text in slots.items():
        for word in flagged:
            text = text.replace(word.strip(), "")
        table = rules["zh"] if _cjk(text) else rules["en"]
        for word in sorted(table, key=len, reverse=True):
            text = _replace_word(text, word, table[word])
        out[slot] = " ".join(text.split()) if not _cjk(text) else text
    return out


def _replace_word(text: str, word: str, softer: str) -> str:
    import re

    if _cjk(word):
        return text.replace(word, softer)
    return re.sub(rf"\b{re.escape(word)}\b", softer, text, flags=re.IGNORECASE)


RUNGS = {
    "reseed": _reseed,
    "repair": _repair,
    "references": _references,
    "edit": _edit,
    "reframe": _reframe,
}


# --- small helpers --------------------------------------------------------------------------


@cache
def repair_rules() -> dict[str, Any]:
    return _ladder_file("repair.json")


@cache
def moderation_rules() -> dict[str, Any]:
    return _ladder_file("moderation.json")


def _ladder_file(name: str) -> dict[str, Any]:
    return prompts.read_json("ladder", name)


def _decision(
    critique: Critique,
    action: str,
    reason: str,
    *,
    rung: Rung | None = None,
    changes: dict[str, Any] | None = None,
    by: str = "policy",
    attempt: int | None = None,
) -> Decision:
    return Decision(
        shot_id=critique.shot_id,
        kind=critique.kind,
        action=action,
        by=by,
        attempt=critique.attempt if attempt is None else attempt,
        reason=reason,
        rung=rung,
        changes=changes or {},
    )


def _passed_reason(critique: Critique) -> str:
    ran = [c.name for c in critique.checks if c.passed is not None]
    skipped = [c.name for c in critique.checks if c.passed is None]
    text = f"all {len(ran)} checks passed ({', '.join(ran)})"
    return text + (f"; not run: {', '.join(skipped)}" if skipped else "")


def _failures(critique: Critique) -> str:
    return "; ".join(f"{c.name}: {c.reason}" for c in critique.failed)


def _base(check: CheckResult) -> str:
    return check.name.split(":")[0]


def _cjk(text: str) -> bool:
    return is_chinese(text)


def _append(text: str, phrase: str) -> str:
    text = text.strip().rstrip(".,，。")
    return f"{text}{'，' if _cjk(text + phrase) else ', '}{phrase}" if text else phrase


def _grow(box: list[int], margin: float) -> list[int]:
    left, top, right, bottom = box
    dx, dy = int((right - left) * margin), int((bottom - top) * margin)
    return [max(0, left - dx), max(0, top - dy), right + dx, bottom + dy]
