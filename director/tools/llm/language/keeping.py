"""The logline's own words, kept for the story: the protagonist as the logline names them (with
a name, and the epithet an apposition gives), what they do and want, and the turn a subordinate
clause announces ("until one night the moon writes back").

The readers pull out parts for the rules to recombine; these are cut from the logline as it is
written, so that the story quotes the filmmaker rather than guessing. Where a cut is not
certain, the longer verbatim phrase is kept: a quoted phrase is better than an invented one.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from director.text import HAN_CLASS
from director.tools.llm.language.english_grammar import (
    _first_sentence,
    base_form,
    is_plural_noun,
    third_person,
)
from director.tools.llm.language.lexicon import _word_roles, load_data
from director.tools.llm.language.reading import Reading

_GOAL_WORDS_EN = 26
_GOAL_CHARS_ZH = 40
# English: an opening adverbial of time or place, before the protagonist.
_OPENING_EN = re.compile(
    r"^(?:(?:in|on|by|around)\s+(?:the\s+year\s+)?\d{3,4}\s*,?\s+"
    r"|(?:after|before|during|when|since|once|in|on|at|long after|years after)\s[^,]{1,40},\s+)",
    re.IGNORECASE,
)
_NAMED_EN = re.compile(r"^([A-Z][\w'\-]+(?:\s+[A-Z][\w'\-]+)?)\s*,\s*((?:a|an|the)\s[^,]+?)\s*,\s*")
_APPOSITION_EN = re.compile(r"^((?:the|a|an)\s[^,]{1,48}?),\s*((?:a|an|the)\s[^,]+?),\s*")
_HELPERS_EN = re.compile(
    r"^(?:must|will|can|could|has to|have to|wants to|want to|tries to|try to|needs to|"
    r"need to|decides to|decide to|sets out to|set out to|hopes to|hope to|vows to|vow to|"
    r"plans to|plan to|longs to|long to|is determined to|are determined to|sets off to)\s+",
    re.IGNORECASE,
)
_TURN_EN = re.compile(r"\s*,?\s+\b(until|while|when|but|because|before|after|since|so that)\b\s+")
_CLAUSE_ZH = re.compile(r"[，,。；;！!？?：:]")
_TURN_ZH = ("直到", "而", "但", "可是", "却", "然而", "当", "结果", "没想到")


@cache
def _keep_data(language: str) -> dict[str, Any]:
    return load_data(f"{language}.json")["grammar"]


def keep_words(text: str, reading: Reading) -> None:
    """Fill the reading's kept fields from the logline's own words."""
    if reading.language == "zh":
        _keep_zh(text, reading)
    else:
        _keep_en(text, reading)


# --- English ---------------------------------------------------------------------------------


def _keep_en(text: str, reading: Reading) -> None:
    sentence = _first_sentence(text).strip().rstrip(".!?")
    if reading.hero.lower() in _keep_data("en")["pronouns"]:
        reading.hero = ""  # "She paints ...": a pronoun is no description
    for clause in _candidate_clauses_en(sentence):
        hero, name, epithet, rest = _split_hero_en(clause)
        if (hero and _is_someone_en(hero)) or name:
            _set_kept_en(reading, hero, name, epithet, rest)
            return
        if hero.lower() in ("she", "he", "they"):
            _set_kept_en(reading, "", "", "", rest)  # the goal is still the logline's own
            return


def _candidate_clauses_en(sentence: str) -> list[str]:
    """The sentence, then clauses after 'so', 'and' or 'but' whose subject may be the hero."""
    body = _OPENING_EN.sub("", sentence, count=1)
    later = re.split(r",\s*(?:so|and|but|then)\s+|;\s*", body)[1:]
    return [body, *(_OPENING_EN.sub("", c, count=1) for c in later)]


def _split_hero_en(clause: str) -> tuple[str, str, str, str]:
    """(hero, name, epithet, rest): the protagonist's phrase and the predicate after it."""
    named = _NAMED_EN.match(clause)
    if named and _is_name_en(named.group(1)):
        return _lower_first(named.group(2)), named.group(1), "", clause[named.end() :]
    first = clause.split(" ", 1)
    if len(first) == 2 and _is_name_en(first[0]) and _verb_like(first[1].split(" ", 1)[0]):
        return "", first[0], "", first[1]
    appos = _APPOSITION_EN.match(clause)
    if appos and _is_someone_en(appos.group(2)):
        return (
            _lower_first(appos.group(2)),
            "",
            _lower_first(appos.group(1)),
            clause[appos.end() :],
        )
    tokens = clause.split(" ")
    verb = _verb_index_en(tokens)
    if verb is None:
        return "", "", "", ""
    subject, rest = " ".join(tokens[:verb]).rstrip(","), " ".join(tokens[verb:])
    titled = _titled_name(tokens[:verb])
    if titled:  # "Detective Zhang hunts ...": the name with its title, and the trade
        return titled, subject, "", rest
    return _lower_first(subject), "", "", rest


