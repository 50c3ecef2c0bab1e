"""The human's checkpoints: the beat sheet, then each beat's keyframes before its clips are paid.

With --yes an approval is automatic and logged as such. Otherwise the node stops the graph with
LangGraph's ``interrupt()``: the runner asks the human (interactive mode) or leaves the run
waiting for ``director approve`` (deferred mode), then resumes it with the answer. LangGraph
re-runs an interrupted node from its start, so nothing here calls a paid generator: the work
an answer asks for (a new beat sheet, a repaired prompt, new keyframes) is done by the nodes it
routes to. Two answers are done here, once the answer is in: a beat edited at its keyframes
asks the planner for the beat's shots (one planning call, counted against --budget), and the
creator's own frame is judged by the gate. Text a human wrote is marked on the plan, and no later stage rewrites it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from director.agent import ladder
from director.agent.context import RunContext
from director.agent.keyframes import human_keyframe, next_in_beat
from director.agent.line_fit import flagged as line_flags
from director.agent.planning import reads_text, replan_beat, summary_notice
from director.agent.shots import flag_reasons, ladder_backend, last_attempt, limits, varied_shot
from director.agent.state import FilmState, plan_of
from director.errors import InputError
from director.memory.runs import write_json_atomic
from director.records import Approval, CheckResult, Critique, DecisionMade, Plan, PlannerNotice

BEAT_FIELDS = ("name", "summary", "change", "location")
SLOTS = ("subject", "action", "environment", "camera")  # the style slot is the bible's
BEAT_DECISIONS = ("approve", "edit", "regenerate", "abort")
SHOT_DECISIONS = ("approve", "reroll", "edit", "reject", "replace", "abort")
NOTE_SLOT = "action"  # where a rejection's note goes when the human names no slot
NO_ANCHOR = "none"  # --style-anchor none: the next keyframe accepted clean is the anchor


def approve_beats(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["bible", "develop", "approve_beats", "document"]]:
    ctx = runtime.context
    plan = plan_of(state)
    if ctx.options.yes:
        count = len(plan.beat_sheet.beats)
        ctx.log.append(
            Approval(
                checkpoint="beats",
                by="auto",
                decision="approve",
                note=f"{count} beats approved automatically (--yes)",
            )
        )
        return Command(goto="bible")
    payload = beats_payload(plan, state)
    answer = check_answer(payload, interrupt(payload))
    decision = answer["decision"]
    approval = Approval(
        checkpoint="beats",
        by="human",
        who=answer.get("who", ""),
        decision=decision,
        note=answer.get("note", ""),
        decided_at=answer.get("when", ""),
    )
    if decision == "edit":
        beat, field, text = answer["beat"], answer["field"], answer["text"].strip()
        approval = approval.model_copy(update={"beat_id": beat, "changes": {field: text}})
        ctx.log.append(approval)
        plan = _edited_beat(plan, beat, field, text)
        edits = dict(state.get("beat_edits") or {})
        edits[beat] = sorted({*edits.get(beat, []), field})
        update = {"plan": plan.model_dump(mode="json"), "beat_edits": edits, "notices": []}
        return Command(goto="approve_beats", update=update)
    ctx.log.append(approval)
    if decision == "regenerate":
        return Command(goto="develop", update={"redraft": answer.get("note", ""), "notices": []})
    if decision == "abort":
        return Command(goto="document", update={"aborted": "beats"})
    return Command(goto="bible", update={"notices": []})


def approve_shots(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["animate", "keyframe", "revise", "document"]]:
    """After a beat's keyframes are all accepted by the gate, before its clips are paid for."""
    ctx = runtime.context
    plan = plan_of(state)
    beat = plan.shots[state["cursor"]].beat_id
    if ctx.options.yes:
        count = sum(1 for s in plan.shots if s.beat_id == beat)
        ctx.log.append(
            Approval(
                checkpoint="keyframes",
                beat_id=beat,
                by="auto",
                decision="approve",
                note=f"{count} keyframes of beat {beat} approved automatically (--yes)",
            )
        )
        return Command(goto="animate")
    payload = keyframes_payload(ctx, state, plan, beat)
    answer = check_answer(payload, interrupt(payload))
    return _apply_keyframes_answer(ctx, state, plan, beat, answer)


