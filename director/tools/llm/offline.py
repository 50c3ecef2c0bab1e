"""The offline planner: logline -> story -> beat sheet -> style bible -> shot list, by rules.

No model is called. Vocabularies, names, palettes, structures and sentence patterns live in
``director/prompts/offline/*.json``; every choice among them is drawn from a ``random.Random``
seeded with a sha256 of the inputs, so the same logline, options and seed give the same plan.
Durations are computed in hundredths of a second (integers) so that shots, cards and beats add
up to the runtime exactly.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from director.errors import InputError
from director.records import (
    Beat,
    BeatSheet,
    Cards,
    Character,
    Language,
    Line,
    Shot,
    ShotPrompt,
    Story,
    StyleBible,
)
from director.tools.base import Planner
from director.tools.llm.language import (
    Reading,
    base_form,
    environment_kind,
    gerund,
    is_plural_noun,
    load_data,
    load_vocab,
    person_kind,
    place_kind,
    read_logline,
    third_person,
)

STRUCTURES: tuple[str, ...] = tuple(load_data("structures.json")["structures"])
MIN_RUNTIME_S = 15
MAX_RUNTIME_S = 1200
MIN_SHOT_CS = 300
MAX_SHOT_CS = 800
CARD_MIN_CS, CARD_MAX_CS, CARD_LONG_CS = 150, 400, 350
# Reading speed for lines on screen (characters a second), and the margin left unread.
READING_CPS = {"en": 15, "zh": 8}
LINE_MARGIN_S = 0.5
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


# --- public helpers -----------------------------------------------------------------------


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


# --- seeds, text and agreement ---------------------------------------------------------------


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _digest(record: Any) -> str:
    return hashlib.sha256(record.model_dump_json().encode("utf-8")).hexdigest()[:16]


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


# --- the story kit: everything the templates need ----------------------------------------------


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


def _definite_action(action: str, language: Language) -> str:
    """The action once its object is known: 'tends a garden' -> 'tends the garden'."""
    if language == "zh":
        return re.sub(f"(?<=[着了]){_text('zh')['grammar']['measure']}", "", action)
    return re.sub(r"\b(a|an)\s", "the ", action)


def _develop(
    logline: str, reading: Reading, language: Language, rng: random.Random, cast: list[Character]
) -> Story:
    kit = _base_kit(reading, language)
    home_kind = _choose_places(kit, reading, rng)
    kit.gender, age = _gender_age(reading, rng)
    kit.name = reading.hero_name or rng.choice(
        kit.text["names"]["machine" if age == "machine" else kit.gender]
    )
    if cast:  # the user's cast plays the lead: their name, and their identity block if given
        kit.name = cast[0].name
    kit.places["refuge"] = fill(
        rng.choice(kit.text["kinds"][home_kind]["refuge"]), {"name": kit.name}
    )
    kit.description, kit.thing = _identity(kit, age, home_kind, rng)
    if cast and cast[0].description.strip():
        kit.description = cast[0].description.strip()
        kit.thing = _thing_from(kit)
    kit.theme = rng.choice(_force_data(kit)["theme"])
    return Story(
        logline=logline,
        language=language,
        title=_title(kit, reading, home_kind, rng),
        protagonists=[
            Character(name=kit.name, description=kit.description),
            *(Character(name=c.name, description=c.description) for c in cast[1:]),
        ],
        world=_world_sentence(kit, rng),
        want=_end(fill(kit.text["story"]["want"], kit.slots()), language),
        obstacle=_obstacle(kit, reading),
        theme=_end(sentence_case(kit.theme), language),
        tone=_force_data(kit)["tone"],
        locations=list(dict.fromkeys(kit.places[r] for r in ("home", "world", "refuge"))),
    )


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
    action = reading.action or defaults["action"]
    if reading.force_head and reading.force_head.lower() == reading.obj_head.lower():
        reading.obj = reading.obj_head = ""
    return _Kit(
        language=language,
        name="",
        gender="f",
        description="",
        hero=_hero(reading, text, defaults),
        action=action,
        want=reading.want or _default_want(action, language),
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
    hero = reading.hero or defaults["hero"]
    if reading.hero_plural:
        hero = fill(text["story"]["plural_hero"], {"hero": hero})
    return hero


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


def _choose_places(kit: _Kit, reading: Reading, rng: random.Random) -> str:
    """Home (the key place), world (around it) and the kind of the home."""
    text = kit.text
    kind = _home_kind(reading)
    pool = text["kinds"][kind]
    if reading.obj and place_kind(reading.obj_head or reading.obj):
        home = kit.obj
    elif reading.where and place_kind(reading.where) and pool.get("home_at"):
        home = fill(rng.choice(pool["home_at"]), {"where": reading.where})
    elif reading.places and not reading.places[0][:1].isupper():
        home = _definite_place(reading.places[0], kit.language)
    else:
        home = rng.choice(pool["home"])
    kit.places["home"] = home
    kit.places["world"] = _world_place(kit, reading, kind, rng)
    if not reading.obj:
        kit.obj = home
    return kind


def _definite_place(phrase: str, language: Language) -> str:
    if language == "zh":
        return phrase
    return re.sub(r"^(a|an|one)\s", "the ", phrase, flags=re.IGNORECASE)


def _world_place(kit: _Kit, reading: Reading, kind: str, rng: random.Random) -> str:
    others = [p for p in reading.places[1:] if place_kind(p) and p not in kit.places["home"]]
    if others:
        return _definite_place(others[0], kit.language)
    last_one = any(w in reading.hero.lower() for w in ("last", "最后"))
    after = last_one or kit.category == "machine" or _year(reading.when) >= 2050
    if after and kind != "ruins":
        return rng.choice(kit.text["world_after"])
    return rng.choice(kit.text["kinds"][kind]["world"])


def _year(when: str) -> int:
    digits = re.match(r"\d+", when or "")
    return int(digits.group(0)) if digits else 0


def _gender_age(reading: Reading, rng: random.Random) -> tuple[str, str]:
    age = reading.age or "adult"
    if age == "machine":
        return "n", age
    return reading.gender or rng.choice(["f", "m"]), age


def _identity(kit: _Kit, age: str, home_kind: str, rng: random.Random) -> tuple[str, str]:
    """The identity block (age, build, face, hair, costume, signature item) and the item."""
    ident = kit.text["identity"]
    her = kit.text["pronouns"][kit.gender]["her"]
    group = {"young": "adult"}.get(age, age)
    human = "machine" if age == "machine" else "human"
    item = rng.choice(kit.text["kinds"][home_kind].get("items", []) + ident["items"])
    parts = {
        "age": rng.choice(ident["age"]["machine" if age == "machine" else f"{kit.gender}_{age}"]),
        "build": rng.choice(ident["build"][group]),
        "face": rng.choice(ident["face"][human]),
        "hair": rng.choice(ident["hair"]["old" if age == "old" else human]),
        "costume": rng.choice(ident["costume"]["child" if age == "child" else human]),
        "item": fill(item["wear"], {"her": her}),
    }
    template = ident["machine_template" if age == "machine" else "template"]
    return fill(template, parts), item["thing"]


def _title(kit: _Kit, reading: Reading, home_kind: str, rng: random.Random) -> str:
    story = kit.text["story"]
    titleable = _titleable(kit.obj_head, kit.language)
    head = kit.obj_head if titleable else kit.text["kinds"][home_kind]["object"]
    force_bare = kit.force.removeprefix("the ")
    slots = {
        "Object": _title_case(head, kit.language),
        "Name": kit.name,
        "Force": _title_case(force_bare, kit.language),
    }
    title = fill(story["titles_last"][0] if reading.last else rng.choice(story["titles"]), slots)
    limit = 12 if kit.language == "zh" else 40
    return title if 0 < len(title) <= limit else story["title_default"]


def _titleable(word: str, language: Language) -> bool:
    """A word that can carry a title: a noun, not a function word, verb or stray particle."""
    if not word or len(word) > 24 or word.isdigit():
        return False
    grammar = _text(language)["grammar"]
    if language == "zh":
        return not any(ch in "的了着被把和与在" for ch in word)
    low = word.lower()
    function_words = ("determiners", "preps", "subordinators", "pronouns", "modals", "verbs")
    if any(low in grammar[key] for key in function_words) or low.endswith(("ing", "ly")):
        return False
    return word.isalpha() and not any(low in cues for cues in grammar["age_words"].values())


def _title_case(text: str, language: Language) -> str:
    if language == "zh":
        return text
    return " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in text.split())


def _world_sentence(kit: _Kit, rng: random.Random) -> str:
    line = fill(rng.choice(_force_data(kit)["world"]), kit.slots(), force_plural=kit.force_plural)
    joiner = "。" if kit.language == "zh" else ". "
    return _end(sentence_case(f"{kit.setting}{joiner}{line}"), kit.language)


def _obstacle(kit: _Kit, reading: Reading) -> str:
    if reading.force_clause:
        return _end(sentence_case(reading.force_clause), kit.language)
    line = fill(kit.text["story"]["obstacle"], kit.slots(), force_plural=kit.force_plural)
    return _end(sentence_case(line), kit.language)


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
    return kit


def _gender_from(story: Story, reading: Reading) -> str:
    """The protagonist's gender, read back from the identity block's opening words."""
    if reading.age == "machine":
        return "n"
    text = _text(story.language)
    description = story.protagonists[0].description if story.protagonists else ""
    for key, phrases in text["identity"]["age"].items():
        if any(description.startswith(p) for p in phrases):
            return "n" if key == "machine" else key[0]
    name = story.protagonists[0].name if story.protagonists else ""
    return reading.gender or ("m" if name in text["names"]["m"] else "f")


def _thing_from(kit: _Kit) -> str:
    """The signature item named in the identity block (the last part when none is known)."""
    text = kit.text
    items = [i for k in text["kinds"].values() for i in k.get("items", [])]
    items += text["identity"]["items"]
    for item in items:
        if item["thing"] in kit.description:
            return item["thing"]
    last = re.split(r"[,，]", kit.description)[-1].strip()
    return last[:30] or kit.obj


def _shuffled(rng: random.Random, items: list[str]) -> list[str]:
    out = list(items)
    rng.shuffle(out)
    return out


# --- the beat sheet ---------------------------------------------------------------------------


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


def _structure(name: str) -> list[dict[str, Any]]:
    return load_data("structures.json")["structures"][name]


def _functions() -> dict[str, Any]:
    return load_data("structures.json")["functions"]


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
        beats.append(_beat(kit, group, i, start, cs, rng))
        start += cs
    return beats


def _beat(kit: _Kit, group: _Group, index: int, start: int, cs: int, rng: random.Random) -> Beat:
    text = kit.text
    functions = group.functions
    place = kit.places[_functions()[functions[0]]["place"]]
    slots = kit.slots(kit.places["home"], index)
    chosen = [functions[0]] if len(functions) == 1 else [functions[0], functions[-1]]
    summary = " ".join(_beat_sentence(kit, text["beats"][f]["summary"], slots, rng) for f in chosen)
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


def _beat_sentence(
    kit: _Kit, templates: list[str], slots: dict[str, str], rng: random.Random
) -> str:
    line = fill(_pick(rng, templates, slots), slots, force_plural=kit.force_plural)
    return _end(sentence_case(line), kit.language)


# --- the style bible and the cards ---------------------------------------------------------------


def _style_bible(
    kit: _Kit, story: Story, width: int, height: int, rng: random.Random
) -> StyleBible:
    style = kit.text["style"]
    palettes = load_data("palettes.json")["palettes"]
    palette = palettes[rng.choice(_force_data(kit)["palettes"])]
    grain = round(rng.uniform(0.15, 0.5), 2)
    grain_word = style["grain"]["low" if grain < 0.25 else "mid" if grain < 0.4 else "high"]
    suffix = fill(
        style["template"],
        {
            "medium": rng.choice(style["medium"]),
            "palette": palette["words"][kit.language],
            "lighting": rng.choice(style["lighting"]),
            "lens": rng.choice(style["lens"]),
            "grain": grain_word,
        },
    )
    return StyleBible(
        name=fill(
            style["bible_name"],
            {"title": story.title, "palette_name": palette["name"][kit.language]},
        ),
        suffix=suffix,
        negative=style["negative"],
        palette=sorted(palette["colors"], key=_luminance),
        aspect_ratio=aspect_ratio(width, height),
        width=width,
        height=height,
        grain=grain,
    )


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def aspect_ratio(width: int, height: int) -> str:
    """'16:9' for 1920x1080; a decimal ratio ('2.39:1') when the reduced terms are unwieldy."""
    d = math.gcd(width, height)
    w, h = width // d, height // d
    return f"{w}:{h}" if max(w, h) <= 32 else f"{width / height:.2f}:1"


def _cards(kit: _Kit, story: Story, sheet: BeatSheet) -> Cards:
    durations = [_cs(b.duration_s) for b in sheet.beats]
    title_cs, end_cs = _card_lengths(durations)
    cards = kit.text["cards"]
    return Cards(
        title=story.title,
        title_s=title_cs / 100,
        end=cards["end"],
        end_s=end_cs / 100,
        label=cards["label"],
    )


def _card_lengths(durations: list[int]) -> tuple[int, int]:
    """Title and end card lengths that leave the first and last beats 3 s of shots."""
    card = _card_cs(sum(durations))
    if len(durations) == 1:
        room = (durations[0] - MIN_SHOT_CS) // 2
        return _clamp_card(min(card, room)), _clamp_card(min(card, room))
    title = min(card, durations[0] - MIN_SHOT_CS)
    end = min(card, durations[-1] - MIN_SHOT_CS)
    return _clamp_card(title), _clamp_card(end)


def _clamp_card(cs: int) -> int:
    return max(CARD_MIN_CS, min(CARD_MAX_CS, cs))


def _cs(seconds: float) -> int:
    return round(seconds * 100)


# --- the shot list -------------------------------------------------------------------------------


@dataclass
class _Moment:
    act: str
    role: str
    place: str
    cycle: int = 0
    core: bool = False


@dataclass
class _Draft:
    """A shot before its line and transition are decided."""

    moment: _Moment
    beat: Beat
    place: str
    duration_cs: int
    subject: str
    action: str
    environment: str
    size: str
    angle: str
    move: str
    characters: list[str]
    continuous: bool = False
    line: Line | None = None
    transition: str = "cut"
    transition_cs: int = 0


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
        if act in ("work", "work2"):
            action = _definite_action(kit.action, kit.language)
            at_home = place == kit.places["home"] and not action.startswith(("must", "必须"))
            return ([action] if at_home else []), kind["work"]
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
        beat_slots = kit.slots(kit.places["home"], draft.beat.index)
        own = [(x, beat_slots) for f in functions for x in kit.text["beats"][f]["lines"]]
        any_slots = kit.slots(draft.place, self.counter + position)
        pool = (own if draft.moment.cycle == 0 else []) + [
            (x, any_slots) for x in _shuffled(self.rng, kit.text["lines_any"])
        ]
        for entry, slots in pool:
            if entry["kind"] == "dialogue" and not draft.characters:
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


def _who(act: str, force_subject: str) -> str:
    if act in _HERO_ACTS:
        return "hero"
    if act in _FORCE_ACTS:
        return force_subject if force_subject != "object" else "object"
    return {"item": "item", "establish": "place"}.get(act, "object")


def _beat_functions(beat: Beat, sheet: BeatSheet, language: Language) -> tuple[list[str], bool]:
    """The structure functions a beat stands for, from its name; by position when unknown."""
    try:
        entries = _structure(resolve_structure(sheet.structure, language))
    except InputError:
        entries = []
    by_name = {e["name"][lang].lower(): e for e in entries for lang in ("en", "zh")}
    pieces = re.split(r"\s*[/／]\s*", beat.name)
    matched = [by_name[p.lower()] for p in pieces if p.lower() in by_name]
    if matched:
        return [e["function"] for e in matched], matched[-1]["fade_after"]
    return [_function_by_position(beat, sheet)], False


def _function_by_position(beat: Beat, sheet: BeatSheet) -> str:
    middle = (beat.start_s + beat.duration_s / 2) / max(sheet.total_s, 0.01)
    for limit, function in ((0.2, "qi"), (0.5, "cheng"), (0.8, "zhuan")):
        if middle < limit:
            return function
    return "he"


def _shot_count(shot_cs: int, functions: list[str], runtime_s: float) -> int:
    """Shots for a beat: its functions' pace (quicker in very short films), each 3-8 s."""
    if shot_cs < MIN_SHOT_CS:
        return 1
    pace = sum(_functions().get(f, {}).get("pace", 4.5) for f in functions) / len(functions)
    pace *= min(1.0, max(0.7, runtime_s / 60))
    low, high = math.ceil(shot_cs / MAX_SHOT_CS), shot_cs // MIN_SHOT_CS
    return min(max(round(shot_cs / (pace * 100)), low), high)


