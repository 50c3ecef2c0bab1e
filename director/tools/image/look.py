"""Colours of a storyboard frame: each environment's own palette, changed by the time of day and
the weather, then tinted toward the style bible's palette so every frame of a film shares a look.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from director.errors import InputError

RGB = tuple[int, int, int]

# Roles: sky_top/sky_low (for interiors: the wall), far (distant shapes), ground_far/ground_near,
# accent (lights, windows, flowers, snow caps) and detail (trunks, frames, dark structure).
KIND_COLOURS: dict[str, dict[str, str]] = {
    "field": dict(
        sky_top="#5b8fc7",
        sky_low="#cfe1ea",
        far="#6f8f5e",
        ground_far="#a3b665",
        ground_near="#62803a",
        accent="#e0c050",
        detail="#3f5a26",
    ),
    "city": dict(
        sky_top="#6f8fb0",
        sky_low="#d4d9dd",
        far="#6f7b88",
        ground_far="#77797d",
        ground_near="#45474c",
        accent="#ecc56c",
        detail="#3e4652",
    ),
    "desert": dict(
        sky_top="#6aa0d4",
        sky_low="#eedfc0",
        far="#d2a064",
        ground_far="#e2bb80",
        ground_near="#b98346",
        accent="#fff0c8",
        detail="#93602f",
    ),
    "ocean": dict(
        sky_top="#4f86c4",
        sky_low="#d5e7f0",
        far="#3a6f8c",
        ground_far="#3f86ab",
        ground_near="#1f4e6e",
        accent="#e6f2f5",
        detail="#2b5a48",
    ),
    "forest": dict(
        sky_top="#6b9bbf",
        sky_low="#d0dfcc",
        far="#55795a",
        ground_far="#4f6d36",
        ground_near="#30461f",
        accent="#c8d98a",
        detail="#26361f",
    ),
    "garden": dict(
        sky_top="#79a8d4",
        sky_low="#e0ecdc",
        far="#7fa366",
        ground_far="#85643f",
        ground_near="#5a3f28",
        accent="#e2607f",
        detail="#4c8a38",
    ),
    "interior": dict(
        sky_top="#9d968b",
        sky_low="#c7bba5",
        far="#857a6b",
        ground_far="#8b6b4e",
        ground_near="#5c4431",
        accent="#f2d89c",
        detail="#4a3c30",
    ),
    "space": dict(
        sky_top="#0e1538",
        sky_low="#28335f",
        far="#9a5a48",
        ground_far="#77727a",
        ground_near="#4a4650",
        accent="#f0e6d2",
        detail="#c98a5a",
    ),
    "ruins": dict(
        sky_top="#8a9399",
        sky_low="#d4c9b5",
        far="#8a8276",
        ground_far="#8c7f6c",
        ground_near="#5b5246",
        accent="#c9b48f",
        detail="#4b443b",
    ),
    "mountain": dict(
        sky_top="#5d8cc0",
        sky_low="#d8e4ec",
        far="#7d8ca5",
        ground_far="#6f7d5a",
        ground_near="#4c5a3a",
        accent="#f1f4f6",
        detail="#56607a",
    ),
    "snow": dict(
        sky_top="#9cb3ca",
        sky_low="#e3e9ee",
        far="#b3c2d0",
        ground_far="#dfe5eb",
        ground_near="#c6d0da",
        accent="#f7f9fb",
        detail="#34434f",
    ),
}

# How much a colour moves toward the bible's palette: enough that a film holds one look, little
# enough that a desert still reads as a desert and an ocean as an ocean.
BIBLE_TINT = 0.55

_NIGHT_BLUE = (22, 30, 64)
_HAZE = (196, 200, 204)


def hex_rgb(value: str) -> RGB:
    text = value.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(ch * 2 for ch in text)
    try:
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    except ValueError as exc:
        raise InputError(
            f"Palette colour {value!r} is not a hex colour.",
            "Write palette colours as #rrggbb, darkest to lightest.",
        ) from exc


def luma(c: Iterable[float]) -> float:
    r, g, b = c
    return 0.299 * r + 0.587 * g + 0.114 * b


def mix(a: Iterable[float], b: Iterable[float], t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def scale(c: Iterable[float], k: float) -> RGB:
    return tuple(int(min(255, max(0, round(x * k)))) for x in c)  # type: ignore[return-value]


def palette_ramp(palette: list[str]) -> list[RGB]:
    return [hex_rgb(c) for c in palette] or [(0, 0, 0), (255, 255, 255)]


def frame_colours(kind: str, modifiers: Iterable[str], ramp: list[RGB]) -> dict[str, RGB]:
    """Every colour role of the frame, after time of day, weather and the bible's tint."""
    colours = {role: hex_rgb(v) for role, v in KIND_COLOURS[kind].items()}
    for modifier in modifiers:
        colours = MODIFIERS[modifier](colours, kind)
    return {role: tint(c, ramp, BIBLE_TINT) for role, c in colours.items()}


