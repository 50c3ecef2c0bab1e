"""The run's LangGraph checkpoints (``checkpoints.sqlite``, thread id = the run id recorded in
run.json, whatever the folder is called now), what waits for
approval in them, and a human's recorded answer (``approval.json``) until a resume takes it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from director.errors import InputError, refuse_undecodable
from director.files import check_sqlite, read_json_object, sqlite_fault, write_json_atomic
from director.memory.runs import RunPaths

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


WHAT = "The run's checkpoints"
FIX = (
    "Restore checkpoints.sqlite from a copy of the run folder; without it the run cannot go "
    "on, though its film, log and document are kept."
)


@contextmanager
def open_graph(paths: RunPaths, *, read_only: bool = False) -> Iterator[tuple[Any, dict]]:
    """The compiled graph on the run's checkpoint database, and the run's thread config. The
    file is checked to be a database before SQLite opens it; ``read_only`` opens it without
    ever writing (an empty or absent file reads as no checkpoints)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from director.agent.graph import build_graph

    path = paths.checkpoints
    conn = _connect(path, read_only, check_sqlite(path, WHAT, FIX))
    try:
        yield build_graph(SqliteSaver(conn)), {"configurable": {"thread_id": paths.thread_id}}
    except sqlite3.Error as exc:
        raise sqlite_fault(exc, path, WHAT, FIX) from None
    finally:
        conn.close()


def _connect(path: Path, read_only: bool, exists: bool) -> sqlite3.Connection:
    try:
        if not exists:
            return sqlite3.connect(":memory:" if read_only else path, check_same_thread=False)
        conn = _read_only(path) if read_only else sqlite3.connect(path, check_same_thread=False)
        _check_tables(conn, path)
        return conn
    except sqlite3.Error as exc:
        raise sqlite_fault(exc, path, WHAT, FIX) from None


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes nor leaves a file behind. A log of writes not yet folded
    into the database (``-wal``, left by a running or killed process) is read with it; without
    one, the file is read as it stands (SQLite would otherwise make a ``-shm`` index beside it,
    and cannot in a read-only folder)."""
    wal = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if wal else "immutable=1"
    uri = f"{path.resolve().as_uri()}?{mode}"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def _check_tables(conn: sqlite3.Connection, path: Path) -> None:
    """A database of checkpoints, not one of another program (which must not be written to)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(checkpoints)")}
    if not {"thread_id", "checkpoint_id", "checkpoint"} <= columns:
        conn.close()
        raise InputError(f"{WHAT} {path} is a database, but not of checkpoints.", FIX)


def snapshot(paths: RunPaths):
    """The latest checkpoint's state snapshot (values, next nodes, interrupts), read without
    writing to the run folder."""
    with open_graph(paths, read_only=True) as (graph, config):
        return graph.get_state(config)


def pending_of(state, root: Path | None = None) -> Pending | None:
    interrupts = getattr(state, "interrupts", ()) or ()
    return Pending(interrupts[0].id, interrupts[0].value, root) if interrupts else None


def record_answer(paths: RunPaths, pending: Pending, answer: dict[str, Any]) -> Path:
    """Keep a human's answer to a pending checkpoint until the run resumes with it."""
    path = paths.root / ANSWER_FILE
    for key, value in answer.items():
        if isinstance(value, str):
            refuse_undecodable(value, f"The answer's {key}")
    stamped = {**answer, "who": answer.get("who") or _who(), "when": _now()}
    write_json_atomic(path, {"interrupt": pending.id, "answer": stamped})
    return path


def take_answer(paths: RunPaths, pending: Pending) -> dict[str, Any] | None:
    """The recorded answer to this very checkpoint; one left for an earlier one is dropped."""
    path = paths.root / ANSWER_FILE
    if not path.exists():
        return None
    fix = "Delete it and record the approval again with director approve."
    data = read_json_object(path, "The recorded approval", fix)
    answer = data.get("answer")
    if not isinstance(answer, dict) or not isinstance(answer.get("decision"), str):
        raise InputError(f"The recorded approval {path} holds no answer.", fix)
    if data.get("interrupt") != pending.id:
        path.unlink()
        return None
    return answer


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
