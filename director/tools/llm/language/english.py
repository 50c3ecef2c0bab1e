"""The English reader: fills a ``Reading`` from an English logline with a small word-class
lexicon. It finds when and where, the places named, the protagonist and what they do or want,
the object, the force that opposes them (from a relative or subordinate clause or a lexicon
word) and the gender and age cues. A missing part stays empty.
"""

from __future__ import annotations

import re
from typing import Any

from director.tools.llm.language.english_grammar import (
    _EN_TOKEN,
    _YEAR,
    _clause_end,
    _clauses,
    _companion_en,
    _definite,
    _en,
    _find_verb,
    _first_sentence,
    _head,
    _head_verb,
    _is_name,
    _lower_article,
    _main_clause,
    _noun_phrase,
    _person_index,
    _phrase_around,
    _plural_subject,
    _pronoun_gender,
    _purpose_index,
    base_form,
    gerund,
    is_plural_noun,
    third_person,
)
from director.tools.llm.language.lexicon import (
    _entry,
    _env_words,
    _lexicon,
    _word_roles,
    environment_kind,
    load_data,
)
from director.tools.llm.language.reading import Reading


def _read_en(text: str) -> Reading:
    reading = Reading(language="en")
    sentence = _first_sentence(text)
    tokens = _EN_TOKEN.findall(sentence)[:80]
    reading.when = _when_en(text)
    reading.where = _where_en(sentence)
    reading.places = _places_en(sentence)
    reading.last = any(t.lower() == "last" for t in tokens)
    clauses = _clauses(tokens)
    main = _main_clause(clauses)
    _read_main_en(reading, main)
    _read_force_en(reading, tokens, clauses, main)
    _read_cues_en(reading, tokens)
    return reading


def _when_en(text: str) -> str:
    year = _YEAR.search(text)
    if year:
        return year.group(1)
    low = text.lower()
    return next((era for era in load_data("en.json")["grammar"]["eras"] if era in low), "")


def _where_en(sentence: str) -> str:
    preps = "on|in|at|across|beneath|under|near|to|from|of"
    pattern = rf"\b(?i:{preps})\s+([A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*)?)"
    for m in re.finditer(pattern, sentence):
        entry = _entry(m.group(1), "places", "en")
        if entry:
            return entry["name"]["en"]
        if m.group(1).lower() not in _word_roles("en"):
            return m.group(1)
    low = sentence.lower()
    things = {w for e in _lexicon()["things"] for w in e["en"]}
    for entry in _lexicon()["places"]:
        for w in entry["en"]:
            # A word that is also a thing ('letters to the moon') is where the story happens
            # only when the logline puts someone there ('on the moon').
            lead = r"\b(?:on|in|at|from)\s+the\s+" if w in things else r"\b"
            if re.search(rf"{lead}{re.escape(w)}\b", low):
                return entry["name"]["en"]
    return ""


def _places_en(sentence: str) -> list[str]:
    """Noun phrases that hold an environment word ("the ruins of Shanghai", "a stormy coast")."""
    low = sentence.lower()
    found: list[str] = []
    skip = _en()["not_places"]
    for word in _env_words("en"):
        if word in skip:
            continue
        for m in re.finditer(rf"(?<![\w\-]){re.escape(word)}(?:s|es)?\b", low):
            phrase = _phrase_around(sentence, m.start(), m.end())
            if phrase and not any(phrase in f or f in phrase for f in found):
                found.append(phrase)
    return sorted(found, key=low.find)[:3]


def _read_main_en(reading: Reading, main: list[str]) -> None:
    plural = _plural_subject(main)
    verb = _find_verb(main, plural)
    if verb is not None and "who" in [t.lower() for t in main[:verb]]:
        later = _find_verb(main[verb + 1 :], plural)
        verb = verb + 1 + later if later is not None else verb
    if verb is None:
        _read_noun_phrase_en(reading, main)
        return
    _read_hero_en(reading, main[:verb])
    _read_predicate_en(reading, main[verb:])