def tint(colour: RGB, ramp: list[RGB], amount: float) -> RGB:
    """Move a colour's hue toward the palette colour of the same brightness, keeping its
    brightness, so night stays dark and snow stays light under any palette."""
    target = ramp_at(ramp, luma(colour))
    k = (luma(colour) + 1.0) / (luma(target) + 1.0)
    return mix(colour, scale(target, k), amount)


def ramp_at(ramp: list[RGB], y: float) -> RGB:
    """The palette colour at brightness ``y``, interpolated along the darkest-to-lightest ramp."""
    lumas = [luma(c) for c in ramp]
    if y <= lumas[0]:
        return ramp[0]
    for i in range(1, len(ramp)):
        if y <= lumas[i]:
            t = (y - lumas[i - 1]) / max(lumas[i] - lumas[i - 1], 1e-6)
            return mix(ramp[i - 1], ramp[i], t)
    return ramp[-1]


# --- figures: a character's look is its own, the same in every frame ----------------------------

# Named clothes are muted (most of the way to a grey of the same brightness) and every figure
# colour is moved half way toward the film's palette, the same in every frame: a brown coat stays
# brown and a red one red, so the lead is recognisable from shot to shot, while a close-up the
# coat fills still belongs to the film. Over twelve offline plans, the style-palette overlap of
# character shots with the first shot is at least 0.54 (0.51 when figures took the scenery's
# colours and changed with every shot).
FIGURE_TINT = 0.5
FIGURE_MUTE = 0.7
# Light on a figure: night, dusk and rain dim it a little; its hues never change.
FIGURE_LIGHT = {"night": 0.8, "dusk": 0.88, "rain": 0.92, "dawn": 0.96}

