"""Planning: the logline developed into a story and a beat sheet, the style bible and title
cards, and the shot list. A stage's answer already logged by a process that was cut off is
read back, never asked for (or paid for) twice."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent.context import RunContext
from director.agent.line_fit import fitted
from director.agent.state import FilmState, plan_of, reset_shots
from director.memory.runs import write_json_atomic
from director.records import (
    BeatSheet,
    BeatSheetPlanned,
    BiblePlanned,
    Plan,
    PlannerNotice,
    Shot,
    ShotListPlanned,
    ShotsReplanned,
    StageStarted,
    StoryDeveloped,
)


def develop(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["approve_beats"]]:
    ctx = runtime.context
    opts = ctx.options
    from director.tools.llm.language import detect_language
    from director.tools.llm.offline import resolve_structure

    if state.get("redraft") is not None:
        return _redraft_beats(state, ctx)
    language = detect_language(opts.logline)
    structure = resolve_structure(opts.structure, language)
    with ctx.stage("develop", f"{structure}, {opts.runtime_s:g} s"):
        story = _planned(
            ctx,
            StoryDeveloped,
            lambda: {
                "story": _with_references(
                    ctx.planner.develop(
                        opts.logline, language=language, seed=opts.seed, cast=ctx.cast
                    ),
                    ctx.cast,
                )
            },
        ).story
        sheet = _planned_sheet(
            ctx,
            lambda: ctx.planner.beat_sheet(
                story, structure=structure, runtime_s=opts.runtime_s, seed=opts.seed
            ),
        )
    plan = Plan(story=story, beat_sheet=sheet)
    update = {"plan": plan.model_dump(mode="json"), "beat_edits": {}, "notices": []}
    return Command(goto="approve_beats", update=update)


def _redraft_beats(state: FilmState, ctx: RunContext) -> Command[Literal["approve_beats"]]:
    """A new beat sheet for the same story, with the human's note; each draft has its own seed
    so a planner without a language model still gives a different one."""
    plan = plan_of(state)
    drafts = state.get("drafts", 1) + 1
    with ctx.stage("develop", f"beat sheet, draft {drafts}"):
        sheet = _planned_sheet(
            ctx,
            lambda: ctx.planner.beat_sheet(
                plan.story,
                structure=plan.beat_sheet.structure,
                runtime_s=ctx.options.runtime_s,
                seed=ctx.options.seed + drafts - 1,
                note=state["redraft"],
            ),
        )
    plan = plan.model_copy(update={"beat_sheet": sheet})
    update = {
        "plan": plan.model_dump(mode="json"),
        "redraft": None,
        "drafts": drafts,
        "beat_edits": {},  # a new sheet: the human's edits were to the old one
    }
    if state["redraft"].strip() and not reads_text(ctx.planner):
        update["notices"] = [_unread_note(ctx, state["redraft"])]
    return Command(goto="approve_beats", update=update)


def _unread_note(ctx: RunContext, note: str) -> str:
    """Said plainly, logged and shown at the checkpoint: the rules drew a new sheet, and did
    not read the note."""
    said = (
        f"The {ctx.planner.name} planner cannot follow notes: this beat sheet is a new draw of "
        f"its rules, not an answer to {note!r}. To change a beat, edit it (director approve "
        f'{ctx.paths.run_id} --edit BEAT --field summary="..."); to have notes followed, plan '
        "with a language model (--llm)."
    )
    ctx.log.append(PlannerNotice(checkpoint="beats", note=note, said=said))
    return said


def _planned(ctx: RunContext, kind: type, make: Callable[[], dict[str, Any]]) -> Any:
    """The stage's planning event of type ``kind``: the one already logged by a process cut
    off in this stage, or one made now from what ``make`` asks the planner for, logged."""
    found = ctx.planned(kind)
    if found is not None:
        return found
    return ctx.log.append(kind(backend=planner_name(ctx), **make()))


def _planned_sheet(ctx: RunContext, make: Callable[[], BeatSheet]) -> BeatSheet:
    return _planned(ctx, BeatSheetPlanned, lambda: {"beat_sheet": make()}).beat_sheet


def _with_references(story, cast):
    """Keep the cast's reference photos on the story's characters, so the plan records them."""
    refs = {c.name: c.references for c in cast}
    people = [
        p.model_copy(update={"references": refs.get(p.name, p.references)})
        for p in story.protagonists
    ]
    return story.model_copy(update={"protagonists": people})


def bible(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["shot_list"]]:
    ctx = runtime.context
    plan = plan_of(state)
    with ctx.stage("bible"):
        planned = _planned(
            ctx,
            BiblePlanned,
            lambda: dict(
                zip(
                    ("bible", "cards"),
                    ctx.planner.bible(
                        plan.story,
                        plan.beat_sheet,
                        width=ctx.options.width,
                        height=ctx.options.height,
                        seed=ctx.options.seed,
                    ),
                    strict=True,
                )
            ),
        )
    plan = plan.model_copy(update={"bible": planned.bible, "cards": planned.cards})
    return Command(goto="shot_list", update={"plan": plan.model_dump(mode="json")})


def shot_list(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["keyframe"]]:
    ctx = runtime.context
    plan = plan_of(state)
    with ctx.stage("shot list"):
        shots = _planned(
            ctx,
            ShotListPlanned,
            lambda: {"shots": _shots_of_edits(ctx, plan, state.get("beat_edits") or {})},
        ).shots
    plan = fitted(ctx, plan.model_copy(update={"shots": shots}))
    write_json_atomic(ctx.paths.plan_json, plan.model_dump(mode="json"))
    ctx.log.append(StageStarted(stage="shots", detail=f"{len(shots)} shots"))
    ctx.progress.shots_total(len(shots))
    update = {
        **reset_shots(state),
        "plan": plan.model_dump(mode="json"),
        "attempts_made": 0,
        # Planning's language-model calls count against --budget, and a redo of the shots
        # carries on from what the run already spent.
        "spent": state.get("spent", 0.0) + ctx.llm_spent,
        "stage_started": time.time(),
        "notices": [*state.get("notices", []), *_summary_notices(ctx, state)],
    }
    return Command(goto="keyframe", update=update)


def _summary_notices(ctx: RunContext, state: FilmState) -> list[str]:
    edited = [b for b, fields in (state.get("beat_edits") or {}).items() if "summary" in fields]
    if not edited or reads_text(ctx.planner):
        return []
    return [summary_notice(ctx, beat) for beat in edited]


def planner_name(ctx: RunContext) -> str:
    return f"{ctx.planner.name}:{ctx.planner.model}" if ctx.planner.model else ctx.planner.name


# --- a human's edit of a beat, carried to its shots -----------------------------------------

# Planners that draw shots from rules and never read a beat's words; a planner may say so
# itself with a ``reads_text`` attribute.
RULE_PLANNERS = ("offline", "scripted")
SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s*")


def reads_text(planner) -> bool:
    """Whether the planner writes shots from a beat's words (a language model does)."""
    return bool(getattr(planner, "reads_text", planner.name not in RULE_PLANNERS))


