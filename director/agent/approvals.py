"""The human's checkpoints: the beat sheet, then each beat's keyframes before its clips are paid.

With --yes an approval is automatic and logged as such. Otherwise the node stops the graph with
LangGraph's ``interrupt()``: the runner asks the human (interactive mode) or leaves the run
waiting for ``director approve`` (deferred mode), then resumes it with the answer. LangGraph
re-runs an interrupted node from its start, so nothing here calls a paid backend: the work an
answer asks for (a new beat sheet, a repaired prompt, new keyframes) is done by the nodes it
routes to. Text a human wrote is marked on the plan, and no later stage rewrites it.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from director.agent import ladder
from director.agent.context import RunContext
from director.agent.keyframes import next_in_beat
from director.agent.shots import flag_reasons, ladder_backend, last_attempt, limits
from director.agent.state import FilmState, plan_of
from director.errors import InputError
from director.memory.runs import write_json_atomic
from director.records import Approval, CheckResult, Critique, DecisionMade, Plan

BEAT_FIELDS = ("name", "summary", "change", "location")
SLOTS = ("subject", "action", "environment", "camera")  # the style slot is the bible's
BEAT_DECISIONS = ("approve", "edit", "regenerate", "abort")
SHOT_DECISIONS = ("approve", "reroll", "edit", "reject", "abort")
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
    payload = beats_payload(plan)
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
        return Command(goto="approve_beats", update={"plan": plan.model_dump(mode="json")})
    ctx.log.append(approval)
    if decision == "regenerate":
        return Command(goto="develop", update={"redraft": answer.get("note", "")})
    if decision == "abort":
        return Command(goto="document", update={"aborted": "beats"})
    return Command(goto="bible")


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
        return Command(goto="animate", update=anchored or {})
    targets = [answer["shot"]] if answer.get("shot") else _beat_shots(plan, beat)
    update: dict[str, Any] = {
        **(anchored or {}),
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
    ctx.log.append(approval)
    return next_in_beat(plan, {**state, **update}, beat, update)


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
    update = {
        "notes": notes,
        "candidates": [],
        "rung": step.rung if step.variant is not None else -1,
        "variant": step.variant or {},
        "spent": state.get("spent", 0.0) + ctx.llm_spent - llm_before,
    }
    return Command(goto="keyframe", update=update)


# --- what the human is shown, and what an answer may say ------------------------------------


def beats_payload(plan: Plan) -> dict[str, Any]:
    sheet = plan.beat_sheet
    return {
        "checkpoint": "beats",
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
    tiles = shot_tiles(shots, ctx.paths.root, state["keyframes"], state.get("captions"))
    flagged = [s.id for s in shots if s.id in state["flagged"]]
    contact_sheet(tiles, sheet, flagged=flag_reasons(state, flagged))
    failed = state.get("keyframe_failed", {})
    return {
        **_anchor_payload(ctx, state),
        "checkpoint": "keyframes",
        "beat": beat_id,
        "beat_name": beat.name,
        "summary": beat.summary,
        "beat_number": beat.index + 1,
        "beats": len(plan.beat_sheet.beats),
        "contact_sheet": ctx.paths.rel(sheet),
        "shots": [
            {
                "id": s.id,
                "prompt": {slot: getattr(s.prompt, slot) for slot in SLOTS},
                "edited": list(s.edited_slots),
                "keyframe": state["keyframes"][s.id],
                "flagged": s.id in state["flagged"],
                "failed": failed.get(s.id, []) if s.id in state["flagged"] else [],
            }
            for s in shots
        ],
    }


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
    ids = [s["id"] for s in payload["shots"]]
    needs_shot = decision in ("reroll", "edit")
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
    if decision == "reject" and not (answer.get("note") or "").strip():
        raise InputError("A rejection needs a note.", 'Say what is wrong: --note "..."')
    if "style_anchor" in answer:
        _check_anchor(payload, answer["style_anchor"])


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
