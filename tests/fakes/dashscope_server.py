"""A fake DashScope on 127.0.0.1 for the real ``dashscope`` SDK: the Wan async task protocol.

Submit (``POST /api/v1/services/aigc/<task>/<function>`` with ``X-DashScope-Async: enable`` and
a Bearer key) answers a task id; ``GET /api/v1/tasks/{id}`` walks the task through PENDING and
RUNNING to SUCCEEDED (or FAILED, which is HTTP 200 with ``output.code``) once ``latency``
seconds have passed; the results are real files served by the fake (a PNG of the size asked
for, an MP4 of the resolution and length asked for, made once per shape with the ffmpeg that
ships with imageio-ffmpeg). Knobs inject what the real service does on a bad day, counters say
how often it was asked, and ``requests`` keeps every request as it arrived. ``interrupt``
cuts a connection at a chosen request, as a client killed mid-call would: the crash tests use
it to kill the run at that very moment.

    with FakeDashScope(latency=0.05) as fake:
        fake.throttle_first = 2
        os.environ["DASHSCOPE_HTTP_BASE_URL"] = fake.base_url
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

DEFAULT_KEY = "sk-fake-dashscope-5e1f0c3a9b"
SERVICES = "/api/v1/services/aigc/"
# Submit path -> what the task makes.
PATHS = {
    "text2image/image-synthesis": "t2i",
    "image2image/image-synthesis": "i2i",
    "video-generation/video-synthesis": "video",
    "image2video/video-synthesis": "kf2v",
}
IMAGE_MODELS = {
    "wan2.2-t2i-flash",
    "wan2.2-t2i-plus",
    "wan2.5-t2i-preview",
    "wanx2.1-t2i-turbo",
    "wanx2.1-t2i-plus",
    "wan2.5-i2i-preview",
    "wanx2.1-imageedit",
}
VIDEO_MODELS = {
    "wan2.2-i2v-flash",
    "wan2.2-i2v-plus",
    "wan2.5-i2v-preview",
    "wanx2.1-i2v-turbo",
    "wanx2.1-i2v-plus",
    "wan2.2-kf2v-flash",
    "wanx2.1-kf2v-plus",
    "wan2.2-t2v-plus",
    "wan2.5-t2v-preview",
    "wanx2.1-t2v-turbo",
    "wanx2.1-t2v-plus",
}
TIER_SIZES = {"480P": (832, 480), "720P": (1280, 720), "1080P": (1920, 1080)}
EDIT_FUNCTIONS = {"description_edit", "description_edit_with_mask", "stylization_all"}


@dataclass
class Task:
    id: str
    kind: str
    model: str
    body: dict[str, Any]
    created: float
    latency: float
    failure: tuple[str, str] | None = None
    output: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)


class Refusal(Exception):
    """An error answer: status, DashScope code and message, extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class FakeDashScope:
    def __init__(self, *, api_key: str = DEFAULT_KEY, latency: float = 0.0) -> None:
        self.api_key = api_key
        self.latency = latency  # seconds from submission to the task's end
        self.models = IMAGE_MODELS | VIDEO_MODELS  # what the key may use; others: ModelNotFound
        self.unknown_model = (404, "ModelNotFound")
        self.throttle_first = 0  # the first k submissions answer 429 Throttling.RateQuota
        self.retry_after: float | None = 1.0  # their Retry-After header (None: no header)
        self.submit_errors: deque[tuple[int, str, str]] = deque()  # next submissions, one each
        self.poll_errors: deque[tuple[int, str, str]] = deque()  # next polls, one each
        self.fail_next: deque[tuple[str, str]] = deque()  # next tasks end FAILED (code, message)
        self.blocked_words: set[str] = set()  # in a prompt: submission refused (moderation)
        self.unsafe_words: set[str] = set()  # in a prompt: the task ends FAILED (moderation)
        self.image_size: tuple[int, int] | None = None  # deliver this size whatever was asked
        self.video_fps = 16
        self.result_base: str | None = None  # where result URLs point (default: this server)
        self.file_delay = 0.0  # seconds between chunks of a served file
        self.file_chunk = 16 * 1024  # bytes per chunk of a served file
        # Called as interrupt(step, kind) when a submission ("submit", kind "t2i", "i2i",
        # "video" or "kf2v"), a poll ("poll", the task's kind) or a result download
        # ("download", "image" or "video", after its first chunk) arrives. True cuts the
        # connection there, unanswered: a cut submission is not accepted (no task, no charge),
        # a cut download stops part-way. ``cut`` counts the cuts per step.
        self.interrupt: Callable[[str, str], bool] | None = None
        self.cut: Counter[str] = Counter()
        self.submissions = 0
        self.polls = 0
        self.downloads = 0
        self.submit_times: list[float] = []
        self.requests: list[dict[str, Any]] = []
        self.tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._files = Path(tempfile.mkdtemp(prefix="fake-dashscope-"))
        self._made: dict[tuple, str] = {}
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeDashScope:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop to notice, once per test.
        loop = self._server.serve_forever
        threading.Thread(target=loop, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeDashScope:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._files, ignore_errors=True)  # the result files it made

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The value for DASHSCOPE_HTTP_BASE_URL."""
        return f"{self.origin}/api/v1"

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    # --- reading back -------------------------------------------------------------------

    def bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the submissions (all, or of one kind: "t2i", "i2i", "video", "kf2v")."""
        return [
            r["body"]
            for r in self.requests
            if r["method"] == "POST" and (kind is None or r.get("kind") == kind)
        ]

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def accepted(self) -> list[str]:
        """A fingerprint of each accepted submission's body (the work the account pays for),
        in the order the tasks were created."""
        tasks = sorted(self.tasks.values(), key=lambda t: t.created)
        return [fingerprint(t.body) for t in tasks]

    def duplicates(self) -> int:
        """Accepted submissions whose body the fake had already accepted: work paid twice."""
        return sum(n - 1 for n in Counter(self.accepted()).values())

    def cuts(self, step: str, kind: str) -> bool:
        """Whether ``interrupt`` cuts this request (counted in ``cut``)."""
        if self.interrupt is None or not self.interrupt(step, kind):
            return False
        with self._lock:
            self.cut[step] += 1
        return True

    # --- the protocol -------------------------------------------------------------------

    def submit(self, kind: str, headers: dict[str, str], body: dict[str, Any]) -> dict:
        with self._lock:
            self.submissions += 1
            self.submit_times.append(time.monotonic())
            if self.throttle_first >= self.submissions:
                extra = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
                raise Refusal(429, "Throttling.RateQuota", "Requests rate limit exceeded.", extra)
            if self.submit_errors:
                raise Refusal(*self.submit_errors.popleft())
        if headers.get("x-dashscope-async") != "enable":
            raise Refusal(
                403, "AccessDenied", "current user api does not support synchronous calls"
            )
        model = body.get("model") or ""
        if model not in self.models:
            status, code = self.unknown_model
            raise Refusal(status, code, f"Model not exist: {model}")
        prompt = str((body.get("input") or {}).get("prompt") or "")
        if any(w in prompt for w in self.blocked_words):
            raise Refusal(
                400, "DataInspectionFailed", "Input data may contain inappropriate content."
            )
        _validate(kind, model, body)
        return self._create(kind, model, body, prompt)

    def _create(self, kind: str, model: str, body: dict, prompt: str) -> dict:
        task = Task(str(uuid.uuid4()), kind, model, body, time.monotonic(), self.latency)
        with self._lock:
            if self.fail_next:
                task.failure = self.fail_next.popleft()
        if task.failure is None and any(w in prompt for w in self.unsafe_words):
            task.failure = (
                "DataInspectionFailed",
                "Output data may contain inappropriate content.",
            )
        self.tasks[task.id] = task
        return {
            "request_id": str(uuid.uuid4()),
            "output": {"task_id": task.id, "task_status": "PENDING"},
        }

    def poll(self, task_id: str) -> dict:
        with self._lock:
            self.polls += 1
            if self.poll_errors:
                raise Refusal(*self.poll_errors.popleft())
        task = self.tasks.get(task_id)
        if task is None:
            return {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": task_id, "task_status": "UNKNOWN"},
            }
        elapsed = time.monotonic() - task.created
        if elapsed < task.latency:
            status = "PENDING" if elapsed < task.latency / 4 else "RUNNING"
            return {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": task.id, "task_status": status},
            }
        return self._finished(task)

    def _finished(self, task: Task) -> dict:
        if task.failure is not None:
            code, message = task.failure
            output = {"task_id": task.id, "task_status": "FAILED", "code": code, "message": message}
            return {"request_id": str(uuid.uuid4()), "output": output}
        if not task.output:
            if task.kind in ("t2i", "i2i"):
                task.output, task.usage = self._image_result(task)
            else:
                task.output, task.usage = self._video_result(task)
        output = {"task_id": task.id, "task_status": "SUCCEEDED", **task.output}
        return {"request_id": str(uuid.uuid4()), "output": output, "usage": task.usage}

    def _image_result(self, task: Task) -> tuple[dict, dict]:
        params = task.body.get("parameters") or {}
        inputs = task.body.get("input") or {}
        if task.model == "wanx2.1-imageedit":
            size = _decode_image(inputs["base_image_url"]).size
        else:
            default = "1280*1280" if task.kind == "i2i" else "1024*1024"
            size = _parse_size(params.get("size", default))
        size = self.image_size or size
        n = int(params.get("n", 4 if task.kind == "t2i" else 1))
        url = self._result_url(self._png(size))
        results = [{"url": url, "orig_prompt": inputs.get("prompt", "")} for _ in range(n)]
        output = {
            "results": results,
            "task_metrics": {"TOTAL": n, "SUCCEEDED": n, "FAILED": 0},
        }
        return output, {"image_count": n}

    def _video_result(self, task: Task) -> tuple[dict, dict]:
        params = task.body.get("parameters") or {}
        inputs = task.body.get("input") or {}
        if "size" in params:
            size = _parse_size(params["size"])
        else:
            w, h = TIER_SIZES[params.get("resolution", "1080P")]
            first = inputs.get("img_url") or inputs.get("first_frame_url")
            fw, fh = _decode_image(first).size
            size = (w, h) if fw >= fh else (h, w)
        seconds = int(params.get("duration", 5))
        url = self._result_url(self._mp4(size, seconds, self.video_fps))
        output = {"video_url": url, "orig_prompt": inputs.get("prompt", "")}
        usage = {"video_count": 1, "video_duration": seconds, "video_ratio": f"{size[0]}*{size[1]}"}
        return output, usage

    def _result_url(self, name: str) -> str:
        base = self.result_base or self.origin
        return f"{base}/files/{name}?Expires=1700000000&Signature=fake"

    # --- result files -------------------------------------------------------------------

    def _png(self, size: tuple[int, int]) -> str:
        key = ("png", size)
        if key not in self._made:
            w, h = size
            img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
            name = f"img-{w}x{h}.png"
            img.save(self._files / name)
            self._made[key] = name
        return self._made[key]

    def _mp4(self, size: tuple[int, int], seconds: int, fps: int) -> str:
        key = ("mp4", size, seconds, fps)
        if key not in self._made:
            from imageio_ffmpeg import get_ffmpeg_exe

            w, h = size
            name = f"clip-{w}x{h}-{seconds}s-{fps}.mp4"
            source = f"testsrc2=size={w}x{h}:rate={fps}:duration={seconds}"
            argv = [get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
            argv += ["-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt"]
            argv += ["yuv420p", str(self._files / name)]
            subprocess.run(argv, check=True, capture_output=True, timeout=120)
            self._made[key] = name
        return self._made[key]

    def file(self, name: str) -> Path | None:
        path = self._files / Path(name).name
        return path if path.is_file() else None


def fingerprint(body: Any) -> str:
    """A submission body's digest, keys sorted: equal bodies, equal fingerprints. Nothing in
    a Wan request varies between two sends of the same work (no timestamps, no nonces)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- request validation, as the service does it ----------------------------------------


def _validate(kind: str, model: str, body: dict) -> None:
    inputs = body.get("input") or {}
    params = body.get("parameters") or {}
    if not isinstance(inputs, dict):
        raise Refusal(400, "InvalidParameter", "input must be an object")
    n = params.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 4:
        raise Refusal(400, "InvalidParameter", "parameters.n must be in [1, 4]")
    if kind == "t2i":
        _need(inputs, "prompt")
        _check_t2i_size(model, params.get("size", "1024*1024"))
    elif kind == "i2i" and model == "wanx2.1-imageedit":
        _check_edit(inputs)
    elif kind == "i2i":
        images = inputs.get("images") or []
        if not 1 <= len(images) <= 2:
            raise Refusal(400, "InvalidParameter", "input.images takes 1 or 2 images")
        for image in images:
            _decode_image(image)
    elif kind == "kf2v":
        _decode_image(_need(inputs, "first_frame_url"))
        _decode_image(_need(inputs, "last_frame_url"))
        _check_resolution(params)
    elif "t2v" in model:
        _need(inputs, "prompt")
        _parse_size(params.get("size", "1920*1080"))
    else:
        _check_frame(_decode_image(_need(inputs, "img_url")))
        _check_resolution(params)


def _need(inputs: dict, name: str) -> Any:
    value = inputs.get(name)
    if not value:
        raise Refusal(400, "InvalidParameter", f"Field required: input.{name}")
    return value


def _check_edit(inputs: dict) -> None:
    function = _need(inputs, "function")
    if function not in EDIT_FUNCTIONS:
        raise Refusal(400, "InvalidParameter", f"Unsupported function: {function}")
    base = _decode_image(_need(inputs, "base_image_url"))
    if function == "description_edit_with_mask":
        mask = _decode_image(_need(inputs, "mask_image_url"))
        if mask.size != base.size:
            raise Refusal(400, "InvalidParameter", "mask and base image sizes differ")


def _check_t2i_size(model: str, size: str) -> None:
    w, h = _parse_size(size)
    if model.startswith(("wan2.2", "wanx2.1")) and not (512 <= w <= 1440 and 512 <= h <= 1440):
        raise Refusal(400, "InvalidParameter", f"size {size}: each side must be in [512, 1440]")


def _check_resolution(params: dict) -> None:
    if params.get("resolution", "1080P") not in TIER_SIZES:
        raise Refusal(400, "InvalidParameter", "resolution must be 480P, 720P or 1080P")


def _check_frame(img: Image.Image) -> None:
    if not all(360 <= side <= 2000 for side in img.size):
        raise Refusal(400, "InvalidParameter", "img_url: each side must be in [360, 2000]")


def _parse_size(size: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in str(size).split("*"))
    except ValueError:
        raise Refusal(400, "InvalidParameter", f"size {size!r} is not W*H") from None
    return w, h


def _decode_image(value: str) -> Image.Image:
    """A data: URI's image; anything else (a local path, an oss:// upload) is refused here,
    where a real service would fetch an http(s) URL."""
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        raise Refusal(
            400, "InvalidParameter", f"url error, the fake takes data: URIs: {value!r:.60}"
        )
    try:
        img = Image.open(io.BytesIO(base64.b64decode(value.split(",", 1)[1], validate=True)))
        img.load()
    except (binascii.Error, OSError) as exc:
        raise Refusal(400, "InvalidParameter", f"image cannot be read: {exc}") from None
    return img


# --- HTTP -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDashScope
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        kind = PATHS.get(path.removeprefix(SERVICES)) if path.startswith(SERVICES) else None
        self._record("POST", body, kind)
        if kind is None:
            return self._error(Refusal(404, "NotFound", f"no such API: {path}"))
        if self.fake.cuts("submit", kind):
            self.close_connection = True
            return
        self._answer(lambda: self.fake.submit(kind, self._headers(), body), auth=True)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self._record("GET", None, None)
        if path.startswith("/api/v1/tasks/"):
            task_id = path.rsplit("/", 1)[-1]
            task = self.fake.tasks.get(task_id)
            if self.fake.cuts("poll", task.kind if task else ""):
                self.close_connection = True
                return
            return self._answer(lambda: self.fake.poll(task_id), auth=True)
        if path.startswith("/files/"):
            return self._file(path.removeprefix("/files/"))
        if path == "/blob":
            return self._blob(parse_qs(urlsplit(self.path).query))
        self._error(Refusal(404, "NotFound", f"no such path: {path}"))

    # --- pieces -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}

    def _record(self, method: str, body: Any, kind: str | None) -> None:
        headers = {k: v for k, v in self._headers().items() if k != "authorization"}
        entry = {"method": method, "path": self.path, "headers": headers, "body": body}
        if kind:
            entry["kind"] = kind
        with self.fake._lock:
            self.fake.requests.append(entry)

    def _answer(self, work, *, auth: bool) -> None:
        if auth and self._headers().get("authorization") != f"Bearer {self.fake.api_key}":
            return self._error(Refusal(401, "InvalidApiKey", "Invalid API-key provided."))
        try:
            payload = work()
        except Refusal as refusal:
            return self._error(refusal)
        self._send(200, json.dumps(payload).encode(), "application/json")

    def _error(self, refusal: Refusal) -> None:
        body = {"request_id": str(uuid.uuid4()), "code": refusal.code, "message": refusal.message}
        self._send(refusal.status, json.dumps(body).encode(), "application/json", refusal.headers)

    def _send(self, status: int, data: bytes, mime: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (killed)
            self.close_connection = True

    def _file(self, name: str) -> None:
        path = self.fake.file(name)
        if path is None:
            return self._error(Refusal(404, "NotFound", "the result has expired"))
        with self.fake._lock:
            self.fake.downloads += 1
        mime = "video/mp4" if path.suffix == ".mp4" else "image/png"
        kind = "video" if path.suffix == ".mp4" else "image"
        self._drip(path.read_bytes(), mime, self.fake.file_delay, cut=kind)

    def _blob(self, query: dict[str, list[str]]) -> None:
        """``/blob?bytes=N&delay=S[&length=no]``: N bytes, S seconds between chunks, with or
        without a Content-Length, for the download limits."""
        size = int(query.get("bytes", ["1024"])[0])
        delay = float(query.get("delay", ["0"])[0])
        declared = query.get("length", ["yes"])[0] != "no"
        self._drip(b"\0" * size, "application/octet-stream", delay, declared=declared)

    def _drip(
        self, data: bytes, mime: str, delay: float, *, declared: bool = True, cut: str = ""
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", mime)
        if declared:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = self.fake.file_chunk
        try:
            for start in range(0, len(data), chunk):
                if delay:
                    time.sleep(delay)
                self.wfile.write(data[start : start + chunk])
                self.wfile.flush()
                if start == 0 and cut and self.fake.cuts("download", cut):
                    self.close_connection = True
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def serve(monkeypatch):
    """A running fake, with director's DashScope settings (key and host) pointing at it; for
    a fixture to ``yield from``."""
    with FakeDashScope() as fake:
        monkeypatch.setenv("DASHSCOPE_API_KEY", fake.api_key)
        monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", fake.base_url)
        monkeypatch.delenv("DIRECTOR_DASHSCOPE_REGION", raising=False)
        yield fake


@pytest.fixture
def dashscope_fake(monkeypatch):
    yield from serve(monkeypatch)