def _titled_name(words: list[str]) -> str:
    """'Detective Zhang' -> 'a detective'; '' unless a person word leads capitalised names."""
    if len(words) < 2 or not all(w[:1].isupper() for w in words):
        return ""
    title = words[0].lower()
    if _word_roles("en").get(title, ("",))[0] != "persons":
        return ""
    return f"{'an' if title[0] in 'aeiou' else 'a'} {title}"


def _lower_first(phrase: str) -> str:
    first, _, rest = phrase.strip().partition(" ")
    if first.lower() in ("a", "an", "the", "one", "two", "three", "four", "five", "some"):
        first = first.lower()
    return f"{first} {rest}".strip()


def _is_name_en(word: str) -> bool:
    head = word.split(" ")[0]
    low = head.lower()
    g = _keep_data("en")
    return (
        head[:1].isupper()
        and low not in g["determiners"]
        and low not in g["preps"]
        and low not in g["subordinators"]
        and low not in _word_roles("en")
        and low not in g["pronouns"]
        and low not in ("after", "before", "during", "when", "once", "long", "years", "i", "we")
    )


def _verb_like(word: str) -> bool:
    low = word.lower().strip(",")
    g = _keep_data("en")
    if low in g["modals"] or base_form(low) in g["verbs"]:
        return True
    return low.endswith("s") and not low.endswith(("ss", "'s")) and low not in _word_roles("en")


def _verb_index_en(tokens: list[str]) -> int | None:
    """The predicate's first word: a known verb, or a word in -s after the subject's noun."""
    g = _keep_data("en")
    plural = _plural_start(tokens)
    after_who = relative_verb = False
    for i in range(1, min(len(tokens), 14)):
        low, prev = tokens[i].lower().strip(","), tokens[i - 1].lower().strip(",")
        if low in ("who", "whose", "that"):
            after_who = True
            continue
        if after_who:  # 'a woman who lost her voice sings': 'lost' is the relative clause's
            after_who, relative_verb = False, True
            continue
        if prev in g["determiners"] or prev in g["preps"] or prev.isdigit():
            continue
        known = low in g["modals"] or (plural and low in g["verbs"]) or low in _verbs3()
        if known or (_third_person_verb(low) and not relative_verb):
            return i
        relative_verb = False
        if plural and is_plural_noun(prev) and _bare_word(low) and not after_who:
            # 'two sisters argue': after a plural subject, its verb need not be known
            return i
    return None


def _bare_word(low: str) -> bool:
    g = _keep_data("en")
    function = set(g["preps"]) | set(g["determiners"]) | set(g["subordinators"])
    return low.isalpha() and low not in function and low not in ("who", "of", "and", "with")


@cache
def _verbs3() -> frozenset[str]:
    return frozenset(third_person(v) for v in _keep_data("en")["verbs"])


