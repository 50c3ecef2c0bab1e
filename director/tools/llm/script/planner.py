"""``ScriptPlanner``: plans from a creator's script, asking the run's planner only for what the
script leaves out.

Every slot, line, beat name and summary the creator wrote goes into the plan as written, and
their prompt slots are marked human-written (``Shot.edited_slots``) so no repair rewrites
them. The run's planner (offline or a language model) develops the story's world, want,
obstacle, theme and tone from the logline, describes the characters, writes the style bible,
and plans the shots of beats the script gives no shots; director's rules choose the camera and
the timing of the creator's shots. What was filled, and by whom, is reported through
``on_event`` (a ``stage_started`` event of stage ``script``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from director.prompts import read_json
from director.records import (
    Beat,
    BeatSheet,
    Cards,
    Character,
    Language,
    Line,
    Shot,
    ShotPrompt,
    StageStarted,
    Story,
    StyleBible,
)
from director.tools.base import Planner
from director.tools.llm.script.camera import camera_text, choose_camera, read_camera, role_of
from director.tools.llm.script.model import Script, ScriptBeat, ScriptShot

CARD_S = 3.0  # title and end cards: long enough to read twice (FILMCRAFT)
SHOT_S = 4.0  # a shot the script gives no length: a typical generated clip's trim
FREE_BEAT_S = 12.0  # a beat with no shots and no length, planned by the run's planner
LINE_CPS = {"en": 15, "zh": 8}  # reading speed, as the offline planner reads lines
LINE_MARGIN_S = 1.0
TRANSITION_S = {"cut": 0.0, "crossfade": 0.5, "fade-black": 1.0}
STRUCTURE = "script"


def script_runtime(script: Script, language: str) -> float:
    """The film's length as the script times it: its shots, free beats and the two cards."""
    total = 2 * CARD_S
    for beat in script.beats:
        if beat.shots:
            total += sum(_shot_s(shot, language) for shot in beat.shots)
        else:
            total += beat.duration_s or FREE_BEAT_S
    return round(total, 2)


def _shot_s(shot: ScriptShot, language: str) -> float:
    """The creator's length, else 4 s, longer when a line needs more time to read."""
    if shot.duration_s is not None:
        return shot.duration_s
    if shot.line is None:
        return SHOT_S
    reading = len(shot.line.text) / LINE_CPS[language] + LINE_MARGIN_S
    return max(SHOT_S, math.ceil(reading * 2) / 2)


