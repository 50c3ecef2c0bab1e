"""The style bible and the cards from the model's answer: its palette as hex colours, director's
standing negatives ahead of the model's, the frame's aspect ratio, and the offline planner's
title and end card lengths."""

from __future__ import annotations

import re

from director.records import BeatSheet, Cards, Language, Story, StyleBible
from director.tools.llm.answers.checks import AnswerError, _cs, _said, check_language
from director.tools.llm.answers.schema import BibleAnswer
from director.tools.llm.language import load_data
from director.tools.llm.offline.bible import _card_lengths, aspect_ratio

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def bible_from(
    answer: BibleAnswer, story: Story, sheet: BeatSheet, width: int, height: int
) -> tuple[StyleBible, Cards]:
    colours = [c.strip().lower() for c in answer.palette if _HEX.fullmatch(c.strip())]
    if len(colours) < 3:
        raise AnswerError('palette: give five colours as "#rrggbb" hex codes.')
    suffix = _said(answer.suffix, "suffix")
    check_language([suffix], story.language, "The style suffix")
    text = load_data(f"{story.language}.json")
    bible = StyleBible(
        name=_said(answer.name, "name"),
        suffix=suffix,
        negative=_negative(text["style"]["negative"], answer.negative, story.language),
        palette=sorted(dict.fromkeys(colours[:5]), key=_luminance),
        aspect_ratio=aspect_ratio(width, height),
        width=width,
        height=height,
        grain=round(min(1.0, max(0.0, answer.grain)), 2),
    )
    title_cs, end_cs = _card_lengths([_cs(b.duration_s) for b in sheet.beats])
    cards = Cards(
        title=story.title,
        title_s=title_cs / 100,
        end=text["cards"]["end"],
        end_s=end_cs / 100,
        label=text["cards"]["label"],
    )
    return bible, cards


def _negative(base: str, written: str, language: Language) -> str:
    """Director's standing negatives first (text, watermarks, broken hands), then the model's."""
    sep = "，" if language == "zh" else ", "
    terms = [t.strip() for t in re.split(r"[,，;；]", f"{base},{written}") if t.strip()]
    return sep.join(dict.fromkeys(terms))


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
