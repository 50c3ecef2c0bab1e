"""Clips: each approved beat's clips submitted while the next beat's keyframes are made, then
collected, gated on their frames and retried in place by the ladder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent import ladder, policy
from director.agent.context import RunContext
from director.agent.jobs import Jobs
from director.agent.shots import (
    as_accepted,
    cast_references,
    chosen,
    failed_generation,
    ladder_backend,
    limits,
    varied_shot,
)
from director.agent.state import Candidate, FilmState, PendingClip, Variant, plan_of
from director.records import CheckResult, Critique, CritiqueMade, DecisionMade, Plan, Shot
from director.tools.base import ClipRequest, CriticContext, Job

# Checks the clip gate leaves to the keyframe: a clip animates its keyframe, so a face pasted
# from a reference is caught there, once.
KEYFRAME_ONLY = {"copy_paste"}


@dataclass
class ClipWork:
    """The clips' side of the state while a node works on them: what is accepted, flagged and
    still rendering, the attempt numbers so far, and the run's generations and spend."""

    clips: dict[str, str]
    flagged: list[str]
    numbers: dict[str, int]  # the state's "made": "<kind>:<shot>" -> highest attempt number
    pending: list[PendingClip] = field(default_factory=list)
    attempts: int = 0
    spent: float = 0.0

    @classmethod
    def of(cls, state: FilmState) -> ClipWork:
        return cls(
            clips=dict(state["clips"]),
            flagged=list(state["flagged"]),
            numbers=dict(state.get("made", {})),
            pending=list(state.get("pending_clips", [])),
            attempts=state.get("attempts_made", 0),
            spent=state.get("spent", 0.0),
        )

    def update(self) -> dict:
        return {
            "clips": self.clips,
            "flagged": self.flagged,
            "made": self.numbers,
            "pending_clips": self.pending,
            "attempts_made": self.attempts,
            "spent": self.spent,
        }

    def waiting(self, shot_id: str) -> bool:
        return shot_id in self.clips or any(p["shot_id"] == shot_id for p in self.pending)


def animate(
    state: FilmState, runtime: Runtime[RunContext]
) -> Command[Literal["keyframe", "animate", "assemble"]]:
    """Submit the approved beat's clips and move on; clips render while the next beat's
    keyframes are made. A clip over the video backend's concurrency waits for the oldest."""
    ctx = runtime.context
    plan = plan_of(state)
    beat = plan.shots[state["cursor"]].beat_id
    shots = [as_accepted(state, s) for s in plan.shots if s.beat_id == beat]
    work = ClipWork.of(state)
    for shot in shots:
        if work.waiting(shot.id):
            continue
        ctx.progress.shot(shot.id, "clip")
        number = work.numbers.get(f"clip:{shot.id}", 0) + 1
        work.pending.append(_submit_clip(ctx, state, shot, {}, number, work))
        while len(work.pending) > max(ctx.video.max_in_flight, 1):
            finish_clip(ctx, state, work.pending.pop(0), work)
    after = shots[-1].index + 1
    update = {**work.update(), "cursor": after}
    if after >= len(plan.shots):
        return Command(goto="assemble", update=update)
    return Command(goto="animate" if state.get("clips_only") else "keyframe", update=update)


def finish_clips(ctx: RunContext, state: FilmState) -> ClipWork:
    """Every clip still rendering, collected and gated (assembly waits for them all)."""
    work = ClipWork.of(state)
    while work.pending:
        finish_clip(ctx, state, work.pending.pop(0), work)
    return work


def _submit_clip(
    ctx: RunContext, state: FilmState, shot: Shot, variant: Variant, number: int, work: ClipWork
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
    jobs = Jobs(ctx)
    estimate = ctx.video.estimate(request)
    if number == 1:
        jobs.afford(work.spent, estimate, f"shot {shot.id}'s clip")
    submitted = time.time()
    job, failure = jobs.submit(ctx.video, request, "clip")
    work.attempts += 1
    pending: PendingClip = {
        "shot_id": shot.id,
        "job": job.model_dump(mode="json"),
        "submitted": submitted,
        "estimate": estimate or 0.0,
        "attempt": number,
    }
    if failure:
        pending["error"] = failure
    return pending


def finish_clip(ctx: RunContext, state: FilmState, pending: PendingClip, work: ClipWork) -> None:
    """Collect a clip and gate it; a failure climbs the ladder here, retrying in place, so the
    next shot's continuity check always sees this shot's final clip."""
    plan = plan_of(state)
    shot = as_accepted(state, plan.shot(pending["shot_id"]))
    before = work.numbers.get(f"clip:{shot.id}", 0)
    inherited = state.get("keyframe_failed", {}).get(shot.id, [])
    candidates: list[Candidate] = []
    rung, variant = -1, {}
    while True:
        candidates.append(_gate_clip(ctx, plan, shot, pending, inherited, work))
        critique = Critique.model_validate(candidates[-1].pop("critique"))
        step = ladder.climb(
            critique,
            candidates,
            shot,
            rung=rung,
            variant=variant,
            backend=ladder_backend(ctx, shot, "clip"),
            limits=limits(
                ctx, work.attempts, work.spent, len(plan.shots), pending.get("estimate", 0.0)
            ),
            planner=ctx.planner,
        )
        for decision in step.decisions:
            ctx.log.append(DecisionMade(decision=decision))
        if step.variant is None:
            break
        rung, variant = step.rung, step.variant
        pending = _submit_clip(ctx, state, shot, variant, before + len(candidates) + 1, work)
    work.clips[shot.id] = chosen(candidates, step, shot.id)["artifact"]
    work.numbers[f"clip:{shot.id}"] = candidates[-1]["attempt"]
    if step.flagged and shot.id not in work.flagged:
        work.flagged.append(shot.id)
    ctx.progress.shot_done()


def _gate_clip(
    ctx: RunContext,
    plan: Plan,
    shot: Shot,
    pending: PendingClip,
    inherited: list[str],
    work: ClipWork,
) -> Candidate:
    """Collect one clip attempt, log it, and critique it on its frames."""
    job = Job.model_validate(pending["job"])
    number = pending.get("attempt", 1)
    dest = ctx.paths.clip(shot.id, number)
    attempt, failure = Jobs(ctx).collect(
        ctx.video, job, dest, number, pending["submitted"], "clip", pending.get("error")
    )
    work.spent += attempt.cost
    if failure:
        checks = [failed_generation(failure)]
    else:
        previous = _previous_clip(ctx, plan, shot, work.clips)
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


def _clip_references(ctx: RunContext, shot: Shot, variant: Variant) -> dict:
    """The reference photos a clip is conditioned on: the ladder's reference rung on a backend
    that takes them, or every clip with a cast member in frame on a reference-to-video model."""
    if not ctx.video.accepts_references:
        return {}
    found = cast_references(ctx, shot)
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
