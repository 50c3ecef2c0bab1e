"""A fake OpenAI-compatible server on 127.0.0.1 for the real ``openai`` client.

It speaks the parts of the protocol director uses: ``POST …/chat/completions`` (any prefix, so
both ``/v1`` and DashScope's ``/compatible-mode/v1`` work), ``POST …/images/generations`` and
``POST …/images/edits`` (multipart, ``image[]`` parts and an optional ``mask``). Tests script
the chat answers (a queue, or a handler that sees each request), inject errors as the real
services send them, and read back every request as it arrived.

It is strict: every request is held against the request shapes OpenAI (and, on the
``/compatible-mode/`` path, DashScope) publish, and one that names a field the API does not
define, nests one wrongly or gives an enum a value the API does not take is answered 400 with
the body the real service sends (see "the published contract" below). Such a refusal is kept in
``violations``, and leaving the ``with`` block with one there fails the test, so a renamed field
cannot hide behind a caller's fallback; a test that sends bad requests on purpose takes them with
``take_violations()``.

    with FakeOpenAI() as fake:
        fake.script({"title": "..."}, "not json", Reply.rate_limited())
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, UnidentifiedImageError

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
        param: str | None = None,
    ) -> Reply:
        body = {"error": {"message": message, "type": type, "param": param, "code": code}}
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
    # The error body (``{"message", "type", "param", "code"}``) when the fake refused the
    # request for breaking the published contract.
    refusal: dict[str, Any] | None = None

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
    models do; JSON mode requires the word "json" in the messages, as OpenAI and DashScope do.
    ``violations`` holds the requests refused for breaking the published contract."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        models: set[str] | None = None,
        latency: float = 0.0,
        reject_json_schema: bool = False,
    ) -> None:
        self.api_key = api_key
        # A gateway of the user's own that takes basic auth (user, password) instead of a key,
        # as a URL with credentials in it sends.
        self.basic_auth: tuple[str, str] | None = None
        self.models = models
        self.latency = latency
        self.reject_json_schema = reject_json_schema
        self.chat_handler: Handler | None = None
        self.requests: list[Request] = []
        self.violations: list[Request] = []
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

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None and self.violations:
            found = "\n".join(
                f"  {r.path}: {(r.refusal or {}).get('message')}" for r in self.violations
            )
            raise AssertionError(f"Requests that break the published API contract:\n{found}")

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

    def take_violations(self) -> list[Request]:
        """The requests refused for breaking the contract so far, forgotten: for a test that
        sends them on purpose."""
        with self._lock:
            taken, self.violations = self.violations, []
        return taken

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
        if self.basic_auth is not None:
            pair = ":".join(self.basic_auth).encode()
            key = self.api_key if auth == f"Basic {base64.b64encode(pair).decode()}" else key
        if key != self.api_key:
            # The real service quotes the key it was given; callers must not repeat it.
            return Reply.error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        problem = contract_problem(request)
        if problem is not None:
            reply = problem.reply(compatible=COMPATIBLE in request.path)
            request.refusal = reply.body["error"]
            with self._lock:
                self.violations.append(request)
            return reply
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
        self._send(fake.answer(read_request(self)))

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


def read_request(handler: BaseHTTPRequestHandler) -> Request:
    """The POST request ``handler`` is answering, read whole (a server that delegates some of its
    paths to a FakeOpenAI reads them with this and hands them to ``FakeOpenAI.answer``)."""
    length = int(handler.headers.get("content-length") or 0)
    raw = handler.rfile.read(length)
    request = Request(
        method="POST",
        path=handler.path.split("?", 1)[0],
        headers={k.lower(): v for k, v in handler.headers.items()},
        raw=raw,
    )
    content_type = handler.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        request.json = json.loads(raw or b"{}")
    elif content_type.startswith("multipart/form-data"):
        request.parts = _multipart(content_type, raw)
    return request


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


# --- the published contract ------------------------------------------------------------------
#
# The request shapes the services publish, as data, and the checks that hold a request against
# them. Sources, cited by tag:
#   [sdk]   openai 3.63.0's typed params, which are generated from OpenAI's published OpenAPI spec
#           (github.com/openai/openai-openapi) and list every field with its Literal enums:
#           openai/types/chat/completion_create_params.py,
#           chat/chat_completion_{system,developer,user,assistant,tool,function}_message_param.py,
#           chat/chat_completion_content_part_*_param.py, shared_params/response_format_*.py,
#           image_generate_params.py, image_edit_params.py. The API reference renders the same
#           spec: https://platform.openai.com/docs/api-reference/chat/create , .../images/create ,
#           .../images/createEdit .
#   [so]    Structured Outputs guide, "Supported schemas" (root an object; every object with
#           additionalProperties false and every property required):
#           https://developers.openai.com/api/docs/guides/structured-outputs
#   [img]   Image generation guide: edits send ``image[]`` parts and a ``mask`` part; the mask
#           applies to the first image, has an alpha channel and the image's size; gpt-image-2
#           sizes; input_fidelity: https://developers.openai.com/api/docs/guides/image-generation
#   [err]   OpenAI's error bodies as users quote them. An unknown field, top level or nested:
#           {"message": "Unknown parameter: 'reasoning'.", "type": "invalid_request_error",
#           "param": "reasoning", "code": "unknown_parameter"} (teabranch/open-responses-server#41,
#           POST /v1/chat/completions; nested: songquanpeng/one-api#1319 'messages[1].tool_calls[0]
#           .index', pydantic/pydantic-ai#3653). An enum value the API does not take: "Invalid
#           value: '1536x1024'. Supported values are: '256x256', '512x512', and '1024x1024'."
#           (openai-php/client#641), code invalid_value (as a Java client's tests quote it).
#           Older answers to an unknown top-level field read "Unrecognized request argument
#           supplied: <name>" with null param and code (coroot/coroot#698,
#           xlinx/sd-webui-decadetw-auto-prompt-llm#29); the fake gives the newer form, whose
#           param names the field.
#   [ds]    DashScope's OpenAI-compatible chat (POST /compatible-mode/v1/chat/completions):
#           https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope
#           and its parameter reference, which lists the fields the OpenAI SDK must send "through
#           extra_body" and seed's range 0 to 2^31-1:
#           https://www.alibabacloud.com/help/en/model-studio/qwen-api-via-openai-chat-completions
#           (https://help.aliyun.com/zh/model-studio/use-qwen-by-calling-api); thinking:
#           https://www.alibabacloud.com/help/en/model-studio/deep-thinking . Its errors read
#           "<400> InternalError.Algo.InvalidParameter: ..." with code invalid_parameter_error.
#   [dsj]   JSON mode needs the word "json" in a message (OpenAI's rule and wording, which
#           DashScope repeats):
#           https://www.alibabacloud.com/help/en/model-studio/qwen-structured-output
#
# DashScope's compatible mode ignores fields it does not know; the fake refuses them there too,
# since a field the service drops without a word is as wrong as one it refuses.

COMPATIBLE = "/compatible-mode/"
NUMBER = (int, float)
NULL = type(None)

# [sdk] CompletionCreateParams: every top-level field of POST /chat/completions.
CHAT_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
# [ds] The fields DashScope's compatible mode adds ("pass it in extra_body"), with their types:
# on the compatible path only.
DASHSCOPE_CHAT_FIELDS: dict[str, tuple[type, ...]] = {
    "enable_thinking": (bool,),
    "thinking_budget": (int,),
    "preserve_thinking": (bool,),
    "top_k": (int,),
    "max_input_tokens": (int,),
    "enable_search": (bool,),
    "search_options": (dict,),
    "translation_options": (dict,),
}
# [sdk] The JSON types of the fields a request is likely to carry (null is allowed for all but
# model and messages, as the spec marks them Optional).
CHAT_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "messages": (list,),
    "seed": (int,),
    "n": (int,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "top_logprobs": (int,),
    "temperature": NUMBER,
    "top_p": NUMBER,
    "presence_penalty": NUMBER,
    "frequency_penalty": NUMBER,
    "stream": (bool,),
    "store": (bool,),
    "logprobs": (bool,),
    "parallel_tool_calls": (bool,),
    "response_format": (dict,),
    "metadata": (dict,),
    "tools": (list,),
    "functions": (list,),
    "user": (str,),
    "safety_identifier": (str,),
    "prompt_cache_key": (str,),
    "stop": (str, list),
}
# [sdk] The enums of top-level chat fields.
CHAT_ENUMS: dict[str, tuple[str, ...]] = {
    "reasoning_effort": ("none", "minimal", "low", "medium", "high", "xhigh", "max"),
    "service_tier": ("auto", "default", "flex", "scale", "priority", "fast"),
    "verbosity": ("low", "medium", "high"),
    "prompt_cache_retention": ("in_memory", "24h"),
}
# [sdk] seed is an int64 in the OpenAPI spec; [ds] DashScope takes 0 to 2^31-1.
SEED_RANGE = (-(2**63), 2**63 - 1)
DASHSCOPE_SEED_RANGE = (0, 2**31 - 1)
# [sdk] ChatCompletion{System,Developer,User,Assistant,Tool,Function}MessageParam: the fields
# of each role's message, those it requires, and the content parts it takes.
MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "audio", "function_call", "name", "refusal", "tool_calls"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
MESSAGE_REQUIRED: dict[str, tuple[str, ...]] = {
    "system": ("content",),
    "developer": ("content",),
    "user": ("content",),
    "assistant": (),  # content is required unless tool_calls or function_call is given
    "tool": ("content", "tool_call_id"),
    "function": ("content", "name"),
}
ROLE_PARTS: dict[str, frozenset[str]] = {
    "system": frozenset({"text"}),
    "developer": frozenset({"text"}),
    "tool": frozenset({"text"}),
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal"}),
    "function": frozenset(),  # content is a string or null
}
# [sdk] ChatCompletionContentPart{Text,Image,InputAudio,Refusal}Param and File.
PART_FIELDS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "prompt_cache_breakpoint"}),
    "image_url": frozenset({"type", "image_url", "prompt_cache_breakpoint"}),
    "input_audio": frozenset({"type", "input_audio", "prompt_cache_breakpoint"}),
    "file": frozenset({"type", "file", "prompt_cache_breakpoint"}),
    "refusal": frozenset({"type", "refusal"}),
}
# [sdk] ResponseFormatText, ResponseFormatJSONObject, ResponseFormatJSONSchema (+ JSONSchema).
RESPONSE_FORMAT_FIELDS: dict[str, frozenset[str]] = {
    "text": frozenset({"type"}),
    "json_object": frozenset({"type"}),
    "json_schema": frozenset({"type", "json_schema"}),
}
JSON_SCHEMA_FIELDS = frozenset({"name", "description", "schema", "strict"})
# [sdk] JSONSchema.name: "a-z, A-Z, 0-9, or ... underscores and dashes, with a maximum length
# of 64".
SCHEMA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

# [sdk] ImageGenerateParams: the JSON fields of POST /images/generations.
IMAGE_GENERATE_FIELDS = frozenset(
    {
        "prompt",
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "model",
        "moderation",
        "n",
        "output_compression",
        "output_format",
        "partial_images",
        "quality",
        "response_format",
        "safety_identifier",
        "size",
        "stream",
        "style",
        "svg",
        "user",
    }
)
# [sdk] ImageEditParams: the multipart field names of POST /images/edits (a list of images goes
# as ``image[]`` parts, one image as ``image``; [img]); svg's fields go flattened ("Use
# multipart fields such as svg[model]").
IMAGE_EDIT_FIELDS = frozenset(
    {
        "image",
        "image[]",
        "prompt",
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "input_fidelity",
        "markup",
        "mask",
        "model",
        "n",
        "output_compression",
        "output_format",
        "partial_images",
        "quality",
        "response_format",
        "safety_identifier",
        "size",
        "stream",
        "svg[model]",
        "svg[reasoning][effort]",
        "user",
    }
)
IMAGE_FILE_FIELDS = frozenset({"image", "image[]", "mask", "markup"})
# [sdk] The enums of the image endpoints (quality and size are held per model below).
IMAGE_ENUMS: dict[str, tuple[str, ...]] = {
    "background": ("transparent", "opaque", "auto"),
    "complexity": ("low", "medium", "high"),
    "moderation": ("low", "auto"),
    "output_format": ("png", "webp", "jpeg", "gif", "svg"),
    "input_fidelity": ("high", "low"),
    "response_format": ("url", "b64_json"),
    "style": ("vivid", "natural"),
}
# [sdk][img] GPT image models: the standard sizes (and auto), qualities low to high (and auto),
# and two fields "Unsupported for GPT image models" (they were DALL·E's).
GPT_IMAGE_SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")
GPT_IMAGE_QUALITIES = ("low", "medium", "high", "auto")
GPT_IMAGE_LEGACY = ("response_format", "style")
# [sdk] "gpt-image-2.5-sunburst and gpt-image-2.5-flare ... also support xhigh and max".
EXTRA_QUALITY_MODELS = ("gpt-image-2.5-",)
# [sdk][img] Models that draw at any WIDTHxHEIGHT: both edges multiples of 16, the long edge at
# most 3840 and 3 times the short one, 655,360 to 8,294,400 pixels.
FREE_SIZE_MODELS = ("gpt-image-2", "gpt-image-2-", "gpt-image-2.5-")
FREE_SIZE_PIXELS = (655_360, 8_294_400)
# [sdk] input_fidelity: "Supports high and low on gpt-image-1.5; gpt-image-1-mini supports only
# low. For gpt-image-2, omit this parameter." (the free-size models above take none)
FIDELITY_LOW_ONLY = ("gpt-image-1-mini",)
# [sdk] "You can provide up to 16 images", each png, webp or jpg; n "between 1 and 10"; prompts
# up to 32000 characters; output_compression 0-100.
MAX_EDIT_IMAGES = 16
IMAGE_FORMATS = ("PNG", "WEBP", "JPEG")
MAX_PROMPT = 32_000


@dataclass(frozen=True)
class Problem:
    """Why the published API refuses a request: OpenAI's error message, param and code. The
    messages follow OpenAI's where [err] quotes them; the others are the fake's own words in
    the same style (tests read ``param`` and ``code``, not the wording)."""

    message: str
    param: str | None
    code: str | None

    def reply(self, *, compatible: bool) -> Reply:
        if compatible:  # [ds] DashScope words its refusals its own way
            return Reply.error(
                400,
                f"<400> InternalError.Algo.InvalidParameter: {self.message}",
                code="invalid_parameter_error",
                param=self.param,
            )
        return Reply.error(400, self.message, code=self.code, param=self.param)


def contract_problem(request: Request) -> Problem | None:
    """What the published API would refuse in ``request``; None when it holds."""
    path = request.path
    if path.endswith("/chat/completions"):
        return _chat_problem(request.json, compatible=COMPATIBLE in path)
    if path.endswith("/images/generations"):
        return _generate_problem(request.json)
    if path.endswith("/images/edits"):
        return _edit_problem(request)
    return None


def _first(*checks: Callable[[], Problem | None]) -> Problem | None:
    for check in checks:
        if (problem := check()) is not None:
            return problem
    return None


def _unknown(path: str) -> Problem:
    return Problem(f"Unknown parameter: '{path}'.", path, "unknown_parameter")


def _missing(path: str) -> Problem:
    return Problem(f"Missing required parameter: '{path}'.", path, "missing_required_parameter")


def _invalid_value(path: str, value: Any, allowed: tuple[str, ...] | list[str]) -> Problem:
    quoted = [f"'{a}'" for a in allowed]
    listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    return Problem(
        f"Invalid value: '{value}'. Supported values are: {listed}.", path, "invalid_value"
    )


def _invalid_type(path: str, expected: tuple[type, ...], value: Any) -> Problem:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "an array", dict: "an object"}
    want = " or ".join(dict.fromkeys(names[t] for t in expected))
    got = "null" if value is None else names.get(type(value), type(value).__name__)
    return Problem(
        f"Invalid type for '{path}': expected {want}, but got {got} instead.",
        path,
        "invalid_type",
    )


def _out_of_range(path: str, value: int, low: int, high: int) -> Problem:
    side = "below minimum" if value < low else "above maximum"
    bound = f">= {low}" if value < low else f"<= {high}"
    return Problem(
        f"Invalid '{path}': integer {side} value. Expected a value {bound}, but got {value} "
        "instead.",
        path,
        "integer_below_min_value" if value < low else "integer_above_max_value",
    )


def _is(value: Any, types: tuple[type, ...]) -> bool:
    """JSON's view of a type: true and false are not numbers."""
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _one_of(value: Any, allowed: Any) -> bool:
    return isinstance(value, str) and value in allowed


