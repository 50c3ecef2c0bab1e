"""The graph's state: JSON-shaped values only, so every checkpoint can be stored and resumed."""

from __future__ import annotations

from typing import Any, TypedDict

from director.records import Plan


class Candidate(TypedDict, total=False):
    attempt: int
    artifact: str
    seed: int
    caption_px: int
    margin: float
    verdict: str
    failed: list[str]


class PendingClip(TypedDict):
    shot_id: str
    job: dict[str, Any]
    submitted: float


class FilmState(TypedDict, total=False):
    plan: dict[str, Any]
    cursor: int
    candidates: list[Candidate]
    critique: dict[str, Any]
    keyframes: dict[str, str]
    captions: dict[str, int]
    clips: dict[str, str]
    pending_clips: list[PendingClip]
    flagged: list[str]
    stage_started: float
    film: str


def plan_of(state: FilmState) -> Plan:
    return Plan.model_validate(state["plan"])