def _third_person_verb(low: str) -> bool:
    g = _keep_data("en")
    if low in _verbs3():
        return True
    role = _word_roles("en").get(low)
    if role or low in g["plural_nouns"] or not re.fullmatch(r"[a-z]+s", low):
        return False
    return not low.endswith(("ss", "us", "is", "ous", "ics"))


def _plural_start(tokens: list[str]) -> bool:
    lows = [t.lower() for t in tokens[:5]]
    if {"two", "three", "four", "five", "several", "some", "and"} & set(lows):
        return True
    return len(tokens) > 1 and is_plural_noun(tokens[1]) and tokens[0].lower() == "the"


def _is_someone_en(phrase: str) -> bool:
    """Whether a phrase names a person or an animal (a trade ending in -er counts)."""
    words = [w.lower().strip(",'") for w in phrase.split()]
    roles = _word_roles("en")
    if any(roles.get(w, ("",))[0] == "persons" for w in words):
        return True
    if any(w in _keep_data("en")["animals"] for w in words):
        return True
    trade = re.compile(r"[a-z]{3,}(?:er|or|ist|ian|ess|man|woman|smith|wright)s?$")
    return any(trade.fullmatch(w) and w not in _keep_data("en")["not_trades"] for w in words)


def _set_kept_en(reading: Reading, hero: str, name: str, epithet: str, rest: str) -> None:
    rest = re.sub(r"^(?:he|she|they|it)\s+", "", rest.strip(" ,"), flags=re.IGNORECASE)
    body, turn = _cut_turn_en(rest)
    goal = _base_predicate(body, _plural_start(hero.split()))
    words = goal.split()
    if len(words) > _GOAL_WORDS_EN:
        goal = " ".join(_trim_tail(words[:_GOAL_WORDS_EN]))
    reading.kept_hero, reading.kept_name, reading.epithet = hero, name, epithet
    reading.goal = goal
    reading.doing = _doing_en(goal)
    reading.aim = _aim_en(goal, reading.doing)
    reading.turn = turn
    reading.animal = _is_animal(hero, "en")
    _cues_en(reading, hero)
    _tidy_object_en(reading)
    _object_not_force(reading)


def _cut_turn_en(rest: str) -> tuple[str, str]:
    m = _TURN_EN.search(rest)
    if not m or m.start() < 8:
        return rest, ""
    turn = rest[m.end() :].strip(" ,")
    # Only 'until', 'when' and 'but' announce a turn; 'while' or 'because' set a scene.
    keep = m.group(1) in ("until", "when", "but") and len(turn.split()) >= 3
    return rest[: m.start()].strip(" ,"), turn if keep else ""


def _base_predicate(body: str, plural: bool) -> str:
    """'crosses a city to play' -> 'cross a city to play'; 'must find' -> 'find'."""
    body = _HELPERS_EN.sub("", body.strip(), count=1)
    first, _, rest = body.partition(" ")
    if not plural:
        first = (
            base_form(first)
            if _third_person_verb(first.lower())
            or first.lower()
            in (
                "has",
                "is",
                "does",
                "goes",
            )
            else first
        )
    return f"{first} {rest}".strip()


def _trim_tail(words: list[str]) -> list[str]:
    g = _keep_data("en")
    while words and (words[-1].lower() in g["preps"] or words[-1].lower() in g["determiners"]):
        words = words[:-1]
    return words


def _doing_en(goal: str) -> str:
    """What the protagonist is seen doing: the goal's first verb phrase, in the third person."""
    words = goal.split()
    if not words:
        return ""
    cut = next((i for i in range(2, len(words) - 1) if _purpose_to(words, i)), len(words))
    head = words[:cut][:12]
    return " ".join(_trim_tail([third_person(head[0].lower()), *head[1:]]))


def _aim_en(goal: str, doing: str) -> str:
    """'cross a city to play one final concert' -> 'plays one final concert'."""
    words = goal.split()
    done = len(doing.split())
    if done + 2 > len(words) or words[done] != "to":
        return doing
    return " ".join([third_person(words[done + 1].lower()), *words[done + 2 :]])


