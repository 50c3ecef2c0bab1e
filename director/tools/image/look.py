"""Colours of a storyboard frame: each environment's own palette, changed by the time of day and
the weather, then tinted toward the style bible's palette so every frame of a film shares a look.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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


def part_colours(
    colours: Mapping[str, RGB], backdrop_luma: float, ramp: list[RGB]
) -> dict[str, RGB]:
    """Colours of the drawn subjects, graded like the rest of the frame: dark on a light
    backdrop and light on a dark one, so the subject always reads (a storyboard is about who
    is where)."""
    dark_backdrop = backdrop_luma < 100
    body = (
        mix(colours["detail"], (215, 208, 196), 0.55)
        if dark_backdrop
        else scale(colours["detail"], 0.55)
    )
    skin = mix((226, 180, 146), colours["accent"], 0.2)
    if dark_backdrop:
        skin = scale(skin, 0.85)
    parts = {
        "body": body,
        "skin": skin,
        "hair": scale(colours["detail"], 0.35),
        "dark": scale(colours["detail"], 0.25),
        "metal": mix((150, 156, 164), colours["far"], 0.25),
        "glow": mix((120, 220, 255), colours["accent"], 0.3),
        "leaf": mix((76, 150, 60), colours["detail"], 0.2),
        "soil": mix((92, 66, 44), colours["ground_near"], 0.3),
        "petal": mix((236, 120, 150), colours["accent"], 0.3),
        "rim": mix(colours["accent"], (255, 255, 255), 0.4),
        "legs": scale(body, 0.75),
        "paint": mix((214, 168, 52), colours["accent"], 0.25),
    }
    return {part: tint(c, ramp, BIBLE_TINT) for part, c in parts.items()}


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
