"""The story and its beat sheet from the model's answers: the cast playing the people it names,
the structure's beats merged for the runtime as the offline planner merges them, and beat
lengths from the model's proportions, each within its bounds and all adding up to the runtime."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from director.errors import InputError
from director.records import Beat, BeatSheet, Character, Language, Story
from director.tools.llm.answers.checks import AnswerError, _said, _usable, check_language
from director.tools.llm.answers.schema import (
    BeatAnswer,
    BeatSheetAnswer,
    CharacterAnswer,
    StoryAnswer,
)
from director.tools.llm.language import load_data
from director.tools.llm.offline.beats import _groups
from director.tools.llm.offline.common import MIN_SHOT_CS

MAX_LOCATIONS = 3
MAX_PROTAGONISTS = 3
CARD_MIN_CS = 150


def story_from(
    answer: StoryAnswer, logline: str, language: Language, cast: Sequence[Character]
) -> Story:
    fields = {f: _said(getattr(answer, f), f) for f in ("title", "world", "want", "obstacle")}
    fields |= {f: _said(getattr(answer, f), f) for f in ("theme", "tone")}
    check_language([fields["title"], fields["world"], fields["want"]], language, "The story")
    locations = list(dict.fromkeys(p.strip() for p in answer.locations if p.strip()))
    if not locations:
        raise AnswerError("locations: name one to three concrete places.")
    return Story(
        logline=logline,
        language=language,
        protagonists=_protagonists(answer.protagonists, cast),
        locations=locations[:MAX_LOCATIONS],
        **fields,
    )


def _protagonists(written: list[CharacterAnswer], cast: Sequence[Character]) -> list[Character]:
    """The cast plays the people it names, with its own identity blocks; the model's
    descriptions fill in only where a cast member has none."""
    people = [(c.name.strip(), c.description.strip()) for c in written if c.name.strip()]
    if not cast:
        if not people or not all(d for _, d in people):
            raise AnswerError("protagonists: give at least one, each with a name and description.")
        return [Character(name=n, description=d) for n, d in people[:MAX_PROTAGONISTS]]
    by_name = {n.lower(): d for n, d in people}
    fallback = people[0][1] if people else ""
    out = []
    for i, member in enumerate(cast):
        described = by_name.get(member.name.lower()) or (fallback if i == 0 else "")
        description = member.description.strip() or described
        if not description:
            raise AnswerError(f"protagonists: describe {member.name} (an identity block).")
        out.append(Character(name=member.name, description=description))
    return out


# --- the beat sheet --------------------------------------------------------------------------


@dataclass(frozen=True)
class BeatSlot:
    """A beat of the structure (merged with neighbours for short runtimes) to be written."""

    name: str
    weight: float


def beat_slots(structure: str, language: Language, runtime_cs: int) -> list[BeatSlot]:
    """The structure's beats for this runtime, merged as the offline planner merges them, so
    every beat keeps at least one 3 s shot beside the title and end cards."""
    joiner = load_data(f"{language}.json")["merge_joiner"]
    return [
        BeatSlot(joiner.join(e["name"][language] for e in g.entries), g.weight)
        for g in _groups(structure, runtime_cs)
    ]


def beat_sheet_from(
    answer: BeatSheetAnswer, story: Story, structure: str, slots: list[BeatSlot], runtime_cs: int
) -> BeatSheet:
    written = answer.beats
    if len(written) != len(slots):
        names = ", ".join(s.name for s in slots)
        raise AnswerError(
            f"beats: write exactly {len(slots)} beats, one for each of: {names} "
            f"(you wrote {len(written)})."
        )
    summaries = [_said(b.summary, f"beats[{i}].summary") for i, b in enumerate(written)]
    if len(set(summaries)) != len(summaries):
        raise AnswerError("beats: every summary must be different.")
    check_language(summaries, story.language, "The beat summaries")
    lengths = _beat_lengths(written, slots, runtime_cs)
    beats, start = [], 0
    for i, (slot, beat, cs) in enumerate(zip(slots, written, lengths, strict=True)):
        beats.append(
            Beat(
                id=f"b{i + 1:02d}",
                index=i,
                name=slot.name,
                summary=summaries[i],
                change=_said(beat.change, f"beats[{i}].change"),
                location=_location(beat.location, story.locations, i),
                start_s=round(start / 100, 2),
                duration_s=round(cs / 100, 2),
            )
        )
        start += cs
    return BeatSheet(structure=structure, beats=beats)


def _beat_lengths(written: list[BeatAnswer], slots: list[BeatSlot], runtime_cs: int) -> list[int]:
    """The model's proportions, each beat long enough for a shot (and the first and last for
    a card besides), summing to the runtime."""
    total_weight = sum(s.weight for s in slots)
    weights = [
        b.duration_s if _usable(b.duration_s) else runtime_cs / 100 * s.weight / total_weight
        for b, s in zip(written, slots, strict=True)
    ]
    lows = [MIN_SHOT_CS] * len(slots)
    lows[0] += CARD_MIN_CS
    lows[-1] += CARD_MIN_CS
    return bounded_split(runtime_cs, weights, lows, [runtime_cs] * len(slots))


def _location(written: str, locations: list[str], index: int) -> str:
    wanted = written.strip().lower().strip("\"'“”「」")
    for place in locations:
        if place.lower() == wanted:
            return place
    raise AnswerError(
        f"beats[{index}].location: {written!r} is not one of the story's locations; copy one "
        f"of: {', '.join(locations)}."
    )


def bounded_split(total: int, weights: list[float], lows: list[int], highs: list[int]) -> list[int]:
    """Integer shares of ``total`` in proportion to ``weights``, each within its bounds."""
    if not lows or sum(lows) > total or sum(highs) < total:
        raise InputError(f"{total / 100:g} s cannot be split into {len(weights)} parts that fit.")
    whole = sum(weights) or 1.0
    parts = [
        min(hi, max(lo, round(total * w / whole)))
        for w, lo, hi in zip(weights, lows, highs, strict=True)
    ]
    while diff := total - sum(parts):
        room = [
            (hi - p) if diff > 0 else (p - lo) for p, lo, hi in zip(parts, lows, highs, strict=True)
        ]
        open_ = [i for i, r in enumerate(room) if r > 0]
        share = math.ceil(abs(diff) / len(open_))
        for i in open_:
            step = min(share, room[i], abs(total - sum(parts)))
            parts[i] += step if diff > 0 else -step
    return parts
