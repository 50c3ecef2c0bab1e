"""Typed records shared by the planner, the graph, the tools, the log and the replay.

Every record serialises to JSON with ``model_dump(mode="json")``; files that hold records
(plan.json, events.jsonl) carry ``SCHEMA_VERSION`` so a later reader can tell what it reads.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

Language = Literal["en", "zh"]
ShotSize = Literal[
    "extreme-wide", "wide", "full", "medium", "medium-close-up", "close-up", "insert"
]
ShotRole = Literal["establishing", "wide", "medium", "close-up", "insert", "reaction"]
Angle = Literal["eye-level", "low-angle", "high-angle", "over-the-shoulder", "birds-eye", "dutch"]
CameraMove = Literal[
    "static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down", "tracking"
]
Transition = Literal["cut", "crossfade", "fade-black"]
# "not judged": no check could run on the attempt (no weights, nothing to compare with), which
# says nothing of its quality either way; it is never counted as a pass.
Verdict = Literal["pass", "fail", "not judged"]


# Control characters text never needs (all of C0 but tab and newline, DEL, C1): a NUL breaks
# file names and ffmpeg's arguments, an escape sequence rewrites the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` without control characters (a carriage return becomes a newline) and with any
    lone surrogate (undecodable bytes from a shell) replaced by U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


# user:password@ in any URL (a proxy or a server of the user's own that takes basic auth).
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:'\"]+(?::[^/@\s'\"]*)?@")
REDACTED = "***"


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``: for whatever is
    printed, logged, written to run.json or checkpointed."""
    return _URL_CREDENTIALS.sub(rf"\g<1>{REDACTED}@", text)


def has_redacted_url(text: str) -> bool:
    return f"://{REDACTED}@" in text


def clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {k: clean_value(v) for k, v in value.items()}
    return value


class Record(BaseModel):
    """A typed record. Text is cleaned where it enters (an LLM's answer, a script, a log read
    back): whatever a record holds is safe to print, to put in a file name or to hand ffmpeg."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        return clean_value(value) if isinstance(value, dict) else value


# --- the story and its plan -------------------------------------------------------------


class Character(Record):
    name: str
    description: str = Field(description="identity block: age, build, face, hair, costume, item")
    references: list[str] = Field(default_factory=list, description="reference image paths")
    embeddings: dict[str, list[list[float]]] = Field(
        default_factory=dict, description="identity embeddings per face backend"
    )


class Story(Record):
    logline: str
    language: Language
    title: str
    protagonists: list[Character]
    world: str = Field(description="where and when the film happens")
    want: str
    obstacle: str
    theme: str
    tone: str
    locations: list[str] = Field(default_factory=list, description="one to three places")


class Beat(Record):
    id: str
    index: int
    name: str = Field(description="the structure's name for this beat, e.g. 'Catalyst' or '起'")
    summary: str = Field(description="what happens, with concrete subjects, actions and places")
    change: str = Field(
        description="what the beat changes: what the protagonist knows, has or wants"
    )
    location: str
    start_s: float
    duration_s: float


class BeatSheet(Record):
    structure: str
    beats: list[Beat]

    @property
    def total_s(self) -> float:
        return sum(b.duration_s for b in self.beats)


class ShotPrompt(Record):
    """The five slots of a shot prompt. The style slot comes from the style bible."""

    subject: str
    action: str
    environment: str
    camera: str
    style: str
    negative: str = ""

    def slots(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "action": self.action,
            "environment": self.environment,
            "camera": self.camera,
            "style": self.style,
        }

    def render(self) -> str:
        """The prompt string sent to a provider: the slots in order, joined as one sentence."""
        sep = "，" if _is_cjk(self.subject + self.action) else ", "
        parts = [p.strip().rstrip(".,，。") for p in self.slots().values() if p.strip()]
        return sep.join(parts)

    def render_negative(self) -> str:
        return self.negative.strip()


class Line(Record):
    kind: Literal["narration", "dialogue"]
    speaker: str | None = None
    text: str


class Shot(Record):
    id: str
    beat_id: str
    index: int
    role: ShotRole
    size: ShotSize
    angle: Angle
    move: CameraMove
    duration_s: float = Field(description="time on screen in the finished film")
    prompt: ShotPrompt
    characters: list[str] = Field(default_factory=list, description="names of characters in frame")
    line: Line | None = None
    transition: Transition = Field(default="cut", description="transition into the next shot")
    transition_s: float = 0.0
    continuous: bool = Field(default=False, description="continuous action with the previous shot")
    edited_slots: list[str] = Field(
        default_factory=list, description="prompt slots a human wrote; no later stage rewrites them"
    )


class StyleBible(Record):
    name: str
    suffix: str = Field(description="the fixed style slot, identical in every shot")
    negative: str
    palette: list[str] = Field(description="hex colours, darkest to lightest")
    aspect_ratio: str
    width: int
    height: int
    grain: float = Field(ge=0.0, le=1.0)
    seed_policy: str = "base seed + shot index * 1000 + attempt"
    lora: str | None = None


class Cards(Record):
    title: str
    title_s: float
    end: str
    end_s: float
    label: str = Field(description="the visible AI-generated label")


class Plan(Record):
    schema_version: int = SCHEMA_VERSION
    story: Story
    beat_sheet: BeatSheet
    bible: StyleBible | None = None
    cards: Cards | None = None
    shots: list[Shot] = Field(default_factory=list)

    def shot(self, shot_id: str) -> Shot:
        for s in self.shots:
            if s.id == shot_id:
                return s
        raise KeyError(shot_id)

    @property
    def runtime_s(self) -> float:
        return self.beat_sheet.total_s


# --- attempts, critiques, decisions -------------------------------------------------------


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


# --- events -------------------------------------------------------------------------------


class _Event(Record):
    v: int = SCHEMA_VERSION
    seq: int = 0
    ts: str = ""


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    run_id: str
    logline: str
    options: dict[str, Any]
    versions: dict[str, str]


class StageStarted(_Event):
    type: Literal["stage_started"] = "stage_started"
    stage: str
    detail: str = ""


class StageFinished(_Event):
    type: Literal["stage_finished"] = "stage_finished"
    stage: str
    seconds: float


class StoryDeveloped(_Event):
    type: Literal["story_developed"] = "story_developed"
    backend: str
    story: Story


class BeatSheetPlanned(_Event):
    type: Literal["beat_sheet_planned"] = "beat_sheet_planned"
    backend: str
    beat_sheet: BeatSheet


class BiblePlanned(_Event):
    type: Literal["bible_planned"] = "bible_planned"
    backend: str
    bible: StyleBible
    cards: Cards


class ShotListPlanned(_Event):
    type: Literal["shot_list_planned"] = "shot_list_planned"
    backend: str
    shots: list[Shot]


class Approval(_Event):
    type: Literal["approval"] = "approval"
    checkpoint: str
    by: Literal["auto", "human"]
    decision: Literal["approve", "edit", "reroll", "reject", "regenerate", "abort"]
    note: str = ""
    who: str = ""
    beat_id: str | None = None
    shot_id: str | None = None
    changes: dict[str, Any] = Field(
        default_factory=dict, description="what the human changed: field or slot -> new text"
    )
    decided_at: str = Field(
        default="",
        description="when the human decided (ISO 8601); with `director approve` it is earlier "
        "than ts, the time the resumed run took the answer",
    )


class ApprovalPending(_Event):
    """The run stopped at a checkpoint and waits for a human's decision."""

    type: Literal["approval_pending"] = "approval_pending"
    checkpoint: str
    beat_id: str | None = None
    contact_sheet: str = ""


