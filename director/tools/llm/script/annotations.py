"""What the outline and the shot lists share: ``[4s]`` and ``[camera: ...]`` annotations, a
duration read as seconds, and ``Name: "line"`` dialogue."""

from __future__ import annotations

import re
from pathlib import Path

from director.tools.llm.script.model import ScriptLine
from director.tools.llm.script.source import malformed

MIN_SHOT_S, MAX_SHOT_S = 3.0, 30.0
_ANNOTATION = re.compile(r"\[([^\[\]]*)\]")
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds|秒)?\s*$", re.IGNORECASE)
# Name: "line" (straight, curly or Chinese quotes); Narration / Narrator / 旁白 speak no name.
_SPOKEN = re.compile(r'^([^:："“「]{1,40})[:：]\s*["“「](.+)["”」]\s*$')
NARRATION = {"narration", "narrator", "voice over", "voice-over", "v.o.", "旁白"}


def seconds(path: Path, line_no: int, value: str, what: str, low: float, high: float) -> float:
    found = _SECONDS.match(value)
    if not found:
        raise malformed(
            path, line_no, f"{what} {value.strip()!r} is not a number of seconds",
            "Write a number, e.g. 4 or 4s.",
        )  # fmt: skip
    number = float(found.group(1))
    if not low <= number <= high:
        raise malformed(
            path, line_no, f"{what} {number:g} s is out of range",
            f"Choose between {low:g} and {high:g} seconds.",
        )  # fmt: skip
    return number


def annotations(path: Path, line_no: int, text: str, known: tuple[str, ...]) -> tuple[str, dict]:
    """The text without its ``[...]`` annotations, and the annotations: ``seconds`` for
    ``[4s]``, else ``key: value`` for the keys in ``known``."""
    found: dict[str, str] = {}
    for inner in _ANNOTATION.findall(text):
        key, colon, value = inner.partition(":")
        key = key.strip().lower()
        if not colon and _SECONDS.match(inner):
            found["seconds"] = inner
        elif colon and key in known and value.strip():
            found[key] = value.strip()
        else:
            raise malformed(
                path, line_no, f"[{inner}] is not an annotation director knows",
                f"Use [4s] for a length or [KEY: text] with KEY one of {', '.join(known)}.",
            )  # fmt: skip
    return _ANNOTATION.sub("", text).strip(), found


def spoken(text: str) -> ScriptLine | None:
    """``Name: "line"`` as a line of dialogue (narration for a narrator), else None."""
    found = _SPOKEN.match(text.strip())
    if not found:
        return None
    name, line = found.group(1).strip(), found.group(2).strip()
    if name.lower() in NARRATION:
        return ScriptLine(text=line)
    return ScriptLine(text=line, speaker=name)
