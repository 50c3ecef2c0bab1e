"""``--voice dashscope[:MODEL]``: DashScope's voices, the Qwen-TTS models over HTTP
(``qwen_tts``) and the CosyVoice models over the websocket (``cosyvoice``), behind one backend
(``dashscope_speech.DashScopeVoice``, made as the engine that speaks the model). Importing this
module makes both engines known."""

from __future__ import annotations

from director.tools.voice import cosyvoice, qwen_tts
from director.tools.voice.dashscope_speech import DashScopeVoice, engine

ENGINES = (qwen_tts.QwenTTS, cosyvoice.CosyVoice)

__all__ = ["ENGINES", "DashScopeVoice", "engine"]
