"""A strict reader of the part of Fountain (https://fountain.io) a short film needs: the title
page, scene headings, action, character cues with their dialogue and parentheticals,
transitions, synopses; sections, notes, boneyard and page breaks are read and left out.

Each scene becomes a beat (its heading the beat's name and location), each action paragraph a
shot, each dialogue block the line of the shot before it (or a shot of its own on the speaker
when that shot already has one). Text before the first scene heading that is not the title page
is refused, as is a file with no scene: director does not guess where a film starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from director.tools.llm.script.model import Script, ScriptBeat, ScriptLine, ScriptShot
from director.tools.llm.script.source import malformed

_HEADING = re.compile(r"^(?:int\./ext|int/ext|i/e|int|ext|est)[. ]\s*(.+)$", re.IGNORECASE)
_SCENE_NUMBER = re.compile(r"\s*#[\w.-]+#\s*$")
_TIME = re.compile(r"\s+[\-–—]\s+([^\-–—]+)$")
_TITLE_KEY = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*(.*)$")
_NOTE = re.compile(r"\[\[.*?\]\]", re.DOTALL)
_EXTENSION = re.compile(r"\s*\((?:V\.O\.|O\.S\.|O\.C\.|CONT'D|CONT’D)\)", re.IGNORECASE)
_TRANSITIONS = {
    "DISSOLVE TO:": "crossfade",
    "CROSSFADE TO:": "crossfade",
    "FADE OUT.": "fade-black",
    "FADE TO BLACK.": "fade-black",
    "FADE OUT:": "fade-black",
    "FADE TO BLACK:": "fade-black",
}
LOGLINE_KEYS = ("logline", "synopsis", "description")


@dataclass
class _Block:
    """A paragraph: consecutive non-blank lines and the line number of the first."""

    line_no: int
    lines: list[str] = field(default_factory=list)


def parse_fountain(path: Path, text: str) -> Script:
    text = _without_boneyard(path, text)
    blocks = _blocks(_NOTE.sub("", text))
    title_page, blocks = _title_page(blocks)
    reader = _Reader(path)
    for block in blocks:
        reader.block(block)
    return reader.script(title_page)


def _without_boneyard(path: Path, text: str) -> str:
    """/* ... */ removed, its lines kept blank so line numbers stay right."""
    start = text.find("/*")
    while start != -1:
        end = text.find("*/", start + 2)
        if end == -1:
            line_no = text[:start].count("\n") + 1
            raise malformed(path, line_no, "a /* boneyard is never closed", "Close it with */.")
        cut = text[start : end + 2]
        text = text[:start] + "\n" * cut.count("\n") + text[end + 2 :]
        start = text.find("/*", start)
    return text


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Block | None = None
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip()
        if not line.strip():
            current = None
            continue
        if current is None:
            current = _Block(n)
            blocks.append(current)
        current.lines.append(line)
    return blocks


def _title_page(blocks: list[_Block]) -> tuple[dict[str, str], list[_Block]]:
    """The ``Key: value`` block at the very top, if there is one."""
    if not blocks or not _TITLE_KEY.match(blocks[0].lines[0]) or _is_heading(blocks[0].lines[0]):
        return {}, blocks
    fields: dict[str, str] = {}
    key = ""
    for line in blocks[0].lines:
        found = _TITLE_KEY.match(line)
        if found and not line.startswith((" ", "\t")):
            key = found.group(1).strip().lower()
            fields[key] = found.group(2).strip()
        elif key:
            fields[key] = f"{fields[key]} {line.strip()}".strip()
    return fields, blocks[1:]


def _is_heading(line: str) -> bool:
    stripped = line.strip()
    if stripped.startswith(".") and not stripped.startswith(".."):
        return len(stripped) > 1
    return bool(_HEADING.match(stripped))


def _is_cue(line: str) -> bool:
    """A character cue: a name in capitals (extensions allowed), or forced with @."""
    stripped = line.strip()
    if stripped.startswith("@"):
        return len(stripped) > 1
    name = _EXTENSION.sub("", stripped).rstrip("^ ").strip()
    letters = [c for c in name if c.isalpha()]
    return bool(letters) and name == name.upper() and not name.endswith(("TO:", ":"))


def _transition(line: str) -> str | None:
    stripped = line.strip()
    if stripped.startswith(">") and not stripped.endswith("<"):
        stripped = stripped[1:].strip().upper()
    elif not (stripped == stripped.upper() and stripped.endswith(("TO:", "OUT.", "BLACK."))):
        return None
    return _TRANSITIONS.get(stripped, "cut")


class _Reader:
    """Folds the paragraphs, in order, into scenes and their shots."""

    def __init__(self, path: Path):
        self.path = path
        self.beats: list[ScriptBeat] = []
        self.characters: dict[str, None] = {}
        self.synopsis = ""

    def block(self, block: _Block) -> None:
        first = block.lines[0].strip()
        if first.startswith(("#", "===")):
            return  # sections and page breaks shape the page, not the film
        if first.startswith("="):
            self._synopsis(block, first[1:].strip())
        elif _is_heading(first):
            self._scene(block)
        elif len(block.lines) == 1 and _transition(first):
            self._after(block).transition = _transition(first)
        elif len(block.lines) > 1 and _is_cue(first) and not first.startswith("!"):
            self._dialogue(block)
        else:
            self._action(block)

    def _scene(self, block: _Block) -> None:
        heading = _SCENE_NUMBER.sub("", block.lines[0].strip())
        heading = heading[1:].strip() if heading.startswith(".") else heading
        found = _HEADING.match(heading)
        place = found.group(1).strip() if found else heading
        time = _TIME.search(place)
        place = _TIME.sub("", place).strip() or place
        beat = ScriptBeat(block.line_no, name=heading, location=_readable(place))
        beat.time = _readable(time.group(1).strip()) if time else None
        self.beats.append(beat)
        if len(block.lines) > 1:
            self._action(_Block(block.line_no + 1, block.lines[1:]))

    def _synopsis(self, block: _Block, text: str) -> None:
        if not self.beats:
            self.synopsis = self.synopsis or text
        elif not self.beats[-1].summary:
            self.beats[-1].summary = text

    def _scene_now(self, block: _Block, what: str) -> ScriptBeat:
        if not self.beats:
            raise malformed(
                self.path,
                block.line_no,
                f"{what} before the first scene heading",
                "Start the script with a scene heading (INT. PLACE - DAY or EXT. PLACE - NIGHT), "
                "after the title page.",
            )
        return self.beats[-1]

    def _after(self, block: _Block) -> ScriptShot:
        beat = self._scene_now(block, "a transition")
        if not beat.shots:
            raise malformed(
                self.path, block.line_no, "a transition with no shot before it",
                "Put the transition after the action it leaves.",
            )  # fmt: skip
        return beat.shots[-1]

    def _action(self, block: _Block) -> None:
        beat = self._scene_now(block, "action")
        lines = [line.strip().lstrip("!").strip() for line in block.lines]
        text = " ".join(line.strip("><").strip() for line in lines if line)
        beat.shots.append(ScriptShot(block.line_no, slots={"action": text}))

    def _dialogue(self, block: _Block) -> None:
        beat = self._scene_now(block, "dialogue")
        cue = block.lines[0].strip().lstrip("@")
        speaker = _readable(_EXTENSION.sub("", cue).rstrip("^ ").strip())
        spoken = [x.strip() for x in block.lines[1:] if not x.strip().startswith("(")]
        if not spoken:
            raise malformed(
                self.path, block.line_no, f"{cue} has no line to say",
                "Write the dialogue under the character's name.",
            )  # fmt: skip
        self.characters.setdefault(speaker)
        line = ScriptLine(text=" ".join(spoken), speaker=speaker)
        shot = beat.shots[-1] if beat.shots else None
        if shot is None or shot.line is not None:
            shot = ScriptShot(block.line_no)
            beat.shots.append(shot)
        shot.line = line

    def script(self, title_page: dict[str, str]) -> Script:
        if not self.beats:
            raise malformed(
                self.path, 1, "has no scene heading, so no scene",
                "Start each scene with a heading: INT. PLACE - DAY or EXT. PLACE - NIGHT.",
            )  # fmt: skip
        for beat in self.beats:
            if not beat.shots:
                raise malformed(
                    self.path, beat.line_no, f"scene {beat.name!r} has no action or dialogue",
                    "Write what we see under the heading, or remove the heading.",
                )  # fmt: skip
            beat.summary = beat.summary or beat.shots[0].slots.get("action") or beat.name
        logline = next((title_page[k] for k in LOGLINE_KEYS if title_page.get(k)), None)
        return Script(
            path=self.path,
            format="Fountain screenplay",
            beats=self.beats,
            title=title_page.get("title") or None,
            logline=logline or self.synopsis or None,
            characters=list(self.characters),
        )


def _readable(text: str) -> str:
    """A heading or cue written in capitals, as a name or place reads in a prompt."""
    if text != text.upper():
        return text
    return " ".join(w.capitalize() if w.isalpha() else w.title() for w in text.lower().split())
