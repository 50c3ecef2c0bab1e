"""Voices from OpenAI's speech models (``--voice openai``, which is ``gpt-4o-mini-tts``, or
``--voice openai:tts-1`` / ``openai:tts-1-hd``) through ``openai``'s ``audio.speech`` endpoint.

The audio is asked for as raw PCM (24 kHz, 16-bit, mono) and wrapped in a WAV header here: the
service streams its WAV with a header that does not know the length, which readers misjudge.
The endpoint takes no seed and no language: the voice is chosen per speaker, and the model
reads the language from the text.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import ClassVar

from director.errors import DirectorError
from director.records import Language
from director.tools.base import VoiceBackend
from director.tools.openai_client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    failure,
    make_client,
    openai_endpoint,
)
from director.tools.providers import ProviderSettings, settings

MODEL = "gpt-4o-mini-tts"
PCM_RATE = 24000  # what the endpoint's "pcm" format is
# USD, from OpenAI's published prices: the tts models by character, gpt-4o-mini-tts by its
# published estimate per minute of audio.
PER_MILLION_CHARS = {"tts-1": 15.0, "tts-1-hd": 30.0}
PER_MINUTE = {"gpt-4o-mini-tts": 0.015}


class OpenAISpeech(VoiceBackend):
    """Speaks lines with an OpenAI speech model."""

    name: ClassVar[str] = "openai"
    model: str = MODEL
    # Voices every speech model has; the narrator's first.
    voices: ClassVar[tuple[str, ...]] = (
        "onyx", "alloy", "ash", "coral", "echo", "fable", "nova", "sage", "shimmer",
    )  # fmt: skip

    def __init__(
        self,
        model: str = MODEL,
        *,
        max_retries: int = DEFAULT_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_S,
        provider_settings: ProviderSettings | None = None,
    ) -> None:
        self.model = model
        self.max_retries = max_retries
        found = provider_settings or settings("openai")
        self.endpoint = openai_endpoint(found)
        self._client = make_client(self.endpoint, max_retries=max_retries, timeout=timeout)

    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        pcm = self._call(text, voice)
        _write_wav(pcm, Path(dest))
        return self.cost(text, len(pcm) / 2 / PCM_RATE)

    def cost(self, text: str, seconds: float) -> float | None:
        if self.model in PER_MILLION_CHARS:
            return round(len(text) * PER_MILLION_CHARS[self.model] / 1e6, 6)
        if self.model in PER_MINUTE:
            return round(seconds / 60 * PER_MINUTE[self.model], 6)
        return None

    def _call(self, text: str, voice: str) -> bytes:
        try:
            answer = self._client.audio.speech.create(
                model=self.model, voice=voice, input=text, response_format="pcm"
            )
            return answer.read()
        except DirectorError:
            raise
        except Exception as exc:  # the SDK's errors, turned into messages that say the fix
            raise failure(
                exc,
                self.endpoint,
                model=self.model,
                what="speech request",
                spec="openai",
                retries=self.max_retries,
            ) from exc


def _write_wav(pcm: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(PCM_RATE)
        out.writeframes(pcm[: len(pcm) - len(pcm) % 2])
