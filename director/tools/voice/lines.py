"""A film's lines spoken: each shot's narration or dialogue in its speaker's voice, written to
``voices/<shot id>.wav`` and placed at the shot's start on the film's timeline.

A line longer than its shot is not cut off: it plays on into the next shot and is flagged, so
the human can lengthen the shot or shorten the line.
"""

from __future__ import annotations

import time
import wave
from dataclasses import dataclass
from pathlib import Path

from director.records import Plan, Shot
from director.text import is_chinese
from director.tools.assemble.subtitles import timeline
from director.tools.base import VoiceBackend

FOLDER = "voices"


@dataclass(frozen=True)
class SpokenLine:
    shot: Shot
    voice: str
    path: Path
    start_s: float
    duration_s: float
    cost: float | None
    seconds: float  # how long the synthesis took

    @property
    def fits(self) -> bool:
        return self.duration_s <= self.shot.duration_s + 1e-3


def speak_lines(plan: Plan, backend: VoiceBackend, root: Path, fps: int) -> list[SpokenLine]:
    """Every line of the plan spoken into ``root/voices``, in shot order."""
    starts = timeline(plan, fps)[1:]
    return [
        _speak(shot, backend, root / FOLDER / f"{shot.id}.wav", starts[i] / fps)
        for i, shot in enumerate(plan.shots)
        if shot.line is not None and shot.line.text.strip()
    ]


def voice_of(backend: VoiceBackend, shot: Shot) -> str:
    """The narrator's voice for narration, the speaker's own for dialogue."""
    line = shot.line
    speaker = line.speaker if line.kind == "dialogue" and line.speaker else None
    return backend.voice_for(speaker)


def _speak(shot: Shot, backend: VoiceBackend, dest: Path, start_s: float) -> SpokenLine:
    text = shot.line.text.strip()
    voice = voice_of(backend, shot)
    started = time.perf_counter()
    language = "zh" if is_chinese(text) else "en"
    cost = backend.speak(text, voice=voice, language=language, dest=dest)
    took = round(time.perf_counter() - started, 3)
    return SpokenLine(shot, voice, dest, round(start_s, 3), wav_seconds(dest), cost, took)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return round(audio.getnframes() / audio.getframerate(), 3)