def _purpose_to(words: list[str], i: int) -> bool:
    """'to' that opens a purpose ("to play"), not a direction ("to the moon")."""
    if words[i] != "to" or words[i - 1].lower() in (
        "how",
        "what",
        "where",
        "when",
        "why",
        "whether",
    ):
        return False
    after = words[i + 1].lower()
    g = _keep_data("en")
    return after in g["verbs"] or not (
        after in g["determiners"] or after in g["pronouns"] or words[i + 1][:1].isupper()
    )


def _tidy_object_en(reading: Reading) -> None:
    """Drop a complement the object reader took for a noun ("the lamp lit", "the robot how");
    a name is not an object: the goal's first noun phrase is."""
    if reading.kept_name and reading.kept_name.lower() in reading.obj.lower() or not reading.obj:
        found = _object_from_goal_en(reading.goal)
        reading.obj, reading.obj_head = found, found.split()[-1] if found else ""
    words = reading.obj.split()
    while len(words) > 2 and words[-1].lower() in _keep_data("en")["not_nouns"]:
        words = words[:-1]
    if words and words != reading.obj.split():
        reading.obj, reading.obj_head = " ".join(words), words[-1]


def _object_from_goal_en(goal: str) -> str:
    """'bake bread every dawn' -> 'the bread'; 'row out into a storm' -> 'the storm'."""
    g = _keep_data("en")
    words = goal.split()[1:]
    while words and (words[0].lower() in g["preps"] or words[0].lower() in g["particles"]):
        words = words[1:]
    phrase: list[str] = []
    for word in words[:5]:
        low = word.lower()
        stop = low in g["preps"] or low in g["subordinators"] or low in ("to", "that", "who")
        if stop or (phrase and low in g["determiners"]):
            break
        phrase.append(word)
    if not phrase or phrase[-1].lower() in g["determiners"]:
        return ""
    if phrase[0].lower() in g["determiners"]:
        phrase = phrase[1:]
    return " ".join(["the", *phrase]) if phrase else ""


def _cues_en(reading: Reading, hero: str) -> None:
    words = [w.lower().strip(",") for w in hero.split()]
    roles = _word_roles("en")
    for w in words:
        entry = roles.get(w, ("", {}))
        if entry[0] == "persons" and entry[1].get("gender"):
            reading.gender = entry[1]["gender"]
        if entry[0] == "persons" and entry[1].get("age") and not reading.age:
            reading.age = entry[1]["age"]
    ages = _keep_data("en")["age_words"]
    found = next((age for age, cues in ages.items() if any(w in cues for w in words)), "")
    if found:
        reading.age = found
    if reading.animal:
        reading.age = "animal"


def _is_animal(hero: str, language: str) -> bool:
    animals = _keep_data(language)["animals"]
    if language == "zh":
        people = [w for w, (g, _) in _word_roles("zh").items() if g == "persons" and w in hero]
        return not people and any(a in hero for a in animals)
    words = [w.lower().strip(",") for w in hero.split()]
    people = [w for w in words if _word_roles("en").get(w, ("",))[0] == "persons"]
    return not people and any(w in animals or w.rstrip("s") in animals for w in words)


# --- Chinese ---------------------------------------------------------------------------------


def _keep_zh(text: str, reading: Reading) -> None:
    clauses = [c.strip() for c in _CLAUSE_ZH.split(text) if c.strip()]
    clauses = _drop_time_zh(clauses)
    if not clauses:
        return
    hero, name, epithet, rest = _split_hero_zh(clauses)
    if not (hero or name):
        _keep_owner_zh(clauses, reading)
        return
    companion = re.match(
        rf"^[和与跟](?:她|他|它)?的?[{HAN_CLASS}]{{1,4}}?(?=[在把从向去到正])", rest
    )
    if companion:
        hero, rest = hero + companion.group(0), rest[companion.end() :]
    body, turn = _cut_turn_zh(rest)
    body = re.sub(r"^[他她它]们?", "", body) or _deed_of_hero_zh(hero)
    reading.kept_hero, reading.kept_name, reading.epithet = hero, name, epithet
    reading.doing = body[:_GOAL_CHARS_ZH].rstrip("，")
    reading.goal = _goal_zh(reading.doing)
    reading.aim = reading.doing.rsplit("，", 1)[-1]
    reading.turn = turn
    reading.animal = _is_animal(hero, "zh")
    _cues_zh(reading, hero, text)
    obj = _object_zh(reading.goal) or _noun_of_zh(reading.obj)
    reading.obj = reading.obj_head = obj
    _object_not_force(reading)