def _read_noun_phrase_en(reading: Reading, tokens: list[str]) -> None:
    """A logline without a verb: the protagonist if it names one, else the object."""
    person = _person_index(tokens)
    if person is not None:
        _read_hero_en(reading, tokens)
        return
    np, _ = _noun_phrase(tokens, 0)
    if np and np[0].lower() not in _en()["determiners"] and np[0].lower() in _word_roles("en"):
        np = ["the", np[0].lower(), *np[1:]]
    reading.obj, reading.obj_head = _definite(np), _head(np)


def _read_hero_en(reading: Reading, tokens: list[str]) -> None:
    lows = [t.lower() for t in tokens]
    if "who" in lows:
        tokens = tokens[: lows.index("who")]
    if len(tokens) == 1 and _is_name(tokens[0]):
        reading.hero_name = tokens[0]
        return
    if not tokens:
        return
    tokens = _companion_en(tokens[:10])
    reading.hero = _lower_article(" ".join(tokens))
    index = _person_index(tokens)
    reading.hero_head = tokens[index] if index is not None else _head(tokens)
    numbered = tokens[0].lower() in ("two", "three", "four", "five")
    reading.hero_plural = is_plural_noun(reading.hero_head) or numbered


def _read_predicate_en(reading: Reading, tokens: list[str]) -> None:
    g = _en()
    end = _clause_end(tokens)
    predicate, rest = tokens[:end], tokens[end:]
    head = _head_verb(predicate)
    purpose = _purpose_index(predicate, head)
    action = predicate[:purpose] if purpose is not None else predicate
    if (
        action
        and action[0].lower() in g["verbs"]
        and action[0].lower() not in g["verbs3"] | g["modals"]
    ):
        action = [third_person(action[0].lower()), *action[1:]]
    if (
        len(action) > 1
        and action[1].islower()
        and action[1] in _word_roles("en")
        and action[1] not in g["preps"]
    ):
        action = [action[0], "the", *action[1:]]
    reading.action = " ".join(action[:14])
    if purpose is not None:
        reading.want = " ".join(predicate[purpose + 1 : purpose + 13])
    elif head > 0:
        reading.want = " ".join(predicate[head : head + 10])
    _read_object_en(reading, action, head)
    if purpose is not None and (not reading.obj or environment_kind(reading.obj)):
        _read_object_en(reading, predicate[purpose + 1 :], 0)
    if rest and rest[0].lower() in ("that", "which", "where", "whom"):
        _read_relative_en(reading, rest[1:])


def _read_object_en(reading: Reading, action: list[str], head: int) -> None:
    g = _en()
    i = head + 1
    while i < len(action):
        low = action[i].lower()
        if low in g["pronouns"] and low not in g["determiners"]:
            i += 1
            continue
        if low in g["particles"] or low in g["preps"] or low.endswith("ly"):
            i += 1
            continue
        np, _ = _noun_phrase(action, i)
        if np:
            reading.obj, reading.obj_head = _definite(np), _head(np)
            return
        i += 1


def _adverbs_only(words: list[str]) -> bool:
    adverbs = _en()["adverbs"]
    return all(w.lower() in adverbs or w.lower().endswith("ly") for w in words)


def _read_relative_en(reading: Reading, tokens: list[str]) -> None:
    """'a garden that robots keep bulldozing': the relative clause names the force."""
    if not tokens or tokens[0].lower() in _en()["verbs3"]:
        return
    end = _clause_end(tokens)
    clause = tokens[:end]
    verb = _find_verb(clause, plural_subject=True)
    if verb is None:
        verb = next((i for i, t in enumerate(clause) if t.lower() in _en()["keep_verbs"]), None)
    if verb is None or verb == 0 or _adverbs_only(clause[:verb]):
        return  # 'a ship that never comes': no subject before the verb, so no force
    _set_force_en(reading, clause[:verb], clause[verb:])
    reading.force_clause = f"{' '.join(clause)} {reading.obj}".strip()


