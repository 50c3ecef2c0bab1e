"""The shot list: ``_ShotPlanner`` turns each beat into drafted shots (subject, action, environment
and camera, with each action fresh in the film), gives some of them a line short enough to read
in the shot, sets the transitions and builds the ``Shot`` records."""

from __future__ import annotations

import random

from director.errors import InputError
from director.records import Beat, BeatSheet, Cards, Line, Shot, ShotPrompt, StyleBible
from director.tools.llm.language import environment_kind, load_vocab
from director.tools.llm.offline.beats import _functions
from director.tools.llm.offline.bible import _cs
from director.tools.llm.offline.camera import (
    _angle,
    _final_move,
    _finish_transitions,
    _move,
    _size,
    _transitions,
)
from director.tools.llm.offline.common import (
    LINE_MARGIN_S,
    READING_CPS,
    _is_plural_phrase,
    _shuffled,
    _usable,
    fill,
    sentence_case,
)
from director.tools.llm.offline.kit import _definite_action, _first_person, _force_data, _Kit
from director.tools.llm.offline.moments import (
    _beat_functions,
    _Draft,
    _Moment,
    _moments,
    _partition,
    _shot_count,
)

LINE_SHARE = 0.6
_TIMES = ("dawn", "day", "dusk", "night")
_HERO_ACTS = {
    "work",
    "work2",
    "walk",
    "carry",
    "react",
    "look",
    "rest",
    "defy",
    "despair",
    "hope",
    "rise",
    "discover",
}
_FORCE_ACTS = {"arrive", "strike", "watch", "turn"}


