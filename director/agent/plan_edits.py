"""A plan.json edited by hand between two processes of a run: used, checked and logged as the
human's edit, when the stage the run resumes from makes again what the edit changes; refused,
with the reason, when it would be ignored or would leave the file out of step with the film.

Deleting plan.json drops an edit: the file is written again from the run's checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from director.errors import InputError
from director.memory.runs import RunPaths, write_json_atomic
from director.records import Plan, Shot

# Stages that make the shots again from the plan as it stands, and what each lets change:
# from keyframes every shot is made again; from clips the keyframes stay, so the shots must
# stay the same shots; from assembly only what the film's cut reads (lines, titles) may change.
USES_EDITS = ("keyframes", "clips", "assembly")
PROMPT_SLOTS = ("subject", "action", "environment", "camera")
ASSEMBLY_FIELDS = ("line", "transition", "transition_s", "cards")


@dataclass
class PlanEdit:
    plan: Plan
    changes: dict[str, list[Any]] = field(default_factory=dict)  # "S03 action" -> [old, new]


def edited_plan(paths: RunPaths, values: dict, from_stage: str | None) -> PlanEdit | None:
    """The run's plan.json when a human changed it since the checkpoint, checked for the stage
    the run resumes from; None when it is as the run left it (or gone: then it is restored)."""
    current = values.get("plan")
    if not current or not current.get("shots"):
        return None  # the shot list is not made yet: plan.json is the run's to write
    if not paths.plan_json.exists():
        write_json_atomic(paths.plan_json, current)
        return None
    given = _read(paths)
    if given == current:
        return None
    plan = _valid(paths, given)
    was = Plan.model_validate(current)
    _check_stage(paths, from_stage, was, plan)
    changes = _changes(was, plan)
    if not changes:
        return None  # only formatting or key order differs
    _check_scope(paths, from_stage, changes)
    return PlanEdit(plan=_marked(was, plan), changes=changes)


def _read(paths: RunPaths) -> Any:
    try:
        return json.loads(paths.plan_json.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{paths.plan_json} was edited and is no longer JSON ({_brief(exc)}).",
            "Fix it, or delete it to drop the edit (it is written again from the run).",
        ) from None


def _valid(paths: RunPaths, data: Any) -> Plan:
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise InputError(
            f"{paths.plan_json} was edited and is not a plan: {where}: {first['msg']}.",
            "Fix it, or delete it to drop the edit (it is written again from the run).",
        ) from None
    beats = {b.id for b in plan.beat_sheet.beats}
    strays = [s.id for s in plan.shots if s.beat_id not in beats]
    if strays or not plan.shots:
        raise InputError(
            f"{paths.plan_json} was edited and its shots do not fit its beats "
            f"({', '.join(strays) or 'no shots'}).",
            "Give every shot a beat_id of the beat sheet, or delete the file to drop the edit.",
        )
    return plan.model_copy(
        update={"shots": [s.model_copy(update={"index": i}) for i, s in enumerate(plan.shots)]}
    )


def _check_stage(paths: RunPaths, from_stage: str | None, was: Plan, plan: Plan) -> None:
    run = paths.run_id
    if from_stage not in USES_EDITS:
        redo = f"--from {from_stage} plans the shots anew, which" if from_stage else "Going on"
        raise InputError(
            f"{paths.plan_json} was edited since the run stopped. {redo} would leave the edit "
            "out of the film.",
            f"Make the shots again from the edited plan with: director resume {run} --from "
            "keyframes (or --from clips / --from assembly for edits those stages read); or "
            "delete plan.json to drop the edit.",
        )
    if from_stage != "keyframes" and [s.id for s in plan.shots] != [s.id for s in was.shots]:
        raise InputError(
            f"{paths.plan_json} adds, removes or reorders shots, and --from {from_stage} keeps "
            "the keyframes of the shots as they were.",
            f"Make every shot again with: director resume {run} --from keyframes",
        )


def _check_scope(paths: RunPaths, from_stage: str | None, changes: dict) -> None:
    """From clips the keyframes stay: a change to what they show needs them made again;
    from assembly only the cut's text may change."""
    allowed = {
        "keyframes": None,
        "clips": ("action", "camera", "move", "duration_s", *ASSEMBLY_FIELDS),
        "assembly": ASSEMBLY_FIELDS,
    }[from_stage or "keyframes"]
    if allowed is None:
        return
    beyond = [k for k in changes if k.rpartition(" ")[2] not in allowed]
    if beyond:
        earlier = "keyframes" if from_stage == "clips" else "clips (or keyframes)"
        raise InputError(
            f"{paths.plan_json} changes {', '.join(beyond)}, which --from {from_stage} does not "
            "make again.",
            f"Resume from {earlier}: director resume {paths.run_id} --from {earlier.split()[0]}",
        )


def _changes(was: Plan, plan: Plan) -> dict[str, list[Any]]:
    """What the human changed, "<where> <field>" -> [old, new]; shots by id."""
    changes: dict[str, list[Any]] = {}
    before = {s.id: s for s in was.shots}
    for shot in plan.shots:
        old = before.get(shot.id)
        if old is None:
            changes[f"{shot.id} shot"] = [None, "added"]
            continue
        changes.update(_shot_changes(old, shot))
    for sid in before.keys() - {s.id for s in plan.shots}:
        changes[f"{sid} shot"] = ["removed", None]
    for name in ("story", "beat_sheet", "bible", "cards"):
        old, new = getattr(was, name), getattr(plan, name)
        if old != new:
            changes[f"plan {name}"] = ["edited", "edited"]
    return changes


def _shot_changes(old: Shot, new: Shot) -> dict[str, list[Any]]:
    found = {
        f"{new.id} {slot}": [getattr(old.prompt, slot), getattr(new.prompt, slot)]
        for slot in (*PROMPT_SLOTS, "style")
        if getattr(old.prompt, slot) != getattr(new.prompt, slot)
    }
    skip = {"prompt", "index", "edited_slots"}
    for name in type(new).model_fields:
        if name not in skip and getattr(old, name) != getattr(new, name):
            found[f"{new.id} {name}"] = [getattr(old, name), getattr(new, name)]
    return {k: [_plain(a), _plain(b)] for k, (a, b) in found.items()}


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _marked(was: Plan, plan: Plan) -> Plan:
    """Slots the human rewrote are marked as theirs, so no repair rewrites them."""
    before = {s.id: s for s in was.shots}

    def mark(shot: Shot) -> Shot:
        old = before.get(shot.id)
        edited = {
            slot
            for slot in PROMPT_SLOTS
            if old is None or getattr(old.prompt, slot) != getattr(shot.prompt, slot)
        }
        return shot.model_copy(update={"edited_slots": sorted({*shot.edited_slots, *edited})})

    return plan.model_copy(update={"shots": [mark(s) for s in plan.shots]})


def _brief(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120]
