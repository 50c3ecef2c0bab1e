"""The run's decision log: ``events.jsonl``, append-only, one typed event per line.

Each append is written and flushed before the call returns, so an event the graph has logged
survives the process. By default each is fsynced too; a log opened ``grouped`` fsyncs once per
graph step instead (``sync``, called before each checkpoint is saved), and at once for the
events a crash of the machine must not lose: a paid job's id, a human's answer, a run's start,
stop and end. A torn last line (a crash in the middle of a write) is detected by the reader
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
from director.records import SCHEMA_VERSION, Event, redact_urls

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


# Events on disk before append returns, grouped or not: what resuming relies on to pay once
# and to know what a human answered, and the run's bounds.
DURABLE = frozenset(
    {
        "job_submitted",
        "approval",
        "approval_pending",
        "run_started",
        "run_resumed",
        "run_finished",
        "error",
    }
)


class EventLog:
    """Appends typed events to a JSONL file, numbering them in order."""

    def __init__(self, path: Path, grouped: bool = False) -> None:
        self.path = path
        self.grouped = grouped
        self._lock = threading.Lock()
        self._seq = _last_seq(path)
        self._unsynced = False
        self.listeners: list[Callable[[Any], None]] = []  # told of every event once it is written

    def append(self, event: Any) -> Any:
        with self._lock:
            self._seq += 1
            event.seq = self._seq
            event.ts = datetime.now(UTC).isoformat(timespec="milliseconds")
            line = json.dumps(event.model_dump(mode="json"), ensure_ascii=False)
            line = redact_urls(line) + "\n"  # no URL's credentials in the log
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                if self.grouped and getattr(event, "type", "") not in DURABLE:
                    self._unsynced = True
                else:
                    os.fsync(fh.fileno())  # everything written before it too
                    self._unsynced = False
        for listener in self.listeners:
            listener(event)
        return event

    def sync(self) -> None:
        """Put every event written so far on disk (a grouped log's step boundary)."""
        with self._lock:
            if not self._unsynced or not self.path.exists():
                return
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._unsynced = False


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
    """Events in order. A line whose sequence number was already read (a line duplicated by a
    copy or an editor) is read once; a line of a newer schema than this director reads is
    refused, never guessed at."""
    if not path.exists():
        raise InputError(f"No event log at {path}.", "Is this a run folder made by director?")
    lines = _text(path).split("\n")
    last = len(lines) - 1
    seen: set[int] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            _check_version(path, number, raw)
            event = _ADAPTER.validate_python(raw)
        except (json.JSONDecodeError, ValidationError) as exc:
            if number - 1 == last:
                return  # torn final line: the write was cut off
            raise InputError(
                f"{path}:{number} is not a valid event ({exc.__class__.__name__}).",
                "The log was edited or corrupted; restore it from a copy of the run folder.",
            ) from exc
        if event.seq in seen:
            continue
        seen.add(event.seq)
        yield event, number


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte {exc.start}), so it is not a director event log.",
            "Restore events.jsonl from a copy of the run folder.",
        ) from None


def _check_version(path: Path, number: int, raw: Any) -> None:
    if not isinstance(raw, dict) or raw.get("v", SCHEMA_VERSION) == SCHEMA_VERSION:
        return  # not an object: the event validation says what is wrong
    version = raw["v"]
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise InputError(
            f"{path}:{number} was written with event schema v{version}; this director reads "
            f"v{SCHEMA_VERSION}.",
            "Upgrade director (pip install -U director) to read this run.",
        )
    raise InputError(
        f"{path}:{number} has an unknown event schema version {version!r} (this director "
        f"writes v{SCHEMA_VERSION}).",
        "The log was edited or corrupted; restore it from a copy of the run folder.",
    )


def _last_seq(path: Path) -> int:
    if not path.exists():
        return 0
    events = read_events(path)
    return events[-1].seq if events else 0
