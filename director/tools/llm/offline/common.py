"""What every stage of the offline planner shares: the bounds on runtime, shot, card and line
lengths; the random choices seeded from the inputs and the digests of records that seed them;
the checks on the inputs; and template filling, where ``{slot}``s are filled, verbs agree with
their subjects and sentences are capitalised and ended."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path
from typing import Any

from director.errors import InputError
from director.records import BeatSheet, Language
from director.tools.llm.language import is_plural_noun, load_data, third_person

MIN_RUNTIME_S = 15
MAX_RUNTIME_S = 1200
MIN_SHOT_CS = 300
MAX_SHOT_CS = 800
CARD_MIN_CS, CARD_MAX_CS, CARD_LONG_CS = 150, 400, 350
# Reading speed for lines on screen (characters a second), and the margin left unread.
READING_CPS = {"en": 15, "zh": 8}
LINE_MARGIN_S = 0.5


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _digest(record: Any) -> str:
    return hashlib.sha256(_portable(record).model_dump_json().encode("utf-8")).hexdigest()[:16]


def _portable(record: Any) -> Any:
    """The record as every machine has it: a character's reference photos by file name (the
    cast keeps them under a digest of the photo), not the folder they are kept in, so the same
    cast gives the same plan wherever its home is."""
    people = getattr(record, "protagonists", None)
    if not people:
        return record
    named = [
        c.model_copy(update={"references": [Path(r).name for r in c.references]}) for c in people
    ]
    return record.model_copy(update={"protagonists": named})


def _check_beats(sheet: BeatSheet) -> None:
    if not sheet.beats:
        raise InputError("the beat sheet has no beats", "Plan the beat sheet again.")


def _check_language(language: str) -> None:
    if language not in ("en", "zh"):
        raise InputError(f"unsupported language {language!r}", "Use 'en' or 'zh'.")


def _runtime_cs(runtime_s: float) -> int:
    if not MIN_RUNTIME_S <= runtime_s <= MAX_RUNTIME_S:
        raise InputError(
            f"runtime {runtime_s} s is out of range",
            f"Pass a runtime between {MIN_RUNTIME_S} and {MAX_RUNTIME_S} seconds.",
        )
    return round(runtime_s * 100)


def _text(language: Language) -> dict[str, Any]:
    return load_data(f"{language}.json")


_SLOT = re.compile(r"\{(\w+)\}")
_FORCE_VERB = re.compile(r"<(\w+)>")
_SUBJECT_VERB = re.compile(r"\[(\w+)\]")


def fill(
    template: str, slots: dict[str, str], *, force_plural: bool = True, plural: bool = False
) -> str:
    """Fill ``{slot}``s; ``<verb>`` agrees with the opposing force, ``[verb]`` with the subject."""
    text = _SLOT.sub(lambda m: str(slots.get(m.group(1), "")), template)
    text = _FORCE_VERB.sub(lambda m: _agree(m.group(1), force_plural), text)
    return _SUBJECT_VERB.sub(lambda m: _agree(m.group(1), plural), text)


def _agree(verb: str, plural: bool) -> str:
    if plural:
        return "are" if verb == "be" else verb
    return third_person(verb)


def _usable(template: str, slots: dict[str, str]) -> bool:
    return all(slots.get(name) for name in _SLOT.findall(template))


def _pick(rng: random.Random, templates: list[str], slots: dict[str, str]) -> str:
    usable = [t for t in templates if _usable(t, slots)]
    return rng.choice(usable or templates)


def sentence_case(text: str) -> str:
    """Capital letters at the start of each sentence; Chinese is left as it is."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text


def _end(text: str, language: Language) -> str:
    stop = "。" if language == "zh" else "."
    return text if text.endswith((".", "!", "?", "。", "！", "？")) else text + stop


def _is_plural_phrase(phrase: str) -> bool:
    words = re.sub(r"\s+of\s.*$", "", phrase).split()
    return bool(words) and is_plural_noun(words[-1])


def _shuffled(rng: random.Random, items: list[str]) -> list[str]:
    out = list(items)
    rng.shuffle(out)
    return out
