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
from director.tools.comfyui.client import ComfyUI, checked, prompt_id, saved_files
from director.tools.comfyui.workflow import Workflow, check_on_server


@dataclass
class Session:
    server: ComfyUI
    _outstanding: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, workflows: list[Workflow]) -> None:
        """Refuse, before the run, what the server cannot run (its node list is fetched
        once: an unreachable server is the one clear error)."""
        check_on_server(workflows, self.server.object_info(), self.server.url)

    def send(self, graph: graphs.Graph) -> str:
        """Queue ``graph`` once (a resumed run finds a prompt it already queued); its id."""
        pid = self.server.queue(graph, prompt_id(graph))
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

    def files(self, pid: str, outputs: list[str], progress: Callable[[str], None] | None):
        """The files the prompt saved, once it has finished."""
        try:
            entry = self.server.wait(pid, progress)
        finally:
            with self._lock:
                self._outstanding.discard(pid)
        found = saved_files(checked(entry, pid), outputs)
        if not found:
            raise GenerationFailed(
                f"The ComfyUI prompt {pid} saved no file from its output nodes {outputs}.",
                "Check that the workflow's saving node is connected.",
                code="no_outputs",
                task_id=pid,
            )
        return found

    def fetch(self, record: dict, dest: Path) -> None:
        self.server.fetch(record, dest)

    def abort(self) -> None:
        """Take this run's prompts off the server: the queued deleted, the running one
        interrupted."""
        with self._lock:
            pending, self._outstanding = list(self._outstanding), set()
        for pid in pending:
            self.server.interrupt(pid)


def suffix_of(record: dict) -> str:
    return Path(str(record.get("filename", ""))).suffix.lower()
