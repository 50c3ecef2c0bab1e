"""The offline scratch voice: libespeak-ng from the ``espeakng-loader`` wheel, driven through
ctypes, English or Mandarin by the line's language.

It needs no network and no key and sounds robotic on purpose: it is a scratch track that tells
how long each line runs and where it lands in the cut, like previz pictures. Every event and the
workflow document call it a scratch voice.

libespeak-ng keeps one synthesiser per process, and it carries state from one utterance into
the next (the same line comes out a few samples different the second time). So each line is
spoken by a fresh process (``python -m director.tools.voice.scratch``): the same line in the same
voice is the same file in every run, and a crash in the library cannot take the run with it.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
import wave
from array import array
from pathlib import Path
from typing import ClassVar

from director.errors import BackendError, InputError, ToolMissing
from director.records import Language
from director.tools.base import VoiceBackend

SAMPLE_RATE = 22050  # what libespeak-ng synthesises at
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: samples come back through the callback
_RATE, _PITCH = 1, 3  # espeak_PARAMETER values
_CHARS_UTF8, _POS_CHARACTER = 1, 1
# Mandarin at about 4.5 characters a second, the pace the shot list fits lines to (pace.py);
# libespeak-ng counts its rate in words a minute, which for Mandarin it reads otherwise.
_WORDS_PER_MINUTE = {"en": 165, "zh": 200}
_VOICE = {"en": "en", "zh": "cmn"}
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_FIX = "Install the voice extra (pip install 'director[voice]'), or leave out --voice."


class ScratchVoice(VoiceBackend):
    """``--voice scratch``: a robotic offline voice for timing the cut, never for release."""

    name: ClassVar[str] = "scratch"
    model: str = "espeak-ng"
    scratch: ClassVar[bool] = True
    # espeak-ng voice variants: the narrator's first, then the characters'.
    voices: ClassVar[tuple[str, ...]] = ("m3", "f2", "m1", "f4", "m7", "f3", "m5", "f1", "m2")

    @classmethod
    def check_voice(cls, voice: str, model: str = "") -> None:
        """One of libespeak-ng's voice variants (``m1``-``m8``, ``f1``-``f5``, ``klatt``, ...)."""
        found = _variants()
        if voice not in found:
            raise InputError(
                f"The scratch voice has no variant {voice!r}.",
                "Use m1 to m8, f1 to f5, or another of libespeak-ng's variants (klatt, "
                "whisper, croak, ...).",
            )

    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        argv = [sys.executable, "-m", __name__, f"{_VOICE[language]}+{voice}", language, str(dest)]
        done = subprocess.run(
            argv, input=text, capture_output=True, encoding="utf-8", errors="replace", check=False
        )
        if done.returncode == 3:
            raise ToolMissing(done.stderr.strip().splitlines()[-1], _FIX)
        if done.returncode != 0 or not Path(dest).is_file():
            tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no message"
            raise BackendError(
                f"The scratch voice failed on the line {text[:60]!r}: {tail}",
                "Check the line's text, or leave out --voice.",
            )
        return 0.0


class _Engine:
    """The process's one libespeak-ng synthesiser."""

    _instance: ClassVar[_Engine | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.lib = _load_library()
        self.samples = array("h")
        self.callback = _CALLBACK(self._collect)  # kept referenced: the library calls it later
        self.lib.espeak_SetSynthCallback(self.callback)

    @classmethod
    def get(cls) -> _Engine:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def synthesise(self, text: str, voice: str, language: Language) -> array:
        encoded = text.encode("utf-8")
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ToolMissing(f"libespeak-ng has no voice {voice!r}.", _FIX)
            self.lib.espeak_SetParameter(_RATE, _WORDS_PER_MINUTE[language], 0)
            self.samples = array("h")
            self.lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
            return self.samples

    def _collect(self, wav, count: int, _events) -> int:
        if count > 0:
            self.samples.extend(wav[:count])
        return 0  # go on synthesising


def _variants() -> set[str]:
    """The voice variants in libespeak-ng's data, read from its folder (no library loaded)."""
    try:
        import espeakng_loader
    except ImportError as exc:
        raise ToolMissing("The scratch voice needs the espeakng-loader package.", _FIX) from exc
    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


def _load_library() -> ctypes.CDLL:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise ToolMissing("The scratch voice needs the espeakng-loader package.", _FIX) from exc
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    data = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, data, 0)
    if rate != SAMPLE_RATE:
        raise ToolMissing(f"libespeak-ng did not start (it answered {rate}).", _FIX)
    return lib


def _write_wav(samples: array, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())


def main(argv: list[str]) -> int:
    """Speak stdin's text in ``argv``'s voice and language into its WAV path (one line)."""
    voice, language, dest = argv
    try:
        samples = _Engine.get().synthesise(sys.stdin.buffer.read().decode("utf-8"), voice, language)
    except ToolMissing as exc:
        print(exc.message, file=sys.stderr)
        return 3
    _write_wav(samples, Path(dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
