"""The story kit: everything the templates need (the protagonist, the want, the opposing force,
the places, the props and parts), built first from the logline's reading with the language's
defaults for what it lacks, and rebuilt at each later stage from the developed story, whose own
choices it keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from director.records import Character, Language, Story
from director.tools.llm.language import (
    Reading,
    base_form,
    environment_kind,
    gerund,
    load_vocab,
    person_kind,
    place_kind,
    read_logline,
)
from director.tools.llm.language.lexicon import _word_roles
from director.tools.llm.offline.common import (
    _check_language,
    _digest,
    _is_plural_phrase,
    _rng,
    _shuffled,
    _text,
    fill,
)


@dataclass
class _Kit:
    language: Language
    name: str
    gender: str
    description: str
    hero: str
    action: str
    want: str
    obj: str
    obj_head: str
    force: str
    force_a: str
    force_plural: bool
    force_ing: str
    category: str
    setting: str
    thing: str
    places: dict[str, str]
    own_verb: bool = False
    hero_kept: bool = False
    epithet: str = ""
    turn: str = ""
    aim: str = ""
    animal: bool = False
    look: str = ""
    theme: str = ""
    props: list[str] = field(default_factory=list)
    parts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def text(self) -> dict[str, Any]:
        return _text(self.language)

    def kind(self, place: str) -> str:
        """The kind of place, for choosing pools (what the renderer draws is checked separately)."""
        return (
            place_kind(place)
            or environment_kind(place)
            or load_vocab("environments.json")["default_kind"]
        )

    def parts_at(self, place: str) -> list[str]:
        kind = self.kind(place)
        return self.parts.get(kind) or self.text["kinds"][kind]["parts"]

    def slots(self, place: str = "", index: int = 0) -> dict[str, str]:
        """Template slots; ``index`` rotates which parts and props are named."""
        place = place or self.places["home"]
        parts = self.parts_at(place)
        props = self.props or [self.obj]
        pronouns = self.text["pronouns"][self.gender]
        force_pronouns = self.text["force_pronouns"]["plural" if self.force_plural else "single"]
        return {
            "name": self.name,
            "hero": self.hero,
            "action": self.action,
            "action_the": _definite_action(self.action, self.language),
            "want": self.want,
            "my_want": _first_person(self.want, self.language, self.hero.startswith("one of")),
            "obj": self.obj,
            "home": self.places["home"],
            "world": self.places["world"],
            "in_home": _in_place(self.places["home"], self.language),
            "refuge": self.places["refuge"],
            "place": place,
            "force": self.force,
            "force_a": self.force_a,
            "force_ing": self.force_ing,
            "setting": self.setting,
            "thing": self.thing,
            "theme": self.theme,
            "part": parts[index % len(parts)],
            "part2": parts[(index + 1) % len(parts)],
            "prop": props[index % len(props)],
            **pronouns,
            **force_pronouns,
        }


def _first_person(phrase: str, language: Language, plural: bool = False) -> str:
    """The want as the protagonist says it: 'her brother's surgery' -> 'my brother's surgery';
    'their mother's village' -> 'our mother's village' when the protagonists are several."""
    if language == "zh":
        return (
            re.sub(r"[他她它](?=们)", "我", phrase)
            if plural
            else re.sub(r"[他她它](?!们)", "我", phrase)
        )
    if plural:
        phrase = re.sub(r"\btheir\b", "our", phrase)
    phrase = re.sub(r"\b(?:herself|himself)\b", "myself", phrase)
    object_her = r"\b(?:her|him)\b(?=\s+(?:to|in|at|on|for|from|with|and|back|home|again)\b|$)"
    phrase = re.sub(object_her, "me", phrase)
    return re.sub(r"\b(?:her|his)\b", "my", phrase)


def _definite_action(action: str, language: Language) -> str:
    """The action once its object is known: 'tends a garden' -> 'tends the garden'."""
    if language == "zh":
        return re.sub(f"(?<=[着了]){_text('zh')['grammar']['measure']}", "", action)
    return re.sub(r"\b(a|an)\s", "the ", action)


def _base_kit(reading: Reading, language: Language) -> _Kit:
    """What follows from the logline alone, with the language's defaults for what it lacks."""
    text = _text(language)
    kind_guess = _home_kind(reading)
    defaults = text["kinds"][kind_guess]
    force_text = reading.force or defaults["force"]["text"]
    category = reading.force_category or (
        defaults["force"]["category"] if not reading.force else "people"
    )
    plural = reading.force_plural if reading.force else _is_plural_phrase(force_text)
    force_the, force_a = _force_names(force_text, plural, language)
    # The logline's own words first: what the protagonist is seen doing and wants, verbatim.
    action = reading.doing or reading.action or defaults["action"]
    if reading.force_head and reading.force_head.lower() == reading.obj_head.lower():
        reading.obj = reading.obj_head = ""
    return _Kit(
        language=language,
        name="",
        gender="f",
        description="",
        hero=_hero(reading, text, defaults),
        action=action,
        want=reading.goal or reading.want or _default_want(action, language),
        obj=reading.obj,
        obj_head=reading.obj_head or defaults["object"],
        force=force_the,
        force_a=force_a,
        force_plural=plural,
        force_ing=reading.force_verb
        or (defaults["force"]["ing"] if not reading.force else "")
        or text["forces"][category]["ing"],
        category=category,
        setting=_setting(reading, text),
        thing="",
        places={"home": "", "world": "", "refuge": ""},
        own_verb=bool(reading.force_verb),
        hero_kept=bool(reading.kept_hero),
        epithet=reading.epithet,
        turn=reading.turn,
        aim=reading.aim,
        animal=reading.animal,
    )


