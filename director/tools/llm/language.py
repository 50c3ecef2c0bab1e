"""Which language a logline is written in, and what it says, read by rules (no model).

``read_logline`` pulls out the parts a story needs: when and where, who the protagonist is, what
they do or want, what opposes them and the object that matters. English is read with a small
word-class lexicon; Chinese with person and force nouns, the passive 被 and the 的 that ends a
modifier. Both readers accept anything: a missing part stays empty and the planner fills it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from director import prompts
from director.records import Language
from director.text import HAN, HAN_CLASS, HAN_RUN, han_count

_LATIN = re.compile(r"[A-Za-z]")
# An ideograph carries about as much meaning as two or three Latin letters.
_CJK_WEIGHT = 2.5
_MAX_CHARS = 600
_CJK_PUNCTUATION = str.maketrans(
    {"，": ", ", "。": ". ", "；": "; ", "：": ": ", "！": "! ", "？": "? ", "、": ", "}
)


def detect_language(text: str) -> Language:
    """``"zh"`` when CJK ideographs dominate the text, else ``"en"``."""
    cjk = han_count(text)
    latin = len(_LATIN.findall(text))
    return "zh" if cjk and cjk * _CJK_WEIGHT >= latin else "en"


@cache
def load_data(name: str) -> dict[str, Any]:
    """A JSON file from ``director/prompts/offline/``."""
    return prompts.read_json("offline", name)


@cache
def load_vocab(name: str) -> dict[str, Any]:
    """A shared vocabulary from ``director/prompts/vocab/`` (camera, environments)."""
    return prompts.read_json("vocab", name)


@cache
def environment_kind(text: str) -> str | None:
    """The environment kind the storyboard renderer draws for ``text``: first kind in order.

    Matched as the renderer matches: English as whole words (a plural counts, a hyphen is a
    space), Chinese as substrings."""
    low = re.sub(r"[-_]", " ", text.lower().replace("\u2019", "'"))
    for kind, words in load_vocab("environments.json")["kinds"].items():
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?:e?s)?(?![a-z])", low) for w in words["en"]):
            return kind
        if any(w in text for w in words["zh"]):
            return kind
    return None


@cache
def place_kind(text: str) -> str | None:
    """What kind of place a phrase names, by whole words: "the lighthouse" is not a house.

    Used to choose a story's places and pools; ``environment_kind`` says what gets drawn."""
    low = text.lower()
    for kind, words in load_vocab("environments.json")["kinds"].items():
        if any(re.search(rf"(?<![\w\-]){re.escape(w)}(?:s|es)?(?![\w])", low) for w in words["en"]):
            return kind
        if any(w in text for w in words["zh"]):
            return kind
    return None


def person_kind(word: str, language: Language) -> str | None:
    """The kind of place a protagonist's trade suggests (a fisherman -> ocean)."""
    entry = _entry(word, "persons", language) if word else None
    return entry.get("kind") if entry else None


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


def read_logline(text: str, language: Language) -> Reading:
    """Read ``text`` as a logline; words in the other script are translated or dropped."""
    text = _strip_noise(text)[:_MAX_CHARS]
    if language == "zh":
        return _read_zh(_latin_to_zh(text))
    return _read_en(_cjk_to_en(text))


