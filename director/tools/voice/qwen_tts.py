"""Voices from DashScope's Qwen-TTS models (``--voice dashscope``, which is
``qwen3-tts-flash``, or ``--voice dashscope:qwen-tts``) through the ``dashscope`` SDK's
``MultiModalConversation``.

One call per line: ``POST {base}/services/aigc/multimodal-generation/generation`` with the
text and the voice (and, for Qwen3 models, the line's language) answers at once with the
request id and the URL of a WAV, which is downloaded within its 24 hours. The request id is
handed to the run before the download. Qwen-TTS bills tokens, Qwen3-TTS characters (a Han
character counts as two), as the answer's ``usage`` reports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from director.errors import DirectorError, GenerationFailed
from director.records import Language
from director.tools import hosted
from director.tools.voice.dashscope_speech import MAX_AUDIO_BYTES, DashScopeVoice, check_wav

# language_type, which only the Qwen3 models take; Qwen-TTS reads the language from the text.
LANGUAGE_TYPES = {"zh": "Chinese", "en": "English"}
# Voices that speak standard Mandarin and English, from the Qwen-TTS voice list; the Qwen3
# models add English voices (Jennifer, Ryan, Katerina) and more Mandarin ones.
QWEN_TTS_VOICES = ("Ethan", "Cherry", "Serena", "Chelsie")
QWEN3_VOICES = {
    "zh": ("Ethan", "Cherry", "Serena", "Chelsie", "Nofish", "Elias"),
    "en": ("Ethan", "Jennifer", "Ryan", "Katerina", "Cherry", "Serena"),
}


class QwenTTS(DashScopeVoice):
    """Speaks lines with a Qwen-TTS model."""

    family: ClassVar[str] = "qwen-tts"

    voice_table: ClassVar[dict[str, tuple[str, ...]]] = QWEN3_VOICES
    voices: ClassVar[tuple[str, ...]] = QWEN3_VOICES["zh"]
    known_models: ClassVar[tuple[str, ...]] = ("qwen3-tts-flash", "qwen-tts", "qwen-tts-latest")

    def __init__(self, model: str = "qwen3-tts-flash", **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.voice_table = self.tables(model)

    @classmethod
    def tables(cls, model: str) -> dict[str, tuple[str, ...]]:
        if model.startswith("qwen3"):
            return QWEN3_VOICES
        return {"zh": QWEN_TTS_VOICES, "en": QWEN_TTS_VOICES}

    @property
    def qwen3(self) -> bool:
        return self.model.startswith("qwen3")

    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        faults: list[dict] = []
        rsp = self.service.retrying(
            lambda: self._call(text, voice, language), "DashScope speech request", faults
        )
        request_id = str(rsp.request_id or "")
        self.told(request_id)
        url = _audio_url(rsp.output)
        if not url:
            raise GenerationFailed(
                f"DashScope answered request {request_id} with no audio.",
                code="NoAudio",
                task_id=request_id,
            )
        what = f"the line {text[:40]!r}"
        self.service.download(
            _secure(url), dest, max_bytes=MAX_AUDIO_BYTES, what=what, faults=faults
        )
        check_wav(dest, what, request_id)
        return self.bill(text, dict(rsp.usage or {}))

    def _call(self, text: str, voice: str, language: Language) -> Any:
        from dashscope import MultiModalConversation

        key = self.service.provider.require_key()
        extra = {"language_type": LANGUAGE_TYPES[language]} if self.qwen3 else {}
        self.service.sdk()
        try:
            rsp = MultiModalConversation.call(
                model=self.model,
                text=text,
                voice=voice,
                api_key=key,
                stream=False,
                request_timeout=max(1, round(self.service.request_timeout)),
                **extra,
            )
        except DirectorError:
            raise
        except OSError as exc:  # requests' connection errors and timeouts
            raise hosted.Transient(f"{type(exc).__name__}: {exc}", throttled=False) from exc
        if int(rsp.status_code) == 200 and rsp.output is not None:
            return rsp
        code, message = str(rsp.code or ""), str(rsp.message or "")
        raise self.refused(int(rsp.status_code), code, message, voice, rsp.headers)


def _audio_url(output: Any) -> str:
    audio = (output or {}).get("audio") or {}
    return str(audio.get("url") or "")


def _secure(url: str) -> str:
    """The result on Alibaba's object storage over https: the service answers with plain http
    URLs there, which its storage also serves over https (the signature is the same)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and (parts.hostname or "").endswith(".aliyuncs.com"):
        return urlunsplit(("https", *parts[1:]))
    return url