def _home_kind(reading: Reading) -> str:
    """The kind of the key place: the object's, a place named, the protagonist's trade, where."""
    kinds = [place_kind(reading.obj_head) if reading.obj_head else None]
    kinds += [place_kind(p) for p in reading.places]
    kinds += [
        person_kind(reading.hero_head, reading.language),
        place_kind(reading.where) if reading.where else None,
    ]
    return next((k for k in kinds if k), load_vocab("environments.json")["default_kind"])


def _in_place(place: str, language: Language) -> str:
    """'in the garden', 'on the island'."""
    if language == "zh":
        return place
    head = re.split(r"\s(?:of|on|in|at|under|by|beyond|around)\s", place)[0].lower()
    on = any(head.endswith(w) for w in _text("en")["grammar"]["on_words"])
    return f"{'on' if on else 'in'} {place}"


def _hero(reading: Reading, text: dict[str, Any], defaults: dict[str, Any]) -> str:
    hero = reading.kept_hero or reading.hero or defaults["hero"]
    plural = _plural_phrase_start(hero) if reading.kept_hero else reading.hero_plural
    if plural:
        hero = fill(text["story"]["plural_hero"], {"hero": hero})
    return hero


def _plural_phrase_start(phrase: str) -> bool:
    """'two brothers', '两个姐妹': the film follows one of them."""
    first = phrase.split(" ", 1)[0].lower()
    return first in ("two", "three", "four", "five", "several") or bool(
        re.match(r"^(?:两|三|几)[个位名只]", phrase)
    )


def _default_want(action: str, language: Language) -> str:
    if language == "zh":
        action = _definite_action(action, language).replace("了", "")
        for adverb in _text("zh")["grammar"]["manner_adverbs"]:
            action = action.replace(adverb, "")
        return f"继续{action}"
    verb, _, rest = action.partition(" ")
    rest = re.sub(r"\b(a|an)\s", "the ", rest)
    base = base_form(verb)
    return f"keep {rest}" if base == "keep" else f"keep {gerund(base)} {rest}".strip()


def _force_names(force: str, plural: bool, language: Language) -> tuple[str, str]:
    """The force with a definite article, and as first named ("robots", "a storm")."""
    if language == "zh":
        return force, force
    words = force.split()
    if words and words[0].lower() in ("a", "an", "the", "some"):
        words = words[1:]
    if not words or words[0].lower() in ("her", "his", "their", "its", "my"):
        return force, force
    bare = " ".join(words)
    if bare[:1].isupper() and not bare.split()[0].isupper():
        return bare, bare
    article = "an" if bare[:1].lower() in "aeiou" else "a"
    return f"the {bare}", bare if plural else f"{article} {bare}"