def _strip_noise(text: str) -> str:
    text = re.sub(r"[\u2018\u2019`]", "'", text)
    text = re.sub(r"[\u2014\u2013]|\s-\s", ", ", text)
    text = re.sub(r"[^\w\s',.;:!?，。；：！？、\-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# --- the lexicon ----------------------------------------------------------------------------


@cache
def _lexicon() -> dict[str, Any]:
    return load_data("lexicon.json")


@cache
def _translations(src: str, dst: str) -> dict[str, str]:
    table: dict[str, str] = {}
    lex = _lexicon()
    for group in ("persons", "forces", "places", "things", "verbs"):
        for entry in lex[group]:
            target = entry.get("name", {}).get(dst) or entry[dst][0]
            for word in entry[src]:
                table.setdefault(word, target)
    return table


def _cjk_to_en(text: str) -> str:
    table = _translations("zh", "en")
    text = text.translate(_CJK_PUNCTUATION)
    text = re.sub(r"(\d{3,4})\s*年", r" in \1 ", text)
    return HAN_RUN.sub(lambda m: " " + " ".join(_scan_words(m.group(0), table)) + " ", text)


def _latin_to_zh(text: str) -> str:
    table = _translations("en", "zh")

    def swap(m: re.Match[str]) -> str:
        word = m.group(0).lower()
        return table.get(word) or table.get(word.rstrip("s"), "")

    return re.sub(r"[A-Za-z][A-Za-z'\-]*", swap, text)


def _scan_words(run: str, table: dict[str, str]) -> list[str]:
    """Longest-match scan of a CJK run for known words."""
    found, i = [], 0
    while i < len(run):
        for size in range(min(6, len(run) - i), 0, -1):
            if run[i : i + size] in table:
                found.append(table[run[i : i + size]])
                i += size
                break
        else:
            i += 1
    return found


@cache
def _word_roles(language: Language) -> dict[str, tuple[str, dict[str, Any]]]:
    roles: dict[str, tuple[str, dict[str, Any]]] = {}
    for group in ("persons", "forces", "places", "things"):
        for entry in _lexicon()[group]:
            for word in entry[language]:
                roles.setdefault(word, (group, entry))
    return roles


def _entry(word: str, group: str, language: Language) -> dict[str, Any] | None:
    for entry in _lexicon()[group]:
        if word.lower() in entry[language]:
            return entry
    return None


@cache
def _force_words(language: Language) -> list[str]:
    words = {w for entry in _lexicon()["forces"] for w in entry[language]}
    return sorted(words, key=lambda w: (-len(w), w))


def _env_words(language: Language) -> list[str]:
    kinds = load_vocab("environments.json")["kinds"]
    return sorted({w for k in kinds.values() for w in k[language]}, key=lambda w: (-len(w), w))


# --- English ------------------------------------------------------------------------------

_EN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*|[,;:]")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|[2-9]\d\d\d)(?!\d)")


@cache
def _en() -> dict[str, Any]:
    grammar = load_data("en.json")["grammar"]
    out = {k: set(v) if isinstance(v, list) else v for k, v in grammar.items()}
    out["verbs3"] = {third_person(v) for v in grammar["verbs"]}
    return out


def third_person(verb: str) -> str:
    """The third-person singular present of a base verb ("tend" -> "tends")."""
    irregular = _en_irregular()
    if verb in irregular:
        return irregular[verb]
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


@cache
def _en_irregular() -> dict[str, str]:
    return dict(load_data("en.json")["grammar"]["irregular_3sg"])


def base_form(word: str) -> str:
    """The base form of an English present-tense verb ("tends" -> "tend")."""
    low = word.lower()
    for base, third in _en_irregular().items():
        if low == third:
            return base
    if re.search(r"[^aeiou]ies$", low):
        return low[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|zz|o)es$", low):
        return low[:-2]
    if low.endswith("s") and not low.endswith("ss"):
        return low[:-1]
    return low


