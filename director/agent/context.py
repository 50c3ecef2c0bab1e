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
from director.memory.events import EventLog
from director.memory.runs import RunPaths
from director.records import Character, StageFinished, StageStarted
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
    cast: list[Character] = field(default_factory=list)
    # Checks every clip on its frames (director.tools.critics.clipgate.ClipGate).
    clip_gate: Any = None

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Log the start and the end (with its duration) of one stage."""
        self.progress.stage(name, detail)
        self.log.append(StageStarted(stage=name, detail=detail))
        start = time.perf_counter()
        yield
        self.log.append(StageFinished(stage=name, seconds=round(time.perf_counter() - start, 3)))
