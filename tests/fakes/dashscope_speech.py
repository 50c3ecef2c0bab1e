"""A fake of DashScope's speech synthesis on 127.0.0.1, for the real ``dashscope`` SDK: Qwen-TTS
over HTTP and CosyVoice over DashScope's websocket, strict about requests the way the published
API references and examples are.

Qwen-TTS (API reference "Speech synthesis (Qwen-TTS)", help.aliyun.com/zh/model-studio/
qwen-tts-api, and its model page model-studio/qwen-tts): ``POST /api/v1/services/aigc/
multimodal-generation/generation`` with a Bearer key and ``{"model", "input": {"text",
"voice", "language_type"}}`` answers ``output.audio.url`` (a WAV served here, 24 kHz mono),
``output.finish_reason`` and ``usage``: characters for Qwen3 models (a Han character counts
as two), input and output tokens for Qwen-TTS (50 audio tokens a second).

CosyVoice (API reference "CosyVoice WebSocket API", client and server events, model-studio/
cosyvoice-websocket-api, cosyvoice-client-events, cosyvoice-server-events): a websocket on
``/api-ws/v1/inference``; ``run-task`` (header ``action``, ``task_id``, ``streaming: duplex``;
payload ``task_group: audio``, ``task: tts``, ``function: SpeechSynthesizer``, ``model``,
``parameters``, ``input: {}``) is answered by ``task-started``; ``continue-task`` carries text;
``finish-task`` ends it: the audio goes out as binary frames, each after a ``result-generated``
``sentence-synthesis`` event, then ``task-finished`` with ``usage.characters``. A refusal is
``task-failed`` with ``error_code`` and ``error_message``; a bad key is refused that way too,
at ``run-task`` (an assumption: the reference does not say how the handshake fails).

Unknown models, voices, fields or values are refused (HTTP 400 ``InvalidParameter``, or
``task-failed``), and kept in ``violations``: leaving the ``with`` block with one there fails
the test unless it took them (``take_violations``). Knobs: ``throttle_first`` answers the first
N calls with ``Throttling.RateQuota`` (HTTP 429, with ``retry_after`` as Retry-After), and a
text holding one of ``flagged`` is refused by the content check (``DataInspectionFailed``).
"""

from __future__ import annotations

import json
import math
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.comfyui_server import WebSocket, accept_key, frame

KEY = "sk-fake-dashscope-speech-7d2c"
RATE = 24000
SPEECH = "/api/v1/services/aigc/multimodal-generation/generation"
SOCKET = "/api-ws/v1/inference"
# Qwen-TTS voices: the qwen-tts list, and what the Qwen3-TTS-Flash list adds (dialect voices
# left out: director does not use them).
QWEN_TTS_VOICES = {"Cherry", "Serena", "Ethan", "Chelsie"}
QWEN3_VOICES = QWEN_TTS_VOICES | {"Nofish", "Jennifer", "Ryan", "Katerina", "Elias"}
QWEN_MODELS = {
    "qwen3-tts-flash": QWEN3_VOICES,
    "qwen3-tts-flash-2025-11-27": QWEN3_VOICES,
    "qwen3-tts-flash-2025-09-18": QWEN3_VOICES,
    "qwen-tts": QWEN_TTS_VOICES,
    "qwen-tts-latest": QWEN_TTS_VOICES,
}
LANGUAGE_TYPES = {"Auto", "Chinese", "English", "German", "Italian", "Portuguese", "Spanish",
                  "Japanese", "Korean", "French", "Russian"}  # fmt: skip
# CosyVoice system voices per model (voice list page, model-studio/cosyvoice-voice-list).
V2_VOICES = {"longcheng_v2", "longhua_v2", "longshu_v2", "loongbella_v2", "longwan_v2",
             "longxiaochun_v2", "longxiaoxia_v2"}  # fmt: skip
COSY_MODELS = {"cosyvoice-v2": V2_VOICES, "cosyvoice-v3-flash": {"longanyang"},
               "cosyvoice-v3-plus": {"longanyang"}}  # fmt: skip
