"""The ``OfflinePlanner``: the four planning stages (develop, beat sheet, bible and cards, shot
list), each checking its inputs, seeding its random choices from them, and handing the work to
the module that holds that stage's rules."""

from __future__ import annotations

from collections.abc import Sequence

from director.errors import InputError
from director.records import BeatSheet, Cards, Character, Language, Shot, Story, StyleBible
from director.tools.base import Planner
from director.tools.llm.language import read_logline
from director.tools.llm.offline.beats import _beats, _groups, _split, resolve_structure
from director.tools.llm.offline.bible import _cards, _style_bible
from director.tools.llm.offline.common import (
    _check_beats,
    _check_language,
    _digest,
    _rng,
    _runtime_cs,
)
from director.tools.llm.offline.kit import _story_kit
from director.tools.llm.offline.shots import _ShotPlanner
from director.tools.llm.offline.story import _develop


class OfflinePlanner(Planner):
    """Plans a film from a logline with rules and data files; no model, no network."""

    name = "offline"
    model = "rules-v1"

    def develop(
        self, logline: str, *, language: Language, seed: int, cast: Sequence[Character] = ()
    ) -> Story:
        _check_language(language)
        reading = read_logline(logline, language)
        rng = _rng("develop", logline, language, seed)
        return _develop(logline, reading, language, rng, list(cast))

    def beat_sheet(
        self, story: Story, *, structure: str, runtime_s: float, seed: int, note: str = ""
    ) -> BeatSheet:
        """Rules cannot read a note: a new draft comes from a new seed (the caller's), which
        picks other wordings and places where the rules have a choice."""
        name = resolve_structure(structure, story.language)
        runtime_cs = _runtime_cs(runtime_s)
        kit = _story_kit(story)
        rng = _rng("beats", _digest(story), name, runtime_cs, seed)
        groups = _groups(name, runtime_cs)
        durations = _split(runtime_cs, [g.weight for g in groups])
        return BeatSheet(structure=name, beats=_beats(kit, groups, durations, rng))

    def bible(
        self, story: Story, beat_sheet: BeatSheet, *, width: int, height: int, seed: int
    ) -> tuple[StyleBible, Cards]:
        if width <= 0 or height <= 0:
            raise InputError(
                f"frame size {width}x{height} is not usable", "Pass a positive width and height."
            )
        _check_beats(beat_sheet)
        kit = _story_kit(story)
        rng = _rng("bible", _digest(story), beat_sheet.structure, width, height, seed)
        return _style_bible(kit, story, width, height, rng), _cards(kit, story, beat_sheet)

    def shot_list(
        self, story: Story, beat_sheet: BeatSheet, bible: StyleBible, cards: Cards, *, seed: int
    ) -> list[Shot]:
        _check_beats(beat_sheet)
        kit = _story_kit(story)
        rng = _rng(
            "shots", _digest(story), _digest(beat_sheet), _digest(bible), _digest(cards), seed
        )
        return _ShotPlanner(kit, beat_sheet, bible, cards, rng).plan()