# Colour words, English and Chinese, longest first when matched. "dark" alone is dark hair or
# clothes; "dark blue" wins over it.
COLOUR_WORDS: dict[str, RGB] = {
    "navy": (34, 46, 82), "藏青": (34, 46, 82), "dark blue": (36, 54, 98), "深蓝": (36, 54, 98),
    "light blue": (130, 170, 210), "浅蓝": (130, 170, 210), "blue": (52, 86, 150),
    "蓝": (52, 86, 150), "teal": (36, 118, 120), "青": (36, 118, 120),
    "black": (30, 30, 34), "黑": (30, 30, 34), "charcoal": (56, 58, 62),
    "dark grey": (74, 76, 80), "dark gray": (74, 76, 80), "深灰": (74, 76, 80),
    "grey": (126, 128, 132), "gray": (126, 128, 132), "灰白": (176, 176, 172),
    "灰": (126, 128, 132), "silver": (184, 188, 194), "银": (184, 188, 194),
    "steel": (150, 156, 164), "钢": (150, 156, 164), "white": (226, 224, 218),
    "白": (226, 224, 218), "ceramic": (222, 216, 204), "陶瓷": (222, 216, 204),
    "cream": (232, 220, 190), "米": (232, 220, 190), "beige": (200, 182, 150),
    "khaki": (170, 152, 104), "卡其": (170, 152, 104), "tan": (184, 146, 100),
    "brown": (106, 72, 46), "棕": (106, 72, 46), "褐": (106, 72, 46), "咖啡": (106, 72, 46),
    "dark brown": (70, 48, 34), "深棕": (70, 48, 34), "chestnut": (118, 64, 40),
    "栗": (118, 64, 40), "auburn": (138, 62, 36), "红棕": (138, 62, 36), "ginger": (184, 96, 48),
    "copper": (176, 102, 62), "铜": (176, 102, 62), "rust": (150, 74, 40), "锈": (150, 74, 40),
    "red": (168, 44, 40), "红": (168, 44, 40), "maroon": (108, 32, 40),
    "burgundy": (108, 32, 40), "酒红": (108, 32, 40), "pink": (220, 140, 160),
    "粉": (220, 140, 160), "orange": (220, 118, 40), "橙": (220, 118, 40), "橘": (220, 118, 40),
    "mustard": (198, 158, 44), "芥末黄": (198, 158, 44), "yellow": (226, 194, 60),
    "黄": (226, 194, 60), "gold": (212, 172, 72), "golden": (212, 172, 72), "金": (212, 172, 72),
    "blond": (214, 182, 120), "blonde": (214, 182, 120), "brass": (180, 150, 80),
    "olive": (104, 108, 56), "橄榄": (104, 108, 56), "green": (60, 118, 68),
    "绿": (60, 118, 68), "purple": (102, 62, 128), "紫": (102, 62, 128),
    "dark": (44, 38, 36), "深色": (44, 38, 36),
}  # fmt: skip
# Which clause of an identity block describes what: the words that mark it.
HAIR_WORDS = ("hair", "braid", "beard", "bald", "ponytail", "bun", "发", "胡", "辫")
CLOTHES_WORDS = (
    "wearing", "coat", "jacket", "vest", "sweater", "jumper", "raincoat", "parka", "suit",
    "shirt", "dress", "cloak", "robe", "uniform", "overalls", "trousers", "hoodie", "duster",
    "穿", "衣", "外套", "马甲", "衫", "裙", "袍", "制服", "工装",
)  # fmt: skip
BODY_WORDS = (
    "body", "plates", "plating", "shell", "casing", "chassis", "limbs", "机身", "外壳", "四肢",
)  # fmt: skip
PALE_WORDS = ("pale", "freckle", "fair-skinned", "苍白", "雀斑", "白皙")
TANNED_WORDS = ("tanned", "sunburnt", "sunburned", "weathered", "dark-skinned", "晒黑", "黝黑")
# Colours a description does not name, chosen by the character's name: clothes in one of the
# film's own colours (a place along its palette, darkest 0 to lightest 1), natural hair and skin.
SHADES = (0.1, 0.46, 0.58)
HAIR_COLOURS: tuple[RGB, ...] = ((30, 28, 30), (70, 48, 34), (118, 64, 40), (160, 150, 140))
SKIN_TONES: tuple[RGB, ...] = ((236, 196, 164), (218, 170, 132), (184, 134, 96), (142, 98, 68))
STEEL = (150, 156, 164)
EYES = (24, 22, 24)


@dataclass(frozen=True)
class Look:
    """How one figure is coloured: a function of who it is (its name and its description),
    never of the shot, so the same character is drawn the same in every frame."""

    coat: RGB | None  # None: the film's own colour at ``shade`` along its palette
    shade: float
    skin: RGB
    hair: RGB
    metal: RGB


def look_of(name: str, description: str, place: int = 0) -> Look:
    """A character's look: the colours its description names (hair in the hair clause, clothes in
    the clothing clause, a robot's body in the body clause), the rest chosen by its name (for
    someone unnamed: by the description and ``place``, which tells a crowd apart)."""
    who = name.strip().lower() or f"{description.strip()}#{place}"
    key = hashlib.sha256(who.encode()).digest()
    clauses = [c for c in re.split(r"[,，;；、。.]", description.lower()) if c.strip()]
    return Look(
        coat=_named_colour(clauses, CLOTHES_WORDS),
        shade=SHADES[key[0] % len(SHADES)],
        skin=_skin(description.lower(), key[1]),
        hair=_named_colour(clauses, HAIR_WORDS) or HAIR_COLOURS[key[2] % len(HAIR_COLOURS)],
        metal=_named_colour(clauses, BODY_WORDS) or STEEL,
    )


def _named_colour(clauses: list[str], marks: tuple[str, ...]) -> RGB | None:
    """The first colour word in the first clause that holds one of ``marks``."""
    for clause in clauses:
        if any(m in clause for m in marks):
            found = _colour_word(clause)
            if found is not None:
                return found
    return None


def _colour_word(text: str) -> RGB | None:
    hits = [
        (m.start(), -len(word), colour)
        for word, colour in COLOUR_WORDS.items()
        if (m := _colour_match(text, word))
    ]
    return min(hits)[2] if hits else None


def _colour_match(text: str, word: str) -> re.Match[str] | None:
    if word.isascii():
        return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text)
    return re.search(re.escape(word), text)