# run-task parameters as the client-events reference lists them; "type" is sent by the SDK
# (dashscope 2.0.2, synthesis_type) and marked so.
COSY_PARAMETERS = {
    "text_type": lambda v: v == "PlainText",
    "voice": lambda v: isinstance(v, str),
    "format": lambda v: v in ("pcm", "wav", "mp3", "opus"),
    "sample_rate": lambda v: v in (8000, 16000, 22050, 24000, 44100, 48000),
    "volume": lambda v: isinstance(v, int) and 0 <= v <= 100,
    "rate": lambda v: isinstance(v, int | float) and 0.5 <= v <= 2,
    "pitch": lambda v: isinstance(v, int | float) and 0.5 <= v <= 2,
    "bit_rate": lambda v: isinstance(v, int),
    "enable_ssml": lambda v: isinstance(v, bool),
    "seed": lambda v: isinstance(v, int) and 0 <= v <= 65535,
    "language_hints": lambda v: isinstance(v, list) and set(v) <= {"zh", "en", "ja", "ko"},
    "instruction": lambda v: isinstance(v, str),
    "word_timestamp_enabled": lambda v: isinstance(v, bool),
    "type": lambda v: v == 0,  # sent by the SDK
}


def speech_seconds(text: str) -> float:
    """How long the fake takes to say ``text``: 0.22 s a Han character, 0.065 s for others."""
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return round(0.4 + 0.22 * han + 0.065 * (len(text) - han), 3)


def characters(text: str) -> int:
    """Characters as DashScope bills them: a Han character as two."""
    return sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in text)


def pcm(text: str, voice: str) -> bytes:
    """A voiced sound as long as the text takes to say: harmonics at a pitch of the voice's
    own, four syllables a second, a soft start and end."""
    pitch = 110 + sum(map(ord, voice)) % 120
    count = int(speech_seconds(text) * RATE)
    out = bytearray()
    for i in range(count):
        t = i / RATE
        syllable = 0.55 + 0.45 * math.sin(2 * math.pi * 4 * t) ** 2
        edge = min(1.0, t / 0.03, (count - i) / RATE / 0.03)
        wave_ = sum(math.sin(2 * math.pi * pitch * k * t) / k for k in (1, 2, 3))
        out += struct.pack("<h", int(9000 * syllable * edge * wave_ / 1.8))
    return bytes(out)


