"""Developing the story: the choices the rules make once, from the logline and the seed (the home
and the world around it, the refuge, the protagonist's name, gender, age and identity block, the
title, the world and obstacle sentences), which the later stages read back from the story."""

from __future__ import annotations

import random
import re

from director.records import Character, Language, Story
from director.tools.llm.language import Reading, lexicon_persons, place_kind
from director.tools.llm.offline.common import _end, _text, fill, sentence_case
from director.tools.llm.offline.kit import _base_kit, _force_data, _home_kind, _Kit, _thing_from


def _develop(
    logline: str, reading: Reading, language: Language, rng: random.Random, cast: list[Character]
) -> Story:
    kit = _base_kit(reading, language)
    home_kind = _choose_places(kit, reading, rng)
    kit.gender, age = _gender_age(reading, rng)
    names = kit.text["names"]
    pool = "machine" if age == "machine" else kit.gender if kit.gender in names else "f"
    kit.name = reading.kept_name or reading.hero_name or rng.choice(names[pool])
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
    if reading.animal:
        return reading.gender or "n", "animal"
    return reading.gender or rng.choice(["f", "m"]), age


def _identity(kit: _Kit, age: str, home_kind: str, rng: random.Random) -> tuple[str, str]:
    """The identity block (age, build, face, hair, costume, signature item) and the item."""
    ident = kit.text["identity"]
    her = kit.text["pronouns"][kit.gender]["her"]
    if age == "animal":
        return _animal_identity(kit, rng)
    group = {"young": "adult"}.get(age, age)
    human = "machine" if age == "machine" else "human"
    item = rng.choice(kit.text["kinds"][home_kind].get("items", []) + ident["items"])
    parts = {
        "age": rng.choice(ident["age"]["machine" if age == "machine" else f"{kit.gender}_{age}"]),
        "build": rng.choice(ident["build"][group]),
        "face": rng.choice(ident["face"][human]),
        "hair": rng.choice(
            _hair_for(ident["hair"]["old" if age == "old" else human], age, kit.gender)
        ),
        "costume": rng.choice(ident["costume"]["child" if age == "child" else human]),
        "item": fill(item["wear"], {"her": her}),
    }
    template = ident["machine_template" if age == "machine" else "template"]
    parts["age"] = _kept_hero_first(kit, parts["age"], age)
    return fill(template, parts), item["thing"]


def _hair_for(pool: list[str], age: str, gender: str) -> list[str]:
    """A child's or a young person's hair is never grey; a woman or a girl has no beard."""
    if gender != "m":
        pool = [h for h in pool if not re.search(r"beard|moustache|stubble|胡", h)] or pool
    if age not in ("child", "young"):
        return pool
    return [h for h in pool if not re.search(r"grey|gray|white|silver|灰|白|银", h)] or pool


def _kept_hero_first(kit: _Kit, age_phrase: str, age: str) -> str:
    """The identity opens with the protagonist as the logline names them ("an old piano
    tuner"); the rules' age phrase follows unless the logline's phrase already says who."""
    reading_hero = kit.hero if kit.hero_kept else ""
    if not reading_hero:
        return age_phrase
    joiner = "，" if kit.language == "zh" else ", "
    opening = joiner.join(p for p in (reading_hero, kit.epithet) if p)
    if age == "machine" or _says_sex(reading_hero, kit.language):
        return opening
    return f"{opening}{joiner}{age_phrase}"


def _says_sex(phrase: str, language: Language) -> bool:
    words = phrase if language == "zh" else phrase.lower().split()
    gendered = [w for e in lexicon_persons() if e.get("gender") for w in e[language]]
    if language == "zh":
        return any(w in phrase for w in gendered) or any(c in phrase for c in "女男")
    return any(w in gendered for w in words)


def _animal_identity(kit: _Kit, rng: random.Random) -> tuple[str, str]:
    """An animal keeps what the logline says it is, with a coat, eyes and one mark of its own."""
    animal = kit.text["identity"]["animal"]
    item = rng.choice(animal["items"])
    parts = {
        "hero": kit.hero,
        "coat": rng.choice(animal["coat"]),
        "eyes": rng.choice(animal["eyes"]),
        "item": fill(item["wear"], kit.text["pronouns"][kit.gender]),
    }
    return fill(animal["template"], parts), item["thing"]


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