def gerund(verb: str) -> str:
    """The -ing form of a base verb ("bulldoze" -> "bulldozing", "stop" -> "stopping")."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdgmnprt]", verb) and len(verb) <= 4:
        return verb + verb[-1] + "ing"
    return verb + "ing"


def is_plural_noun(word: str) -> bool:
    low = word.lower()
    if low in _en()["plural_nouns"]:
        return True
    return len(low) > 3 and low.endswith("s") and not low.endswith(("ss", "us", "is", "ics"))


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


def _first_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])\s+|[.!?]+$", text) if p and re.search(r"\w", p)]
    return parts[0] if parts else text


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
    for entry in _lexicon()["places"]:
        if any(re.search(rf"\b{re.escape(w)}\b", low) for w in entry["en"]):
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


def _phrase_around(sentence: str, start: int, end: int) -> str:
    """The noun phrase holding sentence[start:end]: back to a determiner, on through 'of X'."""
    before = sentence[:start].split()
    words = []
    for w in reversed(before[-3:]):
        low = w.lower().strip(",")
        g = _en()
        if w.endswith(",") or low in g["preps"] | g["subordinators"] | g["verbs3"] | g["modals"]:
            break
        words.insert(0, w)
        if low in _en()["determiners"]:
            break
    tail = re.match(r"\s+of\s+(?:the\s+)?[A-Z][\w'\-]*", sentence[end:])
    phrase = " ".join([*words, sentence[start:end] + (tail.group(0) if tail else "")])
    return phrase.strip(" ,")


def _clauses(tokens: list[str]) -> list[list[str]]:
    clauses: list[list[str]] = [[]]
    for tok in tokens:
        if tok in ",;:":
            clauses.append([])
        else:
            clauses[-1].append(tok)
    return [c for c in clauses if c]


def _main_clause(clauses: list[list[str]]) -> list[str]:
    g = _en()
    for clause in clauses:
        head = clause[0].lower()
        if head in g["subordinators"] and head not in ("and", "but", "so"):
            continue
        rest = _drop_opening(clause)
        if rest:
            return rest
    return _drop_opening(clauses[0]) if clauses else []


def _drop_opening(clause: list[str]) -> list[str]:
    """Drop a leading time or place adverbial ("In 2075", "On Mars", "In the year 3000")."""
    g = _en()
    i = 0
    if clause and clause[0].lower() in g["preps"]:
        j = 1
        while j < len(clause) and clause[j].lower() in ("the", "year", "late", "early"):
            j += 1
        if j < len(clause) and (_YEAR.fullmatch(clause[j]) or clause[j][:1].isupper()):
            i = j + 1
            while (
                i < len(clause)
                and clause[i][:1].isupper()
                and clause[i].lower() not in g["determiners"]
            ):
                i += 1
    return clause[i:]


def _find_verb(tokens: list[str], plural_subject: bool = False) -> int | None:
    g = _en()
    for i in range(1, len(tokens)):
        low, prev = tokens[i].lower(), tokens[i - 1].lower()
        if low in g["modals"]:
            return i
        if prev in g["determiners"] or prev in g["preps"] or prev == "'s":
            continue
        if low in g["verbs3"] or (plural_subject and low in g["verbs"]):
            return i
    return None


def _plural_subject(tokens: list[str]) -> bool:
    lows = [t.lower() for t in tokens[:4]]
    return bool({"two", "three", "four", "five", "several", "some", "and"} & set(lows))


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


def _companion_en(tokens: list[str]) -> list[str]:
    """'a girl and her robot dog' is one protagonist with a companion: 'a girl with her ...'."""
    lows = [t.lower() for t in tokens]
    for i in range(1, len(lows) - 1):
        if lows[i] == "and" and lows[i + 1] in ("her", "his", "their"):
            return [*tokens[:i], "with", *tokens[i + 1 :]]
    return tokens


def _is_name(token: str) -> bool:
    """A capitalised word that is not a known noun or function word: the protagonist's name."""
    low = token.lower()
    return token[:1].isupper() and low not in _word_roles("en") and low not in _en()["determiners"]


def _person_index(tokens: list[str]) -> int | None:
    roles = _word_roles("en")
    for i, tok in enumerate(tokens):
        pair = " ".join(tokens[i : i + 2]).lower()
        if i + 1 < len(tokens) and roles.get(pair, ("",))[0] == "persons":
            return i + 1
        if roles.get(tok.lower(), ("",))[0] == "persons":
            return i
    return None


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


def _clause_end(tokens: list[str]) -> int:
    g = _en()
    for i in range(1, len(tokens)):
        low = tokens[i].lower()
        if low in ("that", "which", "where", "whom") or low in g["subordinators"]:
            if low == "and" and not _starts_predicate(tokens[i + 1 : i + 3]):
                continue
            return i
    return len(tokens)


def _starts_predicate(tokens: list[str]) -> bool:
    g = _en()
    return any(t.lower() in g["modals"] or t.lower() in g["verbs3"] for t in tokens[:2])


def _head_verb(predicate: list[str]) -> int:
    """Index of the lexical verb: after a modal or a 'tries to' style catenative."""
    g = _en()
    i = 0
    if predicate and predicate[0].lower() in g["modals"]:
        i = 1
    elif (
        len(predicate) > 2
        and predicate[1].lower() == "to"
        and predicate[0].lower() in g["catenatives"]
    ):
        i = 2
    while i < len(predicate) - 1 and (
        predicate[i].lower().endswith("ly") or predicate[i] in ("not", "to", "out")
    ):
        i += 1
    return min(i, max(len(predicate) - 1, 0))


