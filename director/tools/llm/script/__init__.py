"""A creator's own script as the plan: a Fountain screenplay, a Markdown beat outline, or a
JSON or CSV shot list, read strictly (a malformed file is one line naming the file and line),
and ``ScriptPlanner``, which plans from it and asks the run's planner only for what it leaves
out. The formats are defined in docs/scripts.md."""

from __future__ import annotations

from pathlib import Path

from director.errors import InputError
from director.tools.llm.script.fountain import parse_fountain
from director.tools.llm.script.model import Script, ScriptBeat, ScriptLine, ScriptShot
from director.tools.llm.script.outline import parse_outline
from director.tools.llm.script.planner import ScriptPlanner, script_runtime
from director.tools.llm.script.shotlist import parse_csv, parse_json
from director.tools.llm.script.source import detect_format, read_script_text

PARSERS = {"fountain": parse_fountain, "outline": parse_outline, "json": parse_json,
           "csv": parse_csv}  # fmt: skip

__all__ = [
    "Script",
    "ScriptBeat",
    "ScriptLine",
    "ScriptPlanner",
    "ScriptShot",
    "load_beats",
    "load_script",
    "script_runtime",
    "scripted",
]


def load_script(path: str | Path) -> Script:
    """A script file of any format, for ``--script``."""
    file = Path(path).expanduser()
    text = read_script_text(file, "--script")
    return PARSERS[detect_format(file, text)](file.resolve(), text)


def load_beats(path: str | Path) -> Script:
    """A Markdown beat outline, for ``--beats``: beats, with or without their shots."""
    file = Path(path).expanduser()
    text = read_script_text(file, "--beats")
    if detect_format(file, text) != "outline":
        raise InputError(
            f"--beats {file} is not a Markdown beat outline.",
            "Write the beats as ## headings in a .md file, or pass a whole script with --script.",
        )
    return parse_outline(file.resolve(), text)


def scripted(planner, script: str | None = None, beats: str | None = None):
    """``planner`` wrapped to plan from the run's ``--script`` or ``--beats`` file, if any."""
    if script:
        return ScriptPlanner(load_script(script), base=planner)
    if beats:
        return ScriptPlanner(load_beats(beats), base=planner)
    return planner
