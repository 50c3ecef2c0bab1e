"""The shape of each planning stage's answer, as pydantic models (fields the model adds beyond the
schema are dropped, control characters are cleaned before any check), and the strict JSON schema
built from them for structured outputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from director.records import Angle, CameraMove, ShotRole, ShotSize, Transition, clean_value


class _Answer(BaseModel):
    # Fields the model adds beyond the schema are dropped: they can never reach a record.
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        """Control characters leave a model's answer before anything is checked against it."""
        return clean_value(value) if isinstance(value, dict) else value


class CharacterAnswer(_Answer):
    name: str
    description: str


class StoryAnswer(_Answer):
    title: str
    protagonists: list[CharacterAnswer]
    world: str
    want: str
    obstacle: str
    theme: str
    tone: str
    locations: list[str]


class BeatAnswer(_Answer):
    summary: str
    change: str
    location: str
    duration_s: float


class BeatSheetAnswer(_Answer):
    beats: list[BeatAnswer]


class BibleAnswer(_Answer):
    name: str
    suffix: str
    negative: str
    palette: list[str]
    grain: float


class LineAnswer(_Answer):
    kind: Literal["narration", "dialogue"]
    speaker: str | None
    text: str


class ShotAnswer(_Answer):
    role: ShotRole
    size: ShotSize
    angle: Angle
    move: CameraMove
    duration_s: float
    characters: list[str]
    subject: str
    action: str
    environment: str
    line: LineAnswer | None
    transition: Transition
    continuous: bool


class BeatShotsAnswer(_Answer):
    beat_id: str
    shots: list[ShotAnswer]


class ShotListAnswer(_Answer):
    beats: list[BeatShotsAnswer]


class RepairAnswer(_Answer):
    text: str


def strict_schema(answer: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema for structured outputs in strict mode: every property required, no
    others allowed, no defaults."""
    return _strict(answer.model_json_schema())


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "default"}
    if out.get("type") == "object" and "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out
