"""The graph's nodes. Each does one step, logs what it decided, and names the next node."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent import ladder, policy
from director.agent.context import RunContext
from director.agent.state import Candidate, FilmState, PendingClip, Variant, plan_of
from director.errors import (
    BackendError,
    BudgetExceeded,
    GenerationFailed,
    ModerationRejected,
)
from director.memory.jobs import request_key
from director.memory.runs import sha256_file, write_json_atomic
from director.records import (
    AssemblyStep,
    Attempt,
    AttemptMade,
    BeatSheet,
    BeatSheetPlanned,
    BiblePlanned,
    CheckResult,
    CostIncurred,
    Critique,
    CritiqueMade,
    DecisionMade,
    JobSubmitted,
    Plan,
    RunFinished,
    Shot,
    ShotListPlanned,
    StageFinished,
    StageStarted,
    StoryDeveloped,
)
from director.tools.base import ClipRequest, CriticContext, ImageRequest, Job

# The run's default cap on generations: a keyframe, a clip and one retry per shot on average,
# plus enough for one shot to climb the whole ladder.
RUN_ATTEMPTS_PER_SHOT = 3


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
        found = ctx.planned(StoryDeveloped)
        if found is not None:
            story = found.story
        else:
            story = ctx.planner.develop(
                opts.logline, language=language, seed=opts.seed, cast=ctx.cast
            )
            story = _with_references(story, ctx.cast)
            ctx.log.append(StoryDeveloped(backend=_planner_name(ctx), story=story))
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


def _planned_sheet(ctx: RunContext, make) -> BeatSheet:
    """The stage's beat sheet: the one already logged by a process cut off in this stage, or a
    new one from the planner, logged."""
    found = ctx.planned(BeatSheetPlanned)
    if found is not None:
        return found.beat_sheet
    sheet = make()
    ctx.log.append(BeatSheetPlanned(backend=_planner_name(ctx), beat_sheet=sheet))
    return sheet


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
        found = ctx.planned(BiblePlanned)
        if found is not None:
            style, cards = found.bible, found.cards
        else:
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
        found = ctx.planned(ShotListPlanned)
        if found is not None:
            shots = found.shots
        else:
            shots = ctx.planner.shot_list(
                plan.story, plan.beat_sheet, plan.bible, plan.cards, seed=ctx.options.seed
            )
            ctx.log.append(ShotListPlanned(backend=_planner_name(ctx), shots=shots))
    plan = plan.model_copy(update={"shots": shots})
    write_json_atomic(ctx.paths.plan_json, plan.model_dump(mode="json"))
    ctx.log.append(StageStarted(stage="shots", detail=f"{len(shots)} shots"))
    ctx.progress.shots_total(len(shots))
    update = {
        "plan": plan.model_dump(mode="json"),
        "cursor": 0,
        "candidates": [],
        "prefetched": {},
        "rung": -1,
        "variant": {},
        "attempts_made": 0,
        "spent": ctx.llm_spent,  # planning's language-model calls count against --budget
        "keyframes": {},
        "clips": {},
        "flagged": [],
        "made": {},
        "notes": {},
        "pending_clips": [],
        "clips_only": False,
        "stage_started": time.time(),
    }
    return Command(goto="keyframe", update=update)


def keyframe(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["critique"]]:
    """Make the shot's next round of keyframe candidates: one attempt, or --best-of K made
    together (one batch on a local pipeline), each logged and counted as an attempt."""
    ctx = runtime.context
    plan = plan_of(state)
    run_left = _run_cap(ctx, len(plan.shots)) - state.get("attempts_made", 0)
    variant = state.get("variant") or {}
    shot = varied_shot(plan.shots[state["cursor"]], variant)
    numbers = _round(ctx, len(state["candidates"]), run_left, _made(state, "keyframe", shot.id))
    ctx.progress.shot(shot.id, f"keyframe {_label(numbers)}")
    requests = [_keyframe_request(ctx, plan, shot, n, variant) for n in numbers]
    estimates = [ctx.image.estimate(r) for r in requests]
    start = time.perf_counter()
    prefetched = dict(state.get("prefetched", {}))
    queued = prefetched.pop(shot.id, None) if numbers[0] == 1 else None
    if queued is None:
        what = f"shot {shot.id}'s keyframe {_label(numbers)}"
        _afford(ctx, _committed(state, prefetched), _total(estimates), what)
        submitted = _submit_round(ctx, ctx.image, requests, "keyframe")
    else:
        submitted = [(Job.model_validate(_job_fields(q)), q.get("error")) for q in queued]
    if numbers[0] == 1:
        prefetched = _prefetch(ctx, state, plan, prefetched)
    made = [
        _collect_keyframe(ctx, shot, number, job, failure, estimate, start)
        for number, (job, failure), estimate in zip(numbers, submitted, estimates, strict=True)
    ]
    drawn = {k: variant[k] for k in ("slots", "size") if variant.get(k)}
    made = [{**candidate, "variant": drawn} if drawn else candidate for candidate in made]
    update = {
        "candidates": [*state["candidates"], *made],
        "attempts_made": state.get("attempts_made", 0) + len(made),
        "spent": state.get("spent", 0.0) + sum(job.cost for job, _ in submitted),
        "prefetched": prefetched,
    }
    return Command(goto="critique", update=update)


def _round(ctx: RunContext, made: int, run_left: int | None = None, before: int = 0) -> list[int]:
    """The attempt numbers of the shot's next round: --best-of of them, within the shot's
    cap and what is left of the run's. ``before`` attempts came in earlier passes (a human's
    reroll), so numbers, files and seeds carry on from them."""
    size = min(ctx.options.best_of, ctx.options.max_attempts - made)
    size = max(1, size if run_left is None else min(size, run_left))
    first = before + made + 1
    return list(range(first, first + size))


def _made(state: FilmState, kind: str, shot_id: str) -> int:
    """The highest attempt number of a shot's earlier passes at a keyframe or clip."""
    return state.get("made", {}).get(f"{kind}:{shot_id}", 0)


