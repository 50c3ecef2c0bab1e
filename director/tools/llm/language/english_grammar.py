"""English word forms and sentence shapes for the English reader and the offline planner.

Verb forms (``third_person``, ``base_form``, ``gerund``) and plural nouns, read from the grammar
in ``director/prompts/offline/en.json``; and the shapes the reader looks for in a tokenised
sentence: clauses and the main clause, the verb, noun phrases and their heads, the protagonist's
name or person noun, and the article a phrase takes.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from director.tools.llm.language.lexicon import _word_roles, load_data

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


def _first_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])\s+|[.!?]+$", text) if p and re.search(r"\w", p)]
    return parts[0] if parts else text


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
    return (
        token[:1].isupper()
        and low not in _word_roles("en")
        and low not in _en()["determiners"]
        and low not in _en()["pronouns"]
    )


def _person_index(tokens: list[str]) -> int | None:
    roles = _word_roles("en")
    for i, tok in enumerate(tokens):
        pair = " ".join(tokens[i : i + 2]).lower()
        if i + 1 < len(tokens) and roles.get(pair, ("",))[0] == "persons":
            return i + 1
        if roles.get(tok.lower(), ("",))[0] == "persons":
            return i
    return None


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


def _pronoun_gender(word: str) -> str:
    return {"she": "f", "her": "f", "herself": "f", "he": "m", "his": "m", "himself": "m"}.get(
        word, ""
    )