def _unknown_key(data: dict[str, Any], allowed: frozenset[str], prefix: str) -> Problem | None:
    extra = next((k for k in data if k not in allowed), None)
    return _unknown(f"{prefix}{extra}") if extra is not None else None


# --- chat ---------------------------------------------------------------------------------------


def _chat_problem(body: dict[str, Any] | None, *, compatible: bool) -> Problem | None:
    if not isinstance(body, dict):
        return Problem("The request body must be a JSON object.", None, "invalid_json")
    allowed = CHAT_FIELDS | set(DASHSCOPE_CHAT_FIELDS) if compatible else CHAT_FIELDS
    return _first(
        lambda: _unknown_key(body, allowed, ""),
        lambda: next((_missing(k) for k in ("model", "messages") if k not in body), None),
        lambda: _chat_types(body, compatible),
        lambda: _chat_enums(body),
        lambda: _seed_problem(body.get("seed"), compatible),
        lambda: _messages_problem(body["messages"]),
        lambda: _response_format_problem(body.get("response_format"), strict=not compatible),
        lambda: _json_word_problem(body),
    )


def _chat_types(body: dict[str, Any], compatible: bool) -> Problem | None:
    types = CHAT_TYPES | DASHSCOPE_CHAT_FIELDS if compatible else CHAT_TYPES
    for name, value in body.items():
        nullable = name not in ("model", "messages")
        if name in types and not (value is None and nullable) and not _is(value, types[name]):
            return _invalid_type(name, types[name], value)
    return None


