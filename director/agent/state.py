"""The graph's state: JSON-shaped values only, so every checkpoint can be stored and resumed."""

from __future__ import annotations

from typing import Any, TypedDict

from director.records import Plan


class Candidate(TypedDict, total=False):
    attempt: int
    artifact: str
    seed: int
    caption_px: int
    estimate: float
    error: dict[str, Any]
    margin: float
    verdict: str
    failed: list[str]
    variant: dict[str, Any]  # the ladder's slots and size it was drawn with


class Variant(TypedDict, total=False):
    """What the ladder changed from the approved plan for the shot's next attempt. The plan
    itself never changes: repairs live on the attempts, and in the log."""

    slots: dict[str, str]
    repaired: str
    size: str
    references: list[str]
    reference_strength: float
    edit_source: str
    edit_region: list[int]


class PendingClip(TypedDict, total=False):
    shot_id: str
    job: dict[str, Any]
    submitted: float
    attempt: int
    estimate: float
    error: dict[str, Any]


class FilmState(TypedDict, total=False):
    plan: dict[str, Any]
    cursor: int
    candidates: list[Candidate]
    rung: int
    variant: Variant
    attempts_made: int
    spent: float
    critique: dict[str, Any]
    keyframes: dict[str, str]
    prefetched: dict[str, list[dict[str, Any]]]  # shot id -> its first round, already submitted
    anchors: list[str]
    captions: dict[str, int]
    clips: dict[str, str]
    pending_clips: list[PendingClip]
    flagged: list[str]
    keyframe_failed: dict[str, list[str]]  # checks a flagged keyframe was accepted failing
    stage_started: float
    film: str
    accepted: dict[str, dict[str, Any]]  # shot id -> the slots and size its keyframe was drawn with
    # Attempt numbers: "keyframe:<shot>" / "clip:<shot>" -> the highest one so far, kept over
    # a human's reroll and a resume --from, so files and seeds carry on.
    made: dict[str, int]
    notes: dict[str, str]  # shot id -> a human's note its next keyframe must answer
    clips_only: bool  # re-making the clips alone (resume --from clips)
    redraft: str | None  # a human's note for a new beat sheet
    drafts: int
    aborted: str  # the checkpoint a human aborted the run at
    beat_edits: dict[str, list[str]]  # beat id -> the fields a human edited at the beat sheet
    # What the planner could not do with a human's words, said at the next checkpoint.
    notices: list[str]
    noted: dict[str, str]  # shot id -> the slot a human's note changed in its keyframe's prompt
    by_hand: list[str]  # shots whose keyframe is the creator's own frame (approve --replace)


def plan_of(state: FilmState) -> Plan:
    return Plan.model_validate(state["plan"])


def reset_shots(values: FilmState) -> FilmState:
    """The state of shots not yet begun: every keyframe and clip decision forgotten (still in
    the log and the run folder). Attempt numbers carry on, so no file is written over."""
    return {
        "cursor": 0,
        "candidates": [],
        "prefetched": {},
        "rung": -1,
        "variant": {},
        "keyframes": {},
        "captions": {},
        "anchors": [],
        "clips": {},
        "pending_clips": [],
        "flagged": [],
        "keyframe_failed": {},
        "accepted": {},
        "notes": {},
        "noted": {},
        "by_hand": [],
        "clips_only": False,
        "made": dict(values.get("made", {})),
    }


def reset_clips(values: FilmState) -> FilmState:
    """The state of clips not yet begun, the keyframes kept: a flagged keyframe stays flagged."""
    return {
        "cursor": 0,
        "clips": {},
        "pending_clips": [],
        "flagged": list(values.get("keyframe_failed", {})),
        "clips_only": True,
    }