def _purpose_index(predicate: list[str], head: int) -> int | None:
    g = _en()
    for i in range(head + 1, len(predicate) - 1):
        if predicate[i].lower() == "to" and predicate[i + 1].lower() in g["verbs"]:
            return i
    return None


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


def _noun_phrase(tokens: list[str], start: int) -> tuple[list[str], int]:
    g = _en()
    end = start
    while end < len(tokens):
        low = tokens[end].lower()
        stop = low in g["subordinators"] or low in ("that", "which", "who", "where", "to")
        if stop or (low in g["preps"] and low != "of") or (end > start and low in g["verbs3"]):
            break
        end += 1
    np = tokens[start:end]
    while np and np[-1].lower() in ("of", "the", "a", "an", "and"):
        np = np[:-1]
    return np[:8], end


def _head(np: list[str]) -> str:
    lows = [t.lower() for t in np]
    cut = lows.index("of") if "of" in lows[1:] else len(np)
    words = [t for t in np[:cut] if t.lower() not in _en()["determiners"]]
    return words[-1] if words else (np[-1] if np else "")


def _definite(np: list[str]) -> str:
    if not np:
        return ""
    first = np[0].lower()
    if first in ("a", "an", "one", "some", "another", "the"):
        np = ["the", *np[1:]]
    elif first not in _en()["determiners"] and np[0].islower():
        np = ["the", *np]
    return " ".join(np)


def _lower_article(text: str) -> str:
    first, _, rest = text.partition(" ")
    if first.lower() in _en()["determiners"]:
        return f"{first.lower()} {rest}".strip()
    return text


def _read_relative_en(reading: Reading, tokens: list[str]) -> None:
    """'a garden that robots keep bulldozing': the relative clause names the force."""
    if not tokens or tokens[0].lower() in _en()["verbs3"]:
        return
    end = _clause_end(tokens)
    clause = tokens[:end]
    verb = _find_verb(clause, plural_subject=True)
    if verb is None:
        verb = next((i for i, t in enumerate(clause) if t.lower() in _en()["keep_verbs"]), None)
    if verb is None or verb == 0:
        return
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


def _pronoun_gender(word: str) -> str:
    return {"she": "f", "her": "f", "herself": "f", "he": "m", "his": "m", "himself": "m"}.get(
        word, ""
    )


def _age_en(words: list[str], person: dict[str, Any] | None) -> str:
    ages = load_data("en.json")["grammar"]["age_words"]
    for age, cues in ages.items():
        if any(w in cues for w in words):
            return age
    return person["age"] if person else ""


# --- Chinese ------------------------------------------------------------------------------

_ZH_SPLIT = re.compile(r"[，,。；;！!？?：:、\s]+")


@cache
def _zh() -> dict[str, Any]:
    return load_data("zh.json")["grammar"]


def _read_zh(text: str) -> Reading:
    reading = Reading(language="zh")
    g = _zh()
    year = re.search(r"(\d{2,4})\s*年", text)
    era = next((e for e in g["eras"] if 0 <= text.find(e) < 6), "")
    reading.when = f"{year.group(1)}年" if year else era
    reading.where = _where_zh(text)
    reading.last = "最后" in text
    clauses = [c for c in _ZH_SPLIT.split(text) if HAN.search(c)]
    main_index = _main_clause_zh(clauses)
    if main_index is not None:
        _read_main_zh(reading, clauses, main_index)
    else:
        _read_noun_phrase_zh(reading, "".join(clauses))
    _read_purpose_zh(reading, clauses)
    _read_force_zh(reading, text, clauses)
    _read_cues_zh(reading, text)
    reading.places = _places_zh(text)
    return reading


def _where_zh(text: str) -> str:
    for entry in _lexicon()["places"]:
        if any(w in text for w in entry["zh"]):
            return entry["name"]["zh"]
    return ""


def _places_zh(text: str) -> list[str]:
    found: list[str] = []
    for word in _env_words("zh"):
        at = text.find(word)
        if at < 0 or word in _zh()["not_places"] or any(word in f for f in found):
            continue
        before = text[at - 1] if at > 0 else ""
        lead = (
            before
            if len(word) == 1 and HAN.match(before or " ") and before not in _zh()["function_chars"]
            else ""
        )
        found.append(lead + word)
    return sorted(found, key=text.find)[:3]


