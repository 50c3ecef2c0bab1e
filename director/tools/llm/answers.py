"""What a language model answers at each planning stage, and the records built from it.

The model writes only the new words of a stage; director builds the records. Everything a later
stage depends on comes from the approved records, never from the model: ids, indices, beat
names (the structure's), the title card (the story's title), the style slot (the bible's) and
the lead's identity block (the cast's). The arithmetic is director's too: beat and shot lengths
are the model's proportions scaled to the runtime in hundredths of a second, with the offline
planner's bounds (shots 3-8 s, cards 1.5-4 s), so everything adds up exactly.

A broken answer raises ``AnswerError`` with a message written for the model: the planner shows
it to the model once and asks again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from director.errors import InputError
from director.records import (
    Angle,
    Beat,
    BeatSheet,
    CameraMove,
    Cards,
    Character,
    Language,
    Line,
    Shot,
    ShotPrompt,
    ShotRole,
    ShotSize,
    Story,
    StyleBible,
    Transition,
    clean_value,
)
from director.tools.llm.language import detect_language, load_data, load_vocab
from director.tools.llm.offline import (
    LINE_MARGIN_S,
    MAX_SHOT_CS,
    MIN_SHOT_CS,
    READING_CPS,
    _card_lengths,
    _groups,
    aspect_ratio,
)

MAX_LOCATIONS = 3
MAX_PROTAGONISTS = 3
CARD_MIN_CS = 150
CROSSFADE_CS, FADE_CS = 60, 100
MIN_CROSSFADE_CS = 50
REPAIR_MAX_CHARS = 400
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


class AnswerError(ValueError):
    """An answer that parsed but cannot be used; the message tells the model what to fix."""


class _Answer(BaseModel):
    # Fields the model adds beyond the schema are dropped: they can never reach a record.
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        """Control characters leave a model's answer before anything is checked against it."""
        return clean_value(value) if isinstance(value, dict) else value


# --- answers ---------------------------------------------------------------------------------


class CharacterAnswer(_Answer):
    name: str
    description: str


class StoryAnswer(_Answer):
    title: str
    protagonists: list[CharacterAnswer]
    world: str
    want: str
    obstacle: str
    theme: str
    tone: str
    locations: list[str]


class BeatAnswer(_Answer):
    summary: str
    change: str
    location: str
    duration_s: float


class BeatSheetAnswer(_Answer):
    beats: list[BeatAnswer]


class BibleAnswer(_Answer):
    name: str
    suffix: str
    negative: str
    palette: list[str]
    grain: float


class LineAnswer(_Answer):
    kind: Literal["narration", "dialogue"]
    speaker: str | None
    text: str


class ShotAnswer(_Answer):
    role: ShotRole
    size: ShotSize
    angle: Angle
    move: CameraMove
    duration_s: float
    characters: list[str]
    subject: str
    action: str
    environment: str
    line: LineAnswer | None
    transition: Transition
    continuous: bool


class BeatShotsAnswer(_Answer):
    beat_id: str
    shots: list[ShotAnswer]


class ShotListAnswer(_Answer):
    beats: list[BeatShotsAnswer]


class RepairAnswer(_Answer):
    text: str