def _partition(total: int, n: int, rng: random.Random) -> list[int]:
    """``n`` shot lengths of 3-8 s (in centiseconds), varied, summing exactly to ``total``."""
    if n == 1:
        return [total]
    weights = [rng.uniform(0.75, 1.3) for _ in range(n)]
    parts = [min(MAX_SHOT_CS, max(MIN_SHOT_CS, round(total * w / sum(weights)))) for w in weights]
    diff, i = total - sum(parts), 0
    while diff:
        j = i % n
        room = MAX_SHOT_CS - parts[j] if diff > 0 else MIN_SHOT_CS - parts[j]
        step = min(diff, room) if diff > 0 else max(diff, room)
        parts[j] += step
        diff -= step
        i += 1
    return parts


def _moments(
    kit: _Kit, beat: Beat, functions: list[str], n: int, new_place: bool, ending: bool
) -> list[_Moment]:
    """The beat's moments: its script (core moments first when short), then cycles when long."""
    data = _functions()
    role = next((r for r, p in kit.places.items() if p == beat.location), "")
    first = [
        _Moment(m["act"], m["role"], role, 0, m.get("core", False))
        for f in functions
        for m in data.get(f, data["cheng"])["script"]
    ]
    first = [_fit(m) for m in first]
    if new_place and first[0].act != "establish" and n >= 3:
        first.insert(0, _Moment("establish", "establishing", role, 0, True))
    if n > len(first):
        cycles = data.get(functions[0], data["cheng"])["cycles"]
        chosen = first + _cycles(cycles, n - len(first), role)
    else:
        chosen = _select(first, n, ending)
    if new_place and chosen[0].role not in ("establishing", "wide"):
        chosen[0].role = "wide"
    if ending and n >= 3 and chosen[-1].act != "establish":
        # The final image answers the opening one: the home, wide, as the camera pulls away.
        chosen[-1] = _Moment("establish", "establishing", "home", chosen[-1].cycle)
    return chosen