def _keep_owner_zh(clauses: list[str], reading: Reading) -> None:
    """'爷爷的收音机突然收到了来自1975年的信号': the person owns what the logline is about; the
    film follows them keeping it, and the logline's own sentence is the turn."""
    end = _person_end_zh(clauses[0])
    if not end or not clauses[0][end:].startswith("的"):
        return
    noun = re.match(
        r"的([^回送到去来给在把被的了着过和与上下里中突忽又才就也都正]{1,3})", clauses[0][end:]
    )
    if not noun:
        return
    reading.kept_hero = clauses[0][:end]
    reading.obj = reading.obj_head = noun.group(1)
    template = load_data("zh.json")["story"]["keep_owned"]
    reading.goal = template["goal"].replace("{obj}", noun.group(1))
    reading.doing = template["doing"].replace("{obj}", noun.group(1))
    reading.turn = "，".join(clauses)[:_GOAL_CHARS_ZH]
    _cues_zh(reading, reading.kept_hero, "".join(clauses))


def _drop_time_zh(clauses: list[str]) -> list[str]:
    """Drop an opening time clause ("2075年", "战争结束后")."""
    first = re.sub(r"^\d{2,4}\s*年", "", clauses[0]).strip()
    timely = re.fullmatch(rf"[{HAN_CLASS}]{{1,8}}[后时前里]", first) and not _person_end_zh(first)
    if not first or timely:
        return clauses[1:]
    return [first, *clauses[1:]]


def _split_hero_zh(clauses: list[str]) -> tuple[str, str, str, str]:
    named = re.match(rf"^([{HAN_CLASS}]{{2,3}})是(.+)$", clauses[0])
    if named and _person_end_zh(named.group(2)):
        return named.group(2), named.group(1), "", "，".join(clauses[1:])
    only = [c for c in clauses if _person_end_zh(c) == len(c)]
    lead = 0
    while lead < len(clauses) and clauses[lead] in only:
        lead += 1
    if lead:
        epithet = "，".join(clauses[: lead - 1])
        return clauses[lead - 1], "", epithet, "，".join(clauses[lead:])
    end = _person_end_zh(clauses[0])
    if not end or clauses[0][end:].startswith("的"):
        return "", "", "", ""  # "爷爷的收音机...": the person owns the subject, is not it
    return clauses[0][:end], "", "", "，".join([clauses[0][end:], *clauses[1:]]).strip("，")


def _person_end_zh(clause: str) -> int:
    """Where the protagonist's noun ends in a clause (0 when there is none): the earliest
    person, animal or trade word, the longest of those that start there."""
    words = [w for w, (g, _) in _word_roles("zh").items() if g == "persons"]
    words += _keep_data("zh")["animals"] + _keep_data("zh")["trades"]
    hits = [(clause.find(w), -len(w)) for w in words if 0 <= clause.find(w) <= 14]
    if hits:
        at, minus = min(hits)
        return at - minus
    m = re.match(rf"^[{HAN_CLASS}]{{0,8}}?(?:师|员|手|者|匠|夫|农|工)(?!的)", clause)
    return m.end() if m else 0


