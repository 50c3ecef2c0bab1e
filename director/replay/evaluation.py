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

from director.replay.document import Document, Heading, Para, Table
from director.replay.record import RunRecord

FILE = "evaluation.json"
REPORT = "evaluation.md"

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
    s = found["summary"]
    rows = [
        ["identity: Cross Similarity", _cell(s.get("identity_cross"))],
        ["identity: Self Similarity", _cell(s.get("identity_self"))],
        ["copy-paste flags", ", ".join(s.get("copy_paste_flagged", [])) or "none"],
        ["CLIPScore (whole prompt)", _cell(s.get("prompt_clipscore"))],
        ["style: CLIP similarity to the anchors", _cell(s.get("style_clip"))],
        ["style: colour overlap with the anchors", _cell(s.get("style_colours"))],
        ["generated share of screen time", _cell(s.get("generated_share"), percent=True)],
    ]
    doc.add(
        Heading(2, "Evaluation"),
        Table(["measure", "value"], rows),
        Para(
            f"Measured by director evaluate at {found.get('evaluated_at', '?')[:19].replace('T', ' ')}; "
            f"every figure, each shot and the plots: [{REPORT}]({REPORT})."
        ),
    )


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


def _cell(value: Any, percent: bool = False) -> str:
    if isinstance(value, dict) and "not_measured" in value:
        return f"not measured: {value['not_measured']}"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:.0%}" if percent else f"{value:.3f}"
    return "-"
