"""What the run has already submitted and collected, read back from its event log.

LangGraph re-runs an interrupted node from its start. A node that submits a paid job and then
waits on it would submit it again after a crash, so every submission is logged with its whole
job before anything waits on it, and the node asks this ledger first: a request it has already
sent is collected (polled), not sent again, and a job already collected into the run folder is
taken as logged, neither collected nor paid for twice. Requests are deterministic (seeds come
from the shot and the attempt number), so a re-run node rebuilds the very same request.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from director.memory.runs import sha256_file
from director.records import Attempt, AttemptMade, JobSubmitted
from director.tools.base import Job


def request_key(kind: str, request) -> str:
    text = kind + "\n" + json.dumps(request.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class JobLedger:
    def __init__(self, events: list | None = None) -> None:
        self._lock = threading.Lock()
        self._submitted: dict[str, Job] = {}
        self._collected: dict[str, Attempt] = {}
        for event in events or []:
            self.note(event)

    def note(self, event) -> None:
        """Take in one logged event (the event log calls this on every append)."""
        with self._lock:
            if isinstance(event, JobSubmitted) and event.job and event.request_key:
                self._submitted[event.request_key] = Job.model_validate(event.job)
            elif isinstance(event, AttemptMade) and event.attempt.job_id:
                self._collected[event.attempt.job_id] = event.attempt

    def submitted(self, kind: str, request) -> Job | None:
        with self._lock:
            found = self._submitted.get(request_key(kind, request))
        return found.model_copy(deep=True) if found else None

    def collected(self, job: Job, root: Path) -> Attempt | None:
        """The logged attempt a job was collected into, if its file is still there intact."""
        if not job.id:
            return None
        with self._lock:
            attempt = self._collected.get(job.id)
        if attempt is None or not attempt.artifact:
            return None  # a failed generation is asked again: polling a failed task is free
        path = root / attempt.artifact
        return attempt if path.is_file() and sha256_file(path) == attempt.sha256 else None