def _fit(moment: _Moment) -> _Moment:
    """Swap acts that make no sense in the refuge (the force does not come indoors)."""
    if moment.place == "refuge":
        swap = {
            "arrive": "look",
            "strike": "react",
            "turn": "hope",
            "damage": "detail",
            "carry": "rest",
            "watch": "look",
        }
        moment.act = swap.get(moment.act, moment.act)
    elif moment.act == "rest":
        moment.act = "look"
    return moment


def _select(moments: list[_Moment], n: int, ending: bool) -> list[_Moment]:
    """Keep ``n`` moments in order: core moments first (spread out when too many).

    A one-shot beat keeps its first core moment, or its last at the end of the film."""
    cores = [i for i, m in enumerate(moments) if m.core] or list(range(len(moments)))
    if n == 1:
        return [moments[cores[-1] if ending else cores[0]]]
    if len(cores) >= n:
        picked = {cores[round(j * (len(cores) - 1) / max(n - 1, 1))] for j in range(n)}
    else:
        picked = set(cores)
        for i in range(len(moments)):
            if len(picked) < n:
                picked.add(i)
    return [moments[i] for i in sorted(picked)]


def _cycles(names: list[str], count: int, place: str) -> list[_Moment]:
    """Further moments for a long beat: cycles in turn, each opening on its place, time passing.

    Fewer than three moments left do not start a new cycle: they extend the current one."""
    cycles = load_data("structures.json")["cycles"]
    out: list[_Moment] = []
    k, previous = 0, place
    while len(out) < count:
        left = count - len(out)
        if left < 3:
            cycle = cycles[names[max(k - 1, 0) % len(names)]]
            where = cycle["place"] if k else place
            out += [_fit(_Moment(m["act"], m["role"], where, k)) for m in cycle["script"][-left:]]
            break
        k += 1
        cycle = cycles[names[(k - 1) % len(names)]]
        if cycle["place"] != previous:
            out.append(_Moment("establish", "establishing", cycle["place"], k))
        out += [_fit(_Moment(m["act"], m["role"], cycle["place"], k)) for m in cycle["script"]]
        previous = cycle["place"]
    return out[:count]


