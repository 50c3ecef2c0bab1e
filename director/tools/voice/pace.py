"""How long a line takes to say, estimated from its text before any voice speaks it, so the
shot list can give each line the time it needs at planning (the voices are made at assembly).

The pace is an unhurried reading voice, slower than most synthesised voices, so a line that
fits at this pace fits when any voice speaks it: English at 2.5 words a second (150 words a
minute, the usual pace of narration), Mandarin at 4.5 characters a second (about 270 a minute),
with a breath at each sentence end and a shorter one at each clause. A number is said digit by
digit in Chinese, and counted a word a digit in English ("2075" is three or four words said).
"""

from __future__ import annotations

import re

from director.text import HAN_RUN, han_count, is_chinese

WORDS_PER_S = 2.5
HAN_PER_S = 4.5
SENTENCE_PAUSE_S = 0.35
CLAUSE_PAUSE_S = 0.15

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_DIGITS = re.compile(r"\d")
_SENTENCE_END = re.compile(r"[.!?…。！？]+")
_CLAUSE_END = re.compile(r"[,;:—，；：、]")


def spoken_seconds(text: str) -> float:
    """Seconds ``text`` takes to say at the pace above, breaths between sentences included."""
    text = text.strip()
    digits = len(_DIGITS.findall(text))
    others = HAN_RUN.sub(" ", _DIGITS.sub(" ", text))
    syllables = han_count(text) + (digits if is_chinese(text) else 0)
    words = len(_WORD.findall(others)) + (0 if is_chinese(text) else digits)
    sentences = len(_SENTENCE_END.findall(text.rstrip(".!?…。！？\"'”’」』)）")))
    clauses = len(_CLAUSE_END.findall(text))
    seconds = syllables / HAN_PER_S + words / WORDS_PER_S
    return round(seconds + sentences * SENTENCE_PAUSE_S + clauses * CLAUSE_PAUSE_S, 2)
