"""A small document model with two renderers: Markdown and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str
    anchor: str = ""  # the HTML page's id for it; Markdown renderers make their own from text


@dataclass
class Contents:
    """A list of links to the document's headings."""

    headings: list[Heading]


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    path: str  # relative to the run folder
    alt: str


@dataclass
class Code:
    text: str


@dataclass
class Video:
    """The film itself: played in the HTML page, shown as its poster frame (linked to the
    film) in Markdown. Both paths are relative to the run folder."""

    path: str
    poster: str
    alt: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)


def to_markdown(doc: Document) -> str:
    parts = [f"# {doc.title}"]
    parts.extend(_md_block(block) for block in doc.blocks)
    return "\n\n".join(parts).rstrip() + "\n"


def _md_block(block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Para):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Contents):
        return "\n".join(f"- [{h.text}](#{md_slug(h.text)})" for h in block.headings)
    if isinstance(block, Table):
        return _md_table(block)
    if isinstance(block, Figure):
        return f"![{_md_cell(block.alt)}]({block.path})"
    if isinstance(block, Code):
        return f"```\n{block.text}\n```"
    if isinstance(block, Video):
        return f"[![{_md_cell(block.alt)}]({block.poster})]({block.path})"
    raise TypeError(block)


def md_slug(text: str) -> str:
    """The fragment a Markdown renderer gives a heading, as GitHub, GitLab and VS Code make it:
    lower case, punctuation dropped (letters of any script kept), spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _md_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(_md_cell(h) for h in table.headers) + " |",
        "|" + "---|" * len(table.headers),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_html(doc: Document, root: Path, thumb_width: int = 480) -> str:
    """One page that reads anywhere: thumbnails inline, the film played from its path next
    to the page, the CJK glyphs it shows embedded, and a layout that fits a phone."""
    from director.replay.webfont import FAMILY, font_face

    body = "\n".join(_html_block(block, root, thumb_width) for block in doc.blocks)
    shown = doc.title + html.unescape(_TAG.sub(" ", body))
    return _PAGE.format(
        title=html.escape(doc.title), body=body, font_face=font_face(shown), family=FAMILY
    )


_TAG = re.compile(r"<[^>]*>")


def _html_block(block, root: Path, thumb_width: int) -> str:
    esc = html.escape
    if isinstance(block, Heading):
        level = min(block.level, 6)
        anchor = f' id="{esc(block.anchor)}"' if block.anchor else ""
        return f"<h{level}{anchor}>{esc(block.text)}</h{level}>"
    if isinstance(block, Contents):
        links = "".join(
            f'<li><a href="#{esc(h.anchor)}">{esc(h.text)}</a></li>' for h in block.headings
        )
        return f"<ul>{links}</ul>"
    if isinstance(block, Para):
        return f"<p>{esc(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
        rows = "".join(
            "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>" for r in block.rows
        )
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        return f'<div class="wide">{table}</div>'  # a wide table scrolls, not the page
    if isinstance(block, Figure):
        return _html_figure(block, root, thumb_width)
    if isinstance(block, Code):
        return f"<pre>{esc(block.text)}</pre>"
    if isinstance(block, Video):
        poster = _thumbnail_uri(root / block.poster, thumb_width * 2) or ""
        return (
            f'<figure><video controls preload="metadata" src="{esc(block.path)}" '
            f'poster="{poster}"></video>'
            f"<figcaption>{esc(block.alt)}</figcaption></figure>"
        )
    raise TypeError(block)


def _html_figure(block: Figure, root: Path, thumb_width: int) -> str:
    """A run's frame as a thumbnail; an image the document composed to be read (a grid of the
    shots, a failed frame beside the accepted one, a reference photo) at its own size, up to
    the page's width."""
    composed = Path(block.path).parts[:1] == (DOC,)
    src = _thumbnail_uri(root / block.path, PAGE_WIDTH if composed else thumb_width)
    alt = html.escape(block.alt)
    if src is None:
        return f"<p class=missing>missing or unreadable image: {html.escape(block.path)}</p>"
    return f'<figure><img src="{src}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def _thumbnail_uri(path: Path, width: int) -> str | None:
    """The image as a small inline JPEG; None for one that is gone or cannot be shown (not an
    image, or too large to decode safely): the page says so instead of failing."""
    from director.errors import InputError
    from director.tools.critics.imaging import open_rgb

    try:
        img = open_rgb(path) if path.is_file() else None
    except InputError:
        img = None
    if img is None:
        return None
    img.thumbnail((width, width * 4))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=82, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# The folder beside a document that holds the images it composes to be read (see evidence.py).
DOC = "doc"
PAGE_WIDTH = 1100  # px: the page's column at its widest (body's max-width below)

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{font_face}
body{{font-family:{family},system-ui,-apple-system,"Noto Sans CJK SC","PingFang SC",sans-serif;
max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.5;color:#222}}
h1,h2,h3,h4,p,li,figcaption{{overflow-wrap:anywhere}}
.wide{{overflow-x:auto;margin:1em 0}}
table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}
th{{background:#f3f3f3}} figure{{margin:1em 0}}
th,td:first-child{{word-break:keep-all}}
img,video{{max-width:100%;height:auto}} img{{border:1px solid #ddd}} video{{width:100%}}
pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:80%}}
@media (max-width:600px){{body{{margin:1em auto;padding:0 .6em}} table{{font-size:80%}}}}
</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""