def _size(role: str, position: float) -> str:
    sizes = {
        "establishing": ("extreme-wide", "wide"),
        "wide": ("wide", "full"),
        "medium": ("medium", "medium-close-up"),
        "close-up": ("medium-close-up", "close-up"),
        "reaction": ("medium-close-up", "close-up"),
        "insert": ("insert", "insert"),
    }
    wider, closer = sizes[role]
    return closer if position >= 0.5 else wider


def _angle(moment: _Moment, who: str, vulnerable: bool, rng: random.Random) -> str:
    """Low for the threatening force and the protagonist's stand; high when they are vulnerable."""
    if who == "force" or moment.act in ("defy", "rise"):
        return "low-angle"
    if moment.role == "establishing":
        return rng.choice(["birds-eye", "high-angle", "eye-level"])
    if moment.role == "insert":
        return rng.choice(["high-angle", "eye-level"])
    if who == "hero" and vulnerable and moment.role in ("wide", "medium"):
        return "high-angle"
    if moment.act == "react" and vulnerable and rng.random() < 0.3:
        return "dutch"
    if moment.act == "look":
        return "over-the-shoulder"
    return "eye-level"


def _move(moment: _Moment, size: str, previous: _Draft | None, rng: random.Random) -> str:
    """One move per shot, never the same size and move as the shot before."""
    options = {
        "establishing": ["pan-right", "pan-left", "tilt-down", "pull-out"],
        "wide": ["tracking", "pan-right", "pan-left", "static"],
        "medium": ["static", "push-in"],
        "close-up": ["push-in", "static"],
        "reaction": ["push-in", "static"],
        "insert": ["static", "tilt-down", "push-in"],
    }[moment.role]
    if moment.act == "arrive":
        options = ["tilt-up", "push-in", "static"]
    elif moment.act in ("walk", "carry"):
        options = ["tracking", "pan-left", "pan-right"]
    choices = [m for m in options if not previous or (previous.size, previous.move) != (size, m)]
    return rng.choice(choices or ["static"])


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


