"""The story and its plan: the logline developed into a story, its beat sheet, the shot list
with each shot's five-slot prompt, the style bible and the title and end cards."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from director.records.base import SCHEMA_VERSION, Record
from director.text import is_chinese

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


class CastVoice(Record):
    """A character's voice in one voice backend: ``PROVIDER:VOICE``, or ``PROVIDER:MODEL:VOICE``
    for a voice that only one model of the provider has."""

    provider: str
    model: str = Field(default="", description="the one model it is for; empty: any model")
    voice: str

    @property
    def spec(self) -> str:
        return ":".join(p for p in (self.provider, self.model, self.voice) if p)

    def serves(self, provider: str, model: str) -> bool:
        """Whether this is the voice to use with the backend ``provider`` running ``model``."""
        return self.provider == provider and self.model in ("", model)


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
        sep = "，" if is_chinese(self.subject + self.action) else ", "
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
