"""The graph's nodes. Each does one step, logs what it decided, and names the next node."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent import policy
from director.agent.context import RunContext
from director.agent.state import Candidate, FilmState, plan_of
from director.errors import InputError
from director.memory.runs import write_json_atomic
from director.records import (
    Approval,
    AssemblyStep,
    Attempt,
    AttemptMade,
    BeatSheetPlanned,
    BiblePlanned,
    Critique,
    CritiqueMade,
    DecisionMade,
    JobSubmitted,
    Plan,
    RunFinished,
    ShotListPlanned,
    StageFinished,
    StageStarted,
    StoryDeveloped,
)
from director.tools.base import ClipRequest, CriticContext, ImageRequest, Job


def develop(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["approve_beats"]]:
    ctx = runtime.context
    opts = ctx.options
    from director.tools.llm.language import detect_language
    from director.tools.llm.offline import resolve_structure

    language = detect_language(opts.logline)
    structure = resolve_structure(opts.structure, language)
    with ctx.stage("develop", f"{structure}, {opts.runtime_s:g} s"):
        story = ctx.planner.develop(opts.logline, language=language, seed=opts.seed, cast=ctx.cast)
        story = _with_references(story, ctx.cast)
        ctx.log.append(StoryDeveloped(backend=_planner_name(ctx), story=story))
        sheet = ctx.planner.beat_sheet(
            story, structure=structure, runtime_s=opts.runtime_s, seed=opts.seed
        )
        ctx.log.append(BeatSheetPlanned(backend=_planner_name(ctx), beat_sheet=sheet))
    plan = Plan(story=story, beat_sheet=sheet)
    return Command(goto="approve_beats", update={"plan": plan.model_dump(mode="json")})


def _with_references(story, cast):
    """Keep the cast's reference photos on the story's characters, so the plan records them."""
    refs = {c.name: c.references for c in cast}
    people = [
        p.model_copy(update={"references": refs.get(p.name, p.references)})
        for p in story.protagonists
    ]
    return story.model_copy(update={"protagonists": people})


def approve_beats(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["bible"]]:
    ctx = runtime.context
    if not ctx.options.yes:
        raise InputError(
            "The beat sheet needs approval and interactive approval is not available yet.",
            "Pass --yes to approve the beat sheet and every shot automatically.",
        )
    count = len(plan_of(state).beat_sheet.beats)
    ctx.log.append(
        Approval(
            checkpoint="beats",
            by="auto",
            decision="approve",
            note=f"{count} beats approved automatically (--yes)",
        )
    )
    return Command(goto="bible")


def bible(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["shot_list"]]:
    ctx = runtime.context
    plan = plan_of(state)
    with ctx.stage("bible"):
        style, cards = ctx.planner.bible(
            plan.story,
            plan.beat_sheet,
            width=ctx.options.width,
            height=ctx.options.height,
            seed=ctx.options.seed,
        )
        ctx.log.append(BiblePlanned(backend=_planner_name(ctx), bible=style, cards=cards))
    plan = plan.model_copy(update={"bible": style, "cards": cards})
    return Command(goto="shot_list", update={"plan": plan.model_dump(mode="json")})


def shot_list(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["keyframe"]]:
    ctx = runtime.context
    plan = plan_of(state)
    with ctx.stage("shot list"):
        shots = ctx.planner.shot_list(
            plan.story, plan.beat_sheet, plan.bible, plan.cards, seed=ctx.options.seed
        )
        ctx.log.append(ShotListPlanned(backend=_planner_name(ctx), shots=shots))
    plan = plan.model_copy(update={"shots": shots})
    write_json_atomic(ctx.paths.plan_json, plan.model_dump(mode="json"))
    ctx.log.append(
        Approval(
            checkpoint="shots",
            by="auto",
            decision="approve",
            note=f"{len(shots)} shots approved automatically (--yes)",
        )
    )
    ctx.log.append(StageStarted(stage="shots", detail=f"{len(shots)} shots"))
    ctx.progress.shots_total(len(shots))
    update = {
        "plan": plan.model_dump(mode="json"),
        "cursor": 0,
        "candidates": [],
        "keyframes": {},
        "clips": {},
        "flagged": [],
        "stage_started": time.time(),
    }
    return Command(goto="keyframe", update=update)


def keyframe(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["critique"]]:
    ctx = runtime.context
    plan = plan_of(state)
    shot = plan.shots[state["cursor"]]
    number = len(state["candidates"]) + 1
    seed = policy.shot_seed(ctx.options.seed, shot.index, number)
    ctx.progress.shot(shot.id, f"keyframe {number}")
    request = ImageRequest(
        shot=shot,
        bible=plan.bible,
        seed=seed,
        width=ctx.options.width,
        height=ctx.options.height,
        prompt=shot.prompt.render(),
        negative_prompt=shot.prompt.render_negative(),
    )
    dest = _fresh(ctx.paths.keyframe(shot.id, number))
    start = time.perf_counter()
    job = ctx.image.generate(request, dest)
    attempt = _attempt(ctx, job, "keyframe", dest, time.perf_counter() - start, number)
    ctx.log.append(AttemptMade(attempt=attempt))
    pending = {
        "attempt": number,
        "artifact": attempt.artifact,
        "seed": seed,
        "caption_px": int(job.params.get("caption_px", 0)),
    }
    return Command(goto="critique", update={"candidates": [*state["candidates"], pending]})


def critique(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["decide"]]:
    from PIL import Image

    ctx = runtime.context
    plan = plan_of(state)
    shot = plan.shots[state["cursor"]]
    pending = state["candidates"][-1]
    context = CriticContext(
        bible=plan.bible,
        accepted={sid: str(ctx.paths.root / rel) for sid, rel in state["keyframes"].items()},
    )
    with Image.open(ctx.paths.root / pending["artifact"]) as img:
        image = img.convert("RGB")
    checks = [c for critic in ctx.critics for c in critic.check(image, shot, context)]
    result = Critique(shot_id=shot.id, attempt=pending["attempt"], checks=checks)
    ctx.log.append(CritiqueMade(critique=result, verdict=result.verdict))
    scored: Candidate = {
        **pending,
        "margin": round(result.margin(), 6),
        "verdict": result.verdict,
        "failed": [c.name for c in result.failed],
    }
    update = {
        "candidates": [*state["candidates"][:-1], scored],
        "critique": result.model_dump(mode="json"),
    }
    return Command(goto="decide", update=update)


def decide(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["keyframe", "animate"]]:
    ctx = runtime.context
    plan = plan_of(state)
    shot = plan.shots[state["cursor"]]
    candidates = state["candidates"]
    critique = Critique.model_validate(state["critique"])
    decision = policy.decide(critique, candidates, ctx.options.max_attempts)
    ctx.log.append(DecisionMade(decision=decision))
    if decision.action == "reroll":
        return Command(goto="keyframe")
    chosen = next(c for c in candidates if c["attempt"] == decision.attempt)
    update = {
        "keyframes": {**state["keyframes"], shot.id: chosen["artifact"]},
        "captions": {**state.get("captions", {}), shot.id: chosen.get("caption_px", 0)},
    }
    if decision.action == "accept-below-threshold":
        update["flagged"] = [*state["flagged"], shot.id]
    return Command(goto="animate", update=update)


def animate(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["keyframe", "assemble"]]:
    """Submit the shot's clip and move on; clips render while later shots are keyframed."""
    from director.tools.assemble.film import clip_length

    ctx = runtime.context
    plan = plan_of(state)
    shot = plan.shots[state["cursor"]]
    ctx.progress.shot(shot.id, "clip")
    request = ClipRequest(
        shot=shot,
        keyframe=str(ctx.paths.root / state["keyframes"][shot.id]),
        seed=policy.shot_seed(ctx.options.seed, shot.index, 0),
        duration_s=clip_length(shot),
        fps=ctx.options.fps,
        width=ctx.options.width,
        height=ctx.options.height,
        prompt=f"{shot.prompt.action}; {shot.prompt.camera}",
        hold_bottom_px=state.get("captions", {}).get(shot.id, 0),
    )
    submitted = time.time()
    job = ctx.video.submit(request)
    ctx.log.append(
        JobSubmitted(
            shot_id=shot.id, kind="clip", job_id=job.id, backend=job.backend, model=job.model
        )
    )
    pending = [
        *state.get("pending_clips", []),
        {"shot_id": shot.id, "job": job.model_dump(mode="json"), "submitted": submitted},
    ]
    clips = dict(state["clips"])
    while len(pending) > max(ctx.video.max_in_flight, 1):
        clips.update(_collect_clip(ctx, pending.pop(0)))
    update = {
        "clips": clips,
        "pending_clips": pending,
        "cursor": state["cursor"] + 1,
        "candidates": [],
    }
    nxt = "keyframe" if state["cursor"] + 1 < len(plan.shots) else "assemble"
    return Command(goto=nxt, update=update)


