"""What the ComfyUI image and video backends share: one server, the workflows checked on it,
sending a filled graph once, waiting for it, and the record each attempt keeps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from director.errors import GenerationFailed
from director.tools.comfyui import graph as graphs
from director.tools.comfyui.client import ComfyUI, Lost, prompt_id, saved_files
from director.tools.comfyui.workflow import Workflow, check_on_server

REQUEUES = 3  # a server that keeps losing a prompt is given up on, and the ladder goes on


@dataclass
class Session:
    server: ComfyUI
    _outstanding: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, workflows: list[Workflow]) -> None:
        """Refuse, before the run, what the server cannot run (its node list is fetched
        once: an unreachable server is the one clear error)."""
        check_on_server(workflows, self.server.object_info(), self.server.url)

    def send(self, graph: graphs.Graph, salt: str = "") -> str:
        """Queue ``graph`` once (a resumed run finds a prompt it already queued); its id."""
        pid = self.server.queue(graph, prompt_id(graph, salt))
        with self._lock:
            self._outstanding.add(pid)
        return pid

    def record(self, workflow: Workflow, graph: graphs.Graph, pid: str) -> dict[str, Any]:
        """What an attempt keeps: the workflow, its key parameters, the exact graph sent (it
        loads back into ComfyUI as it is), the server's versions and the prompt id."""
        return {
            "workflow": workflow.name,
            "comfyui": graphs.key_parameters(graph, graphs.find_roles(graph, workflow.source)),
            "graph": graph,
            "server": {"url": self.server.url, **self.server.versions()},
            "prompt_id": pid,
        }

    def files(
        self,
        pid: str,
        outputs: list[str],
        progress: Callable[[str], None] | None,
        graph: graphs.Graph | None = None,
    ):
        """The files the prompt saved, once it has finished. A prompt interrupted when its run
        was stopped is queued again, once, under an id made from the first (so a resume of
        the resume finds it): stopping a run loses no attempt."""
        try:
            entry = self._wait(pid, progress, graph)
        except GenerationFailed as exc:
            if exc.code != "execution_interrupted" or graph is None:
                raise
            pid = self.send(graph, salt=pid)
            entry = self._wait(pid, progress, graph)
        found = saved_files(entry, outputs)
        if not found:
            raise GenerationFailed(
                f"The ComfyUI prompt {pid} saved no file from its output nodes {outputs}.",
                "Check that the workflow's saving node is connected.",
                code="no_outputs",
                task_id=pid,
            )
        return found

    def _wait(self, pid: str, progress, graph: graphs.Graph | None) -> dict:
        """The prompt's finished history entry; a prompt the server lost (taken off its
        queue, or a restarted server) is queued again under its own id, when its graph is
        known."""
        try:
            for tries in range(REQUEUES + 1):
                try:
                    entry = self.server.wait(pid, progress)
                    break
                except Lost:
                    if graph is None or tries == REQUEUES:
                        raise GenerationFailed(
                            f"The ComfyUI server no longer has the prompt {pid}.",
                            "The ladder makes it again.",
                            code="lost",
                            task_id=pid,
                        ) from None
                    self.server.queue(graph, pid)
        except GenerationFailed:
            self._done(pid)
            raise
        self._done(pid)  # not on Ctrl-C: the abort that follows stops the prompt
        return entry

    def _done(self, pid: str) -> None:
        with self._lock:
            self._outstanding.discard(pid)

    def fetch(self, record: dict, dest: Path) -> None:
        self.server.fetch(record, dest)

    @staticmethod
    def reporter(progress, job, what: str) -> Callable[[str], None] | None:
        """What turns a sampler's "12/30" into the run's progress line for the job's shot."""
        if progress is None:
            return None
        shot = job.request["shot"]["id"]
        return lambda text: progress(shot, f"{what} on ComfyUI, step {text}")

    def abort(self) -> None:
        """Take this run's prompts off the server: the queued deleted, the running one
        interrupted."""
        with self._lock:
            pending, self._outstanding = list(self._outstanding), set()
        if pending:
            self.server.cancel(pending)


def suffix_of(record: dict) -> str:
    return Path(str(record.get("filename", ""))).suffix.lower()
