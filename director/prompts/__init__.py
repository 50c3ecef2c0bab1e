"""Prompt templates and vocabularies, as files; the five-slot prompt lives in director.records.

Every packaged file here is read through ``read_text`` or ``read_json``: one home for finding
them in the installed package (a wheel, a zip, a source checkout alike).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def read_text(*parts: str) -> str:
    """A packaged file's text, by its path under ``director/prompts``:
    ``read_text("llm", "develop.system.md")``."""
    return resources.files(__name__).joinpath(*parts).read_text(encoding="utf-8")


def read_json(*parts: str) -> Any:
    """A packaged JSON file, parsed afresh on each call (the caller may change what it gets)."""
    return json.loads(read_text(*parts))
