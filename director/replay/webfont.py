"""The CJK font that workflow.html carries, so its Chinese reads on a machine with no CJK font.

The page embeds a subset of the font director draws with (the bundled Noto Sans CJK SC face,
see ``director.tools.assemble.fonts``) holding only the characters the page uses outside ASCII:
WOFF2 when brotli is installed, else WOFF. A page with no CJK text embeds nothing.
"""

from __future__ import annotations

import base64
import io
import re

from director.text import WIDE_CLASS

# The family name the page's stylesheet puts first; only the embedded subset carries it.
FAMILY = "director-cjk"

_WIDE = re.compile(f"[{WIDE_CLASS}]")


def font_face(text: str) -> str:
    """The @font-face rule for a page showing ``text``; "" for a page with no CJK text, or
    when no CJK font can be read (the page then falls back on the reader's own fonts)."""
    if not _WIDE.search(text):
        return ""
    font = subset_font(text)
    if font is None:
        return ""
    data, flavor = font
    uri = f"data:font/{flavor};base64," + base64.b64encode(data).decode("ascii")
    return f"@font-face{{font-family:{FAMILY};src:url({uri}) format('{flavor}');font-display:swap}}"


def subset_font(text: str) -> tuple[bytes, str] | None:
    """The font's glyphs for the non-ASCII characters of ``text``, as (bytes, "woff2" or
    "woff"); None when no CJK font is found or the one found cannot be read."""
    from fontTools import subset
    from fontTools.ttLib import TTFont, TTLibError

    from director.errors import ToolMissing
    from director.tools.assemble.fonts import find_font

    try:
        info = find_font()
        font = TTFont(str(info.path), fontNumber=info.index, lazy=True)
    except (ToolMissing, TTLibError, OSError):
        return None
    options = subset.Options()
    options.hinting = False  # screens at reading sizes do without; halves the subset
    options.desubroutinize = True  # compresses better than the shared subroutines
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted({ord(ch) for ch in text if ord(ch) > 0x7E}))
    subsetter.subset(font)
    font.flavor = flavor()
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue(), font.flavor


def flavor() -> str:
    """WOFF2 (brotli, about a third smaller) when brotli is installed, else WOFF (zlib)."""
    try:
        import brotli  # noqa: F401
    except ImportError:
        return "woff"
    return "woff2"
