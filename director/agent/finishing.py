"""The film's end: the clips still rendering collected, the film assembled with its contact
sheet, and the run's workflow document written from the log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent.clips import finish_clips
from director.agent.context import RunContext
from director.agent.shots import flag_reasons
from director.agent.state import FilmState, plan_of
from director.records import AssemblyStep, RunFinished, StageFinished


def assemble(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["document"]]:
    from director.tools.assemble.film import assemble as assemble_film
    from director.tools.image.contact_sheet import contact_sheet, shot_tiles

    ctx = runtime.context
    plan = plan_of(state)
    work = finish_clips(ctx, state)
    ctx.progress.close()
    ctx.log.append(
        StageFinished(stage="shots", seconds=round(time.time() - state["stage_started"], 3))
    )
    with ctx.stage("assemble"):
        clips = {sid: ctx.paths.root / rel for sid, rel in work.clips.items()}
        music = Path(ctx.options.music) if ctx.options.music else None
        result = assemble_film(
            plan,
            clips,
            ctx.paths.root,
            music=music,
            font=_font(ctx),
            on_step=lambda rec: _log_step(ctx, rec),
            on_progress=lambda seconds: ctx.progress.encoding(seconds, plan.runtime_s),
        )
        ctx.progress.close()
        tiles = shot_tiles(plan.shots, ctx.paths.root, state["keyframes"], state.get("captions"))
        flagged = flag_reasons(state, work.flagged)
        contact_sheet(tiles, ctx.paths.contact_sheet, flagged=flagged)
    update = {**work.update(), "film": ctx.paths.rel(result.film)}
    return Command(goto="document", update=update)


def document(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["__end__"]]:
    from director.replay.workflow import write_workflow

    ctx = runtime.context
    outputs = {name: ctx.paths.rel(path) for name, path in _outputs(ctx).items() if path.exists()}
    outputs["workflow"] = ctx.paths.rel(ctx.paths.workflow)
    status = "aborted" if state.get("aborted") else "completed"
    ctx.log.append(RunFinished(status=status, seconds=ctx.elapsed(), outputs=outputs))
    ctx.progress.stage("document")
    write_workflow(ctx.paths)  # after run_finished, so the document tells the run's end
    return Command(goto=END)


def _outputs(ctx: RunContext) -> dict[str, Path]:
    p = ctx.paths
    return {
        "film": p.film,
        "srt": p.srt,
        "plan": p.plan_json,
        "events": p.events,
        "contact_sheet": p.contact_sheet,
    }


def _font(ctx: RunContext):
    from director.tools.assemble.fonts import find_font

    return find_font(ctx.options.font)


def _log_step(ctx: RunContext, record) -> None:
    """Log an ffmpeg command with paths relative to the run folder, so the log travels."""
    root = f"{ctx.paths.root}/"
    command = ["ffmpeg", *(str(a).replace(root, "") for a in record.command[1:])]
    ctx.log.append(
        AssemblyStep(
            step=record.step,
            command=command,
            output=str(record.output).replace(root, ""),
            seconds=round(record.seconds, 3),
        )
    )
