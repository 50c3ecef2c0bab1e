"""The workflow document's evaluation summary: a short table from the run's
``evaluation.json`` (written by ``director evaluate``) and a link to the full report. A run
never evaluated gets no section."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from director import prompts
from director.replay.document import Document, Heading, Para, Table
from director.replay.record import RunRecord

FILE = "evaluation.json"
REPORT = "evaluation.md"
# The summary's figures the section shows, by their key in evaluation.json and in the words.
MEASURES = ("identity_cross", "identity_self", "prompt_clipscore", "style_clip", "style_colours")

# The run folder whose document is being written, where the caller knows it; otherwise the
# folder the run was started in (its runs folder and id, as run_started recorded them).
_FOLDER: ContextVar[Path | None] = ContextVar("evaluated_run_folder", default=None)


@contextmanager
def documenting(folder: Path) -> Iterator[None]:
    """Within this block the document is written for the run in ``folder``."""
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)


def _evaluation(doc: Document, r: RunRecord) -> None:
    found = read_evaluation(r)
    if found is None:
        return
    w = _words(r)
    s = found["summary"]
    rows = [[w(key), _cell(s.get(key), w)] for key in MEASURES]
    rows.insert(2, [w("copy_paste"), ", ".join(s.get("copy_paste_flagged", [])) or w("none")])
    rows.append([w("generated_share"), _cell(s.get("generated_share"), w, percent=True)])
    when = str(found.get("evaluated_at", "?"))[:19].replace("T", " ")
    doc.add(
        Heading(2, w("heading")),
        Table([w("measure"), w("value")], rows),
        Para(w("measured_by", when=when, report=REPORT)),
    )


def _words(r: RunRecord):
    """The section's words in the document's language: the one the document is written in
    where the record says, else the film's."""
    table = prompts.read_json("document", "evaluation.json")
    lang = getattr(r, "doc_lang", None) or (r.story.language if r.story else "en")
    lang = lang if lang in ("en", "zh") else "en"
    return lambda key, **values: table[key][lang].format(**values)


def read_evaluation(r: RunRecord) -> dict[str, Any] | None:
    """This run's entry in the evaluation.json of its folder, or None."""
    folder = _folder(r)
    if folder is None or r.started is None:
        return None
    try:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
        runs = data["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return next((e for e in runs if isinstance(e, dict) and e.get("run_id") == folder.name), None)


def _folder(r: RunRecord) -> Path | None:
    given = _FOLDER.get()
    if given is not None:
        return given
    if r.started is None:
        return None
    recorded = Path(str(r.started.options.get("runs_dir", ""))) / r.started.run_id
    return recorded if (recorded / "events.jsonl").is_file() else None


def _cell(value: Any, w, percent: bool = False) -> str:
    if isinstance(value, dict) and "not_measured" in value:
        return w("not_measured", why=value["not_measured"])
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:.0%}" if percent else f"{value:.3f}"
    return "-"
