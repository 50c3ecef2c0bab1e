"""Attempts, critiques and decisions: what a generator made for a shot, what the checks found,
and what the policy, the ladder or a human decided about it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from director.records.base import Record

# "not judged": no check could run on the attempt (no weights, nothing to compare with), which
# says nothing of its quality either way; it is never counted as a pass.
Verdict = Literal["pass", "fail", "not judged"]


class Attempt(Record):
    shot_id: str
    kind: Literal["keyframe", "clip"]
    number: int = Field(description="1-based attempt number for this shot and kind")
    backend: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int
    prompt: str = Field(description="the prompt as sent")
    negative_prompt: str = ""
    artifact: str = Field(description="path relative to the run folder")
    sha256: str
    seconds: float
    cost: float = 0.0
    job_id: str = Field(default="", description="the generator's job or task id")
    made_by: Literal["generator", "human"] = Field(
        default="generator",
        description="human: the creator's own frame (director approve --replace), not generated",
    )


class CheckResult(Record):
    name: str
    score: float | None
    threshold: float | None
    passed: bool | None = Field(description="None when the check did not run")
    reason: str
    higher_is_better: bool = True
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="measurements behind the score that the ladder reads (per-slot scores, "
        "face size), JSON values only",
    )

    @classmethod
    def not_run(cls, name: str, reason: str, **details: Any) -> CheckResult:
        """A check that could not run, with the reason (no weights, nothing to compare with):
        neither a pass nor a failure."""
        return cls(
            name=name, score=None, threshold=None, passed=None, reason=reason, details=details
        )

    @classmethod
    def measured(
        cls,
        name: str,
        score: float,
        threshold: float,
        reason: str,
        *,
        higher_is_better: bool = True,
        digits: int = 4,
        details: dict[str, Any] | None = None,
    ) -> CheckResult:
        """A check that ran: passes when the score is on the right side of the threshold."""
        passed = score >= threshold if higher_is_better else score <= threshold
        return cls(
            name=name,
            score=round(float(score), digits),
            threshold=threshold,
            passed=bool(passed),
            reason=reason,
            higher_is_better=higher_is_better,
            details=details or {},
        )


class Critique(Record):
    shot_id: str
    attempt: int
    kind: Literal["keyframe", "clip"] = "keyframe"
    checks: list[CheckResult]

    @property
    def verdict(self) -> Verdict:
        """Fail when any check failed; pass when none failed and at least one ran; not judged
        when no check ran."""
        if any(c.passed is False for c in self.checks):
            return "fail"
        return "pass" if any(c.passed for c in self.checks) else "not judged"

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.passed is False]

    def margin(self) -> float:
        """How close to passing: the sum of normalised shortfalls (0 when passing; larger is worse)."""
        return sum(shortfall(c) for c in self.failed)


# The escalation ladder, climbed in this order when an attempt fails the gate.
Rung = Literal["reseed", "repair", "references", "edit", "reframe", "human"]


class Decision(Record):
    shot_id: str | None = None
    action: Literal["accept", "reroll", "skip", "accept-below-threshold", "approve", "reject"]
    by: Literal["policy", "auto", "human", "llm"]
    reason: str
    attempt: int | None = None
    kind: Literal["keyframe", "clip"] = "keyframe"
    rung: Rung | None = Field(default=None, description="the ladder's rung this decision climbs")
    changes: dict[str, Any] = Field(
        default_factory=dict, description="what the next attempt changes: seed, slot text, size"
    )


def shortfall(check: CheckResult) -> float:
    if check.score is None or check.threshold is None:
        return 1.0
    scale = max(abs(check.threshold), 1e-6)
    gap = check.threshold - check.score if check.higher_is_better else check.score - check.threshold
    return max(gap, 0.0) / scale
