"""One home for "is this Chinese?" and for laying text out in lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from director.agent.ladder import _cjk
from director.text import NO_LINE_START, han_count, is_chinese
from director.tools.assemble.fonts import fit, pil_font, wrap
from director.tools.llm.language import detect_language

PACKAGE = Path(__file__).resolve().parents[1] / "director"


@pytest.mark.parametrize(
    ("text", "chinese"),
    [
        ("林奶奶在田野里", True),
        ("\u3400 Extension A", True),  # 㐀, CJK Unified Ideographs Extension A
        ("\uf900", True),  # 豈, a CJK Compatibility Ideograph
        ("Lin walks in the field", False),
        ("ひらがなとカタカナ", False),  # kana alone is Japanese, not Chinese
        ("한국어 문장", False),  # hangul is Korean
        ("東京で会いましょう", True),  # kanji are Han ideographs
        ("，。！？", False),  # punctuation alone says nothing
        ("", False),
    ],
)
def test_one_range_decides_what_is_chinese(text, chinese):
    assert is_chinese(text) is chinese
    assert _cjk(text) is chinese  # the ladder asks the same question the same way


def test_counting_and_language_detection_use_the_same_range():
    assert han_count("㐀豈林 and Lin") == 3
    # Extension A and compatibility ideographs count toward Chinese, as the ladder sees them.
    assert detect_language("㐀㐁㐂豈更") == "zh"
    assert detect_language("ひらがなとカタカナ") == "en"


def test_no_other_module_writes_the_han_range_by_hand():
    """A check written as a literal range drifts from the agreed one; callers use director.text."""
    pattern = re.compile(r"\\u4e00|\\u9fff|\\u3400")  # the escapes that spell the range
    found = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "text.py" and pattern.search(path.read_text(encoding="utf-8"))
    }
    assert not found, f"use director.text instead in {sorted(found)}"


def test_the_text_module_sits_on_the_ground_floor():
    tree = ast.parse((PACKAGE / "text.py").read_text(encoding="utf-8"))
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m.startswith("director")]


def test_wrap_breaks_chinese_between_characters_and_english_between_words():
    font = pil_font(20)
    zh = wrap("林奶奶蹲在田野里，伸手触摸刚冒出来的幼苗。", font, 120)
    assert len(zh) > 1 and all(font.getlength(line) <= 120 + 20 for line in zh)
    assert not any(line[0] in NO_LINE_START for line in zh)  # a comma never starts a line
    en = wrap("the old woman kneels in the field", font, 140)
    assert " ".join(en) == "the old woman kneels in the field"
    assert all(font.getlength(line) <= 140 for line in en)


def test_wrap_keeps_words_whole_unless_told_how_many_lines_it_has():
    font = pil_font(20)
    assert wrap("incomprehensibilities", font, 40) == ["incomprehensibilities"]
    cut = wrap("incomprehensibilities and more words", font, 80, max_lines=2)
    assert len(cut) == 2 and cut[-1].endswith("…")
    assert all(font.getlength(line) <= 80 for line in cut)
    assert wrap("", font, 80) == []
    assert fit("short", font, 200) == "short"
