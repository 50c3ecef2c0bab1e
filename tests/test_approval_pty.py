"""Interactive approval on a real terminal (a pseudo-terminal driven by pexpect): the single-key
menus, prompts, an edit inline and one in $EDITOR, Ctrl-C at a checkpoint, and resume."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pexpect

from tests.test_approval_cli import LOGLINE, SMALL, director, events, of_type, ok, status

MENU = "(Ctrl-C: stop here, resumable)"


def spawn(cwd: Path, *args: str, env: dict | None = None):
    """`director ARGS` on a pseudo-terminal; everything it prints is kept in ``.transcript``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTOR_")}
    clean |= {"XDG_CONFIG_HOME": str(cwd / "config"), "NO_COLOR": "1", **(env or {})}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "director", *args],
        cwd=str(cwd),
        env=clean,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 250),
    )
    child.transcript = io.StringIO()
    child.logfile_read = child.transcript
    return child


def menu(child, then: str | None = None) -> None:
    """Wait for the checkpoint's menu (after ``then``, when given) and leave it on screen."""
    if then is not None:
        child.expect_exact(then)
    child.expect_exact(MENU)


def finish(child) -> str:
    child.expect(pexpect.EOF)
    child.close()
    return child.transcript.getvalue()


def test_keys_edit_reroll_ctrl_c_and_resume(tmp_path):
    run = tmp_path / "runs" / "tty"
    opened = tmp_path / "opened.txt"  # what --open showed, through a stand-in for xdg-open
    viewer = tmp_path / "bin" / "xdg-open"
    viewer.parent.mkdir()
    viewer.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n')
    viewer.chmod(0o755)
    env = {"PATH": f"{viewer.parent}{os.pathsep}{os.environ['PATH']}"}
    # no --approve: on a terminal the run asks
    args = ("run", "--logline", LOGLINE, *SMALL, "--run-id", "tty", "--open")
    child = spawn(tmp_path, *args, env=env)
    menu(child, then="Beat sheet of 'The Last Garden'")
    child.send("a")
    menu(child, then="Beat b01 (")
    shots = [s["id"] for s in json.loads((run / "plan.json").read_text())["shots"]]
    first, second = shots[0], shots[1]

    action = "she waters the seedlings beside the robot"
    child.send("e")
    child.expect_exact("Shot (")
    child.sendline(second)
    child.expect_exact("Slot (")
    child.sendline("action")
    child.expect_exact("[i]nline")
    child.send("i")
    child.expect_exact("New text")
    child.sendline(action)
    menu(child, then=f"action (yours): {action}")  # the same checkpoint, the shot made again
    assert f"{second}  keyframes/{second}/2.png" in child.transcript.getvalue()

    child.send("r")
    child.expect_exact("Shot (")
    child.sendline(first)
    menu(child, then=f"{first}  keyframes/{first}/2.png")
    child.send("a")
    menu(child, then="Beat b02 (")
    child.sendintr()
    said = finish(child)
    assert child.exitstatus == 130 and "Traceback" not in said
    assert "director resume tty" in said
    assert "error:" not in said  # stopping where the user asked is not an error
    assert not (run / "film.mp4").exists()
    waiting = status(tmp_path, "tty")["waiting"]  # stopped where it stood
    assert (waiting["checkpoint"], waiting["beat"]) == ("keyframes", "b02")

    child = spawn(tmp_path, "resume", "tty")
    menu(child, then="Beat b02 (")
    child.send("a")
    said = finish(child)
    assert child.exitstatus == 0, said
    assert "Traceback" not in said and "Film:" in said
    assert (run / "film.mp4").is_file()

    plan = json.loads((run / "plan.json").read_text())
    edited = next(s for s in plan["shots"] if s["id"] == second)
    assert edited["prompt"]["action"] == action and edited["edited_slots"] == ["action"]
    approvals = [(a["decision"], a.get("shot_id"), a["by"]) for a in of_type(run, "approval")]
    assert approvals == [
        ("approve", None, "human"),
        ("edit", second, "human"),
        ("reroll", first, "human"),
        ("approve", None, "human"),
        ("approve", None, "human"),
    ]
    assert all(a["who"] and a["decided_at"] for a in of_type(run, "approval"))
    assert [e["type"] for e in events(run)].count("run_resumed") == 1
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "| tty | completed |" in doc and "Stopped with Ctrl-C 1 time," in doc
    assert "Error in run" not in doc and "KeyboardInterrupt" not in doc
    assert f"{second} action -> {action!r}" in doc
    sheets = opened.read_text().split()
    assert sheets[0] == str(run / "approvals" / "b01.png") and all(
        Path(s).is_file() for s in sheets
    )


