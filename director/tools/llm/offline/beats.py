"""The story structures and the beat sheet: structure names and their aliases, the structure's
beats merged with their neighbours until each keeps at least 3 s of shots beside the title and
end cards, their lengths in proportion to the structure's weights, and each beat's summary and
change."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from director.errors import InputError
from director.records import Beat, Language
from director.tools.llm.language import load_data
from director.tools.llm.offline.common import (
    CARD_LONG_CS,
    CARD_MIN_CS,
    MIN_SHOT_CS,
    _end,
    _pick,
    fill,
    sentence_case,
)
from director.tools.llm.offline.kit import _definite_action, _Kit

STRUCTURES: tuple[str, ...] = tuple(load_data("structures.json")["structures"])


def default_structure(language: Language) -> str:
    return load_data("structures.json")["defaults"][language]


def resolve_structure(structure: str | None, language: Language = "en") -> str:
    """The canonical structure name for ``structure`` (any case, aliases allowed)."""
    if not structure or structure.strip().lower() in ("default", "auto"):
        return default_structure(language)
    key = re.sub(r"[\s_]+", "-", structure.strip().lower())
    key = load_data("structures.json")["aliases"].get(key, key)
    if key not in STRUCTURES:
        raise InputError(
            f"unknown story structure {structure!r}",
            f"Choose one of: {', '.join(STRUCTURES)} (also 'qczh' or '起承转合').",
        )
    return key


def _structure(name: str) -> list[dict[str, Any]]:
    return load_data("structures.json")["structures"][name]


def _functions() -> dict[str, Any]:
    return load_data("structures.json")["functions"]


@dataclass
class _Group:
    """One beat of the sheet: one or more neighbouring beats of the structure, merged."""

    entries: list[dict[str, Any]]

    @property
    def weight(self) -> float:
        return sum(e["weight"] for e in self.entries)

    @property
    def functions(self) -> list[str]:
        return [e["function"] for e in self.entries]


def _card_cs(runtime_cs: int) -> int:
    """Title and end card length: 3.5 s from a minute up, shrinking to 1.5 s at 15 s."""
    scaled = CARD_MIN_CS + (runtime_cs - 1500) * (CARD_LONG_CS - CARD_MIN_CS) / 4500
    return int(min(CARD_LONG_CS, max(CARD_MIN_CS, round(scaled))))


def _split(total: int, weights: list[float]) -> list[int]:
    """Proportional shares of ``total``; the rounding remainder goes to the last share."""
    whole = sum(weights)
    parts = [round(total * w / whole) for w in weights[:-1]]
    return [*parts, total - sum(parts)]


def _groups(name: str, runtime_cs: int) -> list[_Group]:
    """Merge neighbouring beats until every beat keeps at least 3 s of shots after the cards."""
    groups = [_Group([e]) for e in _structure(name)]
    card = _card_cs(runtime_cs)
    while len(groups) > 1:
        shots = _shot_time(_split(runtime_cs, [g.weight for g in groups]), card, card)
        worst = min(range(len(groups)), key=lambda i: (shots[i], i))
        if shots[worst] >= MIN_SHOT_CS:
            break
        other = _merge_partner(groups, worst)
        low, high = sorted((worst, other))
        groups[low : high + 1] = [_Group(groups[low].entries + groups[high].entries)]
    return groups


def _shot_time(durations: list[int], title: int, end: int) -> list[int]:
    shots = list(durations)
    shots[0] -= title
    shots[-1] -= end
    return shots


def _merge_partner(groups: list[_Group], index: int) -> int:
    if index == 0:
        return 1
    if index == len(groups) - 1:
        return index - 1
    before, after = groups[index - 1].weight, groups[index + 1].weight
    return index - 1 if before <= after else index + 1


def _beats(kit: _Kit, groups: list[_Group], durations: list[int], rng: random.Random) -> list[Beat]:
    beats, start = [], 0
    for i, (group, cs) in enumerate(zip(groups, durations, strict=True)):
        beats.append(_beat(kit, group, i, start, cs, rng, len(groups) - 1))
        start += cs
    return beats


def _beat(
    kit: _Kit, group: _Group, index: int, start: int, cs: int, rng: random.Random, last: int
) -> Beat:
    text = kit.text
    functions = group.functions
    place = kit.places[_functions()[functions[0]]["place"]]
    slots = kit.slots(kit.places["home"], index)
    chosen = [functions[0]] if len(functions) == 1 else [functions[0], functions[-1]]
    summary = " ".join(_beat_sentence(kit, _summaries(kit, f, index), slots, rng) for f in chosen)
    if kit.turn and set(functions) & {"midpoint", "zhuan"}:
        # The logline's own turn ("until one night the moon writes back") is the midpoint.
        turn = _end(sentence_case(fill(text["story"]["turn"], {"turn": kit.turn})), kit.language)
        summary = f"{turn}{'' if kit.language == 'zh' else ' '}{summary}"
    if kit.aim and index == last and not _shows(summary, kit.aim, kit.language):
        # The film ends on the logline's goal ("plays one final concert for ...").
        aim = sentence_case(fill(text["story"]["aim"], {**slots, "aim": kit.aim}))
        summary = f"{summary}{'' if kit.language == 'zh' else ' '}{_end(aim, kit.language)}"
    change = _beat_sentence(kit, text["beats"][functions[-1]]["change"], slots, rng)
    return Beat(
        id=f"b{index + 1:02d}",
        index=index,
        name=text["merge_joiner"].join(e["name"][kit.language] for e in group.entries),
        summary=summary,
        change=change,
        location=place,
        start_s=round(start / 100, 2),
        duration_s=round(cs / 100, 2),
    )


def _shows(summary: str, deed: str, language: Language) -> bool:
    """Whether the summary already shows the deed ('writes the letter' for 'writes a letter')."""
    return deed in summary or _definite_action(deed, language) in summary


def _summaries(kit: _Kit, function: str, index: int) -> list[str]:
    """The first beat shows what the logline says the protagonist does: its templates that
    name the action, where there are some, unless the protagonist's phrase already says it
    ('一个每晚给月亮写信的女孩')."""
    templates = kit.text["beats"][function]["summary"]
    if index:
        return templates
    named = kit.action in kit.hero
    return [t for t in templates if ("{action" in t) != named] or templates


def _beat_sentence(
    kit: _Kit, templates: list[str], slots: dict[str, str], rng: random.Random
) -> str:
    line = fill(_pick(rng, templates, slots), slots, force_plural=kit.force_plural)
    return _end(sentence_case(line), kit.language)