def _label(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"


def _total(estimates: list[float | None]) -> float | None:
    """A round's estimated price; None when any candidate's model has no known price."""
    return None if any(e is None for e in estimates) else sum(estimates)


def _job_fields(queued: dict) -> dict:
    return {k: v for k, v in queued.items() if k not in ("estimate", "error")}


def _collect_keyframe(
    ctx: RunContext,
    shot: Shot,
    number: int,
    job: Job,
    failure: dict | None,
    estimate: float | None,
    start: float,
) -> Candidate:
    """Collect one candidate into the run folder and log it as an attempt; one collected
    before the node was interrupted is taken as logged."""
    attempt = ctx.jobs.collected(job, ctx.paths.root)
    if attempt is not None:
        job.cost = attempt.cost
    else:
        dest = _fresh(ctx.paths.keyframe(shot.id, number))
        failure = failure or _collect(ctx.image, job, dest)
        _log_cost(ctx, job, "keyframe", shot.id)
        seconds = time.perf_counter() - start
        attempt = _attempt(ctx, job, "keyframe", dest, seconds, number, failure)
        ctx.log.append(AttemptMade(attempt=attempt))
    return {
        "attempt": number,
        "artifact": attempt.artifact,
        "seed": attempt.seed,
        "caption_px": int(job.params.get("caption_px", 0)),
        "estimate": estimate or 0.0,
        **({"error": failure} if failure else {}),
    }


def _keyframe_request(
    ctx: RunContext, plan: Plan, shot: Shot, number: int, variant: Variant
) -> ImageRequest:
    return ImageRequest(
        shot=shot,
        bible=plan.bible,
        seed=policy.shot_seed(ctx.options.seed, shot.index, number),
        width=ctx.options.width,
        height=ctx.options.height,
        prompt=shot.prompt.render(),
        negative_prompt=shot.prompt.render_negative(),
        **_ladder_request(ctx, variant),
    )


def _prefetch(ctx: RunContext, state: FilmState, plan: Plan, prefetched: dict) -> dict:
    """Submit the first keyframe of the next shots, up to the image backend's concurrency, so
    a hosted service works on several shots while this one is collected and judged. A first
    attempt never depends on another shot, so the film and its log come out the same."""
    numbers = _round(ctx, 0)
    room = max(ctx.image.max_in_flight // len(numbers), 1) - 1 - len(prefetched)
    beat = plan.shots[state["cursor"]].beat_id
    upcoming = [
        s
        for s in plan.shots[state["cursor"] + 1 :]
        if s.id not in prefetched
        and s.id not in state["keyframes"]
        and not _made(state, "keyframe", s.id)
        and (ctx.options.yes or s.beat_id == beat)  # nothing paid past a pending approval
    ]
    for shot in upcoming[: max(room, 0)]:
        requests = [_keyframe_request(ctx, plan, shot, n, {}) for n in numbers]
        estimates = [ctx.image.estimate(r) for r in requests]
        total = _total(estimates)
        unpriced = total is None and ctx.options.budget is not None
        if unpriced or not _affordable(ctx, _committed(state, prefetched) + (total or 0.0)):
            break  # submitted later, in order, where the budget check stops the run
        submitted = _submit_round(ctx, ctx.image, requests, "keyframe")
        # A refusal is kept for the shot's turn, where it climbs the ladder on it: the same
        # prompt is never sent twice.
        prefetched[shot.id] = [
            {
                **job.model_dump(mode="json"),
                "estimate": 0.0 if failure else estimate or 0.0,
                **({"error": failure} if failure else {}),
            }
            for (job, failure), estimate in zip(submitted, estimates, strict=True)
        ]
        if any(failure for _, failure in submitted):
            break
    return prefetched


def _committed(state: FilmState, prefetched: dict) -> float:
    """Spent so far, plus what submitted but uncollected keyframes are estimated to cost."""
    queued = (job for round_ in prefetched.values() for job in round_)
    return state.get("spent", 0.0) + sum(job.get("estimate", 0.0) for job in queued)


def _affordable(ctx: RunContext, total: float) -> bool:
    return ctx.options.budget is None or total <= ctx.options.budget + 1e-9


def _afford(ctx: RunContext, spent: float, estimate: float | None, what: str) -> None:
    """Stop before a call the film needs would take the spend past --budget. A model with no
    known price runs when no budget is set: its cost events say the price is unknown."""
    budget = ctx.options.budget
    if budget is None:
        return
    if estimate is None:
        raise BudgetExceeded(
            f"--budget is set, but {what} uses a model with no known price.",
            'Set its price in the config file\'s [prices."PROVIDER:MODEL"] table, or run '
            "without --budget.",
        )
    if not _affordable(ctx, spent + estimate):
        raise BudgetExceeded(
            f"The budget of ${budget:.2f} would be exceeded: ${spent:.2f} spent, and {what} "
            f"is estimated at ${estimate:.2f}.",
            "Raise --budget, or pick cheaper models; the run folder keeps everything made so far.",
        )


def _log_cost(ctx: RunContext, job: Job, kind: str, shot_id: str | None) -> None:
    """A cost event for every paid call; a call to a model with no known price is logged with
    no amount and the reason, never a guessed figure."""
    unknown = job.params.get("cost_unknown", "")
    if job.cost or unknown:
        ctx.log.append(
            CostIncurred(
                shot_id=shot_id,
                kind=kind,
                backend=job.backend,
                model=job.model,
                amount=None if unknown else job.cost,
                detail=unknown or str(job.params.get("cost_detail", "")),
                job_id=job.id,
            )
        )


def _submit(ctx: RunContext, backend, request, kind: str) -> tuple[Job, dict | None]:
    """Submit a job and log its id before anything waits on it. A submission the service
    refuses (its content filter, a rejected input) is a failed generation, as in collect."""
    return _submit_round(ctx, backend, [request], kind)[0]


def _submit_round(ctx: RunContext, backend, requests: list, kind: str) -> list:
    """Submit candidates together (a backend that batches makes them in one pass), logging
    every job before anything waits on it; a request this run already sent is not sent again
    (a node re-run after a crash). A refusal fails the round's new requests."""
    found = [ctx.jobs.submitted(kind, request) for request in requests]
    missing = [request for request, job in zip(requests, found, strict=True) if job is None]
    if missing:
        try:
            fresh = (
                backend.submit_many(missing) if len(missing) > 1 else [backend.submit(missing[0])]
            )
        except GenerationFailed as exc:
            return [
                (job, None) if job else _refused(backend, request, kind, exc)
                for request, job in zip(requests, found, strict=True)
            ]
        for job, request in zip(fresh, missing, strict=True):
            _log_submitted(ctx, job, request, kind)
        queue = iter(fresh)
        found = [job or next(queue) for job in found]
    return [(job, None) for job in found]


def _log_submitted(ctx: RunContext, job: Job, request, kind: str) -> None:
    ctx.log.append(
        JobSubmitted(
            shot_id=request.shot.id,
            kind=kind,
            job_id=job.id,
            backend=job.backend,
            model=job.model,
            job=job.model_dump(mode="json"),
            request_key=request_key(kind, request),
        )
    )


def _refused(backend, request, kind: str, exc: GenerationFailed) -> tuple[Job, dict]:
    job = Job(
        id="",
        backend=backend.name,
        model=backend.model,
        kind=kind,
        request=request.model_dump(mode="json"),
    )
    return job, _failure(exc, job)


def _collect(backend, job: Job, dest: Path) -> dict | None:
    """Collect a job's result into ``dest``; a generation that failed is returned as a record
    for the gate (the ladder climbs on it), anything else propagates."""
    part = dest.with_name(f"{dest.stem}.part{dest.suffix}")  # the suffix tells the format
    try:
        backend.collect(job, part)
    except GenerationFailed as exc:
        part.unlink(missing_ok=True)
        return _failure(exc, job)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)  # a file under its real name is always whole
    return None


def _failure(exc: GenerationFailed, job: Job) -> dict:
    return {
        "check": "moderation" if isinstance(exc, ModerationRejected) else "generation",
        "reason": str(exc),
        "code": exc.code,
        "task_id": exc.task_id or job.id,
        "flagged": getattr(exc, "flagged", ""),
    }


def as_accepted(state: FilmState, shot: Shot) -> Shot:
    """The shot as its accepted keyframe was drawn (repaired slots, a closer size): its clip
    animates that picture, so it is prompted and judged the same way."""
    return varied_shot(shot, state.get("accepted", {}).get(shot.id, {}))


def varied_shot(shot: Shot, variant: Variant) -> Shot:
    """The shot as the ladder changed it for this attempt: repaired slots, a closer size."""
    update: dict = {}
    if variant.get("slots"):
        update["prompt"] = shot.prompt.model_copy(update=variant["slots"])
    if variant.get("size"):
        update["size"] = variant["size"]
    return shot.model_copy(update=update) if update else shot


def _ladder_request(ctx: RunContext, variant: Variant) -> dict:
    """The request fields of the ladder's stronger rungs, for backends that declared them."""
    fields: dict = {}
    if ctx.image.accepts_references and variant.get("references"):
        fields["references"] = variant["references"]
        fields["reference_strength"] = variant.get("reference_strength")
    if ctx.image.edits and variant.get("edit_source"):
        left, top, right, bottom = variant["edit_region"]
        w, h = ctx.options.width, ctx.options.height
        fields["edit_source"] = str(ctx.paths.root / variant["edit_source"])
        fields["edit_region"] = [max(0, left), max(0, top), min(w, right), min(h, bottom)]
    return fields


def critique(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["decide"]]:
    """Judge the latest round's candidates; the best of them is what the ladder decides on."""
    ctx = runtime.context
    plan = plan_of(state)
    shot = varied_shot(plan.shots[state["cursor"]], state.get("variant") or {})
    context = CriticContext(
        bible=plan.bible,
        style_anchors=ctx.options.style_refs
        or [str(ctx.paths.root / rel) for rel in state.get("anchors", [])],
        accepted={sid: str(ctx.paths.root / rel) for sid, rel in state["keyframes"].items()},
    )
    fresh = [c for c in state["candidates"] if "verdict" not in c]
    results = {r.attempt: r for r in _judge(ctx, shot, context, fresh)}
    candidates = [
        c if "verdict" in c else {**c, **_scored(results[c["attempt"]])}
        for c in state["candidates"]
    ]
    best = min(results.values(), key=lambda r: (r.verdict != "pass", r.margin()))  # shortfall
    update = {"candidates": candidates, "critique": best.model_dump(mode="json")}
    return Command(goto="decide", update=update)


def _scored(result: Critique) -> dict:
    return {
        "margin": round(result.margin(), 6),
        "verdict": result.verdict,
        "failed": [c.name for c in result.failed],
    }


def _judge(
    ctx: RunContext, shot: Shot, context: CriticContext, candidates: list[Candidate]
) -> list[Critique]:
    """Critique a round's candidates, each critic scoring all of them at once (one forward
    pass on a model); a failed generation has nothing to score."""
    from PIL import Image

    made = [c for c in candidates if not c.get("error")]
    images = []
    for candidate in made:
        with Image.open(ctx.paths.root / candidate["artifact"]) as img:
            images.append(img.convert("RGB"))
    checks: dict[int, list[CheckResult]] = {c["attempt"]: [] for c in made}
    for critic in ctx.critics:
        scored = critic.check_batch(images, [shot] * len(images), context)
        for candidate, found in zip(made, scored, strict=True):
            checks[candidate["attempt"]].extend(found)
    results = []
    for candidate in candidates:
        found = checks.get(candidate["attempt"]) or [failed_generation(candidate["error"])]
        result = Critique(shot_id=shot.id, attempt=candidate["attempt"], checks=found)
        ctx.log.append(CritiqueMade(critique=result, verdict=result.verdict))
        results.append(result)
    return results


def failed_generation(error: dict) -> CheckResult:
    """The gate's record of a generation that produced nothing to judge."""
    details = {k: error[k] for k in ("code", "task_id", "flagged") if error.get(k)}
    return CheckResult(
        name=error["check"],
        score=None,
        threshold=None,
        passed=False,
        reason=error["reason"],
        details=details,
    )


def decide(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["keyframe", "revise", "approve_shots"]]:
    ctx = runtime.context
    plan = plan_of(state)
    shot = plan.shots[state["cursor"]]
    candidates = state["candidates"]
    critique = Critique.model_validate(state["critique"])
    llm_before = ctx.llm_spent
    step = ladder.climb(
        critique,
        candidates,
        shot,
        rung=state.get("rung", -1),
        variant=state.get("variant") or {},
        backend=_ladder_backend(ctx, shot),
        limits=_limits(
            ctx,
            state.get("attempts_made", 0),
            state.get("spent", 0.0),
            len(plan.shots),
            candidates[-1].get("estimate", 0.0) * len(_round(ctx, len(candidates))),
        ),
        planner=ctx.planner,
    )
    for decision in step.decisions:
        ctx.log.append(DecisionMade(decision=decision))
    spent = state.get("spent", 0.0) + ctx.llm_spent - llm_before  # an LLM repair costs too
    if step.variant is not None:
        update = {"rung": step.rung, "variant": step.variant, "spent": spent}
        return Command(goto="keyframe", update=update)
    chosen = _chosen(candidates, step, shot.id)
    update = {
        "spent": spent,
        "keyframes": {**state["keyframes"], shot.id: chosen["artifact"]},
        "captions": {**state.get("captions", {}), shot.id: chosen.get("caption_px", 0)},
        "made": {**state.get("made", {}), f"keyframe:{shot.id}": candidates[-1]["attempt"]},
        "accepted": {**state.get("accepted", {}), shot.id: chosen.get("variant", {})},
        "flagged": [s for s in state["flagged"] if s != shot.id],
        "candidates": [],
        "rung": -1,
        "variant": {},
    }
    if step.flagged:
        update["flagged"].append(shot.id)
        failed = {**state.get("keyframe_failed", {}), shot.id: chosen.get("failed", [])}
        update["keyframe_failed"] = failed
    elif not state.get("anchors"):
        update["anchors"] = [chosen["artifact"]]  # the film's look, for the style check
    return next_in_beat(plan, {**state, **update}, shot.beat_id, update)


def next_in_beat(plan: Plan, state: FilmState, beat_id: str, update: dict) -> Command:
    """The beat's next shot with no accepted keyframe, or the beat's approval when none is left."""
    for shot in plan.shots:
        if shot.beat_id == beat_id and shot.id not in state["keyframes"]:
            update["cursor"] = shot.index
            goto = "revise" if shot.id in state.get("notes", {}) else "keyframe"
            return Command(goto=goto, update=update)
    return Command(goto="approve_shots", update=update)


def _chosen(candidates: list[Candidate], step: ladder.Step, shot_id: str) -> Candidate:
    """The attempt the ladder settled on; a shot where nothing was ever generated stops the
    run, since there is no picture to put in the film."""
    found = [c for c in candidates if c["attempt"] == step.final.attempt and c.get("artifact")]
    refused = [c for c in candidates if (c.get("error") or {}).get("check") == "moderation"]
    if not found and refused:
        raise BackendError(
            f"Shot {shot_id}: the service's content filter refused its prompt, and nothing in "
            f"it could be rewritten without changing the shot ({refused[-1]['error']['code']}).",
            f"Rewrite the shot's prompt (director approve RUN --edit {shot_id} --slot "
            "action=...), or plan with a language model (--llm), which rewrites refused "
            "prompts; then resume the run.",
        )
    if not found:
        raise BackendError(
            f"Shot {shot_id}: no attempt produced anything to use ({step.final.reason}).",
            "Check the service's status, or choose another model or backend.",
        )
    return found[0]


def _ladder_backend(ctx: RunContext, shot: Shot) -> ladder.Backend:
    return ladder.Backend(
        name=ctx.image.name,
        accepts_references=ctx.image.accepts_references,
        edits=ctx.image.edits,
        references=tuple(path for _, path in _cast_references(ctx, shot)),
    )


def _clip_ladder_backend(ctx: RunContext, shot: Shot) -> ladder.Backend:
    return ladder.Backend(
        name=ctx.video.name,
        kind="clip",
        accepts_references=ctx.video.accepts_references,
        references=tuple(path for _, path in _cast_references(ctx, shot)),
    )


def _cast_references(ctx: RunContext, shot: Shot) -> list[tuple[str, str]]:
    """(name, photo) of every reference photo of the cast members in the shot's frame."""
    in_frame = set(shot.characters)
    return [(c.name, r) for c in ctx.cast if c.name in in_frame for r in c.references]


def _clip_references(ctx: RunContext, shot: Shot, variant: Variant) -> dict:
    """The reference photos a clip is conditioned on: the ladder's reference rung on a backend
    that takes them, or every clip with a cast member in frame on a reference-to-video model."""
    if not ctx.video.accepts_references:
        return {}
    found = _cast_references(ctx, shot)
    if variant.get("references"):
        wanted = set(variant["references"])
        found = [(name, path) for name, path in found if path in wanted]
    elif not ctx.video.references_always:
        return {}
    if not found:
        return {}
    return {
        "references": [path for _, path in found],
        "reference_names": [name for name, _ in found],
        "reference_strength": variant.get("reference_strength"),
    }


def _run_cap(ctx: RunContext, shots: int) -> int:
    """--max-run-attempts, or by default enough for every shot's first round, its clip and a
    retry, plus one whole ladder."""
    opts = ctx.options
    per_shot = RUN_ATTEMPTS_PER_SHOT + opts.best_of - 1
    return opts.max_run_attempts or per_shot * shots + opts.max_attempts


def _limits(
    ctx: RunContext, attempts: int, spent: float, shots: int, next_cost: float
) -> ladder.Limits:
    """What the ladder may still spend; ``next_cost`` is one more attempt like the last."""
    opts = ctx.options
    return ladder.Limits(
        max_attempts=opts.max_attempts,
        run_attempts_left=_run_cap(ctx, shots) - attempts,
        cost_left=None if opts.budget is None else opts.budget - spent - next_cost,
        automatic=opts.yes,
    )


def animate(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["keyframe", "animate", "assemble"]]:
    """Submit the approved beat's clips and move on; clips render while the next beat's
    keyframes are made. A clip over the video backend's concurrency waits for the oldest."""
    ctx = runtime.context
    plan = plan_of(state)
    beat = plan.shots[state["cursor"]].beat_id
    shots = [as_accepted(state, s) for s in plan.shots if s.beat_id == beat]
    tally = Tally(state)
    pending = list(state.get("pending_clips", []))
    clips, flagged = dict(state["clips"]), list(state["flagged"])
    made = dict(state.get("made", {}))
    for shot in shots:
        if shot.id in clips or any(p["shot_id"] == shot.id for p in pending):
            continue
        ctx.progress.shot(shot.id, "clip")
        number = made.get(f"clip:{shot.id}", 0) + 1
        pending.append(_submit_clip(ctx, state, shot, {}, number, tally))
        while len(pending) > max(ctx.video.max_in_flight, 1):
            _finish_clip(ctx, state, pending.pop(0), clips, flagged, tally, made)
    after = shots[-1].index + 1
    update = {
        "clips": clips,
        "flagged": flagged,
        "made": made,
        "pending_clips": pending,
        "cursor": after,
        **tally.update(),
    }
    if after >= len(plan.shots):
        return Command(goto="assemble", update=update)
    return Command(goto="animate" if state.get("clips_only") else "keyframe", update=update)


class Tally:
    """The run's generations and spend, counted as clips are submitted and retried."""

    def __init__(self, state: FilmState) -> None:
        self.attempts = state.get("attempts_made", 0)
        self.spent = state.get("spent", 0.0)

    def update(self) -> dict:
        return {"attempts_made": self.attempts, "spent": self.spent}


def _submit_clip(
    ctx: RunContext, state: FilmState, shot: Shot, variant: Variant, number: int, tally: Tally
) -> PendingClip:
    from director.tools.assemble.film import clip_length

    varied = varied_shot(shot, variant)
    request = ClipRequest(
        shot=varied,
        keyframe=str(ctx.paths.root / state["keyframes"][shot.id]),
        seed=policy.clip_seed(ctx.options.seed, shot.index, number),
        duration_s=clip_length(shot),
        fps=ctx.options.fps,
        width=ctx.options.width,
        height=ctx.options.height,
        prompt=f"{varied.prompt.action}; {varied.prompt.camera}",
        hold_bottom_px=state.get("captions", {}).get(shot.id, 0),
        **_clip_references(ctx, shot, variant),
    )
    estimate = ctx.video.estimate(request)
    if number == 1:
        _afford(ctx, tally.spent, estimate, f"shot {shot.id}'s clip")
    submitted = time.time()
    job, failure = _submit(ctx, ctx.video, request, "clip")
    tally.attempts += 1
    return {
        "shot_id": shot.id,
        "job": job.model_dump(mode="json"),
        "submitted": submitted,
        "estimate": estimate or 0.0,
        "attempt": number,
        **({"error": failure} if failure else {}),
    }


def _finish_clip(
    ctx: RunContext,
    state: FilmState,
    pending: PendingClip,
    clips: dict[str, str],
    flagged: list[str],
    tally: Tally,
    made: dict[str, int],
) -> None:
    """Collect a clip and gate it; a failure climbs the ladder here, retrying in place, so the
    next shot's continuity check always sees this shot's final clip."""
    plan = plan_of(state)
    shot = as_accepted(state, plan.shot(pending["shot_id"]))
    before = made.get(f"clip:{shot.id}", 0)
    candidates: list[Candidate] = []
    rung, variant = -1, {}
    while True:
        inherited = state.get("keyframe_failed", {}).get(shot.id, [])
        candidates.append(_gate_clip(ctx, plan, shot, pending, clips, inherited, tally))
        critique = Critique.model_validate(candidates[-1].pop("critique"))
        step = ladder.climb(
            critique,
            candidates,
            shot,
            rung=rung,
            variant=variant,
            backend=_clip_ladder_backend(ctx, shot),
            limits=_limits(
                ctx, tally.attempts, tally.spent, len(plan.shots), pending.get("estimate", 0.0)
            ),
            planner=ctx.planner,
        )
        for decision in step.decisions:
            ctx.log.append(DecisionMade(decision=decision))
        if step.variant is None:
            break
        rung, variant = step.rung, step.variant
        pending = _submit_clip(ctx, state, shot, variant, before + len(candidates) + 1, tally)
    chosen = _chosen(candidates, step, shot.id)
    clips[shot.id] = chosen["artifact"]
    made[f"clip:{shot.id}"] = candidates[-1]["attempt"]
    if step.flagged and shot.id not in flagged:
        flagged.append(shot.id)
    ctx.progress.shot_done()


def _gate_clip(
    ctx: RunContext,
    plan: Plan,
    shot: Shot,
    pending: PendingClip,
    clips: dict[str, str],
    inherited: list[str],
    tally: Tally,
) -> Candidate:
    """Collect one clip attempt, log it, and critique it on its frames."""
    job = Job.model_validate(pending["job"])
    number = pending.get("attempt", 1)
    dest = _fresh(ctx.paths.clip(shot.id, number))
    attempt, failure = ctx.jobs.collected(job, ctx.paths.root), pending.get("error")
    if attempt is None:  # not collected before an interruption
        failure = failure or _collect(ctx.video, job, dest)
        _log_cost(ctx, job, "clip", shot.id)
        seconds = time.time() - pending["submitted"]
        attempt = _attempt(ctx, job, "clip", dest, seconds, number, failure)
        ctx.log.append(AttemptMade(attempt=attempt))
    tally.spent += attempt.cost
    if failure:
        checks = [failed_generation(failure)]
    else:
        previous = _previous_clip(ctx, plan, shot, clips)
        gated = ctx.clip_gate.check_clip(dest, shot, previous, CriticContext(bible=plan.bible))
        checks = [_inherited(c, inherited) for c in gated if c.name not in KEYFRAME_ONLY]
    critique = Critique(shot_id=shot.id, attempt=number, kind="clip", checks=checks)
    ctx.log.append(CritiqueMade(critique=critique, verdict=critique.verdict))
    return {
        "attempt": number,
        "artifact": attempt.artifact,
        "seed": attempt.seed,
        "margin": round(critique.margin(), 6),
        "verdict": critique.verdict,
        "failed": [c.name for c in critique.failed],
        "critique": critique.model_dump(mode="json"),
    }


# Checks the clip gate leaves to the keyframe: a clip animates its keyframe, so a face pasted
# from a reference is caught there, once.
KEYFRAME_ONLY = {"copy_paste"}


def _inherited(check: CheckResult, failed_on_keyframe: list[str]) -> CheckResult:
    """A check the keyframe was accepted failing is not judged again on its clip: no clip
    retry can fix what the picture it animates already gets wrong."""
    if check.passed is not False or check.name not in failed_on_keyframe:
        return check
    return check.model_copy(
        update={
            "passed": None,
            "reason": f"not judged: the keyframe was accepted failing {check.name}; {check.reason}",
        }
    )


def _previous_clip(ctx: RunContext, plan: Plan, shot: Shot, clips: dict[str, str]) -> Path | None:
    if shot.index == 0:
        return None
    rel = clips.get(plan.shots[shot.index - 1].id)
    return ctx.paths.root / rel if rel else None


def assemble(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["document"]]:
    from director.tools.assemble.film import assemble as assemble_film
    from director.tools.image.contact_sheet import contact_sheet

    ctx = runtime.context
    plan = plan_of(state)
    done = dict(state["clips"])
    flagged = list(state["flagged"])
    tally = Tally(state)
    made = dict(state.get("made", {}))
    for pending in state.get("pending_clips", []):
        _finish_clip(ctx, state, pending, done, flagged, tally, made)
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
    update = {
        "film": ctx.paths.rel(result.film),
        "clips": done,
        "flagged": flagged,
        "pending_clips": [],
        "made": made,
        **tally.update(),
    }
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


def _attempt(
    ctx: RunContext,
    job: Job,
    kind: str,
    dest: Path,
    seconds: float,
    number: int = 1,
    failure: dict | None = None,
) -> Attempt:
    """The logged record of a finished job; shot, seed and prompt come from its request. A
    failed generation has no artifact: its params say why."""
    request = job.request
    params = {**job.params, "failed": failure["reason"]} if failure else job.params
    return Attempt(
        shot_id=request["shot"]["id"],
        kind=kind,
        number=number,
        backend=job.backend,
        model=job.model,
        params=params,
        seed=request["seed"],
        prompt=request.get("prompt", ""),
        negative_prompt=request.get("negative_prompt", ""),
        artifact="" if failure else ctx.paths.rel(dest),
        sha256="" if failure else sha256_file(dest),
        seconds=round(seconds, 3),
        cost=job.cost,
        job_id=job.id,
    )


def _planner_name(ctx: RunContext) -> str:
    return f"{ctx.planner.name}:{ctx.planner.model}" if ctx.planner.model else ctx.planner.name


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
