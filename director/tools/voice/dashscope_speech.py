"""Voices from DashScope (``--voice dashscope:MODEL``): Qwen-TTS models over HTTP
(``qwen_tts``) and CosyVoice models over DashScope's websocket (``cosyvoice``).

This module holds what both share: the connection (key, region, retries) from
``director.tools.dashscope_tasks``, the voices by language (a Mandarin line gets a Mandarin
voice, an English line an English one; a speaker keeps one voice per language in every run),
the price from director's table, and one reading of DashScope's refusals: a bad key, a spent
quota or a voice the model does not have stops the run with the fix; throttling and server
failures are retried; a line the content check refuses is a failed line, and the film goes on
without it.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any, ClassVar

from director.errors import GenerationFailed, InputError, ProviderError, UnknownBackend
from director.records import Language
from director.tools import hosted
from director.tools.base import VoiceBackend
from director.tools.pricing import PriceTable, bill_speech, quote_speech
from director.tools.providers import ProviderSettings

MODEL = "qwen3-tts-flash"
SETTING = "--voice dashscope:MODEL"
MAX_AUDIO_BYTES = 64 * 1024 * 1024
KNOWN_MODELS = ("qwen3-tts-flash", "qwen-tts", "cosyvoice-v2", "cosyvoice-v3-flash")


# The engines, each made known when its module is imported (director.tools.voice.dashscope
# imports them all).
_ENGINES: list[type[DashScopeVoice]] = []


class DashScopeVoice(VoiceBackend):
    """``--voice dashscope[:MODEL]``: made as the Qwen-TTS or the CosyVoice backend, by the
    model's family."""

    name: ClassVar[str] = "dashscope"
    model: str = MODEL
    # Per model family, per language: the narrator's voice first, then the characters'.
    voice_table: ClassVar[dict[str, tuple[str, ...]]] = {}
    known_models: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = ""  # an engine's model family: "qwen-tts" or "cosyvoice"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.family:
            _ENGINES.append(cls)

    def __new__(
        cls,
        model: str = MODEL,
        *,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
        retries: hosted.Retries | None = None,
    ) -> DashScopeVoice:
        return super().__new__(engine(model) if cls is DashScopeVoice else cls)

    def __init__(
        self,
        model: str = MODEL,
        *,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
        retries: hosted.Retries | None = None,
    ) -> None:
        from director.tools.dashscope_tasks import DashScope

        self.model = model
        self.service = DashScope(
            setting=SETTING,
            retries=retries or hosted.Retries(),
            provider=provider_settings,
            prices=prices,
        )

    @classmethod
    def check_voice(cls, voice: str, model: str = "") -> None:
        """A name, and not the system voice of another model (each model has its own voices;
        a v2 voice is refused by v3 models). Other names pass: DashScope also speaks voices
        cloned or designed in the account, which only the service knows, and a voice it does
        not have stops the run with the fix."""
        model = model or MODEL
        if not voice.strip():
            raise InputError("A DashScope voice needs a name.", _voices_hint(model))
        own = set(_system_voices(model))
        others = {v for m in KNOWN_MODELS for v in _system_voices(m)} - own
        if voice in others:
            raise InputError(
                f"{voice!r} is a voice of another DashScope model, not of {model}.",
                _voices_hint(model),
            )

    @classmethod
    def tables(cls, model: str) -> dict[str, tuple[str, ...]]:
        """The voices of ``model`` by language; engines whose models differ override this."""
        return cls.voice_table

    def voices_for(self, language: Language | None) -> tuple[str, ...]:
        return self.voice_table.get(language or "zh", self.voice_table["zh"])

    def estimate(self, text: str) -> float | None:
        return quote_speech(self.name, self.model, text, table=self.service.prices).usd

    def bill(self, text: str, usage: dict[str, Any]) -> float | None:
        """The call's cost from the usage the service reported, kept in ``last_cost``."""
        self.last_cost = bill_speech(self.name, self.model, text, usage, table=self.service.prices)
        return self.last_cost.usd

    def told(self, task_id: str) -> None:
        if self.on_task is not None and task_id:
            self.on_task(task_id)

    # --- refusals -----------------------------------------------------------------------

    def refused(self, status: int, code: str, message: str, voice: str, headers=None):
        """What a refusal means: a Transient to retry, or the error to stop or fail with."""
        message = self.service.redact(message)
        text = f"HTTP {status} {code}: {message}".strip().rstrip(":")
        found = hosted.transient(status, code, text, headers or {})
        if found is not None:
            return found
        if code in ("InternalError", "InternalServerError", "ServiceUnavailable"):
            return hosted.Transient(text, throttled=False)
        if _about_voice(code, message):
            return ProviderError(
                f"DashScope's {self.model} has no voice {voice!r} ({code}: {message}).",
                f"{_voices_hint(self.model)} A voice cloned or designed in Model Studio "
                "works only with the model and region it was made for.",
            )
        return self.service.stop_error(status, code, message, model=self.model, what="line")


def engine(model: str) -> type[DashScopeVoice]:
    """The backend class that speaks ``model``: CosyVoice models over the websocket, Qwen-TTS
    models over HTTP (the engines made known by importing ``director.tools.voice.dashscope``)."""
    name = model.strip().lower()
    family = ""
    if name.startswith("cosyvoice"):
        family = "cosyvoice"
    elif name.startswith("qwen") and "tts" in name and "realtime" not in name:
        family = "qwen-tts"
    for cls in _ENGINES:
        if family and cls.family == family:
            return cls
    raise UnknownBackend(
        f"--voice dashscope:{model}: not a DashScope speech model director speaks.",
        "Use a Qwen-TTS model (qwen3-tts-flash, qwen-tts) or a CosyVoice model "
        "(cosyvoice-v2, cosyvoice-v3-flash, cosyvoice-v3-plus).",
    )


def check_wav(path: Path, what: str, task_id: str) -> float:
    """Seconds of audio in the WAV at ``path``; GenerationFailed when it has none."""
    try:
        with wave.open(str(path), "rb") as audio:
            frames, rate = audio.getnframes(), audio.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise GenerationFailed(
            f"DashScope's audio for {what} cannot be read as WAV ({exc}).",
            "The line is spoken again in the next assembly (director resume RUN --from assembly).",
            code="BadAudio",
            task_id=task_id,
        ) from exc
    if frames == 0:
        raise GenerationFailed(
            f"DashScope's audio for {what} is empty.", code="EmptyAudio", task_id=task_id
        )
    return frames / rate


def _about_voice(code: str, message: str) -> bool:
    text = message.lower()
    return code in ("InvalidParameter", "BadRequest.VoiceNotFound") and "voice" in text


def _system_voices(model: str) -> list[str]:
    """The system voices director knows for ``model`` (none for a model it does not speak)."""
    try:
        table = engine(model).tables(model)
    except UnknownBackend:
        return []
    return sorted({v for voices in table.values() for v in voices})


def _voices_hint(model: str) -> str:
    names = _system_voices(model or MODEL)
    return f"Use one of the model's voices ({', '.join(names)})." if names else ""