def _shots_of_edits(ctx: RunContext, plan: Plan, edits: dict[str, list[str]]) -> list[Shot]:
    """The planner's shot list, with the summary a human wrote for a beat as the action of its
    shots when the planner does not read a beat's words."""
    shots = ctx.planner.shot_list(
        plan.story, plan.beat_sheet, plan.bible, plan.cards, seed=ctx.options.seed
    )
    if reads_text(ctx.planner):
        return shots
    for beat in plan.beat_sheet.beats:
        if "summary" in edits.get(beat.id, []):
            shots = _with_summary(shots, beat.id, beat.summary)
        if "location" in edits.get(beat.id, []):
            shots = _with_location(shots, beat.id, beat.location)
    return shots


def _with_location(shots: list[Shot], beat_id: str, location: str) -> list[Shot]:
    """The place a human named leads the environment slot of the beat's shots, in place of
    the planner's (its first phrase); the light and what is around are kept."""

    def placed(shot: Shot) -> Shot:
        env = shot.prompt.environment
        if (
            shot.beat_id != beat_id
            or "environment" in shot.edited_slots
            or env.startswith(location)
        ):
            return shot
        sep = "，" if "，" in env else ", "
        rest = env.split(sep, 1)[1] if sep in env else ""
        text = f"{location}{sep}{rest}" if rest else location
        return shot.model_copy(
            update={"prompt": shot.prompt.model_copy(update={"environment": text})}
        )

    return [placed(s) for s in shots]


