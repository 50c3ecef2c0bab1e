"""What a logline says, as the rule readers of both languages fill it in."""

from __future__ import annotations

from dataclasses import dataclass, field

from director.records import Language


@dataclass
class Reading:
    """What a logline says. Text fields are in the reading's language; empty when not said."""

    language: Language
    when: str = ""
    where: str = ""
    hero: str = ""
    hero_text: str = ""
    hero_head: str = ""
    hero_name: str = ""
    hero_plural: bool = False
    gender: str = ""
    age: str = ""
    action: str = ""
    want: str = ""
    obj: str = ""
    obj_head: str = ""
    force: str = ""
    force_head: str = ""
    force_plural: bool = False
    force_verb: str = ""
    force_category: str = ""
    force_clause: str = ""
    event: str = ""
    places: list[str] = field(default_factory=list)
    last: bool = False
    # The logline's own words (see ``keeping``): the protagonist as named, their name and
    # epithet, the goal in the base form ("play one final concert"), what they are seen doing
    # ("plays one final concert"), the turn a subordinate clause announces, and whether the
    # protagonist is an animal.
    kept_hero: str = ""
    kept_name: str = ""
    epithet: str = ""
    goal: str = ""
    doing: str = ""
    turn: str = ""
    animal: bool = False
    # What the goal comes to, as the film's last deed ("plays one final concert for ..."):
    # the purpose after the doing, else the doing itself.
    aim: str = ""
