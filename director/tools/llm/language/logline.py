"""The way into the readers: ``read_logline`` cleans a logline, turns the words written in
the other script into the reading's language through the lexicon (a longest-match scan for
Chinese runs), and hands the text to the English or the Chinese reader.
"""

from __future__ import annotations

import re
from functools import cache

from director.records import Language
from director.text import HAN_RUN
from director.tools.llm.language.chinese import _read_zh
from director.tools.llm.language.english import _read_en
from director.tools.llm.language.keeping import keep_words
from director.tools.llm.language.lexicon import _lexicon
from director.tools.llm.language.reading import Reading

_MAX_CHARS = 600


_CJK_PUNCTUATION = str.maketrans(
    {"，": ", ", "。": ". ", "；": "; ", "：": ": ", "！": "! ", "？": "? ", "、": ", "}
)


def read_logline(text: str, language: Language) -> Reading:
    """Read ``text`` as a logline; words in the other script are translated or dropped."""
    text = _strip_noise(text)[:_MAX_CHARS]
    text = _latin_to_zh(text) if language == "zh" else _cjk_to_en(text)
    reading = _read_zh(text) if language == "zh" else _read_en(text)
    keep_words(re.sub(r"\s+", " ", text).strip(), reading)
    return reading


def _strip_noise(text: str) -> str:
    text = re.sub(r"[\u2018\u2019`]", "'", text)
    text = re.sub(r"[\u2014\u2013]|\s-\s", ", ", text)
    text = re.sub(r"[^\w\s',.;:!?，。；：！？、\-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


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
