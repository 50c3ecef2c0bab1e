"""Keyframes: each shot's rounds of candidates, made, judged by the gate, and decided on by the
ladder, until one is accepted; then the beat's next shot, or its approval."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent import ladder, lora, policy
from director.agent.anchors import style_anchors
from director.agent.context import RunContext
from director.agent.jobs import Jobs, committed, queued_job, total
from director.agent.shots import (
    chosen,
    failed_generation,
    ladder_backend,
    last_attempt,
    limits,
    run_cap,
    varied_shot,
)
from director.agent.state import Candidate, FilmState, Variant, plan_of
from director.errors import InputError
from director.memory.runs import sha256_file
from director.records import (
    Attempt,
    AttemptMade,
    CheckResult,
    Critique,
    CritiqueMade,
    Decision,
    DecisionMade,
    Plan,
    Shot,
)
from director.tools.base import CriticContext, ImageRequest, Job


def keyframe(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["critique"]]:
    """Make the shot's next round of keyframe candidates: one attempt, or --best-of K made
    together (one batch on a local pipeline), each logged and counted as an attempt."""
    ctx = runtime.context
    plan = plan_of(state)
    run_left = run_cap(ctx, len(plan.shots)) - state.get("attempts_made", 0)
    variant = state.get("variant") or {}
    shot = varied_shot(plan.shots[state["cursor"]], variant)
    earlier = last_attempt(state, "keyframe", shot.id)
    numbers = _round(ctx, len(state["candidates"]), run_left, earlier)
    if state["cursor"] == 0 and not state["candidates"]:  # the keyframes begin
        lora.log_choice(ctx, plan)
    ctx.progress.shot(shot.id, f"keyframe {_label(numbers)}")
    requests = [keyframe_request(ctx, plan, shot, n, variant) for n in numbers]
    estimates = [ctx.image.estimate(r) for r in requests]
    started = time.time()
    jobs = Jobs(ctx)
    prefetched = dict(state.get("prefetched", {}))
    queued = prefetched.pop(shot.id, None) if numbers[0] == 1 else None
    if queued is None:
        what = f"shot {shot.id}'s keyframe {_label(numbers)}"
        jobs.afford(committed(state, prefetched), total(estimates), what)
        submitted = jobs.submit_round(ctx.image, requests, "keyframe")
    else:
        submitted = [queued_job(q) for q in queued]
    if numbers[0] == 1:
        prefetched = _prefetch(ctx, state, plan, prefetched)
    drawn = {k: variant[k] for k in ("slots", "size") if variant.get(k)}
    fresh = [
        _candidate(jobs, shot, number, job, failure, estimate, started, drawn)
        for number, (job, failure), estimate in zip(numbers, submitted, estimates, strict=True)
    ]
    update = {
        "candidates": [*state["candidates"], *fresh],
        "attempts_made": state.get("attempts_made", 0) + len(fresh),
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


def _label(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"


def _candidate(
    jobs: Jobs,
    shot: Shot,
    number: int,
    job: Job,
    failure: dict | None,
    estimate: float | None,
    started: float,
    drawn: Variant,
) -> Candidate:
    """Collect one keyframe attempt into the run folder as a candidate for the gate;
    ``drawn`` is what the ladder changed from the plan for it."""
    dest = jobs.ctx.paths.keyframe(shot.id, number)
    attempt, failure = jobs.collect(jobs.ctx.image, job, dest, number, started, "keyframe", failure)
    picture = jobs.ctx.image.held(job)
    if picture is not None and attempt.artifact:
        jobs.ctx.held[attempt.artifact] = picture
    candidate: Candidate = {
        "attempt": number,
        "artifact": attempt.artifact,
        "seed": attempt.seed,
        "caption_px": int(job.params.get("caption_px", 0)),
        "estimate": estimate or 0.0,
    }
    if failure:
        candidate["error"] = failure
    if drawn:
        candidate["variant"] = drawn
    return candidate


def keyframe_request(
    ctx: RunContext, plan: Plan, shot: Shot, number: int, variant: Variant
) -> ImageRequest:
    return ImageRequest(
        shot=shot,
        bible=lora.bible_for(ctx, plan),
        seed=policy.shot_seed(ctx.options.seed, shot.index, number),
        width=ctx.options.width,
        height=ctx.options.height,
        prompt=lora.prompt_for(ctx, plan, shot),
        negative_prompt=shot.prompt.render_negative(),
        **ladder_request(ctx, variant),
    )


def _prefetch(ctx: RunContext, state: FilmState, plan: Plan, prefetched: dict) -> dict:
    """Submit the first keyframe of the next shots, up to the image backend's concurrency, so
    a hosted service works on several shots while this one is collected and judged. A first
    attempt never depends on another shot, so the film and its log come out the same."""
    numbers = _round(ctx, 0)
    jobs = Jobs(ctx)
    room = max(ctx.image.max_in_flight // len(numbers), 1) - 1 - len(prefetched)
    beat = plan.shots[state["cursor"]].beat_id
    upcoming = [
        s
        for s in plan.shots[state["cursor"] + 1 :]
        if s.id not in prefetched
        and s.id not in state["keyframes"]
        and not last_attempt(state, "keyframe", s.id)
        and (ctx.options.yes or s.beat_id == beat)  # nothing paid past a pending approval
    ]
    for shot in upcoming[: max(room, 0)]:
        requests = [keyframe_request(ctx, plan, shot, n, {}) for n in numbers]
        estimates = [ctx.image.estimate(r) for r in requests]
        price = total(estimates)
        unpriced = price is None and ctx.options.budget is not None
        if unpriced or not jobs.affordable(committed(state, prefetched) + (price or 0.0)):
            break  # submitted later, in order, where the budget check stops the run
        submitted = jobs.submit_round(ctx.image, requests, "keyframe")
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


def ladder_request(ctx: RunContext, variant: Variant) -> dict:
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
    planned = plan.shots[state["cursor"]]
    shot = varied_shot(planned, state.get("variant") or {})
    context = CriticContext(
        bible=plan.bible,
        # The planned shot's light: a repair that rewrites the environment keeps its anchors.
        style_anchors=style_anchors(state, plan, planned, ctx.paths.root, ctx.options.style_refs),
        accepted={sid: str(ctx.paths.root / rel) for sid, rel in state["keyframes"].items()},
    )
    fresh = [c for c in state["candidates"] if "verdict" not in c]
    results = {r.attempt: r for r in _judge(ctx, shot, context, fresh)}
    candidates = [
        c if "verdict" in c else {**c, **_scored(results[c["attempt"]])}
        for c in state["candidates"]
    ]
    best = min(results.values(), key=lambda r: (RANK[r.verdict], r.margin()))  # shortfall
    update = {"candidates": candidates, "critique": best.model_dump(mode="json")}
    return Command(goto="decide", update=update)


# How a round's candidates rank for the ladder: a pass, then one nothing could judge, then a fail.
RANK = {"pass": 0, "not judged": 1, "fail": 2}


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
    drawn = [c for c in candidates if not c.get("error")]
    images = [_picture(ctx, c["artifact"]) for c in drawn]
    checks: dict[int, list[CheckResult]] = {c["attempt"]: [] for c in drawn}
    for critic in ctx.critics:
        scored = critic.check_batch(images, [shot] * len(images), context)
        for candidate, found in zip(drawn, scored, strict=True):
            checks[candidate["attempt"]].extend(found)
    results = []
    for candidate in candidates:
        found = checks.get(candidate["attempt"]) or [failed_generation(candidate["error"])]
        result = Critique(shot_id=shot.id, attempt=candidate["attempt"], checks=found)
        ctx.log.append(CritiqueMade(critique=result, verdict=result.verdict))
        results.append(result)
    return results


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
        backend=ladder_backend(ctx, shot, "keyframe"),
        limits=limits(
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
    pick = chosen(candidates, step, shot.id)
    flagged = [s for s in state["flagged"] if s != shot.id]
    update = {
        "spent": spent,
        "keyframes": {**state["keyframes"], shot.id: pick["artifact"]},
        "captions": {**state.get("captions", {}), shot.id: pick.get("caption_px", 0)},
        "made": {**state.get("made", {}), f"keyframe:{shot.id}": candidates[-1]["attempt"]},
        "accepted": {**state.get("accepted", {}), shot.id: pick.get("variant", {})},
        "flagged": [*flagged, shot.id] if step.flagged else flagged,
        "by_hand": [s for s in state.get("by_hand", []) if s != shot.id],
        "candidates": [],
        "rung": -1,
        "variant": {},
    }
    if step.flagged:
        failed = {**state.get("keyframe_failed", {}), shot.id: pick.get("failed", [])}
        update["keyframe_failed"] = failed
    elif not state.get("anchors"):
        update["anchors"] = [pick["artifact"]]  # the film's look, for the style check
    return next_in_beat(plan, {**state, **update}, shot.beat_id, update)


def next_in_beat(plan: Plan, state: FilmState, beat_id: str, update: dict) -> Command:
    """The beat's next shot with no accepted keyframe, or the beat's approval when none is left."""
    for shot in plan.shots:
        if shot.beat_id == beat_id and shot.id not in state["keyframes"]:
            goto = "revise" if shot.id in state.get("notes", {}) else "keyframe"
            return Command(goto=goto, update={**update, "cursor": shot.index})
    return Command(goto="approve_shots", update=update)


def human_keyframe(ctx: RunContext, state: FilmState, shot: Shot, staged: str, source: str) -> dict:
    """The creator's own frame for ``shot`` (staged in the run folder by the approval) made a
    new attempt of it, never over an earlier one: fitted to the film's frame, logged as made
    by a human, judged by the gate like any attempt, and chosen, since a human chose it; below
    threshold it is flagged. Returns the state update."""
    number = last_attempt(state, "keyframe", shot.id) + 1
    while ctx.paths.keyframe(shot.id, number).exists():
        number += 1
    dest = ctx.paths.keyframe(shot.id, number)
    params = _fitted(ctx, ctx.paths.root / staged, dest)
    attempt = Attempt(
        shot_id=shot.id,
        kind="keyframe",
        number=number,
        backend="human",
        model="",
        params={"source": source, **params},
        seed=0,
        prompt="",
        artifact=ctx.paths.rel(dest),
        sha256=sha256_file(dest),
        seconds=0.0,
        made_by="human",
    )
    ctx.log.append(AttemptMade(attempt=attempt))
    plan = plan_of(state)
    context = CriticContext(
        bible=plan.bible,
        style_anchors=style_anchors(state, plan, shot, ctx.paths.root, ctx.options.style_refs),
        accepted={
            sid: str(ctx.paths.root / rel)
            for sid, rel in state["keyframes"].items()
            if sid != shot.id
        },
    )
    candidate: Candidate = {"attempt": number, "artifact": attempt.artifact, "seed": 0}
    (critique,) = _judge(ctx, shot, context, [candidate])
    return _chosen_by_hand(ctx, state, shot, critique, attempt.artifact)


def _chosen_by_hand(
    ctx: RunContext, state: FilmState, shot: Shot, critique: Critique, artifact: str
) -> dict:
    below = critique.verdict == "fail"
    failed = [c.name for c in critique.failed]
    reason = "the creator's own frame, chosen by the human" + (
        f" over the gate (fails {', '.join(failed)})" if below else f" (gate: {critique.verdict})"
    )
    action = "accept-below-threshold" if below else "accept"
    ctx.log.append(
        DecisionMade(
            decision=Decision(
                shot_id=shot.id, action=action, by="human", reason=reason, attempt=critique.attempt
            )
        )
    )
    flagged = [s for s in state["flagged"] if s != shot.id]
    failures = {k: v for k, v in state.get("keyframe_failed", {}).items() if k != shot.id}
    return {
        "keyframes": {**state["keyframes"], shot.id: artifact},
        "captions": {**state.get("captions", {}), shot.id: 0},
        "made": {**state.get("made", {}), f"keyframe:{shot.id}": critique.attempt},
        "accepted": {**state.get("accepted", {}), shot.id: {}},
        "flagged": [*flagged, shot.id] if below else flagged,
        "keyframe_failed": {**failures, shot.id: failed} if below else failures,
        "by_hand": sorted({*state.get("by_hand", []), shot.id}),
        "candidates": [],
        "rung": -1,
        "variant": {},
    }


def _fitted(ctx: RunContext, source: Path, dest: Path) -> dict:
    """The frame at the film's size, as a PNG: scaled to cover it and centred (a frame of
    another shape loses its edges, never gets bars); what was done, for the log."""
    from PIL import Image, ImageOps

    from director.tools.critics.imaging import open_rgb

    image = open_rgb(source) if source.is_file() else None
    if image is None:
        raise InputError(
            f"The frame given for the shot ({source}) is gone from the run folder or unreadable.",
            "Give it again with director approve RUN --replace SHOT=IMAGE, then resume.",
        )
    size = (ctx.options.width, ctx.options.height)
    given = f"{image.width}x{image.height}"
    if image.size != size:
        image = ImageOps.fit(image, size, Image.Resampling.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    image.save(dest, format="PNG")
    return (
        {"size": given, "fitted_to": f"{size[0]}x{size[1]}"}
        if given != "x".join(map(str, size))
        else {"size": given}
    )


def _picture(ctx: RunContext, artifact: str):
    """A keyframe as the backend handed it over, else read from the run folder as every
    picture a critic sees is read (upright, 8-bit RGB)."""
    from director.tools.critics.imaging import as_rgb

    held = ctx.held.pop(artifact, None)
    return held if held is not None else as_rgb(ctx.paths.root / artifact)
