"""workflow.html reads anywhere: a Chinese run's page carries the subset of the bundled CJK font
it needs and nothing more, and Debian's chromium, headless and shown no CJK font of the system,
draws its Chinese as glyphs (compared with the same text drawn by Pillow from the bundled font),
fits a phone's width, and plays the film from its path next to the page."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from director.replay.document import Document, Figure, Heading, Para, to_html
from director.replay.webfont import subset_font
from director.text import is_chinese
from director.tools.assemble.fonts import pil_font
from tests.test_cli import director

ZH = "2075年，地球上最后一个人类守护着一座被机器人反复推平的花园"
FONT_FACE = re.compile(r"@font-face\{[^}]*\}")
FONT_URI = re.compile(r"url\(data:font/(woff2?);base64,([A-Za-z0-9+/=]+)\)")


@pytest.fixture(scope="module")
def zh_page(tmp_path_factory) -> Path:
    """workflow.html of a real offline Chinese run, written by `director replay RUN --html`."""
    work = tmp_path_factory.mktemp("zh")
    args = ["--minutes", "0.25", "--yes", "--runs-dir", "runs", "--run-id", "zh"]
    result = director("run", "--logline", ZH, *args, cwd=work, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    result = director("replay", "runs/zh", "--html", cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "runs" / "zh" / "workflow.html"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """A headless chromium command whose fontconfig holds one Latin font folder and no CJK
    font, so the only Chinese glyphs it has are those a page embeds."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run does it)")
    import matplotlib  # its DejaVu fonts: Latin only, on every machine the test extra is on

    home = tmp_path_factory.mktemp("chromium")
    latin = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    config = home / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{latin}</dir><cachedir>{home / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    env = {"FONTCONFIG_FILE": str(config), "HOME": str(home), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> str:
        command = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={home / 'profile'}", *args]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run


def _visible_text(page: str) -> str:
    style = page.index("</style>")
    return html.unescape(re.sub(r"<[^>]*>", " ", page[style:]))


def _embedded(page: str) -> tuple[str, bytes]:
    match = FONT_URI.search(page)
    assert match, "no embedded font"
    return match[1], base64.b64decode(match[2])


# --- the font the page carries ----------------------------------------------------------------


@pytest.mark.slow
def test_a_chinese_page_embeds_the_glyphs_it_shows_and_no_others(zh_page):
    from fontTools.ttLib import TTFont

    page = zh_page.read_text(encoding="utf-8")
    flavor, data = _embedded(page)
    assert flavor == "woff2" and data[:4] == b"wOF2"  # brotli comes with the core install
    assert len(data) < 1_000_000, f"the font subset is {len(data)} bytes"
    font = TTFont(io.BytesIO(data))
    assert "Noto Sans CJK SC" in font["name"].getDebugName(1)
    drawn = {chr(code) for code in font.getBestCmap()}
    shown = set(_visible_text(page))
    assert {ch for ch in shown if is_chinese(ch)} <= drawn
    assert drawn <= shown, sorted(drawn - shown)[:20]
    assert len(drawn) < 1500  # a subset, not the face's 65k glyphs
    assert page.index("font-family:director-cjk,") < page.index("</style>")


@pytest.mark.slow
def test_the_contents_link_to_every_numbered_section(zh_page):
    page = zh_page.read_text(encoding="utf-8")
    targets = re.findall(r'<a href="#([^"]+)">', page)
    ids = re.findall(r'<h2 id="([^"]+)">(\d+)\. ', page)
    assert targets and targets == [anchor for anchor, _ in ids]
    assert [int(n) for _, n in ids] == list(range(1, len(ids) + 1))


def test_a_latin_page_embeds_no_font(tmp_path):
    doc = Document("The Last Garden: workflow", [Heading(2, "Story"), Para("A robot, a rose.")])
    assert "@font-face" not in to_html(doc, tmp_path)
    doc.add(Para("花园"))
    assert "@font-face{font-family:director-cjk;" in to_html(doc, tmp_path)


def test_a_frame_is_a_thumbnail_and_a_composed_image_keeps_its_size_up_to_the_page(tmp_path):
    (tmp_path / "doc").mkdir()
    Image.new("RGB", (1340, 300), "gray").save(tmp_path / "doc" / "shots.jpg")
    Image.new("RGB", (700, 300), "gray").save(tmp_path / "doc" / "pair.jpg")
    Image.new("RGB", (1280, 720), "gray").save(tmp_path / "frame.png")
    doc = Document("t", [Figure(p, p) for p in ("doc/shots.jpg", "doc/pair.jpg", "frame.png")])
    uris = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)"', to_html(doc, tmp_path))
    sizes = [Image.open(io.BytesIO(base64.b64decode(u))).size[0] for u in uris]
    assert sizes == [1100, 700, 480]


def test_without_brotli_the_subset_is_woff(monkeypatch):
    monkeypatch.setitem(sys.modules, "brotli", None)  # import brotli now raises ImportError
    data, flavor = subset_font("最后的花园")
    assert (flavor, data[:4]) == ("woff", b"wOFF")


# --- in a browser -----------------------------------------------------------------------------


def _ink(image: Image.Image) -> Image.Image | None:
    """The dark marks of an image (inverted grey), cropped to where they are."""
    grey = ImageOps.invert(image.convert("L"))
    box = grey.point(lambda v: 255 if v > 60 else 0).getbbox()
    return grey.crop(box) if box else None


def _likeness(shot: Image.Image, reference: Image.Image) -> float:
    """Correlation of the text's ink in a screenshot with the reference's, size for size."""
    ink, ref = _ink(shot), _ink(reference)
    if ink is None or ref is None:
        return 0.0
    a = np.asarray(ink.resize(ref.size), dtype=float).ravel()
    b = np.asarray(ref, dtype=float).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _probe(page: str, text: str) -> str:
    """The page with ``text`` at 64 px in a white band at the top, in the page's own fonts."""
    band = (
        '<div style="position:fixed;left:0;top:0;right:0;height:120px;z-index:9;'
        'background:#fff;color:#000;font-size:64px;line-height:1;padding:24px">'
        f"{text}</div>"
    )
    return page.replace("<body>", "<body>" + band, 1)


@pytest.mark.slow
def test_chinese_is_drawn_as_glyphs_in_a_browser_without_cjk_fonts(zh_page, chromium):
    page = zh_page.read_text(encoding="utf-8")
    title = re.search(r"<h1>(.*?)</h1>", page)[1]
    text = "".join(ch for ch in title if is_chinese(ch))[:6]
    assert len(text) >= 2, title
    reference = Image.new("L", (800, 120), 255)
    ImageDraw.Draw(reference).text((24, 24), text, font=pil_font(64), fill=0)

    scores = {}
    for name, variant in (("embedded", page), ("tofu", FONT_FACE.sub("", page, count=1))):
        probe = zh_page.with_name(f"probe-{name}.html")
        probe.write_text(_probe(variant, text), encoding="utf-8")
        shot = zh_page.with_name(f"probe-{name}.png")
        chromium(
            "--virtual-time-budget=2000",
            f"--screenshot={shot}",
            "--window-size=800,300",
            probe.as_uri(),
        )  # time for the font to load
        scores[name] = _likeness(Image.open(shot).crop((0, 0, 800, 120)), reference)
    assert scores["embedded"] > 0.8, scores
    assert scores["tofu"] < 0.5, scores  # with no font, the same check sees empty boxes


def _in_a_frame(folder: Path, page: str, width: int, report: str) -> str:
    """What ``report`` (a script expression run inside the page) says when the page is shown in
    a frame ``width`` px wide: chromium's window is never narrower than 500 px, a frame is."""
    inner = folder / "framed.html"
    script = f'<script>addEventListener("load",()=>{{{report}}})</script>'
    inner.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    outer = folder / "frame.html"
    outer.write_text(
        f'<!doctype html><body><iframe src="framed.html" width="{width}" height="740"></iframe>'
        "<script>addEventListener('message',e=>{document.body.dataset.said=e.data})</script>",
        encoding="utf-8",
    )
    return outer.as_uri()


def _said(dom: str) -> str:
    match = re.search(r'<body data-said="([^"]*)"', dom)
    assert match, dom[-2000:]
    return html.unescape(match[1])


@pytest.mark.slow
def test_the_page_fits_a_phone(zh_page, chromium):
    page = zh_page.read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    measure = 'parent.postMessage(document.documentElement.scrollWidth+"/"+innerWidth,"*")'
    phone = _in_a_frame(zh_page.parent, page, 360, measure)
    dom = chromium("--virtual-time-budget=3000", "--dump-dom", phone)
    wide, viewport = map(int, _said(dom).split("/"))
    assert viewport == 360 and wide <= viewport, f"the page is {wide} px wide on a 360 px phone"
    # The same check fails on a page whose tables do not scroll in their own box.
    unwrapped = page.replace(".wide{overflow-x:auto;", ".wide{")
    dom = chromium("--virtual-time-budget=3000", "--dump-dom",
                   _in_a_frame(zh_page.parent, unwrapped, 360, measure))  # fmt: skip
    assert int(_said(dom).split("/")[0]) > 360


@pytest.mark.slow
def test_the_film_plays_from_its_path_next_to_the_page_in_a_copied_folder(
    zh_page, chromium, tmp_path
):
    copy = shutil.copytree(zh_page.parent, tmp_path / "moved" / "zh")
    page = (copy / zh_page.name).read_text(encoding="utf-8")
    assert '<video controls preload="metadata" src="film.mp4"' in page
    assert str(zh_page.parent) not in page
    video = 'const v=document.querySelector("video");'
    said = 'parent.postMessage(v.duration+" "+v.videoWidth,"*")'
    report = f'{video}v.addEventListener("loadedmetadata",()=>{said});v.load()'
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", _in_a_frame(copy, page, 360, report))
    seconds, width = _said(dom).split()
    assert float(seconds) > 10 and width == "1280"
