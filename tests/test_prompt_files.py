"""Packaged prompt files are read through one home, director.prompts."""

from __future__ import annotations

from pathlib import Path

from director import prompts

PACKAGE = Path(__file__).resolve().parents[1] / "director"
# Readers that still find the files themselves; the list only shrinks.
OWN_READERS: set[str] = set()


def test_text_and_json_come_from_the_installed_package():
    assert "$" in prompts.read_text("llm", "develop.user.md")
    rules = prompts.read_json("llm", "languages.json")
    assert {"en", "zh"} <= set(rules)


def test_each_json_read_is_a_fresh_object():
    first = prompts.read_json("vocab", "camera.json")
    first.clear()
    assert prompts.read_json("vocab", "camera.json")


def test_no_other_module_finds_the_prompt_files_itself():
    readers = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.parent != PACKAGE / "prompts"
        and 'files("director.prompts")' in path.read_text(encoding="utf-8")
    }
    assert readers == OWN_READERS