def _apply_keyframes_answer(
    ctx: RunContext, state: FilmState, plan: Plan, beat: str, answer: dict
) -> Command:
    decision = answer["decision"]
    approval = Approval(
        checkpoint="keyframes",
        beat_id=beat,
        shot_id=answer.get("shot"),
        by="human",
        who=answer.get("who", ""),
        decision=decision,
        note=answer.get("note", ""),
        decided_at=answer.get("when", ""),
    )
    anchored = _anchored(state, answer.get("style_anchor"))
    if anchored is not None:
        approval = approval.model_copy(update={"changes": {"style_anchor": answer["style_anchor"]}})
    if decision in ("approve", "abort"):
        ctx.log.append(approval)
        if decision == "abort":
            return Command(goto="document", update={"aborted": f"keyframes of beat {beat}"})
        return Command(goto="animate", update={**(anchored or {}), "notices": []})
    if decision == "replace":
        return _replaced(ctx, state, plan, approval, answer, anchored)
    if decision == "edit" and answer.get("beat"):
        return _beat_edited(ctx, state, plan, approval, answer, anchored)
    targets = [answer["shot"]] if answer.get("shot") else _beat_shots(plan, beat)
    update: dict[str, Any] = {
        **(anchored or {}),
        "notices": [],
        "keyframes": {k: v for k, v in state["keyframes"].items() if k not in targets},
        "flagged": [s for s in state["flagged"] if s not in targets],
        "candidates": [],
        "rung": -1,
        "variant": {},
    }
    if decision == "edit":
        slot, text = answer["slot"], answer["text"].strip()
        approval = approval.model_copy(update={"changes": {**approval.changes, slot: text}})
        plan = _edited_shot(plan, answer["shot"], slot, text)
        write_json_atomic(ctx.paths.plan_json, plan.model_dump(mode="json"))
        update["plan"] = plan.model_dump(mode="json")
    if decision == "reject":
        note = {"note": answer["note"], "slot": answer.get("slot") or NOTE_SLOT}
        update["notes"] = {**state.get("notes", {}), **dict.fromkeys(targets, note)}
        update["noted"] = {**state.get("noted", {}), **dict.fromkeys(targets, note["slot"])}
    ctx.log.append(approval)
    return next_in_beat(plan, {**state, **update}, beat, update)


def _redo(state: FilmState, targets: list[str]) -> dict[str, Any]:
    """The state update that makes the ``targets``' keyframes again."""
    return {
        "keyframes": {k: v for k, v in state["keyframes"].items() if k not in targets},
        "flagged": [s for s in state["flagged"] if s not in targets],
        "notes": {k: v for k, v in state.get("notes", {}).items() if k not in targets},
        "prefetched": {k: v for k, v in state.get("prefetched", {}).items() if k not in targets},
        "candidates": [],
        "rung": -1,
        "variant": {},
        "notices": [],
    }


def _beat_edited(
    ctx: RunContext, state: FilmState, plan: Plan, approval: Approval, answer: dict, anchored
) -> Command:
    """A beat rewritten at its keyframes: the beat's shots planned again from the new text,
    the slots a human wrote kept, and their keyframes made again; a new name changes no shot."""
    field, text = answer["field"], answer["text"].strip()
    beat = answer["beat"]
    approval = approval.model_copy(update={"beat_id": beat, "changes": {field: text}})
    ctx.log.append(approval)
    plan = _edited_beat(plan, beat, field, text)
    edits = dict(state.get("beat_edits") or {})
    edits[beat] = sorted({*edits.get(beat, []), field})
    update: dict[str, Any] = {**(anchored or {}), "notices": [], "beat_edits": edits}
    if field != "name":
        before, llm_before = _beat_shots(plan, beat), ctx.llm_spent
        plan = replan_beat(ctx, plan, beat, edits[beat], state.get("made", {}))
        update.update(_redo(state, before))
        update["spent"] = state.get("spent", 0.0) + ctx.llm_spent - llm_before
        if field == "summary" and not reads_text(ctx.planner):
            update["notices"] = [summary_notice(ctx, beat)]
    write_json_atomic(ctx.paths.plan_json, plan.model_dump(mode="json"))
    update["plan"] = plan.model_dump(mode="json")
    return next_in_beat(plan, {**state, **update}, beat, update)