def _person_span(clause: str) -> tuple[int, int] | None:
    best = None
    roles = _word_roles("zh")
    for word, (group, _) in roles.items():
        if group != "persons":
            continue
        at = clause.find(word)
        if at >= 0 and (
            best is None or at < best[0] or (at == best[0] and at + len(word) > best[1])
        ):
            best = (at, at + len(word))
    return best


def _main_clause_zh(clauses: list[str]) -> int | None:
    g = _zh()
    for i, clause in enumerate(clauses):
        if clause.startswith(tuple(g["subordinators"])) or clause.startswith("为了"):
            continue
        if _person_span(clause) or re.search(g["measure_person"], clause):
            return i
    return None


def _read_main_zh(reading: Reading, clauses: list[str], index: int) -> None:
    g = _zh()
    clause = re.sub(r"^\d{2,4}\s*年", "", clauses[index])
    span = _person_span(clause)
    if span is None:
        m = re.search(g["measure_person"], clause)
        span = (m.start(), m.end() + _noun_length_zh(clause[m.end() :])) if m else (0, 0)
    start = 0
    if span[1] > 14:
        measures = list(re.finditer(g["measure"], clause[: span[0]]))
        start = measures[-1].start() if measures else span[0]
    reading.hero = reading.hero_text = clause[start : span[1]]
    reading.hero_head = clause[span[0] : span[1]]
    reading.hero_plural = bool(re.search(g["plural_cue"], reading.hero))
    predicate = clause[span[1] :] or (clauses[index + 1] if index + 1 < len(clauses) else "")
    predicate = _companion_zh(reading, predicate)
    _read_predicate_zh(reading, predicate)


def _noun_length_zh(text: str) -> int:
    """The length of the noun after a measure word ("外卖员发现" -> 3)."""
    stop = re.search("|".join(_zh()["boundaries"]), text)
    end = stop.start() if stop and stop.start() > 0 else 3
    return min(end, 4)


def _companion_zh(reading: Reading, predicate: str) -> str:
    """'一个小女孩和她的机器狗在...': the companion joins the protagonist's description."""
    companion = rf"[和与跟](?:她|他|它|自己)?的?([{HAN_CLASS}]{{1,4}}?)(?=[在把从向一去到正])"
    m = re.match(companion, predicate)
    if not m:
        return predicate
    measure = re.match(_zh()["measure"], reading.hero)
    lead = measure.group(0) if measure else ""
    reading.hero = f"{lead}带着{m.group(1)}的{reading.hero[len(lead) :]}"
    reading.hero_text += m.group(0)
    return predicate[m.end() :]


def _read_noun_phrase_zh(reading: Reading, text: str) -> None:
    text = re.sub(r"\d{2,4}\s*年", "", text)
    for word in _env_words("zh") + sorted(_word_roles("zh"), key=len, reverse=True):
        if word in text and _word_roles("zh").get(word, ("things",))[0] != "forces":
            reading.obj = reading.obj_head = _widen_zh(text, word)
            return
    core = "".join(HAN.findall(text))
    reading.obj = reading.obj_head = core[-4:]


def _widen_zh(text: str, word: str) -> str:
    at = text.find(word)
    before = text[at - 1] if at > 0 else ""
    if len(word) == 1 and before and HAN.match(before) and before not in _zh()["function_chars"]:
        return before + word
    return word


def _read_predicate_zh(reading: Reading, predicate: str) -> None:
    g = _zh()
    predicate = predicate[:40]
    passive = re.search(r"被(.+?)(?:的|了|$)", predicate)
    obj, cut = _object_zh(predicate)
    reading.obj = reading.obj_head = obj
    if passive:
        _passive_force_zh(reading, passive.group(1))
        if reading.force:
            reading.force_clause = f"{obj}被{passive.group(1)}"
    core = predicate[:cut] if cut is not None else predicate
    action = core + obj if cut is not None else predicate
    reading.action = action[:18]
    for modal in g["modals"]:
        if reading.action.startswith(modal) or reading.action[2:].startswith(modal):
            reading.want = reading.action.split(modal, 1)[1]
            break


