"""The sample workflow document the README links to (docs/sample, made by docs/sample/make.py):
its links resolve inside the folder, and it names no machine's paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "sample"
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")


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
