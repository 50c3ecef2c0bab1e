"""The run's decision log: ``events.jsonl``, append-only, one typed event per line.

Each append is flushed and fsynced before the call returns, so an event the graph has logged
survives a crash. A torn last line (a crash in the middle of a write) is detected by the reader
and skipped; ``repair`` truncates it so later appends start on a clean line.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from director.errors import InputError
from director.records import Event

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


class EventLog:
    """Appends typed events to a JSONL file, numbering them in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seq = _last_seq(path)
        self.listeners: list[Callable[[Any], None]] = []  # told of every event once it is written

    def append(self, event: Any) -> Any:
        with self._lock:
            self._seq += 1
            event.seq = self._seq
            event.ts = datetime.now(UTC).isoformat(timespec="milliseconds")
            line = json.dumps(event.model_dump(mode="json"), ensure_ascii=False) + "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        for listener in self.listeners:
            listener(event)
        return event


def read_events(path: Path) -> list[Any]:
    """All complete events in the log, in order; a torn final line is skipped."""
    return [event for event, _ in _parse(path)]


def repair(path: Path) -> bool:
    """Drop a torn final line; returns True when something was removed."""
    if not path.exists():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    keep = data[: data.rfind(b"\n") + 1]
    with open(path, "r+b") as fh:
        fh.truncate(len(keep))
    return True


def _parse(path: Path) -> Iterator[tuple[Any, int]]:
    if not path.exists():
        raise InputError(f"No event log at {path}.", "Is this a run folder made by director?")
    lines = path.read_text(encoding="utf-8").split("\n")
    last = len(lines) - 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _ADAPTER.validate_python(json.loads(line)), number
        except (json.JSONDecodeError, ValidationError) as exc:
            if number - 1 == last:
                return  # torn final line: the write was cut off
            raise InputError(
                f"{path}:{number} is not a valid event ({exc.__class__.__name__}).",
                "The log was edited or corrupted; restore it from a copy of the run folder.",
            ) from exc


def _last_seq(path: Path) -> int:
    if not path.exists():
        return 0
    events = read_events(path)
    return events[-1].seq if events else 0
