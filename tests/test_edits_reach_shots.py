"""A human's edits and notes at the checkpoints reach the shots, or director says plainly why
not: a beat edited at the beat sheet or at its keyframes plans its shots again from the new
text (the slots a human wrote kept, the shot ids kept), a new location replaces the old one,
and a note the offline planner cannot follow is said on the terminal, in the log and in the
workflow document; the checkpoint shows every slot as the keyframe was drawn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_approval_cli import (
    LOGLINE,
    SMALL,
    answer,
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

SUMMARY = "She climbs to the roof with a lamp. The robot hands her a seedling."
ROOF = "a rooftop greenhouse in the rain"


def plan_of(run: Path) -> dict:
    return json.loads((run / "plan.json").read_text(encoding="utf-8"))


def beat_shots(plan: dict, beat: str) -> list[dict]:
    return [s for s in plan["shots"] if s["beat_id"] == beat]


def shown(cwd: Path, run_id: str) -> str:
    return ok(director(cwd, "status", run_id)).stdout


@pytest.mark.slow
def test_a_summary_edited_at_the_beat_sheet_is_acted_out_by_its_shots(tmp_path):
    run = tmp_path / "runs" / "sum"
    start(tmp_path, "sum")
    answer(tmp_path, "sum", "--edit", "b01", f"--field=summary={SUMMARY}")
    answer(tmp_path, "sum")
    waiting = status(tmp_path, "sum")["waiting"]
    actions = [s["prompt"]["action"] for s in waiting["shots"]]
    assert actions[0].startswith("She climbs to the roof with a lamp")
    assert "The robot hands her a seedling" in actions[-1]
    assert [s["prompt"]["action"] for s in beat_shots(plan_of(run), "b01")] == actions
    said = shown(tmp_path, "sum")
    assert "Note: The offline planner does not read a beat's words" in said
    assert "--llm" in said and f"action: {actions[0]}" in said
    notices = of_type(run, "planner_notice")
    assert [n["beat_id"] for n in notices] == ["b01"]

    approve_to_the_end(tmp_path, "sum")
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "What the planner could not do with the human's words:" in doc
    assert f"- action: {actions[0]}" in doc


@pytest.mark.slow
def test_a_beat_edited_at_its_keyframes_plans_its_shots_again(tmp_path):
    run = tmp_path / "runs" / "beat"
    before = keyframes(to_the_keyframes(tmp_path, "beat"))
    plan = plan_of(run)
    ids, later = [s["id"] for s in beat_shots(plan, "b01")], beat_shots(plan, "b02")
    old_place = plan["beat_sheet"]["beats"][0]["location"]
    first = ids[0]
    camera = "low angle, close on her hands"
    answer(tmp_path, "beat", "--edit", first, "--slot", f"camera={camera}")

    recorded = ok(
        director(tmp_path, "approve", "beat", "--edit", "b01", f"--field=location={ROOF}")
    )
    assert "edit, beat b01, field location" in recorded.stdout
    ok(director(tmp_path, "resume", "beat"))
    plan = plan_of(run)
    shots = beat_shots(plan, "b01")
    assert [s["id"] for s in shots] == ids  # the same shots, planned again
    assert beat_shots(plan, "b02") == later  # the other beats' shots are left alone
    assert plan["beat_sheet"]["beats"][0]["location"] == ROOF
    for shot in shots:
        assert shot["prompt"]["environment"].startswith(ROOF)
        assert old_place not in shot["prompt"]["environment"]  # replaced, not appended
    mine = next(s for s in shots if s["id"] == first)
    assert mine["prompt"]["camera"] == camera and mine["edited_slots"] == ["camera"]
    after = keyframes(status(tmp_path, "beat")["waiting"])
    assert all(number(after[s]) > number(before[s]) for s in ids)  # every keyframe made again
    assert all((run / before[s]).is_file() for s in ids)  # and none written over
    replanned = of_type(run, "shots_replanned")
    assert [r["beat_id"] for r in replanned] == ["b01"]
    assert [s["id"] for s in replanned[0]["shots"]] == ids
    edit = of_type(run, "approval")[-1]
    assert (edit["checkpoint"], edit["beat_id"], edit["changes"]) == (
        "keyframes",
        "b01",
        {"location": ROOF},
    )
    said = shown(tmp_path, "beat")
    assert f"environment: {ROOF}" in said and f"camera (yours): {camera}" in said

    answer(tmp_path, "beat", "--edit", "b01", f"--field=summary={SUMMARY}")
    plan = plan_of(run)
    shots = beat_shots(plan, "b01")
    assert shots[0]["prompt"]["action"].startswith("She climbs to the roof")
    assert all(s["prompt"]["environment"].startswith(ROOF) for s in shots)  # both edits hold
    assert "Note: The offline planner does not read a beat's words" in shown(tmp_path, "beat")

    approve_to_the_end(tmp_path, "beat")
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert any(
        line.startswith("| b01 |") and ROOF in line and SUMMARY in line for line in doc.splitlines()
    )
    assert f"b01 location -> {ROOF!r}" in doc
    assert f"- environment: {shots[0]['prompt']['environment']}" in doc


@pytest.mark.slow
def test_notes_the_offline_planner_cannot_follow_are_said_plainly(tmp_path):
    run = tmp_path / "runs" / "notes"
    start(tmp_path, "notes")
    note = "more about the robot"
    redrafted = answer(tmp_path, "notes", "--regenerate", "--note", note)
    assert "cannot follow notes" in redrafted.stdout and repr(note) in redrafted.stdout
    assert "--edit BEAT --field summary=" in shown(tmp_path, "notes")
    answer(tmp_path, "notes")
    assert "cannot follow notes" not in shown(tmp_path, "notes")  # said once, where it applies

    shot = list(keyframes(status(tmp_path, "notes")["waiting"]))[-1]
    light = "colder, bluer light before dawn"
    answer(tmp_path, "notes", "--reject", "--shot", shot, "--slot", "environment", "--note", light)
    waiting = status(tmp_path, "notes")["waiting"]
    drawn = next(s for s in waiting["shots"] if s["id"] == shot)
    assert light in drawn["prompt"]["environment"]  # the slot as the keyframe was drawn
    assert drawn["changed"] == {"environment": "your note"}
    said = shown(tmp_path, "notes")
    assert f"environment (changed by your note): {drawn['prompt']['environment']}" in said
    assert f"went into the environment slot of {shot} word for word" in said
    assert f"--edit {shot} --slot environment=" in said
    notices = of_type(run, "planner_notice")
    assert [(n["checkpoint"], n["note"]) for n in notices] == [
        ("beats", note),
        ("keyframes", light),
    ]

    approve_to_the_end(tmp_path, "notes")
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "this beat sheet is a new draw of its rules" in doc
    assert f"your note {light!r} went into the environment slot" in doc
    assert "drawn as (a note or a repair changed it):" in doc and light in doc


def test_a_beat_and_its_shots_are_edited_in_the_interactive_prompt(tmp_path):
    run = tmp_path / "runs" / "tty"
    args = ("run", "--logline", LOGLINE, *SMALL, "--run-id", "tty")
    child = spawn(tmp_path, *args)
    menu(child, then="Beat sheet of 'The Last Garden'")
    child.send("a")
    menu(child, then="Beat b01 (")
    ids = [s["id"] for s in beat_shots(plan_of(run), "b01")]
    child.send("e")
    child.expect_exact("Shot (or the beat)")
    child.sendline("b01")
    child.expect_exact("Field (")
    child.sendline("location")
    child.expect_exact("[i]nline")
    child.send("i")
    child.expect_exact("New text")
    child.sendline(ROOF)
    menu(child, then=f"environment: {ROOF}")
    child.sendintr()
    said = finish(child)
    assert child.exitstatus == 130 and "Traceback" not in said
    shots = beat_shots(plan_of(run), "b01")
    assert [s["id"] for s in shots] == ids
    assert all(s["prompt"]["environment"].startswith(ROOF) for s in shots)
    edit = next(a for a in of_type(run, "approval") if a["decision"] == "edit")
    assert (edit["checkpoint"], edit["changes"]) == ("keyframes", {"location": ROOF})
    assert of_type(run, "shots_replanned")


def test_editing_another_beat_at_a_beats_keyframes_is_one_line(tmp_path):
    run = tmp_path / "runs" / "other"
    to_the_keyframes(tmp_path, "other")
    log = (run / "events.jsonl").read_bytes()
    result = director(tmp_path, "approve", "other", "--edit", "b02", "--field=summary=x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Beat 'b02' is not the beat waiting here (b01)" in lines[0]
    assert (run / "events.jsonl").read_bytes() == log and not (run / "approval.json").exists()


def test_a_summary_is_spread_over_the_beats_shots_in_order():
    from director.agent.planning import summary_actions

    three = "She climbs. He waits! They meet?"
    assert summary_actions(three, 2) == ["She climbs.", "He waits! They meet?"]
    assert summary_actions(three, 3) == ["She climbs.", "He waits!", "They meet?"]
    assert summary_actions("She climbs to the roof", 3) == ["She climbs to the roof"] * 3
    assert summary_actions("她爬上屋顶。机器人递给她一株幼苗。", 2) == [
        "她爬上屋顶。",
        "机器人递给她一株幼苗。",
    ]


def test_replanned_shots_keep_their_ids_and_human_slots_and_new_ones_get_unused_ids():
    from director.agent.planning import _kept_ids
    from tests.conftest import plain_shot

    def shot(i: int, sid: str):
        return plain_shot(i, 2.0).model_copy(update={"id": sid, "beat_id": "b02"})

    old = [shot(2, "s003"), shot(3, "s004")]
    mine = old[1].prompt.model_copy(update={"camera": "low angle"})
    old[1] = old[1].model_copy(update={"prompt": mine, "edited_slots": ["camera"]})
    fresh = [shot(i, f"s00{i + 1}") for i in range(3)]
    kept = _kept_ids(fresh, old, {"s001", "s002", "s003", "s004", "s007"})
    assert [s.id for s in kept] == ["s003", "s004", "s008"]
    assert kept[1].prompt.camera == "low angle" and kept[1].edited_slots == ["camera"]
    assert kept[0].edited_slots == [] and kept[2].edited_slots == []
