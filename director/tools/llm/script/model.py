"""What a creator's script says, as read from the file: beats, shots and lines, each with the
line of the file it came from. Only what the creator wrote is set; ``None`` is left for director
to fill."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The prompt slots a script may write; the style slot is the style bible's unless a row sets it.
SLOTS = ("subject", "action", "environment", "camera", "style")


@dataclass
class ScriptLine:
    text: str
    speaker: str | None = None  # None: narration

    @property
    def kind(self) -> str:
        return "narration" if self.speaker is None else "dialogue"


@dataclass
class ScriptShot:
    line_no: int
    slots: dict[str, str] = field(default_factory=dict)  # only the slots the creator wrote
    duration_s: float | None = None
    line: ScriptLine | None = None
    transition: str | None = None  # into the next shot: cut, crossfade, fade-black


@dataclass
class ScriptBeat:
    line_no: int
    name: str
    summary: str = ""
    location: str | None = None
    time: str | None = None  # a scene heading's time of day
    duration_s: float | None = None
    shots: list[ScriptShot] = field(default_factory=list)


@dataclass
class Script:
    path: Path
    format: str  # "Fountain screenplay", "Markdown outline", "JSON shot list", "CSV shot list"
    beats: list[ScriptBeat]
    title: str | None = None
    logline: str | None = None
    characters: list[str] = field(default_factory=list)  # in order of first appearance

    @property
    def shots(self) -> list[ScriptShot]:
        return [shot for beat in self.beats for shot in beat.shots]

    @property
    def opening(self) -> str:
        """What the film opens on, in the creator's words: a logline of last resort."""
        first = self.beats[0].shots[0].slots if self.beats[0].shots else {}
        seen = " ".join(first.get(k, "") for k in ("subject", "action")).strip()
        return seen or self.beats[0].summary or self.beats[0].name
