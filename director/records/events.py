"""The events of a run's log (events.jsonl), one record per decision, and the ``Event`` union
that reads any of them back by its ``type``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from director.records.base import SCHEMA_VERSION, Record
from director.records.judging import Attempt, Critique, Decision, Verdict
from director.records.plan import BeatSheet, Cards, Shot, Story, StyleBible


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
    decision: Literal["approve", "edit", "reroll", "reject", "regenerate", "abort", "replace"]
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


class ShotsReplanned(_Event):
    """A beat's shots planned again after a human edited the beat: they replace its shots."""

    type: Literal["shots_replanned"] = "shots_replanned"
    backend: str
    beat_id: str
    shots: list[Shot]
    reason: str = ""


class PlannerNotice(_Event):
    """What the planner could not do with a human's words (a note it cannot read), what it did
    instead, and what the human can do about it; shown at the checkpoint and in the document."""

    type: Literal["planner_notice"] = "planner_notice"
    checkpoint: str
    beat_id: str | None = None
    shot_id: str | None = None
    note: str = ""
    said: str


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
    kind: Literal["keyframe", "clip", "plan", "voice"]
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


class VoiceLineSpoken(_Event):
    """One line of narration or dialogue spoken and placed at its shot's start in the film."""

    type: Literal["voice_line"] = "voice_line"
    shot_id: str
    kind: Literal["narration", "dialogue"]
    speaker: str | None = None
    text: str
    backend: str
    model: str
    voice: str
    voice_from: Literal["cast", "narrator", "automatic"] = Field(
        default="automatic",
        description="whose choice the voice is: the speaker's in the cast, the run's "
        "--narrator-voice, or the backend's automatic one",
    )
    reused: bool = Field(
        default=False, description="spoken by an earlier assembly of the run: not paid again"
    )
    scratch: bool = Field(default=False, description="a scratch track for timing, like previz")
    path: str = Field(description="the line's WAV, relative to the run folder")
    start_s: float = Field(description="where the line starts on the film's timeline")
    duration_s: float
    shot_s: float = Field(description="the shot's time on screen")
    fits: bool = Field(description="the line ends within its shot; False flags it for the human")
    cost: float | None = Field(default=None, description="USD; None when the model has no price")
    seconds: float = 0.0
    task_id: str = Field(default="", description="the hosted call's task or request id")


class VoiceTaskStarted(_Event):
    """A hosted voice call's task or request id, logged before the run waits on its audio."""

    type: Literal["voice_task"] = "voice_task"
    shot_id: str
    backend: str
    model: str
    voice: str
    task_id: str


class VoiceLineFailed(_Event):
    """A line that was not spoken: the service refused it (its content check, a failed task)
    or the budget could not pay for it. The film is assembled without it."""

    type: Literal["voice_failed"] = "voice_failed"
    shot_id: str
    text: str
    backend: str
    model: str
    voice: str
    reason: str
    code: str = Field(default="", description="the service's error code, or Budget")
    task_id: str = ""


class LineFitted(_Event):
    """A spoken line checked against its shot at planning, when it did not fit as planned:
    the shot lengthened within its beat (time taken from the beat's other shots), or the line
    flagged for the human when the beat has no time to give."""

    type: Literal["line_fit"] = "line_fit"
    shot_id: str
    beat_id: str
    text: str
    needed_s: float = Field(description="the line's estimated time spoken, with a breath after")
    planned_s: float = Field(description="the shot's length as planned")
    shot_s: float = Field(description="the shot's length now")
    taken: dict[str, float] = Field(
        default_factory=dict, description="seconds taken from the beat's other shots, by shot id"
    )
    fits: bool = Field(description="False: the line runs past its shot, flagged for the human")
    said: str = Field(description="what was done, or what the human can do, in a sentence")


class LoudnessMeasured(_Event):
    """The film's sound measured with EBU R128 before and after normalising to the target."""

    type: Literal["loudness"] = "loudness"
    target_i: float = Field(description="integrated loudness target, LUFS")
    target_tp: float = Field(description="true peak ceiling, dBTP")
    input_i: float
    input_tp: float
    input_lra: float
    output_i: float
    output_tp: float


class StyleLoraChosen(_Event):
    """The style LoRA the keyframes are made with: which one, whose choice it is, and what its
    file says (a LoRA named on a ComfyUI server has its name only)."""

    type: Literal["style_lora"] = "style_lora"
    lora: str = Field(description="PATH:STRENGTH, or NAME:STRENGTH on a ComfyUI server")
    source: Literal["--lora", "style bible"]
    strength: float
    replaced: str = Field(default="", description="the style bible's LoRA that --lora replaced")
    file: str = ""
    sha256: str = ""
    base: str = Field(default="", description="the base model the file's metadata names")
    rank: int | None = None
    trigger: str = Field(default="", description="the trigger word put at the head of every prompt")
    style_anchors: int = Field(
        default=0, description="the LoRA's training images the style critic compares with"
    )


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
    | ShotsReplanned
    | PlannerNotice
    | ApprovalPending
    | RunResumed
    | JobSubmitted
    | CostIncurred
    | LLMCallMade
    | AttemptMade
    | CritiqueMade
    | DecisionMade
    | AssemblyStep
    | VoiceLineSpoken
    | LineFitted
    | VoiceTaskStarted
    | VoiceLineFailed
    | LoudnessMeasured
    | StyleLoraChosen
    | ErrorRaised
    | RunFinished,
    Field(discriminator="type"),
]
