"""Typed records shared by the planner, the graph, the tools, the log and the replay.

Every record serialises to JSON with ``model_dump(mode="json")``; files that hold records
(plan.json, events.jsonl) carry ``SCHEMA_VERSION`` so a later reader can tell what it reads.

The records live by what they describe: ``plan`` (the story, beats, shots, style bible and
cards), ``judging`` (attempts, critiques, decisions), ``events`` (the run log and its ``Event``
union), on ``base`` (the ``Record`` every one of them is) and ``cleaning`` (text cleaning and
URL redaction). Import them from here: ``from director.records import Shot``.
"""

from __future__ import annotations

from director.records.base import (
    SCHEMA_VERSION,
    Record,
)
from director.records.cleaning import (
    REDACTED,
    clean_text,
    clean_value,
    has_redacted_url,
    redact_urls,
)
from director.records.events import (
    Approval,
    ApprovalPending,
    AssemblyStep,
    AttemptMade,
    BeatSheetPlanned,
    BiblePlanned,
    CostIncurred,
    CritiqueMade,
    DecisionMade,
    ErrorRaised,
    Event,
    JobSubmitted,
    LLMCallMade,
    PlannerNotice,
    RunFinished,
    RunResumed,
    RunStarted,
    ShotListPlanned,
    ShotsReplanned,
    StageFinished,
    StageStarted,
    StoryDeveloped,
    StyleLoraChosen,
)
from director.records.judging import (
    Attempt,
    CheckResult,
    Critique,
    Decision,
    Rung,
    Verdict,
    shortfall,
)
from director.records.plan import (
    Angle,
    Beat,
    BeatSheet,
    CameraMove,
    Cards,
    Character,
    Language,
    Line,
    Plan,
    Shot,
    ShotPrompt,
    ShotRole,
    ShotSize,
    Story,
    StyleBible,
    Transition,
)

__all__ = [
    "Angle",
    "Approval",
    "ApprovalPending",
    "AssemblyStep",
    "Attempt",
    "AttemptMade",
    "Beat",
    "BeatSheet",
    "BeatSheetPlanned",
    "BiblePlanned",
    "CameraMove",
    "Cards",
    "Character",
    "CheckResult",
    "CostIncurred",
    "Critique",
    "CritiqueMade",
    "Decision",
    "DecisionMade",
    "ErrorRaised",
    "Event",
    "JobSubmitted",
    "LLMCallMade",
    "Language",
    "Line",
    "Plan",
    "REDACTED",
    "PlannerNotice",
    "Record",
    "RunFinished",
    "RunResumed",
    "RunStarted",
    "Rung",
    "SCHEMA_VERSION",
    "Shot",
    "ShotListPlanned",
    "ShotsReplanned",
    "ShotPrompt",
    "ShotRole",
    "ShotSize",
    "StageFinished",
    "StageStarted",
    "Story",
    "StoryDeveloped",
    "StyleLoraChosen",
    "StyleBible",
    "Transition",
    "Verdict",
    "clean_text",
    "clean_value",
    "has_redacted_url",
    "redact_urls",
    "shortfall",
]
