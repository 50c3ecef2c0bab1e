"""Voices from DashScope's CosyVoice models (``--voice dashscope:cosyvoice-v2``,
``cosyvoice-v3-flash``, ``cosyvoice-v3-plus``) through the ``dashscope`` SDK's
``audio.tts_v2.SpeechSynthesizer``, over DashScope's websocket.

One task per line on ``wss://HOST/api-ws/v1/inference`` (the host of the configured HTTP base
URL): ``run-task`` with the model, voice and format answered by ``task-started``, the text in a
``continue-task``, then ``finish-task``; the audio arrives as binary frames between
``result-generated`` events, and ``task-finished`` carries the characters billed (a Han
character counts as two). A refusal is ``task-failed`` with an error code. The task id is made
by the client, so the run logs it before the task starts. The audio is asked for as raw PCM
and given a WAV header here, which knows its length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from director.errors import DirectorError, GenerationFailed
from director.records import Language
from director.tools import hosted
from director.tools.voice.dashscope_speech import DashScopeVoice, check_wav
from director.tools.voice.lines import write_pcm_wav

PCM_RATE = 24000
WAIT_MS = 120_000  # for the last audio after finish-task
# CosyVoice v2 system voices for Mandarin with English mixed in, from the CosyVoice voice
# list; the narrator's first. Each model has its own voices: v3 models name them without _v2.
V2_VOICES = {
    "zh": ("longshu_v2", "longxiaochun_v2", "longcheng_v2", "loongbella_v2", "longwan_v2",
           "longxiaoxia_v2", "longhua_v2"),
    "en": ("longshu_v2", "loongbella_v2", "longxiaochun_v2", "longcheng_v2"),
}  # fmt: skip
# The v3 list's one system voice for both languages seen (longanyang); other v3 voices, cloned
# or designed ones included, are given per character (director cast add NAME --voice ...).
V3_VOICES = {"zh": ("longanyang",), "en": ("longanyang",)}


class CosyVoice(DashScopeVoice):
    """Speaks lines with a CosyVoice model."""

    family: ClassVar[str] = "cosyvoice"

    voice_table: ClassVar[dict[str, tuple[str, ...]]] = V2_VOICES
    voices: ClassVar[tuple[str, ...]] = V2_VOICES["zh"]
    known_models: ClassVar[tuple[str, ...]] = (
        "cosyvoice-v2", "cosyvoice-v3-flash", "cosyvoice-v3-plus",
    )  # fmt: skip

    def __init__(self, model: str = "cosyvoice-v2", **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.voice_table = self.tables(model)

    @classmethod
    def tables(cls, model: str) -> dict[str, tuple[str, ...]]:
        return V3_VOICES if model.startswith("cosyvoice-v3") else V2_VOICES

    @property
    def websocket_url(self) -> str:
        return websocket_url(self.service.base_url)

    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        got: dict[str, Any] = {}
        self.service.retrying(
            lambda: got.update(self._task(text, voice, language)), "DashScope speech task", []
        )
        write_pcm_wav(got["audio"], Path(dest), PCM_RATE)
        check_wav(Path(dest), f"the line {text[:40]!r}", got["task_id"])
        return self.bill(text, got["usage"])

    def _task(self, text: str, voice: str, language: Language) -> dict[str, Any]:
        import dashscope
        from dashscope.audio.tts_v2 import AudioFormat, SpeechSynthesizer
        from dashscope.common.error import RequestFailure

        self.service.sdk()
        dashscope.api_key = self.service.provider.require_key()  # the SDK takes it from here
        synthesizer = SpeechSynthesizer(
            model=self.model,
            voice=voice,
            format=AudioFormat.PCM_24000HZ_MONO_16BIT,
            language_hints=[language],
            url=self.websocket_url,
        )
        task_id = synthesizer.get_last_request_id()
        self.told(task_id)
        try:
            audio = synthesizer.call(text, timeout_millis=WAIT_MS)
        except RequestFailure as exc:  # task-failed
            raise self._failed(exc, voice, task_id) from exc
        except DirectorError:
            raise
        except Exception as exc:  # websocket-client's and the SDK's connection failures
            synthesizer.close()
            raise hosted.Transient(f"{type(exc).__name__}: {exc}", throttled=False) from exc
        if not audio:
            raise GenerationFailed(
                f"DashScope task {task_id} ended with no audio.", code="NoAudio", task_id=task_id
            )
        return {"audio": audio, "task_id": task_id, "usage": _usage(synthesizer)}

    def _failed(self, exc: Any, voice: str, task_id: str) -> Exception:
        code, message = str(exc.name or ""), str(exc.message or "")
        error = self.refused(400, code, message, voice)
        if isinstance(error, GenerationFailed) and not error.task_id:
            error.task_id = task_id
        return error


def websocket_url(base_url: str) -> str:
    """DashScope's websocket endpoint on the host of its HTTP API (``.../api/v1``)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rsplit("/api/", 1)[0] + "/api-ws/v1/inference"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _usage(synthesizer: Any) -> dict[str, Any]:
    """The task-finished event's usage (``characters``), when it carries one."""
    last = synthesizer.get_response() or {}
    usage = (last.get("payload") or {}).get("usage") or {}
    return {"characters": usage["characters"]} if usage.get("characters") else {}
