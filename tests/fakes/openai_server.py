"""A fake OpenAI-compatible server on 127.0.0.1 for the real ``openai`` client.

It speaks the parts of the protocol director uses: ``POST …/chat/completions`` (any prefix, so
both ``/v1`` and DashScope's ``/compatible-mode/v1`` work), ``POST …/images/generations`` and
``POST …/images/edits`` (multipart, ``image[]`` parts and an optional ``mask``). Tests script
the chat answers (a queue, or a handler that sees each request), inject errors as the real
services send them, and read back every request as it arrived.

    with FakeOpenAI() as fake:
        fake.script({"title": "..."}, "not json", Reply.rate_limited())
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

DEFAULT_KEY = "sk-fake-0123456789abcdef"


@dataclass
class Reply:
    """One scripted HTTP answer: a status, a JSON body and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body = {"error": {"message": message, "type": type, "param": None, "code": code}}
        return cls(status, body, headers or {})

    @classmethod
    def rate_limited(cls, retry_after: float = 0.05) -> Reply:
        return cls.error(
            429,
            "Rate limit reached for requests. Please try again later.",
            type="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": f"{retry_after:g}"},
        )

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float = 0.01) -> Reply:
        # A short Retry-After keeps the client's backoff from slowing the tests down.
        return cls.error(
            status,
            "The server had an error while processing your request.",
            type="server_error",
            headers={"Retry-After": f"{retry_after:g}"},
        )

    @classmethod
    def content_policy(cls) -> Reply:
        """OpenAI's answer when its safety system blocks an image prompt."""
        return cls.error(
            400,
            "Your request was rejected as a result of our safety system. Your prompt may "
            "contain text that is not allowed by our safety system.",
            code="content_policy_violation",
        )

    @classmethod
    def data_inspection_failed(cls) -> Reply:
        """DashScope compatible mode's answer when its content filter blocks the input."""
        return cls.error(
            400,
            "Input data may contain inappropriate content.",
            type="data_inspection_failed",
            code="data_inspection_failed",
        )

    @classmethod
    def model_not_found(cls, model: str) -> Reply:
        return cls.error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )


@dataclass
class Part:
    """One part of a multipart request."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Request:
    """A request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    json: dict[str, Any] | None = None
    parts: list[Part] = field(default_factory=list)

    def fields(self) -> dict[str, str]:
        """The plain (non-file) fields of a multipart request."""
        return {p.name: p.data.decode() for p in self.parts if p.filename is None}

    def files(self, name: str) -> list[Part]:
        return [p for p in self.parts if p.name == name and p.filename is not None]

    @property
    def text(self) -> str:
        """Every message's text, joined: what a test greps for prompt contents."""
        messages = (self.json or {}).get("messages", [])
        return "\n".join(_message_text(m) for m in messages)


Script = Reply | str | dict[str, Any]
Handler = Callable[[Request], Script]