def wav(data: bytes) -> bytes:
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeDashScopeSpeech:
    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.throttle_first = 0
        self.retry_after: float | None = None
        self.flagged: set[str] = set()
        self.calls = 0  # speech requests and tasks, throttled ones included
        self.requests: list[dict] = []  # Qwen-TTS bodies and CosyVoice run-task payloads
        self.texts: list[tuple[str, str, str]] = []  # (model, voice, text) spoken
        self.tasks: list[str] = []  # CosyVoice task ids, as run-task named them
        self.violations: list[str] = []
        self.audio: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def __enter__(self) -> FakeDashScopeSpeech:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, kind, *_) -> None:
        self.server.shutdown()
        self.server.server_close()
        if kind is None and self.violations:
            raise AssertionError(f"requests the API reference does not allow: {self.violations}")

    def take_violations(self) -> list[str]:
        found, self.violations = self.violations, []
        return found

    # --- what both protocols share ------------------------------------------------------

    def admit(self, key: str | None) -> None:
        """Key, then throttling, as the service checks them."""
        if key != self.key:
            raise Refused(401, "InvalidApiKey", "Invalid API-key provided.")
        with self._lock:
            self.calls += 1
            if self.calls <= self.throttle_first:
                raise Refused(
                    429,
                    "Throttling.RateQuota",
                    "Requests rate limit exceeded, please try again later.",
                )

    def invalid(self, message: str) -> Refused:
        self.violations.append(message)
        return Refused(400, "InvalidParameter", message)

    def moderate(self, text: str) -> None:
        if any(word in text for word in self.flagged):
            raise Refused(
                400, "DataInspectionFailed", "Input data may contain inappropriate content."
            )

    def speak(self, model: str, voice: str, text: str) -> bytes:
        self.texts.append((model, voice, text))
        return pcm(text, voice)

    # --- Qwen-TTS -----------------------------------------------------------------------

    def qwen(self, body: dict, key: str | None, host: str) -> dict:
        self.admit(key)
        self.requests.append(body)
        voices = self._qwen_checked(body)
        text, voice = body["input"]["text"], body["input"]["voice"]
        if voice not in voices:
            raise self.invalid(f"Voice '{voice}' is not supported by model {body['model']}.")
        self.moderate(text)
        audio = self.speak(body["model"], voice, text)
        request_id = str(uuid.uuid4())
        self.audio[request_id] = wav(audio)
        expires = int(time.time()) + 86400
        return {
            "request_id": request_id,
            "output": {
                "finish_reason": "stop",
                "audio": {
                    "url": f"http://{host}/audio/{request_id}.wav?Expires={expires}&Signature=x",
                    "id": f"audio_{request_id}",
                    "expires_at": expires,
                    "data": "",
                },
            },
            "usage": self._qwen_usage(body["model"], text, len(audio) / 2 / RATE),
        }

    def _qwen_checked(self, body: dict) -> set[str]:
        model = body.get("model")
        if model not in QWEN_MODELS:
            raise Refused(404, "ModelNotFound", f"Model not exist: {model}")
        unknown = set(body) - {"model", "input", "parameters"}
        inputs = body.get("input") or {}
        known = {"text", "voice"} | ({"language_type"} if model.startswith("qwen3") else set())
        unknown |= {f"input.{k}" for k in set(inputs) - known}
        # The SDK puts its own call options among the parameters; an empty object is fine.
        unknown |= {f"parameters.{k}" for k in set(body.get("parameters") or {}) - {"stream"}}
        if unknown:
            raise self.invalid(f"Unknown fields: {sorted(unknown)}")
        if not isinstance(inputs.get("text"), str) or not inputs["text"].strip():
            raise self.invalid("input.text is required")
        if not isinstance(inputs.get("voice"), str):
            raise self.invalid("input.voice is required")
        if "language_type" in inputs and inputs["language_type"] not in LANGUAGE_TYPES:
            raise self.invalid(f"language_type {inputs['language_type']!r} is not supported")
        return QWEN_MODELS[model]

    @staticmethod
    def _qwen_usage(model: str, text: str, seconds: float) -> dict:
        if model.startswith("qwen3"):
            return {"characters": characters(text)}
        audio = 50 * max(1, math.ceil(seconds))
        return {
            "input_tokens": len(text),
            "output_tokens": audio,
            "total_tokens": len(text) + audio,
            "input_tokens_details": {"text_tokens": len(text)},
            "output_tokens_details": {"audio_tokens": audio, "text_tokens": 0},
        }

    # --- CosyVoice ----------------------------------------------------------------------

    def run_task(self, message: dict, key: str | None) -> dict:
        """A run-task's checked payload; Refused for anything the reference does not allow."""
        self.admit(key)
        header, payload = message.get("header") or {}, message.get("payload") or {}
        self.requests.append(payload)
        if header.get("streaming") != "duplex" or not header.get("task_id"):
            raise self.invalid("header.streaming must be duplex, with a task_id")
        fixed = {"task_group": "audio", "task": "tts", "function": "SpeechSynthesizer"}
        if any(payload.get(k) != v for k, v in fixed.items()) or payload.get("input") != {}:
            raise self.invalid("payload.task_group/task/function/input are fixed values")
        unknown = set(payload) - {*fixed, "model", "input", "parameters"}
        if unknown:
            raise self.invalid(f"Unknown payload fields: {sorted(unknown)}")
        model, parameters = payload.get("model"), payload.get("parameters") or {}
        if model not in COSY_MODELS:
            raise Refused(404, "ModelNotFound", f"Model not exist: {model}")
        for name, value in parameters.items():
            if name not in COSY_PARAMETERS or not COSY_PARAMETERS[name](value):
                raise self.invalid(f"parameters.{name}={value!r} is not allowed")
        if parameters.get("voice") not in COSY_MODELS[model]:
            raise self.invalid(f"Voice '{parameters.get('voice')}' is not supported by {model}.")
        self.tasks.append(header["task_id"])
        return payload