class RunResumed(_Event):
    type: Literal["run_resumed"] = "run_resumed"
    from_stage: str | None = None
    changed: dict[str, Any] = Field(
        default_factory=dict, description="options changed for the redo: name -> [old, new]"
    )
    waiting: str = Field(default="", description="the checkpoint the run was waiting at, if any")
    log_repaired: bool = False


class JobSubmitted(_Event):
    """A generation job was submitted; logged before anything waits on it."""

    type: Literal["job_submitted"] = "job_submitted"
    shot_id: str
    kind: Literal["keyframe", "clip"]
    job_id: str
    backend: str
    model: str
    job: dict[str, Any] = Field(
        default_factory=dict, description="the whole job, so a resumed run collects it"
    )
    request_key: str = Field(default="", description="hash of the request, to find the job by")


class CostIncurred(_Event):
    """What one paid call cost (or, before the call, was estimated to cost)."""

    type: Literal["cost"] = "cost"
    shot_id: str | None = None
    kind: Literal["keyframe", "clip", "plan"]
    backend: str
    model: str
    amount: float | None = Field(description="USD; None when the model has no price")
    detail: str = Field(default="", description="what was billed: images, seconds, tokens")
    job_id: str = Field(default="", description="the paid job; a cost is counted once per job")


class LLMCallMade(_Event):
    """One call to a language model: which stage, how many tokens, how long, what it cost."""

    type: Literal["llm_call"] = "llm_call"
    stage: str
    backend: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float
    cost: float | None = None
    retried: bool = Field(default=False, description="answered after a validation retry")


class AttemptMade(_Event):
    type: Literal["attempt"] = "attempt"
    attempt: Attempt


class CritiqueMade(_Event):
    type: Literal["critique"] = "critique"
    critique: Critique
    verdict: Verdict


class DecisionMade(_Event):
    type: Literal["decision"] = "decision"
    decision: Decision


class AssemblyStep(_Event):
    type: Literal["assembly"] = "assembly"
    step: str
    command: list[str]
    output: str
    seconds: float


class ErrorRaised(_Event):
    type: Literal["error"] = "error"
    stage: str
    message: str
    error_type: str = ""


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    status: Literal["completed", "failed", "aborted"]
    seconds: float
    outputs: dict[str, str] = Field(default_factory=dict)


Event = Annotated[
    RunStarted
    | StageStarted
    | StageFinished
    | StoryDeveloped
    | BeatSheetPlanned
    | BiblePlanned
    | ShotListPlanned
    | Approval
    | ApprovalPending
    | RunResumed
    | JobSubmitted
    | CostIncurred
    | LLMCallMade
    | AttemptMade
    | CritiqueMade
    | DecisionMade
    | AssemblyStep
    | ErrorRaised
    | RunFinished,
    Field(discriminator="type"),
]


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def shortfall(check: CheckResult) -> float:
    if check.score is None or check.threshold is None:
        return 1.0
    scale = max(abs(check.threshold), 1e-6)
    gap = check.threshold - check.score if check.higher_is_better else check.score - check.threshold
    return max(gap, 0.0) / scale
