"""A film's lines spoken: each shot's narration or dialogue in its speaker's voice, written to
``voices/<shot id>-<key>.wav`` and placed at the shot's start on the film's timeline.

The key is a digest of what makes the sound (backend, model, voice, language, text), so a line
already spoken is reused, never paid for again: an assembly made again with new music keeps
every line, and new voices speak only what they change.

A line longer than its shot is not cut off: it plays on into the next shot and is flagged, so
the human can lengthen the shot or shorten the line.
"""

from __future__ import annotations

import hashlib
import os
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from director.records import Language, Plan, Shot
from director.text import is_chinese
from director.tools.assemble.subtitles import timeline
from director.tools.base import VoiceBackend
from director.tools.voice.casting import Casting

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
    chosen_by: str = "automatic"  # whose choice the voice is: cast, narrator or automatic
    reused: bool = False  # spoken by an earlier assembly of the run, not paid for again

    @property
    def fits(self) -> bool:
        return self.duration_s <= self.shot.duration_s + 1e-3


def speak_lines(
    plan: Plan, backend: VoiceBackend, root: Path, fps: int, casting: Casting | None = None
) -> list[SpokenLine]:
    """Every line of the plan spoken into ``root/voices``, in shot order."""
    starts = timeline(plan, fps)[1:]
    casting = casting or Casting()
    return [
        _speak(shot, backend, root / FOLDER, starts[i] / fps, casting)
        for i, shot in enumerate(plan.shots)
        if shot.line is not None and shot.line.text.strip()
    ]


def voice_of(backend: VoiceBackend, shot: Shot, casting: Casting | None = None) -> tuple[str, str]:
    """The narrator's voice for narration, the speaker's own for dialogue, and whose choice it
    is (``cast``, ``narrator`` or ``automatic``)."""
    line = shot.line
    speaker = line.speaker if line.kind == "dialogue" and line.speaker else None
    return (casting or Casting()).voice(backend, speaker, language_of(line.text))


def language_of(text: str) -> Language:
    return "zh" if is_chinese(text) else "en"


def _speak(
    shot: Shot, backend: VoiceBackend, folder: Path, start_s: float, casting: Casting
) -> SpokenLine:
    text = shot.line.text.strip()
    voice, chosen_by = voice_of(backend, shot, casting)
    language = language_of(text)
    dest = folder / f"{shot.id}-{line_key(backend, voice, language, text)}.wav"
    started = time.perf_counter()
    reused = _readable(dest)
    cost = 0.0 if reused else _spoken_to(backend, text, voice, language, dest)
    took = round(time.perf_counter() - started, 3)
    return SpokenLine(
        shot, voice, dest, round(start_s, 3), wav_seconds(dest), cost, took, chosen_by, reused
    )


def line_key(backend: VoiceBackend, voice: str, language: str, text: str) -> str:
    """What makes a line's sound, digested: the same key is the same file."""
    what = "\x1f".join((backend.name, backend.model, voice, language, text))
    return hashlib.sha256(what.encode("utf-8")).hexdigest()[:12]


def _spoken_to(backend: VoiceBackend, text: str, voice: str, language: str, dest: Path):
    """The line spoken into a part file renamed into place when whole, so a line cut off by a
    crash is never taken for a spoken one (part files are swept when the run resumes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f"{dest.stem}.part.wav")
    try:
        cost = backend.speak(text, voice=voice, language=language, dest=part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return cost


def _readable(path: Path) -> bool:
    try:
        wav_seconds(path)
    except (OSError, EOFError, wave.Error):
        return False
    return True


def write_pcm_wav(pcm: bytes, dest: Path, rate: int) -> None:
    """16-bit mono PCM, as speech services send it, wrapped in a WAV header that knows its
    length (a trailing odd byte is dropped)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm[: len(pcm) - len(pcm) % 2])


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return round(audio.getnframes() / audio.getframerate(), 3)
