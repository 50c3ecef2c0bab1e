"""What keyframes and clips share: the shot as the ladder varied it, the attempt chosen, the
cast references in frame, and the caps on attempts and spend the ladder climbs within."""

from __future__ import annotations

from director.agent import ladder
from director.agent.context import RunContext
from director.agent.state import Candidate, FilmState, Variant
from director.errors import BackendError
from director.records import CheckResult, Shot

# The run's default cap on generations: a keyframe, a clip and one retry per shot on average,
# plus enough for one shot to climb the whole ladder.
RUN_ATTEMPTS_PER_SHOT = 3


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


def chosen(candidates: list[Candidate], step: ladder.Step, shot_id: str) -> Candidate:
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


def cast_references(ctx: RunContext, shot: Shot) -> list[tuple[str, str]]:
    """(name, photo) of every reference photo of the cast members in the shot's frame."""
    in_frame = set(shot.characters)
    return [(c.name, r) for c in ctx.cast if c.name in in_frame for r in c.references]


def run_cap(ctx: RunContext, shots: int) -> int:
    """--max-run-attempts, or by default enough for every shot's first round, its clip and a
    retry, plus one whole ladder."""
    opts = ctx.options
    per_shot = RUN_ATTEMPTS_PER_SHOT + opts.best_of - 1
    return opts.max_run_attempts or per_shot * shots + opts.max_attempts


def limits(
    ctx: RunContext, attempts: int, spent: float, shots: int, next_cost: float
) -> ladder.Limits:
    """What the ladder may still spend; ``next_cost`` is one more attempt like the last."""
    opts = ctx.options
    return ladder.Limits(
        max_attempts=opts.max_attempts,
        run_attempts_left=run_cap(ctx, shots) - attempts,
        cost_left=None if opts.budget is None else opts.budget - spent - next_cost,
        automatic=opts.yes,
    )


def last_attempt(state: FilmState, kind: str, shot_id: str) -> int:
    """The highest attempt number of a shot's earlier passes at a keyframe or clip."""
    return state.get("made", {}).get(f"{kind}:{shot_id}", 0)


def ladder_backend(ctx: RunContext, shot: Shot, kind: str) -> ladder.Backend:
    """What the ladder may ask of the backend making the shot's keyframe or clip."""
    backend = ctx.image if kind == "keyframe" else ctx.video
    return ladder.Backend(
        name=backend.name,
        kind=kind,
        accepts_references=backend.accepts_references,
        edits=kind == "keyframe" and ctx.image.edits,
        references=tuple(path for _, path in cast_references(ctx, shot)),
    )


def flag_reasons(state: FilmState, flagged: list[str]) -> dict[str, list[str] | str]:
    """Why each flagged shot was accepted below threshold: the checks its keyframe failed, or
    that its clip did; what the contact sheet prints on the shot's tile."""
    failed = state.get("keyframe_failed", {})
    return {sid: failed.get(sid) or "its clip is below threshold" for sid in flagged}
