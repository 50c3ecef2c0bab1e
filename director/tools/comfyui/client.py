"""A client for one ComfyUI server: queue a graph once, wait for it, fetch what it saved.

The prompt id is the client's own, derived from the graph it sends, so a run that died after
queueing a prompt and before logging it finds it again on resume: ``queue`` asks ``/history``
and ``/queue`` before posting, and a prompt the server already has is never queued twice.
Waiting listens on ``/ws`` (progress, and the end of the prompt, as they happen) and asks
``/history`` as well, since a late listener misses the events already sent; without the
``websocket-client`` package it polls alone. Transient failures (a 5xx, a dropped connection)
are tried again; a server that cannot be reached stops the run with how to start it, and a
prompt the server refuses (node errors) or fails (``execution_error``) is a failed generation,
which the ladder climbs on, with the node's own message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from socket import gaierror
from typing import Any

from director.errors import GenerationFailed, InputError, ProviderError
from director.tools import hosted

DEFAULT_URL = "http://127.0.0.1:8188"
START_HINT = (
    "Start ComfyUI (python main.py --listen 127.0.0.1 --port 8188), or point --comfyui-url "
    "(COMFYUI_URL, or comfyui_url in the config file) at the server."
)
MAX_RESULT_BYTES = 2 * 1024**3
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp", ".png")

Progress = Callable[[str], None]


def prompt_id(graph: dict, salt: str = "") -> str:
    """The prompt id of a graph: a lowercase UUID from the graph's hash, so the same request
    always names the same prompt."""
    text = salt + json.dumps(graph, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return str(uuid.UUID(hex=digest[:32], version=4))


def check_url(url: str, setting: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"{setting} {url!r} is not an http(s) URL.",
            f"Pass the address ComfyUI listens on, e.g. {DEFAULT_URL}.",
        )
    return url.strip().rstrip("/")


@dataclass
class ComfyUI:
    """One server. ``timeout`` bounds one prompt's wait, ``request_timeout`` one request."""

    url: str = DEFAULT_URL
    timeout: float = 3600.0
    request_timeout: float = 30.0
    retries: hosted.Retries = field(default_factory=lambda: hosted.Retries(failed=3))
    poll_every: float = 1.0  # seconds between /history checks while the websocket is quiet
    websocket: bool = True
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _uploaded: dict[str, str] = field(default_factory=dict, repr=False)

    # --- plain requests -------------------------------------------------------------------

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, json.dumps(body).encode("utf-8"))

    def _call(self, method: str, path: str, data: bytes | None = None, headers=None) -> Any:
        what = f"ComfyUI {method} {path.split('?')[0]}"

        def once() -> Any:
            request = urllib.request.Request(
                self.url + path,
                data=data,
                method=method,
                headers=headers or ({"Content-Type": "application/json"} if data else {}),
            )
            return self._answer(request, what)

        return hosted.retrying(once, retries=self.retries, what=what, on_retry=None)

    def _answer(self, request: urllib.request.Request, what: str) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, what) from None
        except urllib.error.URLError as exc:
            if _refused(exc):
                raise self.unreachable(exc.reason) from None
            raise hosted.Transient(f"{what}: {exc.reason}", throttled=False) from None
        if not body:
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            return body

    def _http_error(self, exc: urllib.error.HTTPError, what: str) -> Exception:
        body = exc.read()
        problem = hosted.transient(exc.code, None, f"{what}: HTTP {exc.code}", exc.headers)
        if problem is not None:
            return problem
        try:
            return Refused(exc.code, json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Refused(exc.code, {"error": {"message": body[:300].decode("utf-8", "replace")}})

    def unreachable(self, reason: Any) -> ProviderError:
        return ProviderError(f"ComfyUI at {self.url} is not reachable ({reason}).", START_HINT)

    # --- what the server has --------------------------------------------------------------

    def object_info(self) -> dict[str, Any]:
        if "object_info" not in self._cache:
            info = self.get("/object_info")
            if not isinstance(info, dict):
                raise ProviderError(
                    f"{self.url} answered /object_info with something that is not ComfyUI's.",
                    START_HINT,
                )
            self._cache["object_info"] = info
        return self._cache["object_info"]

    def system_stats(self) -> dict[str, Any]:
        if "system_stats" not in self._cache:
            stats = self.get("/system_stats")
            self._cache["system_stats"] = stats if isinstance(stats, dict) else {}
        return self._cache["system_stats"]

    def versions(self) -> dict[str, Any]:
        """What a record of the work names: ComfyUI's and PyTorch's versions, the devices."""
        stats = self.system_stats()
        system = stats.get("system") or {}
        devices = [d.get("name", "") for d in stats.get("devices") or [] if isinstance(d, dict)]
        found = {
            "comfyui": system.get("comfyui_version", ""),
            "pytorch": system.get("pytorch_version", ""),
            "python": str(system.get("python_version", "")).split(" ")[0],
            "devices": devices,
        }
        return {k: v for k, v in found.items() if v}

    # --- uploads --------------------------------------------------------------------------

    def upload(self, path: str | Path, *, data: bytes | None = None) -> str:
        """Put an image in the server's input folder under a name made of its content, so
        the same picture uploaded again is left as it is; the name for ``LoadImage``."""
        raw = data if data is not None else Path(path).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in self._uploaded:
            return self._uploaded[digest]
        suffix = Path(str(path)).suffix.lower() or ".png"
        name = f"director-{digest[:24]}{suffix}"
        body, boundary = _multipart(name, raw, {"type": "input", "overwrite": "false"})
        answer = self._call(
            "POST",
            "/upload/image",
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        stored = answer.get("name", name) if isinstance(answer, dict) else name
        if isinstance(answer, dict) and answer.get("subfolder"):
            stored = f"{answer['subfolder']}/{stored}"
        self._uploaded[digest] = stored
        return stored

    # --- prompts --------------------------------------------------------------------------

    def queue(self, graph: dict, pid: str) -> str:
        """Queue ``graph`` as prompt ``pid`` unless the server already has it."""
        if self._known(pid):
            return pid
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": pid}
        try:
            self.post("/prompt", body)
        except Refused as exc:
            if self._known(pid):
                return pid  # a resubmission the server refused: it has the prompt
            raise exc.failure(pid) from None
        return pid

    def _known(self, pid: str) -> bool:
        """Whether the server has the prompt: queued, running or done. The queue is asked
        first, since a prompt leaves it for the history, never the other way."""
        return self.in_queue(pid) or self.history(pid) is not None

    def history(self, pid: str) -> dict | None:
        """The prompt's history entry once it has finished (either way), else None."""
        answer = self.get(f"/history/{pid}")
        entry = answer.get(pid) if isinstance(answer, dict) else None
        return entry if isinstance(entry, dict) else None

    def in_queue(self, pid: str) -> bool:
        answer = self.get("/queue")
        if not isinstance(answer, dict):
            return False
        items = [*(answer.get("queue_running") or []), *(answer.get("queue_pending") or [])]
        return any(isinstance(item, list) and len(item) > 1 and item[1] == pid for item in items)

    def cancel(self, pids: list[str]) -> None:
        """Stop these prompts: all taken off the queue first (so none starts as another is
        interrupted), then the one running interrupted."""
        with contextlib.suppress(Refused, ProviderError):
            self.post("/queue", {"delete": pids})
        for pid in pids:
            with contextlib.suppress(Refused, ProviderError):
                self.post("/interrupt", {"prompt_id": pid})

    def wait(self, pid: str, progress: Progress | None = None) -> dict:
        """The prompt's history entry when it has finished; GenerationFailed when it failed
        or is still running after ``timeout``."""
        deadline = time.monotonic() + self.timeout
        entry = self.history(pid)
        if entry is None:
            entry = self._listen(pid, deadline, progress)
        return checked(entry, pid)

    def _listen(self, pid: str, deadline: float, progress: Progress | None) -> dict:
        socket = self._socket()
        try:
            while True:
                entry = self.history(pid)  # after connecting too: events are not replayed
                if entry is not None:
                    return entry
                if not self.in_queue(pid) and self.history(pid) is None:
                    raise Lost(pid)
                if time.monotonic() > deadline:
                    raise _still_running(pid, self.timeout)
                if socket is None:
                    time.sleep(self.poll_every)
                elif not _events(socket, pid, self.poll_every, progress):
                    socket.close()
                    socket = None
        finally:
            if socket is not None:
                socket.close()

    def _socket(self) -> Any:
        if not self.websocket:
            return None
        try:
            import websocket  # websocket-client
        except ImportError:
            return None
        address = self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            return websocket.create_connection(address, timeout=self.request_timeout)
        except Exception:  # noqa: BLE001 (no websocket: polling alone does the job)
            return None

    def fetch(self, record: dict, dest: Path, *, max_bytes: int = MAX_RESULT_BYTES) -> int:
        """Download one saved file (a ``{"filename", "subfolder", "type"}`` record)."""
        query = urllib.parse.urlencode(
            {
                "filename": record.get("filename", ""),
                "subfolder": record.get("subfolder", ""),
                "type": record.get("type", "output"),
            }
        )
        url = f"{self.url}/view?{query}"
        return hosted.retrying(
            lambda: hosted.download(
                url,
                dest,
                allowed_hosts=[hosted.host_of(self.url)],
                max_bytes=max_bytes,
                timeout=max(self.request_timeout, 120.0),
            ),
            retries=self.retries,
            what="ComfyUI download",
        )


# --- answers ----------------------------------------------------------------------------------


class Lost(Exception):
    """The server has no such prompt, queued, running or done: it was taken off the queue
    (a stopped run) or the server restarted. The caller queues it again."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


class Refused(Exception):
    """A 4xx answer from the server, with its JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body if isinstance(body, dict) else {}

    def failure(self, pid: str) -> GenerationFailed:
        return GenerationFailed(
            f"ComfyUI refused the prompt: {node_errors(self.body)}",
            "Fix the workflow in ComfyUI (load the graph director sent, from the run folder) "
            "or check the models on the server with director doctor.",
            code=str((self.body.get("error") or {}).get("type") or f"HTTP{self.status}"),
            task_id=pid,
        )


def node_errors(body: dict) -> str:
    """The server's reasons for refusing a prompt, node by node."""
    error = body.get("error") or {}
    parts = []
    for node_id, found in (body.get("node_errors") or {}).items():
        for item in (found or {}).get("errors") or []:
            detail = item.get("details") or item.get("message") or ""
            parts.append(f"node {node_id} ({found.get('class_type', '?')}): {detail}".strip())
    if not parts:
        parts.append(str(error.get("message") or "no reason given"))
    return "; ".join(parts)


def checked(entry: dict, pid: str) -> dict:
    """A finished history entry, or GenerationFailed with the failing node's message."""
    status = entry.get("status") or {}
    if status.get("status_str", "success") == "success" and entry.get("outputs"):
        return entry
    messages = status.get("messages") or []
    for event, data in (m for m in messages if isinstance(m, list) and len(m) == 2):
        if event == "execution_error":
            raise GenerationFailed(
                f"ComfyUI failed the prompt in node {data.get('node_id')} "
                f"({data.get('node_type')}): {data.get('exception_message', '').strip()}",
                "The ladder tries again; if every try fails the same way, fix the workflow "
                "or the server (its console has the traceback).",
                code=str(data.get("exception_type") or "execution_error"),
                task_id=pid,
            )
        if event == "execution_interrupted":
            raise GenerationFailed(
                f"The ComfyUI prompt {pid} was interrupted on the server.",
                "Resume the run to make it again.",
                code="execution_interrupted",
                task_id=pid,
            )
    raise GenerationFailed(
        f"The ComfyUI prompt {pid} finished without saving anything.",
        "Check that the workflow ends in a saving node (SaveImage, SaveVideo).",
        code="no_outputs",
        task_id=pid,
    )


def saved_files(entry: dict, outputs: list[str]) -> list[dict]:
    """The file records the output nodes saved, in node order: every list of records in each
    node's output (``images``, ``gifs``, ``videos``...), since savers report under their own
    keys."""
    found = []
    node_outputs = entry.get("outputs") or {}
    for node_id in outputs or list(node_outputs):
        for value in (node_outputs.get(node_id) or {}).values():
            if isinstance(value, list):
                found += [r for r in value if isinstance(r, dict) and r.get("filename")]
    return found


def _events(socket: Any, pid: str, seconds: float, progress: Progress | None) -> bool:
    """Read websocket messages for up to ``seconds``, or until the prompt ends; False when
    the socket is gone (the caller polls on without it)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            socket.settimeout(left)
            frame = socket.recv()
        except Exception as exc:  # noqa: BLE001 (a timeout, or a socket that closed)
            return type(exc).__name__ == "WebSocketTimeoutException"
        if not isinstance(frame, str):
            continue  # binary frames are previews
        if _ended(_message(frame), pid, progress):
            return True
    return True


def _ended(message: dict, pid: str, progress: Progress | None) -> bool:
    """Whether a websocket message says the prompt ended; progress goes to ``progress``."""
    data = message.get("data") or {}
    if not isinstance(data, dict) or data.get("prompt_id") not in (None, pid):
        return False
    kind = message.get("type")
    if kind == "progress" and progress is not None and data.get("max"):
        progress(f"{data.get('value')}/{data.get('max')}")
    if kind in ("execution_success", "execution_error", "execution_interrupted"):
        return True
    return kind == "executing" and data.get("node") is None and data.get("prompt_id") == pid


def _message(frame: str) -> dict:
    try:
        message = json.loads(frame)
    except json.JSONDecodeError:
        return {}
    return message if isinstance(message, dict) else {}


def _still_running(pid: str, timeout: float) -> GenerationFailed:
    return GenerationFailed(
        f"The ComfyUI prompt {pid} was still running after {timeout:.0f} s.",
        "Resume the run later to collect it (it is not queued again), or raise --comfyui-timeout.",
        code="WaitTimeout",
        task_id=pid,
    )


def _refused(exc: urllib.error.URLError) -> bool:
    """Whether nothing listens there (or the host does not exist), as opposed to a hiccup."""
    return isinstance(exc.reason, ConnectionRefusedError | gaierror)


def _multipart(name: str, raw: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n"
    ).encode()
    return b"".join([*parts, head, raw, f"\r\n--{boundary}--\r\n".encode()]), boundary