class FakeOpenAI:
    """The fake server. ``latency`` delays every answer; ``models`` (when set) lists the only
    models that exist; ``reject_json_schema`` answers 400 to structured outputs as some Qwen
    models do; JSON mode requires the word "json" in the messages, as DashScope does."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        models: set[str] | None = None,
        latency: float = 0.0,
        reject_json_schema: bool = False,
    ) -> None:
        self.api_key = api_key
        self.models = models
        self.latency = latency
        self.reject_json_schema = reject_json_schema
        self.chat_handler: Handler | None = None
        self.requests: list[Request] = []
        self.counts: Counter[str] = Counter()
        self._chat: deque[Script] = deque()
        self._images: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    # --- scripting -------------------------------------------------------------------------

    def script(self, *answers: Script) -> None:
        """Queue chat answers: a dict (sent as JSON content), a string (sent as content as is)
        or a Reply (sent as the HTTP answer)."""
        with self._lock:
            self._chat.extend(answers)

    def script_images(self, *replies: Reply) -> None:
        """Queue error answers for the image endpoints; with none queued they draw a PNG."""
        with self._lock:
            self._images.extend(replies)

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def image_requests(self) -> list[Request]:
        return [r for r in self.requests if "/images/" in r.path]

    # --- answering -------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.counts[request.path] += 1
        if self.latency:
            time.sleep(self.latency)
        refusal = self._refuse(request)
        if refusal is not None:
            return refusal
        if request.path.endswith("/chat/completions"):
            return self._chat_answer(request)
        if request.path.endswith(("/images/generations", "/images/edits")):
            return self._image_answer(request)
        return Reply.error(404, f"Invalid URL (POST {request.path})", code="unknown_url")

    def _refuse(self, request: Request) -> Reply | None:
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if key != self.api_key:
            # The real service quotes the key it was given; callers must not repeat it.
            return Reply.error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        model = (request.json or {}).get("model") or request.fields().get("model")
        if self.models is not None and model not in self.models:
            return Reply.model_not_found(str(model))
        return None

    def _chat_answer(self, request: Request) -> Reply:
        body = request.json or {}
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and self.reject_json_schema:
            return Reply.error(
                400,
                "<400> InternalError.Algo.InvalidParameter: The value of 'response_format.type'"
                " is invalid: json_schema is not supported by this model.",
                code="invalid_parameter_error",
            )
        if kind == "json_object" and "json" not in request.text.lower():
            return Reply.error(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                code="invalid_parameter_error",
            )
        with self._lock:
            queued = self._chat.popleft() if self._chat else None
        answer = queued if queued is not None else self._handled(request)
        if isinstance(answer, Reply):
            return answer
        content = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return Reply(200, _completion(body.get("model", ""), content, request.text))

    def _handled(self, request: Request) -> Script:
        if self.chat_handler is None:
            return Reply.error(400, "The fake has no scripted answer left.", code="fake_empty")
        return self.chat_handler(request)

    def _image_answer(self, request: Request) -> Reply:
        with self._lock:
            queued = self._images.popleft() if self._images else None
        if queued is not None:
            return queued
        fields = request.json or request.fields()
        size = fields.get("size") or "auto"
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        n = int(fields.get("n") or 1)
        prompt = str(fields.get("prompt", ""))
        data = [{"b64_json": _png_b64(width, height, f"{prompt}/{i}")} for i in range(n)]
        text_tokens, image_tokens = len(prompt) // 4 + 1, 65 * len(request.files("image[]"))
        usage = {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": width * height // 1000,
            "total_tokens": text_tokens + image_tokens + width * height // 1000,
        }
        body = {"created": int(time.time()), "data": data, "size": f"{width}x{height}"}
        return Reply(200, {**body, "usage": usage, "output_format": "png"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        request = Request(
            method="POST",
            path=self.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in self.headers.items()},
            raw=raw,
        )
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            request.json = json.loads(raw or b"{}")
        elif content_type.startswith("multipart/form-data"):
            request.parts = _multipart(content_type, raw)
        self._send(fake.answer(request))

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body if reply.body is not None else {}).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (killed)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return


def _multipart(content_type: str, raw: bytes) -> list[Part]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.default).parsebytes(head + raw)
    parts = []
    for part in message.iter_parts():
        parts.append(
            Part(
                name=part.get_param("name", header="content-disposition") or "",
                filename=part.get_filename(),
                content_type=part.get_content_type(),
                data=part.get_payload(decode=True) or b"",
            )
        )
    return parts


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _completion(model: str, content: str, prompt: str) -> dict[str, Any]:
    prompt_tokens, completion_tokens = len(prompt) // 4 + 1, len(content) // 4 + 1
    return {
        "id": f"chatcmpl-{hashlib.sha256(content.encode()).hexdigest()[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": None},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _png_b64(width: int, height: int, seed_text: str) -> str:
    """A small-file PNG of the size asked for: a gradient tinted by the prompt."""
    digest = hashlib.sha256(seed_text.encode()).digest()
    base = Image.linear_gradient("L").resize((width, height))
    tint = Image.new("RGB", (width, height), tuple(digest[:3]))
    image = Image.merge("RGB", (base, base.rotate(90).resize((width, height)), base))
    image = Image.blend(image, tint, 0.5)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode()