def _collect_clip(ctx: RunContext, pending) -> dict[str, str]:
    job = Job.model_validate(pending["job"])
    dest = _fresh(ctx.paths.clip(pending["shot_id"], 1))
    ctx.video.collect(job, dest)
    attempt = _attempt(ctx, job, "clip", dest, time.time() - pending["submitted"])
    ctx.log.append(AttemptMade(attempt=attempt))
    ctx.progress.shot_done()
    return {pending["shot_id"]: attempt.artifact}


def assemble(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["document"]]:
    from director.tools.assemble.film import assemble as assemble_film
    from director.tools.image.contact_sheet import contact_sheet

    ctx = runtime.context
    plan = plan_of(state)
    done = dict(state["clips"])
    for pending in state.get("pending_clips", []):
        done.update(_collect_clip(ctx, pending))
    ctx.progress.close()
    ctx.log.append(
        StageFinished(stage="shots", seconds=round(time.time() - state["stage_started"], 3))
    )
    with ctx.stage("assemble"):
        clips = {sid: ctx.paths.root / rel for sid, rel in done.items()}
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
        items = [(ctx.paths.root / state["keyframes"][s.id], s.id) for s in plan.shots]
        contact_sheet(items, ctx.paths.contact_sheet)
    update = {"film": ctx.paths.rel(result.film), "clips": done, "pending_clips": []}
    return Command(goto="document", update=update)


def document(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["__end__"]]:
    from director.replay.workflow import write_workflow

    ctx = runtime.context
    outputs = {name: ctx.paths.rel(path) for name, path in _outputs(ctx).items() if path.exists()}
    outputs["workflow"] = ctx.paths.rel(ctx.paths.workflow)
    ctx.log.append(
        RunFinished(
            status="completed", seconds=round(time.time() - ctx.started, 3), outputs=outputs
        )
    )
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


def _attempt(
    ctx: RunContext, job: Job, kind: str, dest: Path, seconds: float, number: int = 1
) -> Attempt:
    """The logged record of a finished job; shot, seed and prompt come from its request."""
    request = job.request
    return Attempt(
        shot_id=request["shot"]["id"],
        kind=kind,
        number=number,
        backend=job.backend,
        model=job.model,
        params=job.params,
        seed=request["seed"],
        prompt=request.get("prompt", ""),
        negative_prompt=request.get("negative_prompt", ""),
        artifact=ctx.paths.rel(dest),
        sha256=sha256_file(dest),
        seconds=round(seconds, 3),
    )


def _planner_name(ctx: RunContext) -> str:
    return f"{ctx.planner.name}:{ctx.planner.model}" if ctx.planner.model else ctx.planner.name


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
