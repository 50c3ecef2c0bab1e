"""The Chinese reader: fills a ``Reading`` from a Chinese logline with person and force nouns,
the passive 被 and the 的 that ends a modifier, read with the grammar in
``director/prompts/offline/zh.json``. It finds when and where, the places named, the
protagonist (and a companion), the action, the object, the purpose (为了), the opposing force
and the gender and age cues. A missing part stays empty.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from director.text import HAN, HAN_CLASS
from director.tools.llm.language.lexicon import (
    _entry,
    _env_words,
    _force_words,
    _lexicon,
    _word_roles,
    load_data,
)
from director.tools.llm.language.reading import Reading

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
        after = text[at + len(word) : at + len(word) + 1]
        tail = after if after and after in "站馆场院店厅" else ""  # '地铁站', not '地铁'
        found.append(lead + word + tail)
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
    # '被淹的医院', '被拆除的餐馆': a passive with no agent names no force, only a verb.
    return "", ""


def _verb_zh(text: str) -> str:
    """The verb right after a force noun: adverbs dropped, two characters, none after 中/里."""
    adverbs = sorted(_zh()["adverbs"], key=len, reverse=True)
    # Adverbs may stack ("一次次偷偷破坏"): drop them all, the verb is what follows.
    while any(text.startswith(a) for a in adverbs):
        text = text[len(next(a for a in adverbs if text.startswith(a))) :]
    text = text.lstrip("".join(_zh()["particles"]))
    if not text or text[0] in "中里上下内外前后间" or not HAN.match(text):
        return ""
    # A time word or a function character is not a verb ("暴雨夜把..." has none to give).
    if any(ch in _zh()["not_verb_chars"] for ch in text[:2]):
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