def _replaced(
    ctx: RunContext, state: FilmState, plan: Plan, approval: Approval, answer: dict, anchored
) -> Command:
    """The creator's own frame for a shot: a new attempt, judged by the gate, chosen for the
    shot (a human's choice wins over the gate; below threshold it is flagged)."""
    shot = plan.shot(answer["shot"])
    source = answer.get("source") or answer["image"]
    approval = approval.model_copy(update={"changes": {"keyframe": source}})
    ctx.log.append(approval)
    update = {
        **(anchored or {}),
        **human_keyframe(ctx, state, shot, answer["image"], source),
        "notices": [],
    }
    return Command(goto="approve_shots", update=update)


def _anchored(state: FilmState, choice: str | None) -> dict | None:
    """The state update a new style anchor makes: the shot's accepted keyframe is the look the
    style check compares against; "none" lets the next keyframe accepted clean set it again."""
    if choice is None:
        return None
    if choice == NO_ANCHOR:
        return {"anchors": []}
    return {"anchors": [state["keyframes"][choice]]}


def revise(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["keyframe"]]:
    """A shot the human rejected with a note: the note is the failure the ladder's repair
    rung answers (the planner rewrites the slot, or the note is added to it)."""
    ctx = runtime.context
    plan = plan_of(state)
    shot = plan.shots[state["cursor"]]
    notes = dict(state.get("notes", {}))
    note = notes.pop(shot.id)
    check = CheckResult(
        name="human",
        score=None,
        threshold=None,
        passed=False,
        reason=note["note"],
        details={"slot": note["slot"]},
    )
    attempt = max(last_attempt(state, "keyframe", shot.id), 1)
    critique = Critique(shot_id=shot.id, attempt=attempt, checks=[check])
    llm_before = ctx.llm_spent
    step = ladder.climb(
        critique,
        [],
        shot,
        rung=ladder.LADDER.index("reseed"),  # a new seed is not what the note asks for
        variant={},
        backend=ladder_backend(ctx, shot, "keyframe"),
        limits=limits(ctx, state.get("attempts_made", 0), state.get("spent", 0.0), 0, 0.0),
        planner=ctx.planner,
    )
    for decision in step.decisions:
        ctx.log.append(DecisionMade(decision=decision))
    said = _note_unread(ctx, shot.id, note, step.decisions)
    update = {
        "notices": [*state.get("notices", []), *([said] if said else [])],
        "notes": notes,
        "candidates": [],
        "rung": step.rung if step.variant is not None else -1,
        "variant": step.variant or {},
        "spent": state.get("spent", 0.0) + ctx.llm_spent - llm_before,
    }
    return Command(goto="keyframe", update=update)


def _note_unread(ctx: RunContext, shot_id: str, note: dict, decisions: list) -> str | None:
    """When the planner could not rewrite the slot from the note, its words went into the
    slot as they are; when nothing could use it, why. Said plainly, with what to do instead."""
    repaired = [d for d in decisions if d.rung == "repair" and d.action == "reroll"]
    if repaired and repaired[0].by == "llm":
        return None
    edit = f'director approve {ctx.paths.run_id} --edit {shot_id} --slot {note["slot"]}="..."'
    if repaired:
        said = (
            f"The {ctx.planner.name} planner cannot follow notes: your note {note['note']!r} "
            f"went into the {note['slot']} slot of {shot_id} word for word, as the checkpoint "
            f"shows. To say what the shot shows, edit the slot ({edit}), or plan with a "
            "language model (--llm), which rewrites the slot from the note."
        )
    else:
        why = decisions[-1].reason if decisions else "nothing could change the prompt"
        said = f"Your note on {shot_id} was not used: {why}. Edit the slot instead: {edit}"
    ctx.log.append(
        PlannerNotice(checkpoint="keyframes", shot_id=shot_id, note=note["note"], said=said)
    )
    return said


# --- what the human is shown, and what an answer may say ------------------------------------


def beats_payload(plan: Plan, state: FilmState | None = None) -> dict[str, Any]:
    sheet = plan.beat_sheet
    return {
        "checkpoint": "beats",
        "notices": _notices(state or {}),
        "title": plan.story.title,
        "structure": sheet.structure,
        "beats": [
            {field: getattr(b, field) for field in ("id", *BEAT_FIELDS, "start_s", "duration_s")}
            for b in sheet.beats
        ],
    }


