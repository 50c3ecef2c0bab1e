"""The style bible and the cards: the style suffix, palette and grain drawn for the story's
opposing force, the frame's aspect ratio, and title and end card lengths that leave the first
and last beats room for a shot."""

from __future__ import annotations

import math
import random

from director.records import BeatSheet, Cards, Story, StyleBible
from director.tools.llm.language import load_data
from director.tools.llm.offline.beats import _card_cs
from director.tools.llm.offline.common import CARD_MAX_CS, CARD_MIN_CS, MIN_SHOT_CS, fill
from director.tools.llm.offline.kit import _force_data, _Kit


def _style_bible(
    kit: _Kit, story: Story, width: int, height: int, rng: random.Random
) -> StyleBible:
    style = kit.text["style"]
    palettes = load_data("palettes.json")["palettes"]
    palette = palettes[rng.choice(_force_data(kit)["palettes"])]
    grain = round(rng.uniform(0.15, 0.5), 2)
    grain_word = style["grain"]["low" if grain < 0.25 else "mid" if grain < 0.4 else "high"]
    suffix = fill(
        style["template"],
        {
            "medium": rng.choice(style["medium"]),
            "palette": palette["words"][kit.language],
            "lighting": rng.choice(style["lighting"]),
            "lens": rng.choice(style["lens"]),
            "grain": grain_word,
        },
    )
    return StyleBible(
        name=fill(
            style["bible_name"],
            {"title": story.title, "palette_name": palette["name"][kit.language]},
        ),
        suffix=suffix,
        negative=style["negative"],
        palette=sorted(palette["colors"], key=_luminance),
        aspect_ratio=aspect_ratio(width, height),
        width=width,
        height=height,
        grain=grain,
    )


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def aspect_ratio(width: int, height: int) -> str:
    """'16:9' for 1920x1080; a decimal ratio ('2.39:1') when the reduced terms are unwieldy."""
    d = math.gcd(width, height)
    w, h = width // d, height // d
    return f"{w}:{h}" if max(w, h) <= 32 else f"{width / height:.2f}:1"


def _cards(kit: _Kit, story: Story, sheet: BeatSheet) -> Cards:
    durations = [_cs(b.duration_s) for b in sheet.beats]
    title_cs, end_cs = _card_lengths(durations)
    cards = kit.text["cards"]
    return Cards(
        title=story.title,
        title_s=title_cs / 100,
        end=cards["end"],
        end_s=end_cs / 100,
        label=cards["label"],
    )


def _card_lengths(durations: list[int]) -> tuple[int, int]:
    """Title and end card lengths that leave the first and last beats 3 s of shots."""
    card = _card_cs(sum(durations))
    if len(durations) == 1:
        room = (durations[0] - MIN_SHOT_CS) // 2
        return _clamp_card(min(card, room)), _clamp_card(min(card, room))
    title = min(card, durations[0] - MIN_SHOT_CS)
    end = min(card, durations[-1] - MIN_SHOT_CS)
    return _clamp_card(title), _clamp_card(end)


def _clamp_card(cs: int) -> int:
    return max(CARD_MIN_CS, min(CARD_MAX_CS, cs))


def _cs(seconds: float) -> int:
    return round(seconds * 100)
