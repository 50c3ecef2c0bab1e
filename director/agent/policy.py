"""The accept / reroll decision for a keyframe, from its critique and the attempts so far."""

from __future__ import annotations

from director.agent.state import Candidate
from director.records import Critique, Decision


def shot_seed(base_seed: int, shot_index: int, attempt: int) -> int:
    """Seed policy: one block of seeds per shot, a new seed per attempt."""
    return (base_seed + shot_index * 1000 + attempt) % 2_147_483_647


def decide(critique: Critique, candidates: list[Candidate], max_attempts: int) -> Decision:
    """Accept a passing attempt; reroll while attempts remain; else take the best one."""
    if critique.verdict == "pass":
        return Decision(
            shot_id=critique.shot_id,
            action="accept",
            by="policy",
            attempt=critique.attempt,
            reason=_passed_reason(critique),
        )
    if len(candidates) < max_attempts:
        return Decision(
            shot_id=critique.shot_id,
            action="reroll",
            by="policy",
            attempt=critique.attempt,
            reason=_reroll_reason(critique),
        )
    best = best_candidate(candidates)
    return Decision(
        shot_id=critique.shot_id,
        action="accept-below-threshold",
        by="policy",
        attempt=best["attempt"],
        reason=_below_reason(best, max_attempts),
    )


def best_candidate(candidates: list[Candidate]) -> Candidate:
    """The attempt closest to passing (smallest total shortfall); earliest wins ties."""
    return min(candidates, key=lambda c: (c["margin"], c["attempt"]))


def _passed_reason(critique: Critique) -> str:
    ran = [c.name for c in critique.checks if c.passed is not None]
    skipped = [c.name for c in critique.checks if c.passed is None]
    text = f"all {len(ran)} checks passed ({', '.join(ran)})"
    return text + (f"; not run: {', '.join(skipped)}" if skipped else "")


def _reroll_reason(critique: Critique) -> str:
    failed = "; ".join(f"{c.name}: {c.reason}" for c in critique.failed)
    return f"failed {failed}; reroll with a new seed"


def _below_reason(best: Candidate, max_attempts: int) -> str:
    return (
        f"no attempt passed in {max_attempts}; using attempt {best['attempt']}, the closest "
        f"(still failing {', '.join(best['failed'])}); flagged below threshold"
    )
