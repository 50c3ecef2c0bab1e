"""The Markdown beat outline: headings are beats, bullets are shots.

    # Title                       (a level-1 heading, when the beats are level-2 headings)
    The logline, as a paragraph before the first beat.
    ## The letter [20s] [location: a rooftop at night]
    What happens, as a paragraph (the beat's summary; the heading when there is none).
    - Ling folds a letter into a paper boat [camera: close-up] [4s]
    - Ling: "Tell her I waited."

Parsed line by line, strictly: a bullet before the first beat heading, a nested bullet or an
annotation director does not know is refused with its line number."""

from __future__ import annotations

import re
from pathlib import Path

from director.tools.llm.script.annotations import (
    MAX_SHOT_S,
    MIN_SHOT_S,
    annotations,
    seconds,
    spoken,
)
from director.tools.llm.script.model import SLOTS, Script, ScriptBeat, ScriptShot
from director.tools.llm.script.source import malformed

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")
BEAT_KEYS = ("location",)
SHOT_KEYS = ("camera", "subject", "environment", "where", "style")
MAX_BEAT_S = 600.0


def parse_outline(path: Path, text: str) -> Script:
    lines = text.split("\n")
    levels = [len(m.group(1)) for line in lines if (m := _HEADING.match(line))]
    if not levels:
        raise malformed(
            path, 1, "has no heading, so no beat",
            "Start each beat with a Markdown heading: ## The beat's name.",
        )  # fmt: skip
    titled = levels[0] == 1 and any(level > 1 for level in levels)
    reader = _Outline(path, titled)
    for n, line in enumerate(lines, start=1):
        reader.line(n, line)
    return reader.script()


class _Outline:
    def __init__(self, path: Path, titled: bool):
        self.path, self.titled = path, titled
        self.title: str | None = None
        self.front: list[str] = []
        self.beats: list[ScriptBeat] = []
        self.summary: list[str] = []
        self.characters: dict[str, None] = {}

    def line(self, n: int, line: str) -> None:
        heading, bullet = _HEADING.match(line), _BULLET.match(line)
        if heading:
            self._heading(n, len(heading.group(1)), heading.group(2))
        elif bullet:
            self._bullet(n, bullet.group(1), bullet.group(2).strip())
        elif line.strip() and not line.lstrip().startswith("<!--"):
            (self.summary if self.beats else self.front).append(line.strip())

    def _heading(self, n: int, level: int, text: str) -> None:
        if not text:
            raise malformed(self.path, n, "a heading with no text", "Name the beat.")
        if self.titled and level == 1:
            if self.title is not None or self.beats:
                raise malformed(
                    self.path, n, "a second level-1 heading",
                    "Keep one # title; write the beats as ## headings.",
                )  # fmt: skip
            self.title = text
            return
        self._close()
        name, found = annotations(self.path, n, text, BEAT_KEYS)
        if not name:
            raise malformed(self.path, n, "a heading with only annotations", "Name the beat.")
        beat = ScriptBeat(n, name=name, location=found.get("location"))
        if "seconds" in found:
            beat.duration_s = seconds(self.path, n, found["seconds"], "beat", 3, MAX_BEAT_S)
        self.beats.append(beat)

    def _bullet(self, n: int, indent: str, text: str) -> None:
        if not self.beats:
            raise malformed(
                self.path, n, "a shot (bullet) before the first beat heading",
                "Put a ## heading naming the beat above its shots.",
            )  # fmt: skip
        if indent:
            raise malformed(
                self.path, n, "an indented (nested) bullet",
                "Write each shot as its own bullet at the start of the line.",
            )  # fmt: skip
        body, found = annotations(self.path, n, text, SHOT_KEYS)
        if not body and not found.get("subject"):
            raise malformed(self.path, n, "a bullet with no shot in it", "Write what we see.")
        self._shot(n, body, found)

    def _shot(self, n: int, body: str, found: dict[str, str]) -> None:
        beat = self.beats[-1]
        line = spoken(body)
        slots = {k: found[k] for k in SLOTS if k in found}
        if "where" in found:
            slots["environment"] = found["where"]
        if line is None and body:
            slots["action"] = body
        if line is not None and line.speaker:
            self.characters.setdefault(line.speaker)
        shot = ScriptShot(n, slots=slots, line=line)
        if "seconds" in found:
            shot.duration_s = seconds(
                self.path, n, found["seconds"], "shot", MIN_SHOT_S, MAX_SHOT_S
            )
        beat.shots.append(shot)

    def _close(self) -> None:
        if self.beats:
            self.beats[-1].summary = " ".join(self.summary) or self.beats[-1].name
        self.summary = []

    def script(self) -> Script:
        self._close()
        if not self.beats:
            raise malformed(
                self.path, 1, "has a title but no beat",
                "Write the beats as ## headings under the # title.",
            )  # fmt: skip
        return Script(
            path=self.path,
            format="Markdown outline",
            beats=self.beats,
            title=self.title,
            logline=" ".join(self.front) or None,
            characters=list(self.characters),
        )
