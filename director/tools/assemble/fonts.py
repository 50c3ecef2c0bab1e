"""Find a font that draws both Latin and Chinese text, on any machine, and lay text out in it.

Order: an explicit path (``--font`` / ``DIRECTOR_FONT``), the Noto Sans CJK collection that
ships as a dependency (``noto-cjk-sans-otc``), then well-known system CJK fonts. Titles,
subtitles, labels and storyboard captions all use the same font so Chinese never renders as
boxes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from director.errors import ToolMissing
from director.text import NO_LINE_START, WIDE_CLASS

# Face index of Simplified Chinese inside the Noto Sans CJK collection (JP, KR, SC, TC, HK, ...).
_NOTO_SC_INDEX = 2

_SYSTEM_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "WenQuanYi Micro Hei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "WenQuanYi Zen Hei"),
    ("/System/Library/Fonts/PingFang.ttc", 0, "PingFang SC"),
    ("C:/Windows/Fonts/msyh.ttc", 0, "Microsoft YaHei"),
)


@dataclass(frozen=True)
class FontInfo:
    path: Path
    index: int
    family: str

    @property
    def directory(self) -> Path:
        return self.path.parent


def find_font(explicit: str | os.PathLike[str] | None = None) -> FontInfo:
    """The font to draw text with; raises ToolMissing with the fix when none is found."""
    chosen = explicit or os.environ.get("DIRECTOR_FONT")
    if chosen:
        return _explicit_font(Path(chosen))
    return _default_font()


def _explicit_font(path: Path) -> FontInfo:
    if not path.is_file():
        raise ToolMissing(
            f"Font file {path} does not exist.",
            "Pass --font (or set DIRECTOR_FONT) to a .ttf, .otf or .ttc file that has CJK glyphs.",
        )
    return FontInfo(path=path, index=0, family=_family_name(path, 0))


@lru_cache(maxsize=1)
def _default_font() -> FontInfo:
    bundled = _bundled_noto()
    if bundled is not None:
        return bundled
    for path, index, family in _SYSTEM_CANDIDATES:
        if Path(path).is_file():
            return FontInfo(Path(path), index, family)
    raise ToolMissing(
        "No font with Chinese glyphs was found.",
        "Reinstall director (it depends on noto-cjk-sans-otc), install fonts-noto-cjk, "
        "or pass --font PATH.",
    )


def _bundled_noto() -> FontInfo | None:
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    if not path.is_file():
        return None
    return FontInfo(path=path, index=_NOTO_SC_INDEX, family="Noto Sans CJK SC")


def _family_name(path: Path, index: int) -> str:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), 12, index=index).getname()[0]
    except OSError as exc:
        raise ToolMissing(
            f"Font file {path} cannot be read: {exc}.", "Pass another --font."
        ) from exc


def pil_font(size: int, explicit: str | os.PathLike[str] | None = None):
    """A Pillow font object of the chosen font at ``size`` pixels."""

    info = find_font(explicit)
    return _pil_font_cached(str(info.path), info.index, size)


@lru_cache(maxsize=32)
def _pil_font_cached(path: str, index: int, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index)


# --- text in pixels ---------------------------------------------------------------------------

# A token is a run of narrow characters (a word), one wide character, or a run of spaces.
_TOKENS = re.compile(rf"[^\s{WIDE_CLASS}]+|[{WIDE_CLASS}]|\s+")
# Closing punctuation stays on the line it closes, even when it overhangs a little.
_STAYS = NO_LINE_START | frozenset(",.!?;:")


def wrap(text: str, font, width: float, max_lines: int | None = None) -> list[str]:
    """Greedy lines no wider than ``width`` px, broken between words or between Chinese
    characters. With ``max_lines``, the text is cut to fit: the last line ends with an ellipsis
    and no line is wider than ``width``. Without it every word is kept whole (a word wider than
    ``width`` overhangs on a line of its own), for a caller that shrinks the type instead."""
    lines: list[str] = []
    for token in _TOKENS.findall(" ".join(text.split())):
        if not lines or token not in _STAYS and font.getlength(lines[-1] + token) > width:
            lines.append(token.lstrip())
        else:
            lines[-1] += token
    lines = [line.strip() for line in lines if line.strip()] or [""]
    if max_lines is None:
        return lines if any(lines) else []
    if len(lines) > max_lines:
        last = fit(f"{lines[max_lines - 1]} {lines[max_lines]}", font, width, force=True)
        return [fit(line, font, width) for line in lines[: max_lines - 1]] + [last]
    return [fit(line, font, width) for line in lines]


def fit(text: str, font, width: float, force: bool = False) -> str:
    """The text cut to ``width`` px with an ellipsis (always ending in one when ``force``)."""
    if not force and font.getlength(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid].rstrip() + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"