def _transitions(drafts: list[_Draft], fade_after: bool, rng: random.Random) -> None:
    """Cuts, a crossfade where time passes inside the beat, a fade to black after some beats."""
    for a, b in zip(drafts, drafts[1:], strict=False):
        if b.moment.cycle != a.moment.cycle:
            _set_transition(a, b, "crossfade", rng.choice([50, 60, 75]))
    if fade_after:
        drafts[-1].transition, drafts[-1].transition_cs = "fade-black", 100


def _finish_transitions(drafts: list[_Draft]) -> None:
    """Check each transition against both shots' lengths; the film ends on a plain cut."""
    for a, b in zip(drafts, drafts[1:], strict=False):
        if a.transition != "cut":
            _set_transition(a, b, a.transition, a.transition_cs)
        if a.transition != "cut" or a.place != b.place:
            b.continuous = False
    drafts[-1].transition, drafts[-1].transition_cs = "cut", 0


def _final_move(drafts: list[_Draft]) -> None:
    """The film's last shot pulls out; the shot before gives way if it pulled out the same."""
    last = drafts[-1]
    if last.moment.role == "insert":
        return
    last.move = "pull-out"
    if len(drafts) > 1 and (drafts[-2].size, drafts[-2].move) == (last.size, last.move):
        earlier = drafts[-3] if len(drafts) > 2 else None
        for move in ("static", "push-in", "pan-left"):
            if not earlier or (earlier.size, earlier.move) != (drafts[-2].size, move):
                drafts[-2].move = move
                break


def _set_transition(a: _Draft, b: _Draft, kind: str, cs: int) -> None:
    limit = int(0.4 * min(a.duration_cs, b.duration_cs))
    if cs > limit:
        kind, cs = ("crossfade", min(75, limit)) if limit >= 50 else ("cut", 0)
    a.transition, a.transition_cs = kind, cs