class ScriptPlanner(Planner):
    name = "script"

    def __init__(self, script: Script, base: Planner):
        self.script, self.base = script, base
        based = f"{base.name}:{base.model}" if base.model else base.name
        self.model = f"{script.path.name} ({script.format}), gaps filled by {based}"
        self.based = based
        self.on_event: Callable[[Any], Any] | None = None

    # --- language-model calls are the base planner's -------------------------------------

    @property
    def on_call(self) -> Any:
        return getattr(self.base, "on_call", None)

    @on_call.setter
    def on_call(self, hook: Any) -> None:
        if hasattr(self.base, "on_call"):
            self.base.on_call = hook

    def repair_slot(self, shot, slots, slot, failures):
        return self.base.repair_slot(shot, slots, slot, failures)

    @property
    def reads_text(self) -> bool:
        """Whether a note or an edited beat reaches new shots: as the run's planner does."""
        return bool(getattr(self.base, "reads_text", self.base.name != "offline"))

    def _scripted(self, beat: Beat) -> ScriptBeat | None:
        """The script's beat with its shots, when the beat is still as the script wrote it; a
        beat whose summary a human rewrote at the checkpoint is planned from the new text."""
        if beat.index >= len(self.script.beats):
            return None
        sb = self.script.beats[beat.index]
        return sb if sb.shots and beat.summary == (sb.summary or sb.name) else None

    def _report(self, detail: str) -> None:
        if self.on_event is not None:
            self.on_event(StageStarted(stage="script", detail=detail))

    # --- the four stages -------------------------------------------------------------------

    def develop(
        self, logline: str, *, language: Language, seed: int, cast: Sequence[Character] = ()
    ) -> Story:
        story = self.base.develop(logline, language=language, seed=seed, cast=cast)
        people, described = _people(self.script.characters, story, cast, language)
        locations = list(dict.fromkeys(b.location for b in self.script.beats if b.location))
        kept = ["beats", "shots"]
        if self.script.title:
            kept.insert(0, "title")
        filled = ["world", "want", "obstacle", "theme", "tone"]
        if described:
            filled.append(f"descriptions of {', '.join(described)}")
        if not locations:
            filled.append("locations")
        self._report(
            f"story from {self.script.path.name}: kept {', '.join(kept)}; "
            f"filled by {self.based}: {', '.join(filled)}"
        )
        return story.model_copy(
            update={
                "logline": logline,
                "title": self.script.title or story.title,
                "protagonists": people or story.protagonists,
                "locations": locations or story.locations,
            }
        )

    def beat_sheet(
        self, story: Story, *, structure: str, runtime_s: float, seed: int, note: str = ""
    ) -> BeatSheet:
        lengths = _beat_lengths(self.script, story.language, runtime_s)
        beats, start = [], 0.0
        for i, (sb, length) in enumerate(zip(self.script.beats, lengths, strict=True)):
            beats.append(
                Beat(
                    id=f"b{i + 1:02d}",
                    index=i,
                    name=sb.name,
                    summary=sb.summary or sb.name,
                    change="",
                    location=sb.location or (story.locations or [""])[0],
                    start_s=round(start, 2),
                    duration_s=length,
                )
            )
            start += length
        timed = [b.name for b in self.script.beats if not b.shots and b.duration_s is None]
        self._report(
            f"beats: {len(beats)} from {self.script.path.name}, names and summaries kept; "
            + (f"lengths of {', '.join(timed)} shared from the runtime; " if timed else "")
            + "the others' lengths are their shots' plus the title and end cards"
        )
        return BeatSheet(structure=STRUCTURE, beats=beats)

    def bible(
        self, story: Story, beat_sheet: BeatSheet, *, width: int, height: int, seed: int
    ) -> tuple[StyleBible, Cards]:
        bible, cards = self.base.bible(story, beat_sheet, width=width, height=height, seed=seed)
        cards = cards.model_copy(update={"title": story.title, "title_s": CARD_S, "end_s": CARD_S})
        self._report(f"style bible and cards filled by {self.based}; cards {CARD_S:g} s each")
        return bible, cards

    def shot_list(
        self, story: Story, beat_sheet: BeatSheet, bible: StyleBible, cards: Cards, *, seed: int
    ) -> list[Shot]:
        scripted = {b.id: sb for b in beat_sheet.beats if (sb := self._scripted(b))}
        free = [b.id for b in beat_sheet.beats if b.id not in scripted]
        planned = self.base.shot_list(story, beat_sheet, bible, cards, seed=seed) if free else []
        filler = _Filler(story, bible)
        shots: list[Shot] = []
        for beat in beat_sheet.beats:
            if beat.id in scripted:
                sb = scripted[beat.id]
                shots += [filler.shot(beat, sb, s, j) for j, s in enumerate(sb.shots)]
            else:
                shots += [s for s in planned if s.beat_id == beat.id]
        shots = _numbered(shots)
        self._report(filler.summary(self.script, free, self.based))
        return shots


# --- characters ------------------------------------------------------------------------------


def _people(
    names: list[str], story: Story, cast: Sequence[Character], language: str
) -> tuple[list[Character], list[str]]:
    """The script's characters: the user's cast by name, else the run planner's description
    (its lead's for the script's first character); and the names whose description was filled."""
    by_name = {c.name.lower(): c for c in cast}
    developed = list(story.protagonists)
    people, described = [], []
    for i, name in enumerate(names):
        if name.lower() in by_name:
            people.append(by_name[name.lower()])
            continue
        base = next((p for p in developed if p.name.lower() == name.lower()), None)
        if base is None and i < len(developed) and not cast:
            base = developed[i]
        if base is not None:
            description = base.description
        else:
            template = read_json("script", "fill.json")["unnamed_character"][language]
            description = template.format(name=name)
        people.append(Character(name=name, description=description))
        described.append(name)
    named = {p.name.lower() for p in people}
    people += [c for c in cast if c.name.lower() not in named]  # the user's cast plays too
    return people, described


# --- timing ----------------------------------------------------------------------------------


def _beat_lengths(script: Script, language: str, runtime_s: float) -> list[float]:
    """Each beat's length: its shots' (the cards on the first and last beat), its own length
    when it has no shots, or a share of what the runtime leaves."""
    fixed: list[float | None] = []
    for beat in script.beats:
        if beat.shots:
            fixed.append(round(sum(_shot_s(s, language) for s in beat.shots), 2))
        else:
            fixed.append(beat.duration_s)
    free = [i for i, length in enumerate(fixed) if length is None]
    left = runtime_s - 2 * CARD_S - sum(x for x in fixed if x is not None)
    share = max(left / len(free), FREE_BEAT_S / 2) if free else 0.0
    lengths = [round(x if x is not None else share, 2) for x in fixed]
    lengths[0] += CARD_S
    lengths[-1] += CARD_S
    return [round(x, 2) for x in lengths]


# --- shots -----------------------------------------------------------------------------------


