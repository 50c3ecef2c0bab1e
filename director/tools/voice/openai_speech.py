"""Voices from OpenAI's speech models (``--voice openai``, which is ``gpt-4o-mini-tts``, or
``--voice openai:tts-1`` / ``openai:tts-1-hd``) through ``openai``'s ``audio.speech`` endpoint.

The audio is asked for as raw PCM (24 kHz, 16-bit, mono) and wrapped in a WAV header here: the
service streams its WAV with a header that does not know the length, which readers misjudge.
The endpoint takes no seed and no language: the voice is chosen per speaker, and the model
reads the language from the text.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from director.errors import DirectorError, InputError
from director.records import Language
from director.tools.base import VoiceBackend
from director.tools.openai_client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    failure,
    make_client,
    openai_endpoint,
)
from director.tools.pricing import PriceTable, bill_speech, quote_speech
from director.tools.providers import ProviderSettings, settings
from director.tools.voice.lines import write_pcm_wav

MODEL = "gpt-4o-mini-tts"
PCM_RATE = 24000  # what the endpoint's "pcm" format is


class OpenAISpeech(VoiceBackend):
    """Speaks lines with an OpenAI speech model."""

    name: ClassVar[str] = "openai"
    model: str = MODEL
    # Voices every speech model has; the narrator's first.
    voices: ClassVar[tuple[str, ...]] = (
        "onyx", "alloy", "ash", "coral", "echo", "fable", "nova", "sage", "shimmer",
    )  # fmt: skip
    # gpt-4o-mini-tts has these besides (OpenAI's text-to-speech guide).
    newer_voices: ClassVar[tuple[str, ...]] = ("ballad", "verse", "marin", "cedar")

    @classmethod
    def check_voice(cls, voice: str, model: str = "") -> None:
        known = cls.voices if model.startswith("tts-1") else (*cls.voices, *cls.newer_voices)
        if voice not in known:
            raise InputError(
                f"OpenAI speech{f' ({model})' if model else ''} has no voice {voice!r}.",
                f"Use one of: {', '.join(sorted(known))}.",
            )

    def __init__(
        self,
        model: str = MODEL,
        *,
        max_retries: int = DEFAULT_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_S,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.model = model
        self.prices = prices  # the run's price table; none: the packaged one
        self.max_retries = max_retries
        found = provider_settings or settings("openai")
        self.endpoint = openai_endpoint(found)
        self._client = make_client(self.endpoint, max_retries=max_retries, timeout=timeout)

    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        pcm = self._call(text, voice)
        write_pcm_wav(pcm, Path(dest), PCM_RATE)
        return self.cost(text, len(pcm) / 2 / PCM_RATE)

    def estimate(self, text: str) -> float | None:
        return quote_speech(self.name, self.model, text, table=self.prices).usd

    def cost(self, text: str, seconds: float) -> float | None:
        """USD for ``text`` spoken in ``seconds``, from the price table (the tts models by
        character, gpt-4o-mini-tts by OpenAI's estimate per minute of audio)."""
        usage = {"characters": len(text), "seconds": seconds}
        self.last_cost = bill_speech(self.name, self.model, text, usage, table=self.prices)
        return self.last_cost.usd

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