def _read_force_en(
    reading: Reading, tokens: list[str], clauses: list[list[str]], main: list[str]
) -> None:
    if not reading.force:
        _force_from_subordinate(reading, tokens)
    if not reading.force:
        _force_from_lexicon(reading, tokens, main)


def _force_from_subordinate(reading: Reading, tokens: list[str]) -> None:
    g = _en()
    for i, tok in enumerate(tokens):
        if tok.lower() not in g["subordinators"] or tok.lower() == "and":
            continue
        clause = tokens[i + 1 :]
        clause = clause[: next((j for j, t in enumerate(clause) if t in ",;:"), len(clause))]
        main_verb = reading.action.split(" ", 1)[0]
        if main_verb and main_verb in clause:
            clause = clause[: clause.index(main_verb)]
        verb = _find_verb(clause, plural_subject=True)
        if verb is None:
            continue
        subject = clause[:verb]
        if _head(subject).lower() in g["pronouns"] or _head(subject).lower() in (
            "he",
            "she",
            "they",
        ):
            continue
        if _is_force_word(_head(subject)):
            _set_force_en(reading, subject, clause[verb:])
            return
        if not reading.event:
            reading.event = " ".join(clause[:12])


def _force_from_lexicon(reading: Reading, tokens: list[str], main: list[str]) -> None:
    g = _en()
    words = [w.lower() for w in reading.hero.split()]
    cause = next(
        (i for i, w in enumerate(words) if w in ("after", "during", "against", "despite", "by")),
        len(words),
    )
    hero = set(words[:cause])
    for i, tok in enumerate(tokens):
        if _is_force_word(tok) and tok.lower() not in hero:
            start = i
            if (
                i
                and tokens[i - 1].isalpha()
                and tokens[i - 1].islower()
                and tokens[i - 1]
                not in g["determiners"] | g["preps"] | g["subordinators"] | g["verbs3"]
            ):
                start = i - 1
            if start and tokens[start - 1].lower() in g["determiners"]:
                start -= 1
            _set_force_en(reading, tokens[start : i + 1], [])
            return


def _is_force_word(word: str) -> bool:
    return _entry(word, "forces", "en") is not None


def _set_force_en(reading: Reading, subject: list[str], verb_phrase: list[str]) -> None:
    head = _head(subject)
    reading.force = (
        _definite(subject) if subject[0].lower() in _en()["determiners"] else " ".join(subject)
    )
    reading.force_head = head
    reading.force_plural = is_plural_noun(head)
    entry = _entry(head, "forces", "en")
    reading.force_category = entry["category"] if entry else ""
    reading.force_verb = _force_gerund(verb_phrase)
    if verb_phrase:
        reading.force_clause = " ".join([*subject, *verb_phrase[:10]])


def _force_gerund(tokens: list[str]) -> str:
    g = _en()
    words = [
        t.lower()
        for t in tokens
        if not t.lower().endswith("ly") and t.lower() not in ("again", "still")
    ]
    if not words:
        return ""
    if words[0] in g["keep_verbs"] and len(words) > 1:
        words = words[1:]
    verb = words[0] if words[0].endswith("ing") else gerund(base_form(words[0]))
    if not (words[0].endswith("ing") or words[0] in g["verbs3"] or words[0] in g["verbs"]):
        return ""
    particle = words[1] if len(words) > 1 and words[1] in g["particles"] else ""
    return f"{verb} {particle}".strip()


def _read_cues_en(reading: Reading, tokens: list[str]) -> None:
    lows = [t.lower() for t in tokens]
    person = _entry(reading.hero_head, "persons", "en") if reading.hero_head else None
    reading.gender = person["gender"] if person else ""
    if not reading.gender:
        reading.gender = next((_pronoun_gender(w) for w in lows if _pronoun_gender(w)), "")
    reading.age = _age_en(reading.hero.lower().split(), person)


def _age_en(words: list[str], person: dict[str, Any] | None) -> str:
    ages = load_data("en.json")["grammar"]["age_words"]
    for age, cues in ages.items():
        if any(w in cues for w in words):
            return age
    return person["age"] if person else ""
