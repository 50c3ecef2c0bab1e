"""The creator's own frame: `director approve RUN --replace SHOT=IMAGE` (and the same key in the
interactive prompt) makes it a new attempt of the shot, judged by the gate, logged as made by a
human, chosen, and animated; the workflow document reports the generated share of the film's
screen time and lists what was made by hand. Bad inputs are one line, exit 2, and change
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.test_approval_cli import (
    LOGLINE,
    SMALL,
    approve_to_the_end,
    director,
    keyframes,
    number,
    of_type,
    ok,
    start,
    status,
    to_the_keyframes,
)
from tests.test_approval_pty import finish, menu, spawn
from tests.test_cli import assert_clean_error


def frame(path: Path, size=(640, 480), colour=(200, 60, 40)) -> Path:
    """A hand-made frame of another size and shape than the film's."""
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.mark.slow
def test_replace_puts_the_creators_frame_through_the_gate_into_the_film(tmp_path):
    run = tmp_path / "runs" / "mine"
    before = keyframes(to_the_keyframes(tmp_path, "mine"))
    shot = list(before)[-1]
    image = frame(tmp_path / "retouched.jpg")

    recorded = ok(director(tmp_path, "approve", "mine", "--replace", f"{shot}={image}"))
    assert f"replace, shot {shot}, your frame {image}" in recorded.stdout
    ok(director(tmp_path, "resume", "mine"))
    waiting = status(tmp_path, "mine")["waiting"]
    after = keyframes(waiting)
    assert number(after[shot]) == number(before[shot]) + 1
    assert (run / before[shot]).is_file()  # the generated attempt is kept
    with Image.open(run / after[shot]) as made:
        assert made.size == (320, 180)  # fitted to the film's frame
    mine = next(s for s in waiting["shots"] if s["id"] == shot)
    assert mine["by_hand"] is True
    assert "(your own frame)" in ok(director(tmp_path, "status", "mine")).stdout

    attempt = of_type(run, "attempt")[-1]["attempt"]
    assert (attempt["shot_id"], attempt["number"]) == (shot, number(after[shot]))
    assert (attempt["made_by"], attempt["backend"]) == ("human", "human")
    assert attempt["params"]["source"] == str(image.resolve())
    assert attempt["artifact"] == after[shot]
    critique = of_type(run, "critique")[-1]["critique"]
    assert (critique["shot_id"], critique["attempt"]) == (shot, attempt["number"])
    decision = of_type(run, "decision")[-1]["decision"]
    assert (decision["by"], decision["attempt"]) == ("human", attempt["number"])
    assert decision["action"] in ("accept", "accept-below-threshold")
    assert mine["flagged"] == (decision["action"] == "accept-below-threshold")
    approval = of_type(run, "approval")[-1]
    assert (approval["decision"], approval["shot_id"]) == ("replace", shot)

    approve_to_the_end(tmp_path, "mine")
    jobs = [e for e in of_type(run, "job_submitted") if e["kind"] == "clip"]
    clip = next(e for e in jobs if e["shot_id"] == shot)
    assert clip["job"]["request"]["keyframe"] == str(run / after[shot])  # animated from it
    assert (run / "film.mp4").is_file()

    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    total = sum(s["duration_s"] for s in plan["shots"])
    hand = next(s["duration_s"] for s in plan["shots"] if s["id"] == shot)
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    share = f"Generated visuals: {(total - hand) / total:.0%} of the shots' screen time"
    assert share in doc and "the 60% the brief requires" in doc
    assert f"- {shot} ({hand:.2f} s): the creator's own keyframe (retouched.jpg)" in doc
    assert f"| {attempt['number']} | by hand |" in doc
    assert f"replace shot {shot}" in doc


def test_a_film_with_no_frame_of_yours_says_all_is_generated(tmp_path):
    run = tmp_path / "runs" / "all"
    ok(director(tmp_path, "run", "--logline", LOGLINE, *SMALL, "--run-id", "all", "--yes"))
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "Generated visuals: 100% of the shots' screen time" in doc
    assert "Made by hand: nothing; every keyframe was generated." in doc


def test_replace_in_the_interactive_prompt(tmp_path):
    run = tmp_path / "runs" / "tty"
    image = frame(tmp_path / "drawn.png", size=(320, 180), colour=(20, 120, 200))
    child = spawn(tmp_path, "run", "--logline", LOGLINE, *SMALL, "--run-id", "tty")
    menu(child, then="Beat sheet of 'The Last Garden'")
    child.send("a")
    menu(child, then="Beat b01 (")
    shot = json.loads((run / "plan.json").read_text())["shots"][0]["id"]
    child.send("f")
    child.expect_exact("Shot (")
    child.sendline(shot)
    child.expect_exact("Image")
    child.sendline(str(tmp_path / "nowhere.png"))
    menu(child, then="No image at")  # said, and asked again; nothing changed
    child.send("f")
    child.expect_exact("Shot (")
    child.sendline(shot)
    child.expect_exact("Image")
    child.sendline(str(image))
    menu(child, then=f"{shot}  keyframes/{shot}/2.png  (your own frame)")
    child.sendintr()
    said = finish(child)
    assert child.exitstatus == 130 and "Traceback" not in said
    made = [e["attempt"] for e in of_type(run, "attempt") if e["attempt"]["made_by"] == "human"]
    assert [(a["shot_id"], a["number"]) for a in made] == [(shot, 2)]
    assert [a["decision"] for a in of_type(run, "approval")] == ["approve", "replace"]


@pytest.fixture(scope="module")
def waiting(tmp_path_factory):
    """Two runs in deferred mode, one at the beat sheet, one at beat 1's keyframes; a file that
    is not an image."""
    cwd = tmp_path_factory.mktemp("replace")
    start(cwd, "beats")
    to_the_keyframes(cwd, "keys")
    (cwd / "notes.png").write_text("not a picture")
    frame(cwd / "good.png")
    return cwd


BAD = [
    ("keys", "s999=good.png", "Shot 's999' is not in beat b01"),
    ("keys", "s001=missing.png", "No image at missing.png"),
    ("keys", "s001=notes.png", "notes.png is not an image"),
    ("keys", "s001", "--replace 's001' names no image"),
    ("beats", "s001=good.png", "'replace' is not a choice at the beats checkpoint"),
]


@pytest.mark.parametrize("run_id, value, fragment", BAD)
def test_a_bad_replace_is_one_line_exit_2_and_changes_nothing(waiting, run_id, value, fragment):
    run = waiting / "runs" / run_id
    log = (run / "events.jsonl").read_bytes()
    assert_clean_error(director(waiting, "approve", run_id, "--replace", value), fragment)
    assert (run / "events.jsonl").read_bytes() == log
    assert not (run / "approval.json").exists()
    assert not (run / "approvals" / "frames").exists()


def test_replace_with_another_decision_is_one_line(waiting):
    run = waiting / "runs" / "keys"
    assert_clean_error(
        director(waiting, "approve", "keys", "--replace", "s001=good.png", "--reroll", "s001"),
        "Choose one of --reroll / --replace",
    )
    assert not (run / "approval.json").exists()