def _setting(reading: Reading, text: dict[str, Any]) -> str:
    forms = text["setting"]
    if reading.when and reading.where:
        return fill(forms["both"], {"when": reading.when, "where": reading.where})
    if reading.when or reading.where:
        return fill(forms["one"], {"value": reading.when or reading.where})
    return text["story"]["default_setting"]


def _force_data(kit: _Kit) -> dict[str, Any]:
    return kit.text["forces"][kit.category]


def _story_kit(story: Story) -> _Kit:
    """The kit for a developed story: the logline read again, the story's own choices kept."""
    _check_language(story.language)
    reading = read_logline(story.logline, story.language)
    kit = _base_kit(reading, story.language)
    rng = _rng("kit", _digest(story))
    hero = story.protagonists[0] if story.protagonists else Character(name="", description="")
    kit.name = hero.name or kit.text["names"]["f"][0]
    kit.description = hero.description or kit.hero
    kit.gender = _gender_from(story, reading)
    locations = story.locations or [kit.obj or kit.text["kinds"][_home_kind(reading)]["home"][0]]
    kit.places = {
        "home": locations[0],
        "world": locations[min(1, len(locations) - 1)],
        "refuge": locations[-1],
    }
    kit.obj = kit.obj or kit.places["home"]
    kit.thing = _thing_from(kit)
    theme = story.theme.rstrip(".。")
    kit.theme = theme[:1].lower() + theme[1:] if story.language == "en" else theme
    kit.look = fill(rng.choice(_force_data(kit)["look"]), kit.slots())
    kit.props = _shuffled(rng, kit.text["kinds"][kit.kind(kit.places["home"])]["props"])
    kit.parts = {k: _shuffled(rng, v["parts"]) for k, v in kit.text["kinds"].items()}
    own = _trade_things(kit.hero, story.language)
    home_kind = kit.kind(kit.places["home"])
    kit.parts[home_kind] = own + [p for p in kit.parts[home_kind] if p not in own]
    return kit


def _trade_things(hero: str, language: Language) -> list[str]:
    """The thing a trade is named for ('an old piano tuner' -> 'the piano'): the logline's own
    object, worked on in the beats before any part the word lists give."""
    roles = _word_roles(language)
    if language == "zh":
        trade = re.search(r"(?:师|匠|手|员)$", hero)
        found = [w for w, (g, _) in roles.items() if g == "things" and w in hero]
        return sorted(found, key=len, reverse=True)[:1] if trade else []
    words = [w.lower().strip(",") for w in hero.split()]
    trade = re.compile(r"[a-z]{3,}(?:er|or|ist|smith|maker)$")
    if not words or not trade.fullmatch(words[-1]):
        return []
    found = [w for w in words[:-1] if roles.get(w, ("",))[0] == "things"]
    return [f"the {found[-1]}"] if found else []


def _gender_from(story: Story, reading: Reading) -> str:
    """The protagonist's gender, read back from the identity block's opening words."""
    if reading.age == "machine":
        return "n"
    text = _text(story.language)
    description = story.protagonists[0].description if story.protagonists else ""
    # The identity block may open with the logline's own phrase ("an old piano tuner, a man
    # of about sixty-five, ..."): the age phrase drawn by the rules follows it.
    for key, phrases in text["identity"]["age"].items():
        if any(p in description for p in phrases):
            return "n" if key == "machine" else key[0]
    if reading.animal:
        return reading.gender or "n"
    name = story.protagonists[0].name if story.protagonists else ""
    return reading.gender or ("m" if name in text["names"]["m"] else "f")


def _thing_from(kit: _Kit) -> str:
    """The signature item named in the identity block (the last part when none is known)."""
    text = kit.text
    items = [i for k in text["kinds"].values() for i in k.get("items", [])]
    items += text["identity"]["items"] + text["identity"]["animal"]["items"]
    for item in items:
        if item["thing"] in kit.description:
            return item["thing"]
    last = re.split(r"[,，]", kit.description)[-1].strip()
    return last[:30] or kit.obj