class _ShotPlanner:
    """Turns each beat into shots: moments from the beat's functions, then camera, slots, lines."""

    def __init__(
        self, kit: _Kit, sheet: BeatSheet, bible: StyleBible, cards: Cards, rng: random.Random
    ):
        self.kit, self.sheet, self.bible, self.cards, self.rng = kit, sheet, bible, cards, rng
        self.camera = load_vocab("camera.json")
        self.used_actions: set[str] = set()
        self.used_lines: set[str] = set()
        self.counter = 0
        self.pending_second = ""

    def plan(self) -> list[Shot]:
        drafts: list[_Draft] = []
        for i, beat in enumerate(self.sheet.beats):
            functions, fade = _beat_functions(beat, self.sheet, self.kit.language)
            beat_drafts = self._beat(beat, i, functions, drafts[-1] if drafts else None)
            self._lines(beat_drafts, functions)
            _transitions(beat_drafts, fade, self.rng)
            drafts += beat_drafts
        _finish_transitions(drafts)
        _final_move(drafts)
        return [self._shot(d, i) for i, d in enumerate(drafts)]

    def _beat(
        self, beat: Beat, index: int, functions: list[str], previous: _Draft | None
    ) -> list[_Draft]:
        shot_cs = self._shot_time(beat, index)
        n = _shot_count(shot_cs, functions, self.sheet.total_s)
        ending = index == len(self.sheet.beats) - 1
        new_place = previous is None or beat.location != previous.place
        moments = _moments(self.kit, beat, functions, n, new_place, ending)
        durations = _partition(shot_cs, len(moments), self.rng)
        drafts: list[_Draft] = []
        self.pending_second = ""
        for j, (moment, cs) in enumerate(zip(moments, durations, strict=True)):
            position = j / max(len(moments) - 1, 1)
            previous = self._draft(moment, beat, cs, functions, position, previous)
            drafts.append(previous)
        return drafts

    def _shot_time(self, beat: Beat, index: int) -> int:
        cs = _cs(beat.duration_s)
        if index == 0:
            cs -= _cs(self.cards.title_s)
        if index == len(self.sheet.beats) - 1:
            cs -= _cs(self.cards.end_s)
        if cs <= 0:
            raise InputError(
                f"beat {beat.id} is shorter than its title or end card",
                "Lengthen the first and last beats or shorten the cards.",
            )
        return cs

    def _draft(
        self,
        moment: _Moment,
        beat: Beat,
        cs: int,
        functions: list[str],
        position: float,
        previous: _Draft | None,
    ) -> _Draft:
        self.counter += 1
        kit = self.kit
        place = kit.places.get(moment.place, beat.location)
        subject, who, plural = self._subject(moment.act, place)
        action, continuous = self._action(moment, place, plural, previous)
        size = _size(moment.role, position)
        vulnerable = _functions().get(functions[0], {}).get("vulnerable", False)
        angle = _angle(moment, who, vulnerable, self.rng)
        move = _move(moment, size, previous, self.rng)
        return _Draft(
            moment=moment,
            beat=beat,
            place=place,
            duration_cs=cs,
            subject=subject,
            action=action,
            environment=self._environment(place, functions[0], moment),
            size=size,
            angle=angle,
            move=move,
            characters=[kit.name] if who == "hero" else [],
            continuous=continuous,
        )

    def _subject(self, act: str, place: str) -> tuple[str, str, bool]:
        """The subject slot, who it is (hero, force, object, item, place) and its number."""
        kit, subjects = self.kit, self.kit.text["subjects"]
        who = _who(act, _force_data(kit)["subject"])
        slots = kit.slots(place, self.counter)
        if who == "hero":
            return kit.description, who, False
        if who == "force":
            return kit.look, who, kit.force_plural
        if who == "item":
            return fill(subjects["item"], slots), who, False
        if who == "place":
            return place, who, _is_plural_phrase(place)
        # A Chinese part that already has its own 的 ("东边的菜畦") takes a lighter joint.
        form = "part_modified" if "的" in slots["part"] else "part"
        return fill(subjects[form], slots), who, _is_plural_phrase(slots["part"])

    def _action(
        self, moment: _Moment, place: str, plural: bool, previous: _Draft | None
    ) -> tuple[str, bool]:
        if (
            moment.act == "work2"
            and self.pending_second
            and previous
            and previous.moment.act == "work"
        ):
            second, self.pending_second = self.pending_second, ""
            return second, True
        templates = self._templates(moment.act, place)
        action = self._fresh(templates, place, plural)
        if "|" in action:
            action, self.pending_second = action.split("|", 1)
        else:
            self.pending_second = ""
        self.used_actions.add(action)
        return action, False

    def _templates(self, act: str, place: str) -> tuple[list[str], list[str]]:
        """Templates for an act: the logline's own words first, then the pool."""
        kit = self.kit
        kind = kit.text["kinds"][kit.kind(place)]
        # An animal does what the logline says it does, and what animals do, not human work.
        hero_pool = kit.text["animal_acts"] if kit.animal else None
        if act in ("work", "work2"):
            action = _definite_action(kit.action, kit.language)
            at_home = place == kit.places["home"] and not action.startswith(("must", "必须"))
            return ([action] if at_home else []), hero_pool or kind["work"]
        if hero_pool and act in _HERO_ACTS:
            return [], hero_pool
        if act in ("establish", "detail"):
            return [], kind["ambient" if act == "establish" else "detail"]
        if act in _FORCE_ACTS or act == "damage":
            pool = _force_data(kit)[act]
            own = [t for t in pool if "{force_ing}" in t] if kit.own_verb else []
            return own, [t for t in pool if t not in own]
        return [], kit.text["acts"][act]

    def _fresh(self, templates: tuple[list[str], list[str]], place: str, plural: bool) -> str:
        """The first filling not used yet in this film: parts rotate, then a variation is added."""
        kit = self.kit
        own, pool = templates
        order = own + _shuffled(self.rng, pool)
        slot_sets = [kit.slots(place, self.counter + k) for k in range(len(kit.parts_at(place)))]
        fillings = [
            fill(t, slots, force_plural=kit.force_plural, plural=plural)
            for slots in slot_sets
            for t in order
        ]
        fresh = (a for a in fillings if a.split("|", 1)[0] not in self.used_actions)
        return next(fresh, None) or self._varied(fillings)

    def _varied(self, fillings: list[str]) -> str:
        text = self.kit.text
        for variation in _shuffled(self.rng, text["variations"]):
            for action in dict.fromkeys(f.split("|", 1)[0] for f in fillings):
                varied = fill(text["variation_format"], {"action": action, "variation": variation})
                if varied not in self.used_actions:
                    return varied
        return fillings[0]

    def _environment(self, place: str, function: str, moment: _Moment) -> str:
        kit = self.kit
        text = kit.text
        data = _functions().get(function, {})
        time = _TIMES[(_TIMES.index(data.get("time", "day")) + moment.cycle) % len(_TIMES)]
        weather = data.get("weather", "clear") if moment.cycle % 2 == 0 else "clear"
        fg, bg = _backdrop(kit, place, self.counter)
        weather_text = text["weather"][weather][self.counter % len(text["weather"][weather])]
        close = moment.role in ("insert", "close-up", "reaction")
        return fill(
            text["environment"]["close" if close else "full"],
            {
                "place": _drawable(place, kit),
                "time": text["times"][time][self.counter % 3],
                "weather": text["environment"]["weather_join"] + weather_text
                if weather_text
                else "",
                "fg": fg,
                "bg": bg,
            },
        )

    def _lines(self, drafts: list[_Draft], functions: list[str]) -> None:
        had_line = False
        for j, draft in enumerate(drafts):
            line = None
            if not had_line and draft.moment.role != "insert" and self.rng.random() < LINE_SHARE:
                line = self._line(draft, functions, j)
            draft.line, had_line = line, line is not None

    def _line(self, draft: _Draft, functions: list[str], position: int) -> Line | None:
        """A line readable in the shot; the beat's own lines name what its summary names."""
        kit = self.kit
        limit = READING_CPS[kit.language] * (draft.duration_cs / 100 - LINE_MARGIN_S)
        beat_slots = _spoken(kit, kit.slots(kit.places["home"], draft.beat.index))
        own = [(x, beat_slots) for f in functions for x in kit.text["beats"][f]["lines"]]
        any_slots = _spoken(kit, kit.slots(draft.place, self.counter + position))
        pool = (own if draft.moment.cycle == 0 else []) + [
            (x, any_slots) for x in _shuffled(self.rng, kit.text["lines_any"])
        ]
        for entry, slots in pool:
            if entry["kind"] == "dialogue" and (not draft.characters or kit.animal):
                continue  # an animal does not speak: its lines are narration
            if _names_twice(entry["text"], slots):
                continue
            text = sentence_case(fill(entry["text"], slots, force_plural=kit.force_plural))
            if _usable(entry["text"], slots) and len(text) <= limit and text not in self.used_lines:
                self.used_lines.add(text)
                speaker = kit.name if entry["kind"] == "dialogue" else None
                return Line(kind=entry["kind"], speaker=speaker, text=text)
        return None

    def _shot(self, draft: _Draft, index: int) -> Shot:
        lang = self.kit.language
        joiner = "，" if lang == "zh" else ", "
        camera = joiner.join(
            self.camera[part][key][lang]
            for part, key in (("size", draft.size), ("angle", draft.angle), ("move", draft.move))
        )
        prompt = ShotPrompt(
            subject=draft.subject,
            action=draft.action,
            environment=draft.environment,
            camera=camera,
            style=self.bible.suffix,
            negative=self.bible.negative,
        )
        return Shot(
            id=f"s{index + 1:03d}",
            beat_id=draft.beat.id,
            index=index,
            role=draft.moment.role,
            size=draft.size,
            angle=draft.angle,
            move=draft.move,
            duration_s=draft.duration_cs / 100,
            prompt=prompt,
            characters=draft.characters,
            line=draft.line,
            transition=draft.transition,
            transition_s=draft.transition_cs / 100,
            continuous=draft.continuous,
        )