def _handler(fake: FakeDashScopeSpeech) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != SPEECH:
                return self._json(404, {"code": "NotFound", "message": f"POST {self.path}"})
            try:
                body = json.loads(raw)
                answer = fake.qwen(body, self._key(), self.headers["Host"])
            except Refused as exc:
                headers = (
                    {"Retry-After": f"{fake.retry_after:g}"}
                    if exc.status == 429 and (fake.retry_after is not None)
                    else {}
                )
                error = {"request_id": str(uuid.uuid4()), "code": exc.code, "message": exc.message}
                return self._json(exc.status, error, headers)
            self._json(200, answer)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith(SOCKET):
                return self._websocket()
            name = self.path.split("?")[0].removeprefix("/audio/").removesuffix(".wav")
            data = fake.audio.get(name)
            if data is None:
                return self._json(404, {"code": "NotFound", "message": self.path})
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _key(self) -> str | None:
            found = self.headers.get("Authorization", "")
            return found.removeprefix("Bearer ") if found.startswith("Bearer ") else None

        def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _websocket(self) -> None:
            key = self.headers.get("Sec-WebSocket-Key")
            if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
                return self._json(400, {"code": "BadRequest", "message": "websocket expected"})
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept_key(key))
            self.end_headers()
            self.close_connection = True
            _Task(fake, WebSocket(self.connection, self.rfile, ""), self._key()).serve()

        def log_message(self, *args) -> None:
            pass

    return Handler


class _Task:
    """One websocket connection's task, command by command."""

    def __init__(self, fake: FakeDashScopeSpeech, ws: WebSocket, key: str | None) -> None:
        self.fake, self.ws, self.key = fake, ws, key
        self.payload: dict | None = None
        self.task_id = ""
        self.text = ""

    def serve(self) -> None:
        try:
            while self.ws.open:
                got = self.ws._read_frame()
                if got is None:
                    return
                opcode, data = got
                if opcode == WebSocket.OP_CLOSE:
                    self.ws._send(frame(WebSocket.OP_CLOSE, data[:2]))
                    return
                if opcode == WebSocket.OP_TEXT and not self.command(json.loads(data)):
                    return
        finally:
            self.ws.close(1000)

    def command(self, message: dict) -> bool:
        """Answer one command; False once the task has ended."""
        action = (message.get("header") or {}).get("action")
        self.task_id = self.task_id or (message.get("header") or {}).get("task_id", "")
        try:
            if action == "run-task":
                self.payload = self.fake.run_task(message, self.key)
                self.event("task-started", {})
                return True
            if self.payload is None:
                raise self.fake.invalid(f"{action} before run-task")
            if action == "continue-task":
                return self.more(message)
            if action == "finish-task":
                self.finish()
                return False
            raise self.fake.invalid(f"unknown action {action!r}")
        except Refused as exc:
            self.event("task-failed", {}, error_code=exc.code, error_message=exc.message)
            return False

    def more(self, message: dict) -> bool:
        payload = message.get("payload") or {}
        text = (payload.get("input") or {}).get("text")
        if not isinstance(text, str) or set(payload.get("input") or {}) - {"text"}:
            raise self.fake.invalid("continue-task carries payload.input.text only")
        self.text += text
        return True

    def finish(self) -> None:
        self.fake.moderate(self.text)
        parameters = self.payload["parameters"]
        if parameters.get("format") != "pcm" or parameters.get("sample_rate") != RATE:
            raise self.fake.invalid("the fake speaks pcm at 24000 Hz only")
        audio = self.fake.speak(self.payload["model"], parameters["voice"], self.text)
        self.result("sentence-begin", original_text=self.text)
        step = RATE  # half a second of 16-bit samples per frame
        for start in range(0, len(audio), step):
            self.result("sentence-synthesis")
            self.ws._send(frame(0x2, audio[start : start + step]))
        usage = {"characters": characters(self.text)}
        self.result("sentence-end", usage=usage)
        self.event("task-finished", {"output": {"sentence": {"words": []}}, "usage": usage})

    def result(self, kind: str, usage: dict | None = None, **output: Any) -> None:
        payload = {"output": {"sentence": {"index": 0, "words": []}, "type": kind, **output}}
        if usage:
            payload["usage"] = usage
        self.event("result-generated", payload)

    def event(self, name: str, payload: dict, **header: str) -> None:
        head = {"task_id": self.task_id, "event": name, "attributes": {}, **header}
        self.ws.send_text(json.dumps({"header": head, "payload": payload}))


def serve(monkeypatch):
    """A running fake with director's DashScope settings (key and host) pointing at it."""
    with FakeDashScopeSpeech() as fake:
        monkeypatch.setenv("DASHSCOPE_API_KEY", fake.key)
        monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", fake.base_url)
        monkeypatch.delenv("DIRECTOR_DASHSCOPE_REGION", raising=False)
        yield fake
