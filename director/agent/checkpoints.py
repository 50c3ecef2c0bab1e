"""The run's LangGraph checkpoints (``checkpoints.sqlite``, thread id = the run id recorded in
run.json, whatever the folder is called now), what waits for
approval in them, and a human's recorded answer (``approval.json``) until a resume takes it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from director.errors import InputError
from director.memory.runs import RunPaths, write_json_atomic

ANSWER_FILE = "approval.json"


@dataclass
class Pending:
    """A checkpoint waiting for a human: LangGraph's interrupt id and what it asks."""

    id: str
    payload: dict[str, Any]
    root: Path | None = None  # the run folder, which the payload's paths are relative to

    def path(self, relative: str) -> Path:
        return self.root / relative if self.root else Path(relative)

    @property
    def label(self) -> str:
        if self.payload["checkpoint"] == "beats":
            return "the beat sheet"
        return f"the keyframes of beat {self.payload['beat']} ({self.payload['beat_name']})"


@contextmanager
def open_graph(paths: RunPaths) -> Iterator[tuple[Any, dict]]:
    """The compiled graph on the run's checkpoint database, and the run's thread config."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from director.agent.graph import build_graph

    conn = sqlite3.connect(paths.checkpoints, check_same_thread=False)
    try:
        yield build_graph(SqliteSaver(conn)), {"configurable": {"thread_id": paths.thread_id}}
    finally:
        conn.close()


def snapshot(paths: RunPaths):
    """The latest checkpoint's state snapshot (values, next nodes, interrupts)."""
    with open_graph(paths) as (graph, config):
        return graph.get_state(config)


def pending_of(state, root: Path | None = None) -> Pending | None:
    interrupts = getattr(state, "interrupts", ()) or ()
    return Pending(interrupts[0].id, interrupts[0].value, root) if interrupts else None


def record_answer(paths: RunPaths, pending: Pending, answer: dict[str, Any]) -> Path:
    """Keep a human's answer to a pending checkpoint until the run resumes with it."""
    path = paths.root / ANSWER_FILE
    stamped = {**answer, "who": answer.get("who") or _who(), "when": _now()}
    write_json_atomic(path, {"interrupt": pending.id, "answer": stamped})
    return path


def take_answer(paths: RunPaths, pending: Pending) -> dict[str, Any] | None:
    """The recorded answer to this very checkpoint; one left for an earlier one is dropped."""
    path = paths.root / ANSWER_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path} cannot be read ({exc}).", "Delete it and record the approval again."
        ) from exc
    if data.get("interrupt") != pending.id:
        path.unlink()
        return None
    return data["answer"]


def clear_answer(paths: RunPaths) -> None:
    (paths.root / ANSWER_FILE).unlink(missing_ok=True)


def human(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer typed or chosen now, stamped with who gave it and when."""
    return {**answer, "who": answer.get("who") or _who(), "when": answer.get("when") or _now()}


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
