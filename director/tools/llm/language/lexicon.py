"""Which language a text is in, the data files the rules read, and word look-ups.

The lexicon (``director/prompts/offline/lexicon.json``) sorts words into persons, forces, places
and things in both languages; the environment vocabulary says what kind of place a phrase names,
both as the storyboard renderer draws it (``environment_kind``) and as a story's places and pools
are chosen (``place_kind``). The readers of both languages look words up here.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from director import prompts
from director.records import Language
from director.text import han_count

_LATIN = re.compile(r"[A-Za-z]")


# An ideograph carries about as much meaning as two or three Latin letters.
_CJK_WEIGHT = 2.5


def detect_language(text: str) -> Language:
    """``"zh"`` when CJK ideographs dominate the text, else ``"en"``."""
    cjk = han_count(text)
    latin = len(_LATIN.findall(text))
    return "zh" if cjk and cjk * _CJK_WEIGHT >= latin else "en"


@cache
def load_data(name: str) -> dict[str, Any]:
    """A JSON file from ``director/prompts/offline/``."""
    return prompts.read_json("offline", name)


@cache
def load_vocab(name: str) -> dict[str, Any]:
    """A shared vocabulary from ``director/prompts/vocab/`` (camera, environments)."""
    return prompts.read_json("vocab", name)


@cache
def environment_kind(text: str) -> str | None:
    """The environment kind the storyboard renderer draws for ``text``: first kind in order.

    Matched as the renderer matches: English as whole words (a plural counts, a hyphen is a
    space), Chinese as substrings."""
    low = re.sub(r"[-_]", " ", text.lower().replace("\u2019", "'"))
    for kind, words in load_vocab("environments.json")["kinds"].items():
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?:e?s)?(?![a-z])", low) for w in words["en"]):
            return kind
        if any(w in text for w in words["zh"]):
            return kind
    return None


@cache
def place_kind(text: str) -> str | None:
    """What kind of place a phrase names, by whole words: "the lighthouse" is not a house.

    Used to choose a story's places and pools; ``environment_kind`` says what gets drawn."""
    low = text.lower()
    for kind, words in load_vocab("environments.json")["kinds"].items():
        if any(re.search(rf"(?<![\w\-]){re.escape(w)}(?:s|es)?(?![\w])", low) for w in words["en"]):
            return kind
        if any(w in text for w in words["zh"]):
            return kind
    return None


def person_kind(word: str, language: Language) -> str | None:
    """The kind of place a protagonist's trade suggests (a fisherman -> ocean)."""
    entry = _entry(word, "persons", language) if word else None
    return entry.get("kind") if entry else None


@cache
def _lexicon() -> dict[str, Any]:
    return load_data("lexicon.json")


@cache
def _word_roles(language: Language) -> dict[str, tuple[str, dict[str, Any]]]:
    roles: dict[str, tuple[str, dict[str, Any]]] = {}
    for group in ("persons", "forces", "places", "things"):
        for entry in _lexicon()[group]:
            for word in entry[language]:
                roles.setdefault(word, (group, entry))
    return roles


def lexicon_persons() -> list[dict[str, Any]]:
    """The lexicon's person entries (words in both languages, gender and age)."""
    return list(_lexicon()["persons"])


def _entry(word: str, group: str, language: Language) -> dict[str, Any] | None:
    for entry in _lexicon()[group]:
        if word.lower() in entry[language]:
            return entry
    return None


@cache
def _force_words(language: Language) -> list[str]:
    words = {w for entry in _lexicon()["forces"] for w in entry[language]}
    return sorted(words, key=lambda w: (-len(w), w))


def _env_words(language: Language) -> list[str]:
    kinds = load_vocab("environments.json")["kinds"]
    return sorted({w for k in kinds.values() for w in k[language]}, key=lambda w: (-len(w), w))
