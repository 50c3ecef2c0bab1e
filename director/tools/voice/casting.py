"""Which voice speaks each line: a character's own voice kept in the cast (``director cast add
NAME --voice PROVIDER:VOICE``), the narrator's from ``--narrator-voice``, else the backend's own
choice (one voice per name, the same in every run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from director.errors import InputError
from director.records import CastVoice, Language
from director.tools.base import VoiceBackend

SPEC_HINT = "Write it as PROVIDER:VOICE or PROVIDER:MODEL:VOICE, e.g. openai:nova or scratch:f2."


def parse_voice(spec: str) -> CastVoice:
    """``PROVIDER:VOICE`` or ``PROVIDER:MODEL:VOICE``, its provider an installed voice backend
    and its voice one that backend can have."""
    from director.registry import available

    parts = [p.strip() for p in (spec or "").split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"--voice {spec!r} names no voice.", SPEC_HINT)
    provider, model, voice = parts[0].lower(), *(parts[1:] if len(parts) == 3 else ["", parts[1]])
    backends = available("voices")
    if provider not in backends:
        raise InputError(
            f"--voice {spec!r}: no voice backend named {provider!r}.",
            f"Use one of: {', '.join(sorted(backends))}. {SPEC_HINT}",
        )
    backend_class(provider).check_voice(voice, model)
    return CastVoice(provider=provider, model=model, voice=voice)


def backend_class(provider: str) -> type[VoiceBackend]:
    """The class of an installed voice backend, imported alone (no other backend loaded)."""
    import importlib

    from director.registry import available

    module, _, attr = available("voices")[provider].partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Casting:
    """The voices chosen by a human: the narrator's (a voice of the run's backend), and each
    cast member's, by name, for any backends they have a voice in."""

    narrator: str | None = None
    characters: Mapping[str, Sequence[CastVoice]] = field(default_factory=dict)

    def voice(
        self, backend: VoiceBackend, speaker: str | None, language: Language | None = None
    ) -> tuple[str, str]:
        """The voice for ``speaker`` (None: the narrator) saying a line in ``language``, and
        whose choice it is: ``cast``, ``narrator`` (the run's --narrator-voice) or
        ``automatic`` (the backend's, among its voices of the language)."""
        if speaker is None:
            if self.narrator:
                return self.narrator, "narrator"
            return backend.voice_for(None, language), "automatic"
        for voice in self.characters.get(_key(speaker), ()):
            if voice.serves(backend.name, backend.model):
                return voice.voice, "cast"
        return backend.voice_for(speaker, language), "automatic"

    def unserved(self, backend: VoiceBackend, speakers: Sequence[str]) -> dict[str, list[str]]:
        """Speakers with voices in the cast, none of them for ``backend``'s model: their lines
        get the backend's automatic voice. By name, the voices they have."""
        found: dict[str, list[str]] = {}
        named: dict[str, str] = {}
        for name in speakers:
            named.setdefault(_key(name), name)  # each once, as first written
        for key, name in named.items():
            voices = self.characters.get(key, ())
            if voices and not any(v.serves(backend.name, backend.model) for v in voices):
                found[name] = [v.spec for v in voices]
        return found

    @classmethod
    def of(cls, narrator: str | None, cast: Mapping[str, Sequence[CastVoice]]) -> Casting:
        return cls(narrator=narrator or None, characters={_key(n): v for n, v in cast.items()})


def _key(name: str) -> str:
    return name.strip().lower()
