"""What every node can reach that is not state: options, the run folder, the log, the backends.

The context is rebuilt by each process that runs the graph; it is never checkpointed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from director.agent.configuration import RunOptions
from director.agent.progress import Progress
from director.memory.events import EventLog, read_events
from director.memory.jobs import JobLedger
from director.memory.runs import RunPaths
from director.records import (
    Approval,
    Character,
    LLMCallMade,
    RunResumed,
    StageFinished,
    StageStarted,
)
from director.tools.base import Critic, ImageBackend, Planner, VideoBackend


@dataclass
class RunContext:
    options: RunOptions
    paths: RunPaths
    log: EventLog
    planner: Planner
    image: ImageBackend
    video: VideoBackend
    critics: list[Critic]
    progress: Progress = field(default_factory=Progress)
    started: float = field(default_factory=time.time)
    # Seconds earlier processes worked on this run (a resumed run); waits for a human excluded.
    before: float = 0.0
    cast: list[Character] = field(default_factory=list)
    # Checks every clip on its frames (director.tools.critics.clipgate.ClipGate).
    clip_gate: Any = None
    # What language-model calls have cost so far, USD; counted against --budget.
    llm_spent: float = 0.0
    # The stage now running, and the sequence number of its start in the log: what an earlier
    # process logged in it is read back on demand (``planned``), not at every stage's start.
    current: tuple[str, int] = ("", 0)
    # Jobs already submitted and collected, so a re-run node never pays twice.
    jobs: JobLedger = field(default_factory=JobLedger)
    # Keyframes the image backend handed over in memory, by artifact path, until judged.
    held: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log.listeners.append(self.jobs.note)

    def planned(self, kind: type) -> Any:
        """The output of type ``kind`` this stage already logged in a process that was cut off
        before the stage's checkpoint, or None: a logged language-model answer is never asked
        for (or paid for) twice."""
        name, started = self.current
        earlier = [e for e in read_events(self.log.path) if e.seq < started]
        return next((e for e in carried_outputs(earlier, name) if isinstance(e, kind)), None)

    def elapsed(self) -> float:
        """The run's working time so far, over every process that worked on it."""
        return round(self.before + time.time() - self.started, 3)

    def log_llm_call(self, call: Any) -> None:
        """A planner's call to a language model, as it happens (tokens, seconds, cost)."""
        self.llm_spent += call.cost or 0.0
        self.log.append(
            LLMCallMade(
                stage=call.stage,
                backend=call.provider,
                model=call.model,
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                seconds=round(call.seconds, 3),
                cost=call.cost,
                retried=call.attempt > 1,
            )
        )

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Log the start and the end (with its duration) of one stage."""
        self.progress.stage(name, detail)
        begun = self.log.append(StageStarted(stage=name, detail=detail))
        self.current = (name, begun.seq)
        start = time.perf_counter()
        yield
        self.log.append(StageFinished(stage=name, seconds=round(time.perf_counter() - start, 3)))


def carried_outputs(events: list[Any], stage: str) -> list[Any]:
    """The events logged since ``stage`` last started, when nothing that redoes work on
    purpose (a resume ``--from`` a stage, a human's answer) came after it: then the stage is
    running again only because a process died before its checkpoint."""
    starts = [i for i, e in enumerate(events) if isinstance(e, StageStarted) and e.stage == stage]
    if not starts:
        return []
    after = events[starts[-1] + 1 :]
    redone = any(
        isinstance(e, Approval) or (isinstance(e, RunResumed) and e.from_stage) for e in after
    )
    return [] if redone else after