def keyframes_payload(ctx: RunContext, state: FilmState, plan: Plan, beat_id: str) -> dict:
    from director.tools.image.contact_sheet import contact_sheet, shot_tiles

    beat = next(b for b in plan.beat_sheet.beats if b.id == beat_id)
    shots = [s for s in plan.shots if s.beat_id == beat_id]
    sheet = ctx.paths.root / "approvals" / f"{beat_id}.png"
    sheet.parent.mkdir(exist_ok=True)
    # Captions as the keyframes were drawn: a note's change to the action shows on the sheet.
    drawn = [varied_shot(s, state.get("accepted", {}).get(s.id, {})) for s in shots]
    tiles = shot_tiles(drawn, ctx.paths.root, state["keyframes"], state.get("captions"))
    flagged = [s.id for s in shots if s.id in state["flagged"]]
    contact_sheet(tiles, sheet, flagged=flag_reasons(state, flagged))
    return {
        **_anchor_payload(ctx, state),
        "checkpoint": "keyframes",
        "beat": beat_id,
        "beat_name": beat.name,
        "summary": beat.summary,
        "beat_fields": {field: getattr(beat, field) for field in BEAT_FIELDS},
        "beat_number": beat.index + 1,
        "beats": len(plan.beat_sheet.beats),
        "contact_sheet": ctx.paths.rel(sheet),
        "notices": _notices(state),
        "shots": [_shot_payload(state, s) for s in shots],
        # Lines of the beat that run past their shots, which planning could not make room for.
        "line_flags": line_flags(ctx, plan, beat_id),
    }


def _shot_payload(state: FilmState, shot) -> dict[str, Any]:
    """A shot as its keyframe was drawn: every slot's text now (a note's or a repair's change
    included, and marked), who wrote which, and whether a human made the frame."""
    drawn = varied_shot(shot, state.get("accepted", {}).get(shot.id, {}))
    changed = [s for s in SLOTS if getattr(drawn.prompt, s) != getattr(shot.prompt, s)]
    noted = state.get("noted", {}).get(shot.id)
    flagged = shot.id in state["flagged"]
    return {
        "id": shot.id,
        "prompt": {slot: getattr(drawn.prompt, slot) for slot in SLOTS},
        "edited": list(shot.edited_slots),
        "changed": {s: "your note" if s == noted else "the gate's repair" for s in changed},
        "keyframe": state["keyframes"][shot.id],
        "by_hand": shot.id in state.get("by_hand", []),
        "flagged": flagged,
        "failed": state.get("keyframe_failed", {}).get(shot.id, []) if flagged else [],
    }


def _notices(state: FilmState) -> list[str]:
    return list(dict.fromkeys(state.get("notices") or []))


def _anchor_payload(ctx: RunContext, state: FilmState) -> dict:
    """The film's style anchor now, and the shots that could be it: any accepted keyframe. A
    run given --style-ref images is judged against them, and has no anchor to change."""
    if ctx.options.style_refs:
        return {"style_anchor": None, "anchor_choices": []}
    by_file = {path: sid for sid, path in state["keyframes"].items()}
    anchors = state.get("anchors") or []
    return {
        "style_anchor": by_file.get(anchors[0], anchors[0]) if anchors else None,
        "anchor_choices": list(state["keyframes"]),
    }


def check_answer(payload: dict, answer: Any) -> dict:
    """A human's answer, checked against what was asked; refused with how to say it right."""
    if not isinstance(answer, dict) or "decision" not in answer:
        raise InputError(f"Not an approval: {answer!r}.", "Answer with a decision.")
    decision = answer["decision"]
    beats = payload["checkpoint"] == "beats"
    allowed = BEAT_DECISIONS if beats else SHOT_DECISIONS
    if decision not in allowed:
        raise InputError(
            f"{decision!r} is not a choice at the {payload['checkpoint']} checkpoint.",
            f"Choose one of: {', '.join(allowed)}.",
        )
    if beats:
        _check_beat_answer(payload, answer)
    else:
        _check_shot_answer(payload, answer)
    return answer


def _check_beat_answer(payload: dict, answer: dict) -> None:
    if answer["decision"] != "edit":
        return
    ids = [b["id"] for b in payload["beats"]]
    if answer.get("beat") not in ids:
        raise InputError(f"No beat {answer.get('beat')!r} here.", f"Name one of: {', '.join(ids)}.")
    if answer.get("field") not in BEAT_FIELDS:
        raise InputError(
            f"A beat has no field {answer.get('field')!r} to edit.",
            f"Edit one of: {', '.join(BEAT_FIELDS)}.",
        )
    _check_text(answer.get("text"))