def test_edit_in_the_editor_reject_a_beat_and_abort(tmp_path):
    run = tmp_path / "runs" / "ed"
    summary = "The keeper teaches the robot to graft an apple tree"
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "%s\\n" "$NEW_TEXT" > "$1"\n')
    editor.chmod(0o755)
    env = {"EDITOR": str(editor), "VISUAL": str(editor), "NEW_TEXT": summary}
    child = spawn(tmp_path, "run", "--logline", LOGLINE, *SMALL, "--run-id", "ed", env=env)
    menu(child, then="Beat sheet of")

    child.send("e")  # an edit that changes nothing is no edit: the menu comes back
    child.expect_exact("Beat (")
    child.sendline("b01")
    child.expect_exact("Field (")
    child.sendline("")  # summary
    child.expect_exact("[i]nline")
    child.send("i")
    child.expect_exact("New text")
    child.sendline("")  # Enter keeps the text
    menu(child, then="Unchanged.")

    child.send("e")
    child.expect_exact("Beat (")
    child.sendline("b01")
    child.expect_exact("Field (")
    child.sendline("summary")
    child.expect_exact("[i]nline")
    child.send("v")
    menu(child, then=f"(0-7.5 s): {summary}")
    child.send("a")
    menu(child, then="Beat b01 (")

    note = "the robot should be in every frame"
    child.send("j")
    child.expect_exact("; Enter: every shot of the beat): ")
    child.sendline("")
    child.expect_exact("Note")
    child.sendline(note)
    menu(child, then="Beat b01 (")
    child.send("x")
    said = finish(child)
    assert child.exitstatus == 0 and "Traceback" not in said
    assert "Film:" not in said

    assert status(tmp_path, "ed")["status"] == "aborted"
    assert not (run / "film.mp4").exists()
    plan = json.loads((run / "plan.json").read_text())
    assert plan["beat_sheet"]["beats"][0]["summary"] == summary
    beat = [s["id"] for s in plan["shots"] if s["beat_id"] == "b01"]
    rejected = of_type(run, "approval")[-2]
    assert (rejected["decision"], rejected["shot_id"], rejected["note"]) == ("reject", None, note)
    repairs = [
        e["decision"]
        for e in of_type(run, "decision")
        if e["seq"] > rejected["seq"] and e["decision"]["rung"] == "repair"
    ]
    assert sorted(d["shot_id"] for d in repairs) == sorted(beat)
    assert all(note in d["reason"] for d in repairs)
    assert all((run / "keyframes" / s / "2.png").is_file() for s in beat)
    assert of_type(run, "approval")[-1]["decision"] == "abort"
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "Aborted by human" in doc and summary in doc
    assert ok(director(tmp_path, "status", "ed")).stdout.startswith("Run ed: aborted.")


def test_a_failing_editor_falls_back_to_typing_and_ctrl_c_in_a_prompt_stops(tmp_path):
    run = tmp_path / "runs" / "quit"
    summary = "The robot learns the names of the seeds"
    env = {"EDITOR": "false", "VISUAL": "false"}
    child = spawn(tmp_path, "run", "--logline", LOGLINE, *SMALL, "--run-id", "quit", env=env)
    menu(child, then="Beat sheet of")
    child.send("e")
    child.expect_exact("Beat (")
    child.sendline("b01")
    child.expect_exact("Field (")
    child.sendline("summary")
    child.expect_exact("[i]nline")
    child.send("v")
    child.expect_exact("Editing failed; type the text instead.")
    child.expect_exact("New text")
    child.sendline(summary)
    menu(child, then=f"(0-7.5 s): {summary}")

    child.send("e")
    child.expect_exact("Beat (")
    child.sendintr()  # inside a prompt, not at the menu
    said = finish(child)
    assert child.exitstatus == 130 and "Traceback" not in said
    assert "director resume quit" in said
    waiting = status(tmp_path, "quit")
    assert waiting["status"] == "waiting for approval"
    assert waiting["waiting"]["beats"][0]["summary"] == summary
    finished = of_type(run, "run_finished")[-1]
    assert finished["status"] == "aborted"  # stopped by the user, not failed