def _skin(description: str, pick: int) -> RGB:
    base = SKIN_TONES[pick % len(SKIN_TONES)]
    if any(w in description for w in PALE_WORDS):
        return mix(base, SKIN_TONES[0], 0.6)
    if any(w in description for w in TANNED_WORDS):
        return mix(base, SKIN_TONES[2], 0.5)
    return base


def _mute(colour: RGB) -> RGB:
    y = luma(colour)
    return mix(colour, (y, y, y), FIGURE_MUTE)


def figure_light(modifiers: Iterable[str]) -> float:
    """How much the frame's light dims a figure (1.0 in daylight)."""
    k = 1.0
    for modifier in modifiers:
        k *= FIGURE_LIGHT.get(modifier, 1.0)
    return k


def ramp_along(ramp: list[RGB], place: float) -> RGB:
    """The palette colour ``place`` of the way from its darkest colour to its lightest."""
    at = min(max(place, 0.0), 1.0) * (len(ramp) - 1)
    i = min(int(at), len(ramp) - 2) if len(ramp) > 1 else 0
    return mix(ramp[i], ramp[min(i + 1, len(ramp) - 1)], at - i)


def part_colours(
    colours: Mapping[str, RGB], look: Look, light: float, ramp: list[RGB]
) -> dict[str, RGB]:
    """Colours of a drawn figure: its own look, dimmed by the frame's light and nudged toward the
    film's palette alike in every frame; props and rims take the frame's colours."""
    # Named clothes are muted to sit in the film; clothes in the film's own colours already do.
    coat = _mute(look.coat) if look.coat else ramp_along(ramp, look.shade)
    own = {
        "body": coat,
        "legs": scale(coat, 0.72),
        "skin": look.skin,
        "hair": look.hair,
        "metal": look.metal,
        "dark": EYES,
        "glow": (120, 220, 255),
    }
    props = {
        "leaf": mix((76, 150, 60), colours["detail"], 0.2),
        "soil": mix((92, 66, 44), colours["ground_near"], 0.3),
        "petal": mix((236, 120, 150), colours["accent"], 0.3),
        "paint": mix((214, 168, 52), colours["accent"], 0.25),
        "rim": mix(colours["accent"], (255, 255, 255), 0.4),
    }
    figure = {part: scale(tint(c, ramp, FIGURE_TINT), light) for part, c in own.items()}
    return figure | {part: tint(c, ramp, BIBLE_TINT) for part, c in props.items()}


def _night(c: dict[str, RGB], kind: str) -> dict[str, RGB]:
    out = {role: mix(scale(v, 0.3), _NIGHT_BLUE, 0.35) for role, v in c.items()}
    out["accent"] = (250, 214, 130) if kind in ("city", "interior") else scale(c["accent"], 0.9)
    return out


def _dawn(c: dict[str, RGB], kind: str) -> dict[str, RGB]:
    out = {role: mix(v, (236, 176, 168), 0.22) for role, v in c.items()}
    out["sky_top"] = mix(c["sky_top"], (150, 160, 205), 0.5)
    out["sky_low"] = mix(c["sky_low"], (250, 196, 160), 0.6)
    return out


def _dusk(c: dict[str, RGB], kind: str) -> dict[str, RGB]:
    out = {role: scale(mix(v, (230, 130, 70), 0.28), 0.82) for role, v in c.items()}
    out["sky_top"] = mix(c["sky_top"], (96, 70, 130), 0.65)
    out["sky_low"] = mix(c["sky_low"], (246, 150, 80), 0.7)
    out["accent"] = (255, 190, 110)
    return out


def _rain(c: dict[str, RGB], kind: str) -> dict[str, RGB]:
    def grey(v: RGB) -> RGB:
        y = luma(v)
        return scale(mix(v, (y, y, y), 0.45), 0.82)

    return {role: grey(v) if role != "accent" else v for role, v in c.items()}


def _fog(c: dict[str, RGB], kind: str) -> dict[str, RGB]:
    haze = haze_colour(c)
    return {role: mix(v, haze, 0.3) for role, v in c.items()}


def haze_colour(c: Mapping[str, RGB]) -> RGB:
    """Fog takes the light of its own sky: pale by day, dim blue at night."""
    return mix(c["sky_low"], _HAZE, 0.5 if luma(c["sky_low"]) > 90 else 0.15)


MODIFIERS = {"night": _night, "dawn": _dawn, "dusk": _dusk, "rain": _rain, "fog": _fog}