def _deed_of_hero_zh(hero: str) -> str:
    """'一个每晚给月亮写信的女孩' says what she does before its last 的: '每晚给月亮写信'."""
    if "的" not in hero:
        return ""
    modifier = hero.rsplit("的", 1)[0]
    modifier = re.sub(r"^[一两三几这那每]?[个位名只条群对]", "", modifier)
    verbs = _keep_data("zh")["verb_chars"]
    return modifier if any(ch in verbs for ch in modifier) or "给" in modifier else ""


def _cut_turn_zh(rest: str) -> tuple[str, str]:
    parts = rest.split("，")
    for i, part in enumerate(parts):
        # At the start of the predicate too: '一个…的女孩，直到有一天…' has no deed before it.
        if part.startswith(_TURN_ZH) and (i or len(part) > 4):
            turn = "，".join(parts[i:])
            lead = next(t for t in _TURN_ZH if turn.startswith(t))
            # '直到' and '但' announce a turn; '而' and '当' set a scene beside it.
            keep = lead not in ("而", "当") and len(turn) > len(lead) + 2
            return "，".join(parts[:i]), turn[len(lead) :] if keep else ""
    return rest, ""


def _goal_zh(doing: str) -> str:
    """The predicate as a want: the aspect particle after its first verb dropped."""
    return re.sub(rf"^([{HAN_CLASS}]{{1,3}}?)[着了](?=[{HAN_CLASS}])", r"\1", doing, count=1)


def _object_zh(goal: str) -> str:
    """The thing the goal is about: the noun after its last measure word ("最后一场音乐会"),
    else the last known thing it names."""
    measure = r"[一两三几这那每][个座片间栋艘只条把棵株块台部辆本封张颗朵首位名盏群对所家份顿场]"
    found = ""
    for m in re.finditer(measure + rf"([{HAN_CLASS}]{{1,12}})", goal):
        phrase = m.group(1).rsplit("的", 1)[-1]
        noun = re.match(r"[^回送到去来给在把被的了着过和与上下里中，]{1,3}", phrase)
        found = noun.group(0) if noun else found
    if found:
        return found
    things = [w for w, (g, _) in _word_roles("zh").items() if g in ("things", "places")]
    known = [(goal.rfind(w), len(w), w) for w in things if w in goal and w != "最后"]
    return max(known)[2] if known else ""


def _noun_of_zh(phrase: str) -> str:
    """The noun of a verb-object phrase the reader took for the object ("送药品" -> "药品");
    nothing when it ends on a verb ("屋顶上种")."""
    verbs = _keep_data("zh")["verb_chars"]
    if phrase and phrase[-1] in verbs:
        return ""
    return phrase.lstrip(verbs) if len(phrase.lstrip(verbs)) >= 1 else ""


def _object_not_force(reading: Reading) -> None:
    """What the protagonist acts on is not what opposes them: 'teaches a lonely robot' makes
    the robot the object, and the rules choose an opposing force of their own."""
    head = reading.force_head.lower()
    goal = reading.goal.lower()
    if head and head in reading.obj_head.lower() and head in goal:
        reading.force = reading.force_head = reading.force_verb = reading.force_clause = ""
        reading.force_category, reading.force_plural = "", False
    verb = reading.force_verb.lower()
    joint = "" if reading.language == "zh" else " "
    if head and verb and f"{head}{joint}{verb}" in goal:
        # '为机器人演奏音乐会': the verb after the force's name is the protagonist's own
        reading.force_verb = ""
        if reading.force_clause.lower() in goal:
            reading.force_clause = ""


def _cues_zh(reading: Reading, hero: str, text: str) -> None:
    entries = [e for w, (g, e) in _word_roles("zh").items() if g == "persons" and w in hero]
    gender = next((e["gender"] for e in entries if e.get("gender")), "")
    if not gender:
        gender = "f" if "女" in hero else "m" if "男" in hero else ""
    reading.gender = gender or reading.gender
    cue = next((a for a, c in _keep_data("zh")["age_words"].items() if re.search(c, hero)), "")
    reading.age = cue or next((e["age"] for e in entries if e.get("age")), "") or reading.age
    if reading.animal:
        reading.age = "animal"
