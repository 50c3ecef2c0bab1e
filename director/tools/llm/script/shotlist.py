"""JSON and CSV shot lists: one row per shot, with the five slots, the beat, the duration and
the line (speaker and text). Neighbouring rows of the same beat make that beat; a row with no
beat belongs to the beat before it."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from director.tools.llm.script.annotations import MAX_SHOT_S, MIN_SHOT_S, NARRATION, seconds
from director.tools.llm.script.model import SLOTS, Script, ScriptBeat, ScriptLine, ScriptShot
from director.tools.llm.script.source import malformed

COLUMNS = (*SLOTS, "beat", "duration", "speaker", "line", "transition")
TRANSITIONS = ("cut", "crossfade", "fade-black")
_TOP_KEYS = ("title", "logline", "shots")


def parse_json(path: Path, text: str) -> Script:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise malformed(path, exc.lineno, f"is not JSON ({exc.msg})", "Fix the JSON.") from None
    front: dict[str, Any] = {}
    if isinstance(data, dict):
        front, data = _front(path, text, data), data.get("shots")
    if not isinstance(data, list) or not data:
        raise malformed(
            path, 1, "is not a list of shots",
            'Write a JSON list of shot objects, [{"action": "...", "duration": 4}, ...], or '
            '{"title": ..., "shots": [...]}.',
        )  # fmt: skip
    starts = _element_lines(text, data)
    rows = []
    for row, line_no in zip(data, starts, strict=True):
        if not isinstance(row, dict):
            raise malformed(path, line_no, "a shot that is not an object", "Write {...} rows.")
        rows.append((line_no, _strings(path, line_no, row)))
    return _script(path, "JSON shot list", rows, front.get("title"), front.get("logline"))


def parse_csv(path: Path, text: str) -> Script:
    reader = csv.DictReader(io.StringIO(text))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or not header:
        raise malformed(
            path, 1, f"unknown column {', '.join(unknown) or '(none)'}",
            f"The header row names columns among: {', '.join(COLUMNS)}.",
        )  # fmt: skip
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if None in row:
                raise malformed(
                    path, reader.line_num, "more cells than the header has columns",
                    "Quote cells that hold commas.",
                )  # fmt: skip
            cells = {k: (v or "").strip() for k, v in row.items() if (v or "").strip()}
            if cells:
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise malformed(path, reader.line_num, f"is not CSV ({exc})", "Fix the row.") from None
    if not rows:
        raise malformed(path, 1, "has a header but no shot", "Write one row per shot.")
    return _script(path, "CSV shot list", rows, None, None)


def _front(path: Path, text: str, data: dict) -> dict[str, str]:
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise malformed(
            path, 1, f"unknown key {unknown[0]!r}",
            f"The top object holds {', '.join(_TOP_KEYS)}; each shot holds {', '.join(COLUMNS)}.",
        )  # fmt: skip
    return {k: str(data[k]).strip() for k in ("title", "logline") if data.get(k)}


def _element_lines(text: str, rows: list) -> list[int]:
    """The line each element of the shot list starts on (where the decoder finds it)."""
    decoder = json.JSONDecoder()
    opening = re.search(r'"shots"\s*:\s*\[', text) if text.lstrip().startswith("{") else None
    at = opening.end() if opening else text.index("[") + 1
    lines = []
    for _ in rows:
        at = _skip(text, at)
        lines.append(text.count("\n", 0, at) + 1)
        _, at = decoder.raw_decode(text, at)
        at = _skip(text, at)
        at += text[at] == ","
    return lines


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _strings(path: Path, line_no: int, row: dict) -> dict[str, str]:
    unknown = [k for k in row if k not in COLUMNS]
    if unknown:
        raise malformed(
            path, line_no, f"unknown key {unknown[0]!r} in a shot",
            f"A shot holds: {', '.join(COLUMNS)}.",
        )  # fmt: skip
    cells = {}
    for key, value in row.items():
        if isinstance(value, (dict, list, bool)):
            raise malformed(path, line_no, f"{key} is not text", f'Write "{key}": "...".')
        if value is not None and str(value).strip():
            cells[key] = str(value).strip()
    return cells


def _script(
    path: Path, kind: str, rows: list[tuple[int, dict[str, str]]], title, logline
) -> Script:
    beats: list[ScriptBeat] = []
    characters: dict[str, None] = {}
    for line_no, cells in rows:
        shot = _shot(path, line_no, cells)
        name = cells.get("beat")
        if not beats or (name and name != beats[-1].name):
            beats.append(ScriptBeat(line_no, name=name or "1"))
        beats[-1].shots.append(shot)
        if shot.line and shot.line.speaker:
            characters.setdefault(shot.line.speaker)
    for beat in beats:
        first = beat.shots[0].slots
        beat.summary = first.get("action") or beat.name
        beat.location = first.get("environment")
    return Script(path, kind, beats, title or None, logline or None, list(characters))


def _shot(path: Path, line_no: int, cells: dict[str, str]) -> ScriptShot:
    slots = {k: cells[k] for k in SLOTS if k in cells}
    if not (slots.get("subject") or slots.get("action") or cells.get("line")):
        raise malformed(
            path, line_no, "a shot with no subject, action or line",
            "Write at least what we see (subject, action) or what is said (line).",
        )  # fmt: skip
    shot = ScriptShot(line_no, slots=slots, line=_line(path, line_no, cells))
    if "duration" in cells:
        shot.duration_s = seconds(
            path, line_no, cells["duration"], "duration", MIN_SHOT_S, MAX_SHOT_S
        )
    if "transition" in cells:
        shot.transition = _transition(path, line_no, cells["transition"])
    return shot


def _line(path: Path, line_no: int, cells: dict[str, str]) -> ScriptLine | None:
    if "line" not in cells:
        if "speaker" in cells:
            raise malformed(path, line_no, "a speaker with no line", "Write the line they say.")
        return None
    speaker = cells.get("speaker")
    if speaker and speaker.lower() in NARRATION:
        speaker = None
    return ScriptLine(text=cells["line"], speaker=speaker)


def _transition(path: Path, line_no: int, value: str) -> str:
    key = value.strip().lower().replace(" ", "-")
    if key not in TRANSITIONS:
        raise malformed(
            path, line_no, f"transition {value!r} is not one director makes",
            f"Use one of: {', '.join(TRANSITIONS)}.",
        )  # fmt: skip
    return key