def _check_shot_answer(payload: dict, answer: dict) -> None:
    decision, shot = answer["decision"], answer.get("shot")
    if decision == "edit" and answer.get("beat") is not None:
        _check_beat_edit(payload, answer)
        return
    ids = [s["id"] for s in payload["shots"]]
    needs_shot = decision in ("reroll", "edit", "replace")
    if (needs_shot or shot) and shot not in ids:
        raise InputError(
            f"Shot {shot!r} is not in beat {payload['beat']}.", f"Name one of: {', '.join(ids)}."
        )
    names_slot = decision == "edit" or (decision == "reject" and answer.get("slot"))
    if names_slot and answer.get("slot") not in SLOTS:
        raise InputError(
            f"A shot's prompt has no slot {answer.get('slot')!r} to edit.",
            f"Name one of: {', '.join(SLOTS)} (the style slot is the style bible's).",
        )
    if decision == "edit":
        _check_text(answer.get("text"))
    if decision == "replace" and not (answer.get("image") or "").strip():
        raise InputError(f"No image given for shot {shot}.", f"Say which: --replace {shot}=IMAGE")
    if decision == "reject" and not (answer.get("note") or "").strip():
        raise InputError("A rejection needs a note.", 'Say what is wrong: --note "..."')
    if "style_anchor" in answer:
        _check_anchor(payload, answer["style_anchor"])


def _check_beat_edit(payload: dict, answer: dict) -> None:
    """At a beat's keyframes, that beat may be rewritten: its shots are planned again."""
    if answer["beat"] != payload["beat"]:
        raise InputError(
            f"Beat {answer['beat']!r} is not the beat waiting here ({payload['beat']}).",
            f"Edit beat {payload['beat']} now, or another beat when its keyframes are shown.",
        )
    if answer.get("field") not in BEAT_FIELDS:
        raise InputError(
            f"A beat has no field {answer.get('field')!r} to edit.",
            f"Edit one of: {', '.join(BEAT_FIELDS)}.",
        )
    _check_text(answer.get("text"))


def _check_anchor(payload: dict, choice: Any) -> None:
    choices = payload.get("anchor_choices") or []
    if not choices:
        raise InputError(
            "This run's style is judged against its --style-ref images, not an anchor shot.",
            "Leave out --style-anchor, or start a run without --style-ref.",
        )
    if choice != NO_ANCHOR and choice not in choices:
        raise InputError(
            f"Shot {choice!r} has no accepted keyframe to anchor the style on.",
            f"Name one of: {', '.join(choices)}, or {NO_ANCHOR} (the next keyframe accepted "
            "clean sets it).",
        )


def stage_frame(root: Path, shot: str, image: str) -> dict[str, str]:
    """The creator's frame for ``shot``, checked like any input image and copied into the run
    folder (approvals/frames/) at once, so the run does not depend on the file staying where
    it was: the answer's ``image`` (relative to the run) and ``source`` (the file given)."""
    from director.tools.critics.imaging import open_rgb

    given = Path(image).expanduser()
    if not given.is_file():
        raise InputError(f"No image at {image}.", "Give the path of a PNG or JPEG file.")
    if open_rgb(given) is None:  # read as the critics read it: a bomb is refused unread
        raise InputError(f"{image} is not an image.", "Give the path of a PNG or JPEG file.")
    data = given.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    dest = root / "approvals" / "frames" / f"{shot}-{digest}{given.suffix.lower()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        dest.write_bytes(data)
    return {"image": dest.relative_to(root).as_posix(), "source": str(given.resolve())}


def _check_text(text: Any) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The new text is empty.", "Give the text to use.")


def _beat_shots(plan: Plan, beat: str) -> list[str]:
    return [s.id for s in plan.shots if s.beat_id == beat]


def _edited_beat(plan: Plan, beat_id: str, field: str, text: str) -> Plan:
    beats = [
        b.model_copy(update={field: text.strip()}) if b.id == beat_id else b
        for b in plan.beat_sheet.beats
    ]
    return plan.model_copy(
        update={"beat_sheet": plan.beat_sheet.model_copy(update={"beats": beats})}
    )


def _edited_shot(plan: Plan, shot_id: str, slot: str, text: str) -> Plan:
    def edit(shot):
        prompt = shot.prompt.model_copy(update={slot: text.strip()})
        edited = sorted({*shot.edited_slots, slot})
        return shot.model_copy(update={"prompt": prompt, "edited_slots": edited})

    shots = [edit(s) if s.id == shot_id else s for s in plan.shots]
    return plan.model_copy(update={"shots": shots})