def _object_zh(predicate: str) -> tuple[str, int | None]:
    """The object and where the action should be cut to drop its modifier."""
    g = _zh()
    measure = re.search(g["measure"], predicate)
    if "的" in predicate:
        obj = _trim_noun_zh(predicate.rsplit("的", 1)[1])
        if obj:
            return obj, measure.start() if measure else None
    if measure:
        obj = _trim_noun_zh(predicate[measure.end() :])
        if obj:
            return obj, measure.start()
    for suffix in ("着", "了", "过"):
        if suffix in predicate:
            obj = _trim_noun_zh(predicate.split(suffix, 1)[1])
            if obj:
                return obj, None
    return _trim_noun_zh(predicate[-2:]), None


def _trim_noun_zh(text: str) -> str:
    g = _zh()
    text = re.sub(g["measure"], "", text)
    stop = re.search("|".join(g["boundaries"] + g["adverbs"]), text)
    if stop and stop.start() > 0:
        text = text[: stop.start()]
    text = text.strip("".join(g["particles"]))
    roles = _word_roles("zh")
    known = [
        w for w in sorted(roles, key=len, reverse=True) if w in text and roles[w][0] != "forces"
    ]
    if len(text) > 4:
        return known[0] if known else text[-3:]
    return text


def _passive_force_zh(reading: Reading, inner: str) -> None:
    force, verb = _split_force_zh(inner)
    if force:
        _set_force_zh(reading, force, verb)


def _split_force_zh(inner: str) -> tuple[str, str]:
    g = _zh()
    for word in _force_words("zh"):
        if inner.startswith(word):
            return word, _verb_zh(inner[len(word) :])
    adverb = min(
        (inner.find(a) for a in g["adverbs"] if a in inner and inner.find(a) > 0), default=-1
    )
    if adverb > 0:
        return inner[:adverb], _verb_zh(inner[adverb:])
    if len(inner) >= 4:
        return inner[:-2], inner[-2:]
    return inner, ""


def _verb_zh(text: str) -> str:
    """The verb right after a force noun: adverbs dropped, two characters, none after 中/里."""
    for adverb in sorted(_zh()["adverbs"], key=len, reverse=True):
        if text.startswith(adverb):
            text = text[len(adverb) :]
    text = text.lstrip("".join(_zh()["particles"]))
    if not text or text[0] in "中里上下内外前后间" or not HAN.match(text):
        return ""
    return text[:2]


def _set_force_zh(reading: Reading, force: str, verb: str) -> None:
    reading.force = reading.force_head = force
    entry = _entry(force, "forces", "zh")
    reading.force_category = entry["category"] if entry else ""
    reading.force_verb = verb
    reading.force_plural = True


def _read_purpose_zh(reading: Reading, clauses: list[str]) -> None:
    for clause in clauses:
        if clause.startswith("为了") and len(clause) > 2:
            reading.want = clause[2:16]
            return


def _read_force_zh(reading: Reading, text: str, clauses: list[str]) -> None:
    g = _zh()
    if reading.force:
        return
    for clause in clauses:
        stripped = clause
        for sub in g["subordinators"]:
            if stripped.startswith(sub):
                stripped = stripped[len(sub) :]
                break
        else:
            if clause is not clauses[0] or _person_span(clause):
                continue
        force, verb = _force_in_zh(stripped)
        if force:
            _set_force_zh(reading, force, verb)
            reading.force_clause = stripped[:20]
            return
        if stripped and not reading.event and clause != stripped:
            reading.event = stripped[:14]
    force, verb = _force_in_zh(text.replace(reading.hero_text, "") if reading.hero_text else text)
    if force:
        _set_force_zh(reading, force, verb)


def _force_in_zh(text: str) -> tuple[str, str]:
    for word in _force_words("zh"):
        if word in text:
            after = re.split(r"[的，,。]", text.split(word, 1)[1])[0]
            return word, _verb_zh(after)
    return "", ""


def _read_cues_zh(reading: Reading, text: str) -> None:
    g = _zh()
    person = _entry(reading.hero_head, "persons", "zh") if reading.hero_head else None
    reading.gender = person["gender"] if person else ""
    if not reading.gender:
        reading.gender = "f" if "她" in text else "m" if "他" in text else ""
    reading.age = next(
        (age for age, cue in g["age_words"].items() if re.search(cue, reading.hero)), ""
    )
    if not reading.age and person:
        reading.age = person["age"]