class _Filler:
    """Builds a ``Shot`` from a scripted shot: the creator's slots as written and locked, the
    rest filled, counted for the report."""

    def __init__(self, story: Story, bible: StyleBible):
        self.story, self.bible = story, bible
        self.language = story.language
        self.filled: dict[str, int] = {}
        self.kept: dict[str, int] = {}
        self.previous_place: str | None = None
        self.text = read_json("script", "fill.json")

    def shot(self, beat: Beat, sb: ScriptBeat, ss: ScriptShot, j: int) -> Shot:
        slots = dict(ss.slots)
        people = self._people(ss)
        for name in slots:
            self._count(self.kept, name)
        if ss.line is not None:
            self._count(self.kept, "line")
        first_in_place = j == 0 and beat.location != self.previous_place
        self.previous_place = beat.location
        camera = self._camera(slots, ss, people, first_in_place, j)
        prompt = ShotPrompt(
            subject=slots.get("subject") or self._fill("subject", self._subject(people)),
            action=slots.get("action") or self._fill("action", self._action(ss)),
            environment=slots.get("environment") or self._fill("environment", _place(sb, beat)),
            camera=slots.get("camera") or self._fill("camera", camera_text(camera, self.language)),
            style=slots.get("style") or self.bible.suffix,
            negative=self.bible.negative,
        )
        length = _shot_s(ss, self.language)
        if ss.duration_s is None:
            self._count(self.filled, "length")
        transition = ss.transition or "cut"
        return Shot(
            id="",
            beat_id=beat.id,
            index=0,
            role=role_of(camera["size"]),
            size=camera["size"],
            angle=camera["angle"],
            move=camera["move"],
            duration_s=length,
            prompt=prompt,
            characters=[p.name for p in people],
            line=_line(ss),
            transition=transition,
            transition_s=min(TRANSITION_S[transition], length / 3),
            edited_slots=sorted(slots),
        )

    def _people(self, ss: ScriptShot) -> list[Character]:
        """The characters the shot names (in its subject or action); else, in a shot the script
        gives only a line, its speaker (a line over someone else's action is heard, not seen)."""
        text = " ".join(ss.slots.get(k, "") for k in ("subject", "action")).lower()
        named = [p for p in self.story.protagonists if _names(text, p.name.lower())]
        if named or text.strip() or not (ss.line and ss.line.speaker):
            return named
        speaker = ss.line.speaker.lower()
        return [p for p in self.story.protagonists if p.name.lower() == speaker]

    def _subject(self, people: list[Character]) -> str:
        joiner = "；" if self.language == "zh" else "; "
        return joiner.join(f"{p.name}, {p.description}" for p in people)

    def _action(self, ss: ScriptShot) -> str:
        if ss.line is None or not ss.line.speaker:
            return ""
        return self.text["speaks"][self.language].format(name=ss.line.speaker)

    def _camera(self, slots, ss, people, first_in_place: bool, j: int) -> dict[str, str]:
        if slots.get("camera"):
            return read_camera(slots["camera"])
        dialogue = ss.line is not None and ss.line.speaker is not None
        return choose_camera(
            first_in_place=first_in_place, dialogue=dialogue, people=bool(people), late=j > 1
        )

    def _fill(self, slot: str, text: str) -> str:
        if text:
            self._count(self.filled, slot)
        return text

    @staticmethod
    def _count(counts: dict[str, int], key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    def summary(self, script: Script, free: list[str], based: str) -> str:
        kept = ", ".join(f"{k} of {n}" for k, n in self.kept.items()) or "none"
        filled = ", ".join(f"{k} of {n}" for k, n in self.filled.items()) or "none"
        told = f"; shots of {', '.join(free)} planned by {based}" if free else ""
        return (
            f"shots from {script.path.name}: kept as written (locked): {kept}; "
            f"filled by director's rules: {filled}; style from the bible{told}"
        )


def _names(text: str, name: str) -> bool:
    import re

    if not name:
        return False
    if not name.isascii():
        return name in text
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def _place(sb: ScriptBeat, beat: Beat) -> str:
    return f"{beat.location}, {sb.time.lower()}" if sb.time and beat.location else beat.location


def _line(ss: ScriptShot) -> Line | None:
    if ss.line is None:
        return None
    return Line(kind=ss.line.kind, speaker=ss.line.speaker, text=ss.line.text)


def _numbered(shots: list[Shot]) -> list[Shot]:
    """Ids and indexes in film order; the film ends on a cut."""
    out = [s.model_copy(update={"id": f"s{i + 1:03d}", "index": i}) for i, s in enumerate(shots)]
    if out:
        out[-1] = out[-1].model_copy(update={"transition": "cut", "transition_s": 0.0})
    return out