def _spoken(kit: _Kit, slots: dict[str, str]) -> dict[str, str]:
    """Lines are spoken by the protagonist: 'her brother's surgery' is 'my brother's'."""
    plural = kit.hero.startswith("one of")
    return {**slots, "obj": _first_person(slots["obj"], kit.language, plural)}


def _names_twice(template: str, slots: dict[str, str]) -> bool:
    """A line naming the object and the home is left out when they are the same place."""
    return "{obj}" in template and "{home}" in template and slots["obj"] == slots["home"]


def _who(act: str, force_subject: str) -> str:
    if act in _HERO_ACTS:
        return "hero"
    if act in _FORCE_ACTS:
        return force_subject if force_subject != "object" else "object"
    return {"item": "item", "establish": "place"}.get(act, "object")


def _backdrop(kit: _Kit, place: str, counter: int) -> tuple[str, str]:
    """Foreground and background for the place, never words that draw a different place."""
    data = kit.text["kinds"][kit.kind(place)]
    fg = _safe_phrases(kit, place, "fg") or data["fg"]
    bg = _safe_phrases(kit, place, "bg") or data["bg"]
    return fg[counter % len(fg)], bg[(counter // 2) % len(bg)]


def _safe_phrases(kit: _Kit, place: str, key: str) -> list[str]:
    kind = environment_kind(place)
    phrases = kit.text["kinds"][kit.kind(place)][key]
    return [p for p in phrases if environment_kind(f"{place} {p}") == kind]


def _drawable(place: str, kit: _Kit) -> str:
    """A place the storyboard renderer can draw: add the default kind's word when it has none."""
    if environment_kind(place):
        return place
    default = load_vocab("environments.json")["default_kind"]
    return f"{place}, {kit.text['kinds'][default]['home'][0]}"