def _chat_enums(body: dict[str, Any]) -> Problem | None:
    for name, allowed in CHAT_ENUMS.items():
        value = body.get(name)
        if value is not None and value not in allowed:
            return _invalid_value(name, value, allowed)
    return None


def _seed_problem(seed: Any, compatible: bool) -> Problem | None:
    if seed is None:
        return None
    low, high = DASHSCOPE_SEED_RANGE if compatible else SEED_RANGE
    return None if low <= seed <= high else _out_of_range("seed", seed, low, high)


def _messages_problem(messages: list[Any]) -> Problem | None:
    if not messages:
        return Problem(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        if (problem := _message_problem(message, f"messages[{i}]")) is not None:
            return problem
    return None


def _message_problem(message: Any, path: str) -> Problem | None:
    if not isinstance(message, dict):
        return _invalid_type(path, (dict,), message)
    role = message.get("role")
    if role is None:
        return _missing(f"{path}.role")
    if not _one_of(role, MESSAGE_FIELDS):
        return _invalid_value(f"{path}.role", role, list(MESSAGE_FIELDS))
    return _first(
        lambda: _unknown_key(message, MESSAGE_FIELDS[role], f"{path}."),
        lambda: next(
            (_missing(f"{path}.{k}") for k in MESSAGE_REQUIRED[role] if k not in message), None
        ),
        lambda: _content_problem(message.get("content"), role, f"{path}.content"),
    )


def _content_problem(content: Any, role: str, path: str) -> Problem | None:
    if content is None and role in ("assistant", "function"):
        return None
    if isinstance(content, str):
        return None
    if not isinstance(content, list) or not ROLE_PARTS[role]:
        return _invalid_type(path, (str,) if not ROLE_PARTS[role] else (str, list), content)
    for i, part in enumerate(content):
        where = f"{path}[{i}]"
        if not isinstance(part, dict):
            return _invalid_type(where, (dict,), part)
        kind = part.get("type")
        if not _one_of(kind, ROLE_PARTS[role]):
            return _invalid_value(f"{where}.type", kind, sorted(ROLE_PARTS[role]))
        problem = _unknown_key(part, PART_FIELDS[kind], f"{where}.")
        if problem is None and kind not in part:
            problem = _missing(f"{where}.{kind}")
        if problem is not None:
            return problem
    return None


def _response_format_problem(form: Any, *, strict: bool) -> Problem | None:
    if form is None:
        return None
    kind = form.get("type")
    if not _one_of(kind, RESPONSE_FORMAT_FIELDS):
        return _invalid_value("response_format.type", kind, list(RESPONSE_FORMAT_FIELDS))
    problem = _unknown_key(form, RESPONSE_FORMAT_FIELDS[kind], "response_format.")
    if problem is not None or kind != "json_schema":
        return problem
    spec = form.get("json_schema")
    if spec is None:
        return _missing("response_format.json_schema")
    if not isinstance(spec, dict):
        return _invalid_type("response_format.json_schema", (dict,), spec)
    return _first(
        lambda: _unknown_key(spec, JSON_SCHEMA_FIELDS, "response_format.json_schema."),
        lambda: _schema_fields(spec),
        lambda: _strict_schema_problem(spec) if strict and spec.get("strict") else None,
    )


def _json_word_problem(body: dict[str, Any]) -> Problem | None:
    """[dsj] JSON mode needs the word "json" in some message."""
    if (body.get("response_format") or {}).get("type") != "json_object":
        return None
    if "json" in "\n".join(_message_text(m) for m in body["messages"]).lower():
        return None
    return Problem(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of "
        "type 'json_object'.",
        "messages",
        None,
    )


def _schema_fields(spec: dict[str, Any]) -> Problem | None:
    name, schema = spec.get("name"), spec.get("schema")
    if name is None:
        return _missing("response_format.json_schema.name")
    if not isinstance(name, str) or not SCHEMA_NAME.fullmatch(name):
        return Problem(
            f"Invalid 'response_format.json_schema.name': string does not match pattern. "
            f"Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 "
            f"characters, but got '{name}' instead.",
            "response_format.json_schema.name",
            "invalid_value",
        )
    if schema is not None and not isinstance(schema, dict):
        return _invalid_type("response_format.json_schema.schema", (dict,), schema)
    if spec.get("strict") is not None and not isinstance(spec["strict"], bool):
        return _invalid_type("response_format.json_schema.strict", (bool,), spec["strict"])
    return None


def _strict_schema_problem(spec: dict[str, Any]) -> Problem | None:
    why = _strict_schema_why(spec.get("schema") or {})
    if why is None:
        return None
    message = f"Invalid schema for response_format '{spec.get('name')}': {why}"
    return Problem(message, "response_format", "invalid_json_schema")


def _strict_schema_why(schema: dict[str, Any]) -> str | None:
    """[so] What strict structured outputs refuse in a schema: a root that is not an object,
    an object without additionalProperties false, a property that is not required."""
    if schema.get("type") != "object" or "anyOf" in schema:
        return (
            "In context=(), schema must be a JSON Schema of 'type: \"object\"', got "
            f"'type: \"{schema.get('type')}\"'."
        )
    for context, node in _schema_objects(schema, ()):
        if node.get("additionalProperties") is not False:
            return (
                f"In context={context}, 'additionalProperties' is required to be supplied and "
                "to be false."
            )
        required = node.get("required") or []
        missing = [k for k in node.get("properties") or {} if k not in required]
        if missing:
            return (
                f"In context={context}, 'required' is required to be supplied and to be an "
                f"array including every key in properties. Missing '{missing[0]}'."
            )
    return None


def _schema_objects(node: Any, context: tuple[str, ...]):
    """Every object schema inside ``node`` with where it is, as OpenAI's messages name it."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _schema_objects(item, (*context, str(i)))
        return
    if not isinstance(node, dict):
        return
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds or "properties" in node:
        yield context, node
    for key in ("properties", "$defs", "definitions"):
        for name, child in (node.get(key) or {}).items():
            yield from _schema_objects(child, (*context, key, name))
    for key in ("items", "anyOf", "allOf", "oneOf"):
        if key in node:
            yield from _schema_objects(node[key], (*context, key))


# --- images -------------------------------------------------------------------------------------


def _generate_problem(body: dict[str, Any] | None) -> Problem | None:
    if not isinstance(body, dict):
        return Problem("The request body must be a JSON object.", None, "invalid_json")
    return _first(
        lambda: _unknown_key(body, IMAGE_GENERATE_FIELDS, ""),
        lambda: _image_fields(body),
    )


def _edit_problem(request: Request) -> Problem | None:
    if request.json is not None or not request.parts:
        return Problem(
            "Invalid Content-Type header (application/json), expected multipart/form-data.",
            None,
            "invalid_content_type",
        )
    fields = request.fields()
    files = {p.name for p in request.parts if p.filename is not None}
    return _first(
        lambda: _unknown_key({p.name: 0 for p in request.parts}, IMAGE_EDIT_FIELDS, ""),
        lambda: next(
            (_part_kind(n, "a file", "a string") for n in fields if n in IMAGE_FILE_FIELDS), None
        ),
        lambda: next(
            (_part_kind(n, "a string", "a file") for n in files if n not in IMAGE_FILE_FIELDS), None
        ),
        lambda: None if files & {"image", "image[]"} else _missing("image"),
        lambda: _image_fields(fields),
        lambda: _edit_files(request),
    )


def _part_kind(name: str, expected: str, got: str) -> Problem:
    message = f"Invalid type for '{name}': expected {expected}, but got {got} instead."
    return Problem(message, name, "invalid_type")


def _image_fields(fields: dict[str, Any]) -> Problem | None:
    """The fields both image endpoints share (multipart values arrive as strings)."""
    model = str(fields.get("model") or "")
    prompt = fields.get("prompt")
    if prompt is None:
        return _missing("prompt")
    if not isinstance(prompt, str):
        return _invalid_type("prompt", (str,), prompt)
    if len(prompt) > MAX_PROMPT:
        return Problem(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT}, but got a string with length {len(prompt)} instead.",
            "prompt",
            "string_above_max_length",
        )
    return _first(
        lambda: _integer_field(fields, "n", 1, 10),
        lambda: _integer_field(fields, "output_compression", 0, 100),
        lambda: next(
            (
                _invalid_value(k, fields[k], allowed)
                for k, allowed in IMAGE_ENUMS.items()
                if fields.get(k) is not None and fields[k] not in allowed
            ),
            None,
        ),
        lambda: _gpt_image_problem(fields, model) if _gpt_image(model) else None,
    )


def _integer_field(fields: dict[str, Any], name: str, low: int, high: int) -> Problem | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, str):  # a multipart field
        try:
            value = int(value)
        except ValueError:
            return _invalid_type(name, (int,), value)
    if not _is(value, (int,)):
        return _invalid_type(name, (int,), value)
    return None if low <= value <= high else _out_of_range(name, value, low, high)


def _gpt_image(model: str) -> bool:
    return model.startswith(("gpt-image-", "chatgpt-image-"))


def _gpt_image_problem(fields: dict[str, Any], model: str) -> Problem | None:
    qualities = GPT_IMAGE_QUALITIES
    if model.startswith(EXTRA_QUALITY_MODELS):
        qualities = (*qualities[:-1], "xhigh", "max", "auto")
    quality, size = fields.get("quality"), fields.get("size")
    fidelity = fields.get("input_fidelity")
    legacy = next((k for k in GPT_IMAGE_LEGACY if fields.get(k) is not None), None)
    if legacy is not None:
        return Problem(
            f"Unknown parameter: '{legacy}'. It is not supported for {model}.",
            legacy,
            "unknown_parameter",
        )
    if quality is not None and quality not in qualities:
        return _invalid_value("quality", quality, qualities)
    if size is not None and size not in GPT_IMAGE_SIZES and not _free_size(model, size):
        return _invalid_value("size", size, GPT_IMAGE_SIZES)
    if fidelity is not None and _free_size_model(model):
        return Problem(
            f"input_fidelity is not supported for {model}: omit it.",
            "input_fidelity",
            "unsupported_parameter",
        )
    if fidelity not in (None, "low") and model.startswith(FIDELITY_LOW_ONLY):
        return _invalid_value("input_fidelity", fidelity, ("low",))
    return None


def _free_size_model(model: str) -> bool:
    return model == FREE_SIZE_MODELS[0] or model.startswith(FREE_SIZE_MODELS[1:])


def _free_size(model: str, size: Any) -> bool:
    match = re.fullmatch(r"(\d+)x(\d+)", str(size))
    if not _free_size_model(model) or match is None:
        return False
    w, h = int(match[1]), int(match[2])
    low, high = FREE_SIZE_PIXELS
    return (
        w % 16 == 0
        and h % 16 == 0
        and max(w, h) <= 3840
        and max(w, h) <= 3 * min(w, h)
        and low <= w * h <= high
    )


def _edit_files(request: Request) -> Problem | None:
    images = request.files("image[]") or request.files("image")
    if len(images) > MAX_EDIT_IMAGES:
        return Problem(
            f"Invalid 'image': array too long. Expected an array with maximum length "
            f"{MAX_EDIT_IMAGES}, but got an array with length {len(images)} instead.",
            "image",
            "array_above_max_length",
        )
    opened = []
    for i, part in enumerate(images):
        image = _open(part)
        if image is None or image.format not in IMAGE_FORMATS:
            return Problem(
                f"Invalid image file or mode for image {i + 1}, please check your image file.",
                "image",
                "invalid_image_file",
            )
        opened.append(image)
    masks = request.files("mask")
    return _mask_problem(masks[0], opened[0]) if masks else None


def _mask_problem(part: Part, first: Image.Image) -> Problem | None:
    """[img] The mask: a PNG with an alpha channel, the first image's size."""
    mask = _open(part)
    if mask is None or mask.format != "PNG" or "A" not in mask.getbands():
        return Problem(
            "Invalid mask image: the mask must be a PNG with an alpha channel.",
            "mask",
            "invalid_image_file",
        )
    if mask.size != first.size:
        return Problem(
            f"Invalid mask image: its size {mask.size[0]}x{mask.size[1]} does not match the "
            f"image's {first.size[0]}x{first.size[1]}.",
            "mask",
            "invalid_image_file",
        )
    return None


def _open(part: Part) -> Image.Image | None:
    try:
        return Image.open(io.BytesIO(part.data))
    except (UnidentifiedImageError, OSError):
        return None


# --- answers ---------------------------------------------------------------------------------


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
