"""The shot list from the model's answer, and a repaired slot: each beat's time for shots and how
many fit, shot lengths within 3-8 s, the cast's identity blocks as subjects, lines only where
they can be read, the offline planner's transition rules, and a repair that keeps approved text."""

from __future__ import annotations

import math
from dataclasses import dataclass

from director.errors import InputError
from director.records import (
    Beat,
    BeatSheet,
    Cards,
    Language,
    Line,
    Shot,
    ShotPrompt,
    Story,
    StyleBible,
)
from director.tools.llm.answers.checks import AnswerError, _cs, _said, _usable, check_language
from director.tools.llm.answers.schema import LineAnswer, RepairAnswer, ShotAnswer, ShotListAnswer
from director.tools.llm.answers.story import bounded_split
from director.tools.llm.language import detect_language, load_vocab
from director.tools.llm.offline.common import LINE_MARGIN_S, MAX_SHOT_CS, MIN_SHOT_CS, READING_CPS

CROSSFADE_CS, FADE_CS = 60, 100
MIN_CROSSFADE_CS = 50
REPAIR_MAX_CHARS = 400


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