def replan_beat(ctx: RunContext, plan: Plan, beat_id: str, fields: list[str], made: dict) -> Plan:
    """Plan one beat's shots again, through the run's planner, from the beat as a human
    rewrote it; the other beats' shots stay as they are. The beat's shots keep their ids in
    order (a new one gets an id never used in the run) and the slots a human wrote."""
    with ctx.stage("shot list", f"beat {beat_id} planned again"):
        fresh = _shots_of_edits(ctx, plan, {beat_id: fields})
    fresh = [s for s in fresh if s.beat_id == beat_id]
    old = [s for s in plan.shots if s.beat_id == beat_id]
    used = {s.id for s in plan.shots} | {k.partition(":")[2] for k in made}
    kept = _kept_ids(fresh, old, used)
    at = next(i for i, s in enumerate(plan.shots) if s.beat_id == beat_id)
    rest = [s for s in plan.shots if s.beat_id != beat_id]
    shots = [*rest[:at], *kept, *rest[at:]]
    shots = [s.model_copy(update={"index": i}) for i, s in enumerate(shots)]
    reason = f"beat {beat_id}'s {', '.join(fields)} edited by a human"
    ctx.log.append(
        ShotsReplanned(
            backend=planner_name(ctx),
            beat_id=beat_id,
            shots=[s for s in shots if s.beat_id == beat_id],
            reason=reason,
        )
    )
    return fitted(ctx, plan.model_copy(update={"shots": shots}), [beat_id])


def _kept_ids(fresh: list[Shot], old: list[Shot], used: set[str]) -> list[Shot]:
    """The new shots under the old shots' ids, in order, each keeping the slots a human wrote
    on the shot it replaces; shots beyond the old count get ids the run never used."""
    kept = []
    number = max((_number(i) for i in used), default=0)
    for i, shot in enumerate(fresh):
        if i < len(old):
            kept.append(_locked(shot.model_copy(update={"id": old[i].id}), old[i]))
            continue
        number += 1
        kept.append(shot.model_copy(update={"id": f"s{number:03d}", "edited_slots": []}))
    return kept


def _number(shot_id: str) -> int:
    digits = "".join(ch for ch in shot_id if ch.isdigit())
    return int(digits) if digits else 0


def _locked(shot: Shot, old: Shot) -> Shot:
    """``shot`` with the prompt slots a human wrote on ``old``: no re-planning rewrites them."""
    if not old.edited_slots:
        return shot.model_copy(update={"edited_slots": []})
    mine = {slot: getattr(old.prompt, slot) for slot in old.edited_slots}
    prompt = shot.prompt.model_copy(update=mine)
    return shot.model_copy(update={"prompt": prompt, "edited_slots": list(old.edited_slots)})


def _with_summary(shots: list[Shot], beat_id: str, summary: str) -> list[Shot]:
    """The beat's shots acting out the summary a human wrote, its sentences in order across
    them: what a planner without a language model can do with words it cannot read."""
    beat_shots = [s for s in shots if s.beat_id == beat_id]
    actions = summary_actions(summary, len(beat_shots))
    by_id = {s.id: a for s, a in zip(beat_shots, actions, strict=True)}

    def acted(shot: Shot) -> Shot:
        if shot.id not in by_id or "action" in shot.edited_slots:
            return shot
        return shot.model_copy(
            update={"prompt": shot.prompt.model_copy(update={"action": by_id[shot.id]})}
        )

    return [acted(s) for s in shots]


def summary_actions(summary: str, count: int) -> list[str]:
    """``count`` actions from a summary: its sentences in order, spread over the shots (a
    sentence per shot, or several to a shot when there are more sentences than shots)."""
    sentences = [p.strip() for p in SENTENCE_END.split(summary.strip()) if p.strip()] or [summary]
    if count <= 0:
        return []
    groups = [
        sentences[i * len(sentences) // count : (i + 1) * len(sentences) // count]
        for i in range(count)
    ]
    return [
        " ".join(group)
        if group
        else sentences[min(i * len(sentences) // count, len(sentences) - 1)]
        for i, group in enumerate(groups)
    ]


def summary_notice(ctx: RunContext, beat_id: str) -> str:
    said = (
        f"The {ctx.planner.name} planner does not read a beat's words: the shots of beat "
        f"{beat_id} act out your summary, its sentences in order as their action slots. To "
        f"word a shot yourself, edit its slot (director approve {ctx.paths.run_id} --edit SHOT "
        '--slot action="..."); for shots written from your summary, plan with a language '
        "model (--llm)."
    )
    ctx.log.append(PlannerNotice(checkpoint="keyframes", beat_id=beat_id, said=said))
    return said
