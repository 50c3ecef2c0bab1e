"""The sample workflow document the README links to (docs/sample, made by docs/sample/make.py):
its links resolve inside the folder, it names no machine's paths, and it has the sections the
document is built with today, read from the sample's own run log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from director.memory.events import read_events
from director.replay.document import Heading
from director.replay.record import fold
from director.replay.workflow import build_document

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "sample"
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")
REMADE = "the sample is out of date: run `python docs/sample/make.py` and commit docs/sample"


@pytest.mark.parametrize("page", ["workflow.md", "workflow.html"])
def test_every_link_of_the_sample_resolves_inside_its_folder(page):
    text = (SAMPLE / page).read_text(encoding="utf-8")
    targets = [m[1] or m[2] for m in LINK.finditer(text)]
    local = [t for t in targets if not re.match(r"[a-z]+:|#", t)]
    assert local, "the sample links to no file"
    for target in local:
        path = (SAMPLE / target).resolve()
        assert path.is_relative_to(SAMPLE) and path.is_file(), target


def test_the_sample_names_no_machines_paths():
    for path in SAMPLE.rglob("*"):
        if path.suffix in {".md", ".html", ".jsonl", ".txt", ".json"}:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(?<![\w.])/(tmp|home|Users|root|var)/", text), path


def test_the_sample_has_the_sections_the_document_has_today():
    doc = build_document(fold(read_events(SAMPLE / "events.jsonl")))
    built = [f"## {b.text}" for b in doc.blocks if isinstance(b, Heading) and b.level == 2]
    assert built, "the document has no sections"
    assert _sections(SAMPLE / "workflow.md") == built, REMADE


def _sections(page: Path) -> list[str]:
    """The level-2 headings of a Markdown page, outside its code blocks."""
    found, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("## "):
            found.append(line)
    return found
