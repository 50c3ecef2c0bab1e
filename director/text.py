"""What counts as Chinese in a text, and where Chinese text may break, in one place.

Chinese is told by its Han ideographs: CJK Unified Ideographs (U+4E00-U+9FFF), Extension A
(U+3400-U+4DBF) and the CJK Compatibility Ideographs (U+F900-U+FAFF). Rarer extensions (B and
after, outside the Basic Multilingual Plane) are left out: no logline, name or prompt is written
in them alone, and the fonts director draws with do not carry them.

Kana and hangul are not counted. director plans and writes in Chinese and English only, and each
caller asks "is this Chinese?" to choose Chinese punctuation, Chinese prompt wording or a
Chinese vocabulary; Japanese kana or Korean hangul sent down those paths would be read as
Chinese and misread. Japanese text that uses kanji does count, as the ideographs are the same.

Line breaking asks another question (may a line break between these two characters?), so it
has its own range, ``WIDE_CLASS``: besides the ideographs, it holds CJK punctuation, kana and
full-width forms, which all break between any two characters.
"""

from __future__ import annotations

import re

HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN = re.compile(f"[{HAN_CLASS}]")
HAN_RUN = re.compile(f"[{HAN_CLASS}]+")

# Characters a line may break before or after: CJK radicals, punctuation, kana and bopomofo
# (U+2E80-U+33FF), the ideographs above, and full-width forms (U+FF00-U+FFEF).
WIDE_CLASS = f"\u2e80-\u33ff{HAN_CLASS}\uff00-\uffef"
# Closing punctuation that Chinese typography never puts at the start of a line.
NO_LINE_START = frozenset("，。！？；：、）》」』”’…")


def is_chinese(text: str) -> bool:
    """Whether ``text`` holds any Han ideograph (see the module's note for the range)."""
    return HAN.search(text) is not None


def han_count(text: str) -> int:
    """How many Han ideographs ``text`` holds."""
    return len(HAN.findall(text))
