"""Planning: the logline developed into a story and a beat sheet, the style bible and title
cards, and the shot list. A stage's answer already logged by a process that was cut off is
read back, never asked for (or paid for) twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent.context import RunContext
from director.agent.state import FilmState, plan_of, reset_shots
from director.memory.runs import write_json_atomic
from director.records import (
    BeatSheet,
    BeatSheetPlanned,
    BiblePlanned,
    Plan,
    ShotListPlanned,
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
    return Command(goto="approve_beats", update={"plan": plan.model_dump(mode="json")})


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
    update = {"plan": plan.model_dump(mode="json"), "redraft": None, "drafts": drafts}
    return Command(goto="approve_beats", update=update)


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
            lambda: {
                "shots": ctx.planner.shot_list(
                    plan.story, plan.beat_sheet, plan.bible, plan.cards, seed=ctx.options.seed
                )
            },
        ).shots
    plan = plan.model_copy(update={"shots": shots})
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
    }
    return Command(goto="keyframe", update=update)


def planner_name(ctx: RunContext) -> str:
    return f"{ctx.planner.name}:{ctx.planner.model}" if ctx.planner.model else ctx.planner.name