def strict_schema(answer: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema for structured outputs in strict mode: every property required, no
    others allowed, no defaults."""
    return _strict(answer.model_json_schema())


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "default"}
    if out.get("type") == "object" and "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


# --- the story -------------------------------------------------------------------------------


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


# --- the style bible and the cards -----------------------------------------------------------


def bible_from(
    answer: BibleAnswer, story: Story, sheet: BeatSheet, width: int, height: int
) -> tuple[StyleBible, Cards]:
    colours = [c.strip().lower() for c in answer.palette if _HEX.fullmatch(c.strip())]
    if len(colours) < 3:
        raise AnswerError('palette: give five colours as "#rrggbb" hex codes.')
    suffix = _said(answer.suffix, "suffix")
    check_language([suffix], story.language, "The style suffix")
    text = load_data(f"{story.language}.json")
    bible = StyleBible(
        name=_said(answer.name, "name"),
        suffix=suffix,
        negative=_negative(text["style"]["negative"], answer.negative, story.language),
        palette=sorted(dict.fromkeys(colours[:5]), key=_luminance),
        aspect_ratio=aspect_ratio(width, height),
        width=width,
        height=height,
        grain=round(min(1.0, max(0.0, answer.grain)), 2),
    )
    title_cs, end_cs = _card_lengths([_cs(b.duration_s) for b in sheet.beats])
    cards = Cards(
        title=story.title,
        title_s=title_cs / 100,
        end=text["cards"]["end"],
        end_s=end_cs / 100,
        label=text["cards"]["label"],
    )
    return bible, cards


def _negative(base: str, written: str, language: Language) -> str:
    """Director's standing negatives first (text, watermarks, broken hands), then the model's."""
    sep = "，" if language == "zh" else ", "
    terms = [t.strip() for t in re.split(r"[,，;；]", f"{base},{written}") if t.strip()]
    return sep.join(dict.fromkeys(terms))


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# --- the shot list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShotBudget:
    """A beat's time for shots (its length less the cards on it) and how many shots fit."""

    beat: Beat
    cs: int

    @property
    def fewest(self) -> int:
        return math.ceil(self.cs / MAX_SHOT_CS)

    @property
    def most(self) -> int:
        return max(self.fewest, self.cs // MIN_SHOT_CS)


def shot_budgets(sheet: BeatSheet, cards: Cards) -> list[ShotBudget]:
    budgets = []
    last = len(sheet.beats) - 1
    for i, beat in enumerate(sheet.beats):
        cs = _cs(beat.duration_s) - (_cs(cards.title_s) if i == 0 else 0)
        cs -= _cs(cards.end_s) if i == last else 0
        if cs < MIN_SHOT_CS:
            raise InputError(
                f"beat {beat.id} leaves {cs / 100:g} s for shots beside its cards",
                "Lengthen the first and last beats or shorten the cards.",
            )
        budgets.append(ShotBudget(beat, cs))
    return budgets


def shots_from(
    answer: ShotListAnswer, story: Story, budgets: list[ShotBudget], bible: StyleBible
) -> list[Shot]:
    by_beat = _shots_by_beat(answer, budgets)
    drafts: list[tuple[Beat, ShotAnswer, int]] = []
    for budget in budgets:
        written = by_beat[budget.beat.id]
        if not budget.fewest <= len(written) <= budget.most:
            raise AnswerError(
                f"beat {budget.beat.id} has {budget.cs / 100:g} s of shots: write between "
                f"{budget.fewest} and {budget.most} shots of 3 to 8 s (you wrote {len(written)})."
            )
        weights = [
            min(8.0, max(3.0, s.duration_s)) if _usable(s.duration_s) else 5.0 for s in written
        ]
        n = len(written)
        lengths = bounded_split(budget.cs, weights, [MIN_SHOT_CS] * n, [MAX_SHOT_CS] * n)
        drafts += [(budget.beat, s, cs) for s, cs in zip(written, lengths, strict=True)]
    actions = [_said(s.action, f"shot {i + 1} action") for i, (_, s, _) in enumerate(drafts)]
    check_language(actions, story.language, "The shot actions")
    shots = [_shot(i, beat, s, cs, story, bible) for i, (beat, s, cs) in enumerate(drafts)]
    return _with_transitions(shots)


def _shots_by_beat(answer: ShotListAnswer, budgets: list[ShotBudget]) -> dict[str, list]:
    ids = [b.beat.id for b in budgets]
    found: dict[str, list[ShotAnswer]] = {}
    for group in answer.beats:
        beat_id = group.beat_id.strip()
        if beat_id not in ids:
            raise AnswerError(f"beat_id {beat_id!r} is not a beat; use: {', '.join(ids)}.")
        if beat_id in found:
            raise AnswerError(f"beat {beat_id} appears twice; give each beat once.")
        found[beat_id] = group.shots
    missing = [i for i in ids if i not in found]
    if missing:
        raise AnswerError(f"beats {', '.join(missing)} have no shots; plan every beat.")
    return found


def _shot(index: int, beat: Beat, s: ShotAnswer, cs: int, story: Story, bible: StyleBible) -> Shot:
    people = {p.name.lower(): p for p in story.protagonists}
    cast = [people[n.strip().lower()] for n in s.characters if n.strip().lower() in people]
    cast = list({p.name: p for p in cast}.values())
    language = story.language
    # The identity block stands in for a character's name: it is what keeps the face the same.
    subject = ("；" if language == "zh" else "; ").join(p.description for p in cast)
    prompt = ShotPrompt(
        subject=subject or _said(s.subject, f"shot {index + 1} subject"),
        action=s.action.strip(),
        environment=_said(s.environment, f"shot {index + 1} environment"),
        camera=camera_slot(s.size, s.angle, s.move, language),
        style=bible.suffix,
        negative=bible.negative,
    )
    return Shot(
        id=f"s{index + 1:03d}",
        beat_id=beat.id,
        index=index,
        role=s.role,
        size=s.size,
        angle=s.angle,
        move=s.move,
        duration_s=cs / 100,
        prompt=prompt,
        characters=[p.name for p in cast],
        line=_line(s.line, [p.name for p in cast], cs, language),
        transition=s.transition,
        continuous=s.continuous,
    )


def camera_slot(size: str, angle: str, move: str, language: Language) -> str:
    """The camera slot in the shared camera vocabulary, which the renderers read back."""
    camera = load_vocab("camera.json")
    joiner = "，" if language == "zh" else ", "
    return joiner.join(
        camera[part][key][language]
        for part, key in (("size", size), ("angle", angle), ("move", move))
    )


def _line(written: LineAnswer | None, in_frame: list[str], cs: int, language: Language):
    """The line, if it can be read in the shot; dialogue only from someone in frame."""
    if written is None or not written.text.strip():
        return None
    text = written.text.strip()
    if len(text) > READING_CPS[language] * (cs / 100 - LINE_MARGIN_S):
        return None
    speaker = next((n for n in in_frame if n.lower() == (written.speaker or "").lower()), None)
    if written.kind == "dialogue" and speaker:
        return Line(kind="dialogue", speaker=speaker, text=text)
    return Line(kind="narration", text=text)


def _with_transitions(shots: list[Shot]) -> list[Shot]:
    """The offline planner's transition rules: a crossfade stays inside a beat and a fade to
    black ends one, each at most 40% of the shorter shot; the film ends on a cut."""
    out = []
    for a, b in zip(shots, [*shots[1:], None], strict=True):
        kind, cs = _transition(a, b)
        # Action runs on only across a plain cut inside one beat.
        before = out[-1] if out else None
        continuous = bool(
            a.continuous and before and before.transition == "cut" and before.beat_id == a.beat_id
        )
        out.append(
            a.model_copy(
                update={"transition": kind, "transition_s": cs / 100, "continuous": continuous}
            )
        )
    return out


def _transition(a: Shot, b: Shot | None) -> tuple[str, int]:
    if b is None:
        return "cut", 0
    same_beat = a.beat_id == b.beat_id
    kind = a.transition
    if kind == "fade-black" and same_beat:
        kind = "crossfade"
    if kind == "crossfade" and not same_beat:
        kind = "cut"
    limit = int(0.4 * min(_cs(a.duration_s), _cs(b.duration_s)))
    if kind == "fade-black":
        return ("fade-black", FADE_CS) if limit >= FADE_CS else ("cut", 0)
    if kind == "crossfade":
        cs = min(CROSSFADE_CS, limit)
        return ("crossfade", cs) if cs >= MIN_CROSSFADE_CS else ("cut", 0)
    return "cut", 0


# --- a repaired slot -------------------------------------------------------------------------


def repaired_slot(answer: RepairAnswer, shot: Shot, slots: dict[str, str], slot: str) -> str:
    """The new slot text. The bible's style slot and a character's identity block are approved
    text: a repair adds to them and never drops them."""
    text = _said(answer.text, "text")
    if len(text) > REPAIR_MAX_CHARS:
        raise AnswerError(f"text: keep the slot under {REPAIR_MAX_CHARS} characters.")
    check_language([text], _prompt_language(shot), "The slot")
    kept = {"style": shot.prompt.style, "subject": shot.prompt.subject if shot.characters else ""}
    fixed = kept.get(slot, "")
    if fixed and fixed not in text:
        sep = "，" if _prompt_language(shot) == "zh" else ", "
        text = f"{fixed.rstrip('.,，。')}{sep}{text}"
    return text


def _prompt_language(shot: Shot) -> Language:
    return detect_language(shot.prompt.subject + shot.prompt.action)


# --- shared ----------------------------------------------------------------------------------


def check_language(texts: list[str], language: Language, what: str) -> None:
    if detect_language(" ".join(texts)) != language:
        wanted = "Simplified Chinese" if language == "zh" else "English"
        raise AnswerError(f"{what} must be written in {wanted}.")


def _said(value: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise AnswerError(f"{field}: must not be empty.")
    return text


def _usable(seconds: float) -> bool:
    return math.isfinite(seconds) and seconds > 0


def _cs(seconds: float) -> int:
    return round(seconds * 100)
