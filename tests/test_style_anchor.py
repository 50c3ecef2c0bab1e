"""The film's style anchor, changed at a beat's keyframes: `director approve RUN --style-anchor
SHOT|none`, and the same on the terminal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_approval_cli import director, of_type, ok, start, status
from tests.test_approval_pty import finish, menu, spawn
from tests.test_cli import assert_clean_error


@pytest.fixture(scope="module")
def waiting(tmp_path_factory) -> Path:
    """A deferred run waiting at the first beat's keyframes, copied by each test."""
    home = tmp_path_factory.mktemp("anchor")
    start(home, "film")
    ok(director(home, "approve", "film"))
    ok(director(home, "resume", "film"))
    return home


@pytest.fixture()
def home(waiting, tmp_path) -> Path:
    shutil.copytree(waiting / "runs", tmp_path / "runs")
    return tmp_path


def _shots(home: Path) -> list[str]:
    return [s["id"] for s in status(home, "film")["waiting"]["shots"]]


def test_the_checkpoint_shows_the_anchor_and_the_shots_that_could_be_it(home):
    shown = status(home, "film")["waiting"]
    assert shown["anchor_choices"] == _shots(home)
    assert shown["style_anchor"] in shown["anchor_choices"]
    listed = ok(director(home, "status", "film")).stdout
    assert f"Style anchor: {shown['style_anchor']}" in listed
    assert "--style-anchor SHOT|none" in listed


def test_a_new_anchor_is_logged_and_judges_the_shots_made_after_it(home):
    first, second = _shots(home)[:2]
    said = ok(director(home, "approve", "film", "--style-anchor", second, "--reroll", first))
    assert f"style anchor {second}" in said.stdout
    ok(director(home, "resume", "film"))
    run = home / "runs" / "film"
    approval = of_type(run, "approval")[-1]
    assert approval["changes"] == {"style_anchor": second}
    assert approval["decision"] == "reroll"
    again = status(home, "film")["waiting"]
    assert again["beat"] == "b01" and again["style_anchor"] == second


def test_none_lets_the_next_clean_keyframe_anchor_the_style(home):
    first = _shots(home)[0]
    ok(director(home, "approve", "film", "--style-anchor", "none", "--reroll", first))
    ok(director(home, "resume", "film"))
    run = home / "runs" / "film"
    assert of_type(run, "approval")[-1]["changes"] == {"style_anchor": "none"}
    anchor = status(home, "film")["waiting"]["style_anchor"]
    assert anchor is None or anchor == first  # the reroll, accepted clean, or none flagged clean


@pytest.mark.parametrize(
    ("choice", "says"), [("S99", "no accepted keyframe"), (" ", "Name one of")]
)
def test_an_anchor_that_is_no_keyframe_is_refused(home, choice, says):
    assert_clean_error(director(home, "approve", "film", "--style-anchor", choice), says)
    assert status(home, "film")["status"] == "waiting for approval"


def test_the_anchor_is_refused_at_the_beat_sheet(tmp_path):
    start(tmp_path, "beats")
    result = director(tmp_path, "approve", "beats", "--style-anchor", "none")
    assert_clean_error(result, "a beat's keyframes")


def test_the_anchor_is_chosen_on_the_terminal_before_the_decision(home):
    second = _shots(home)[1]
    child = spawn(home, "resume", "film")
    menu(child, then="Style anchor:")
    child.send("s")
    child.expect_exact("Style anchor (")
    child.sendline(second)
    menu(child, then="Now the decision for this beat.")
    child.send("a")
    menu(child, then="Beat b02 (")  # the next beat asks in turn: stop there, resumable
    child.sendcontrol("c")
    finish(child)
    approval = of_type(home / "runs" / "film", "approval")[-1]
    assert approval["changes"] == {"style_anchor": second} and approval["decision"] == "approve"
