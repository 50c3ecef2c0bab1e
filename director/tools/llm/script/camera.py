"""The camera of a scripted shot: read back from the creator's camera text where they wrote
one, else chosen by the shot grammar (establish a new place wide, a line in a medium close-up,
a character in a medium shot, a detail in an insert; the film ends pulling out)."""

from __future__ import annotations

import re
from functools import cache

from director.prompts import read_json
from director.tools.llm.language import load_vocab

DEFAULTS = {"size": "medium", "angle": "eye-level", "move": "static"}
ROLES = {
    "extreme-wide": "establishing",
    "wide": "wide",
    "full": "wide",
    "medium": "medium",
    "medium-close-up": "close-up",
    "close-up": "close-up",
    "insert": "insert",
}


@cache
def _phrases() -> list[tuple[str, str, str]]:
    """(phrase, part, key), longest phrase first, so "extreme close" wins over "close"."""
    words = read_json("script", "fill.json")["camera_words"]
    found = [(p, part, key) for part, keys in words.items() for key, ps in keys.items() for p in ps]
    return sorted(found, key=lambda item: -len(item[0]))


def read_camera(text: str) -> dict[str, str]:
    """Size, angle and move named in a creator's camera text; the defaults for the rest."""
    chosen: dict[str, str] = {}
    lowered = text.lower()
    for phrase, part, key in _phrases():
        if part in chosen:
            continue
        if phrase.isascii():
            hit = re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", lowered)
        else:
            hit = phrase in lowered
        if hit:
            chosen[part] = key
    return {**DEFAULTS, **chosen}


def choose_camera(*, first_in_place: bool, dialogue: bool, people: bool, late: bool) -> dict:
    if first_in_place:
        size, move = "wide", "static"
    elif dialogue:
        size, move = "medium-close-up", "static"
    elif people:
        size, move = "medium", "push-in" if late else "static"
    else:
        size, move = "insert", "static"
    return {"size": size, "angle": "eye-level", "move": move}


def camera_text(camera: dict[str, str], language: str) -> str:
    vocab = load_vocab("camera.json")
    joiner = "，" if language == "zh" else ", "
    return joiner.join(vocab[part][camera[part]][language] for part in ("size", "angle", "move"))


def role_of(size: str) -> str:
    return ROLES.get(size, "medium")
