"""Human approval through the command line, on the offline stack: a run that stops at each
checkpoint (deferred mode), `director status`, `director approve` and `director resume`;
automatic approval with --yes; and `resume --from` on a finished run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from director.memory.lock import RunLock
from director.tools.assemble.probe import probe
from tests.test_cli import assert_clean_error

LOGLINE = "A keeper and a robot tend the last garden"
SMALL = ("--minutes", "0.25", "--size", "320x180")


def director(cwd: Path, *args: str, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """The CLI in a clean environment, its stdin not a terminal (so approvals are deferred)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTOR_")}
    env["XDG_CONFIG_HOME"] = str(cwd / "config")  # no user config file
    return subprocess.run(
        [sys.executable, "-m", "director", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def start(cwd: Path, run_id: str, *extra: str) -> subprocess.CompletedProcess:
    return ok(director(cwd, "run", "--logline", LOGLINE, *SMALL, "--run-id", run_id, *extra))


def status(cwd: Path, run_id: str) -> dict:
    return json.loads(ok(director(cwd, "status", run_id, "--json")).stdout)


def answer(cwd: Path, run_id: str, *choice: str) -> subprocess.CompletedProcess:
    """Record an approval and resume the run with it."""
    recorded = ok(director(cwd, "approve", run_id, *choice))
    assert f"director resume {run_id}" in recorded.stdout
    return ok(director(cwd, "resume", run_id))


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def of_type(run: Path, kind: str) -> list[dict]:
    return [e for e in events(run) if e["type"] == kind]


def number(keyframe: str) -> int:
    """The attempt number of a keyframe path, keyframes/<shot>/<attempt>.png."""
    return int(Path(keyframe).stem)


def keyframes(waiting: dict) -> dict[str, str]:
    return {s["id"]: s["keyframe"] for s in waiting["shots"]}


def digests(run: Path, folder: str) -> dict[str, str]:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((run / folder).rglob("*"))
        if p.is_file()
    }


def to_the_keyframes(cwd: Path, run_id: str) -> dict:
    """A run started in deferred mode, its beat sheet approved: it waits at beat 1's keyframes."""
    start(cwd, run_id)
    answer(cwd, run_id)
    waiting = status(cwd, run_id)["waiting"]
    assert (waiting["checkpoint"], waiting["beat"]) == ("keyframes", "b01")
    return waiting


def approve_to_the_end(cwd: Path, run_id: str) -> None:
    for _ in range(10):
        if status(cwd, run_id)["status"] != "waiting for approval":
            break
        answer(cwd, run_id)
    assert status(cwd, run_id)["status"] == "completed"


@pytest.mark.slow
def test_deferred_edits_reach_the_plan_the_document_and_the_log(tmp_path):
    run = tmp_path / "runs" / "t1"
    first = start(tmp_path, "t1")
    assert "Run t1 waits for approval of the beat sheet." in first.stdout
    assert "director approve t1 --edit BEAT" in first.stdout
    assert "director resume t1" in first.stdout
    assert not (run / "film.mp4").exists() and not (run / "plan.json").exists()
    assert events(run)[-1]["type"] == "approval_pending"

    shown = ok(director(tmp_path, "status", "t1")).stdout
    assert "Run t1: waiting for approval." in shown and "b01  " in shown and "b02  " in shown
    state = status(tmp_path, "t1")
    assert state["status"] == "waiting for approval" and state["next"] == ["approve_beats"]
    assert [b["id"] for b in state["waiting"]["beats"]] == ["b01", "b02"]

    summary = "The keeper and the robot mend the fence together"
    recorded = ok(
        director(tmp_path, "approve", "t1", "--edit", "b01", f"--field=summary={summary}")
    )
    assert "edit, beat b01, field summary" in recorded.stdout
    assert (run / "approval.json").exists()
    again = ok(director(tmp_path, "resume", "t1"))
    assert "waits for approval of the beat sheet" in again.stdout and summary in again.stdout
    assert not (run / "approval.json").exists()  # taken by the resume
    assert status(tmp_path, "t1")["waiting"]["beats"][0]["summary"] == summary

    answer(tmp_path, "t1")
    waiting = status(tmp_path, "t1")["waiting"]
    assert (waiting["checkpoint"], waiting["beat"]) == ("keyframes", "b01")
    assert (run / waiting["contact_sheet"]).is_file()
    before = keyframes(waiting)
    shot = list(before)[-1]

    action = "she kneels and hands the robot a seedling"
    answer(tmp_path, "t1", "--edit", shot, "--slot", f"action={action}")
    waiting = status(tmp_path, "t1")["waiting"]
    assert waiting["beat"] == "b01"  # the same checkpoint, with the new keyframe
    after = keyframes(waiting)
    assert number(after[shot]) == number(before[shot]) + 1
    assert (run / before[shot]).is_file()  # the old attempt is kept, not overwritten
    assert {k: v for k, v in after.items() if k != shot} == {
        k: v for k, v in before.items() if k != shot
    }
    edited = next(s for s in waiting["shots"] if s["id"] == shot)
    assert edited["prompt"]["action"] == action and edited["edited"] == ["action"]
    made = [a["attempt"] for a in of_type(run, "attempt")]
    new = next(a for a in made if a["shot_id"] == shot and a["number"] == number(after[shot]))
    assert action in new["prompt"]

    approve_to_the_end(tmp_path, "t1")
    info = probe(run / "film.mp4")
    assert (info.video_codec, info.width, info.height) == ("h264", 320, 180)

    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    assert plan["beat_sheet"]["beats"][0]["summary"] == summary
    for s in plan["shots"]:
        assert s["edited_slots"] == (["action"] if s["id"] == shot else [])
    assert next(s for s in plan["shots"] if s["id"] == shot)["prompt"]["action"] == action

    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "## Approvals" in doc
    assert f"b01 summary -> {summary!r}" in doc and f"{shot} action -> {action!r}" in doc
    assert any(line.startswith("| b01 |") and summary in line for line in doc.splitlines())
    assert f"- action: {action}" in doc  # the shot's prompt as the film used it
    assert "edit by human" in doc  # in the shot's attempt table and the problems met

    approvals = of_type(run, "approval")
    assert [a["decision"] for a in approvals] == ["edit", "approve", "edit", "approve", "approve"]
    assert len(of_type(run, "approval_pending")) == len(approvals)  # one answer per stop
    for a in approvals:
        assert a["by"] == "human" and a["who"] and a["ts"] and a["decided_at"]
        assert a["decided_at"] <= a["ts"]  # decided with `approve`, taken by `resume`
    assert approvals[0]["beat_id"] == "b01" and approvals[0]["changes"] == {"summary": summary}
    assert approvals[2]["shot_id"] == shot and approvals[2]["changes"] == {"action": action}
    assert approvals[3]["beat_id"] == "b01" and approvals[4]["beat_id"] == "b02"
    assert of_type(run, "run_finished")[-1]["status"] == "completed"


@pytest.mark.slow
def test_reroll_reject_with_a_note_and_abort(tmp_path):
    run = tmp_path / "runs" / "t2"
    before = keyframes(to_the_keyframes(tmp_path, "t2"))
    first, last = list(before)[0], list(before)[-1]

    answer(tmp_path, "t2", "--reroll", first)
    after = keyframes(status(tmp_path, "t2")["waiting"])
    assert number(after[first]) == number(before[first]) + 1 and after[last] == before[last]
    rerolled = of_type(run, "approval")[-1]
    assert (rerolled["decision"], rerolled["shot_id"], rerolled["by"]) == ("reroll", first, "human")

    note = "the robot kneels beside her in the mud"
    answer(tmp_path, "t2", "--reject", "--shot", last, "--note", note)
    rejected = keyframes(status(tmp_path, "t2")["waiting"])
    assert number(rejected[last]) == number(after[last]) + 1 and rejected[first] == after[first]
    approval = of_type(run, "approval")[-1]
    assert (approval["decision"], approval["shot_id"], approval["note"]) == ("reject", last, note)
    repairs = [
        e
        for e in of_type(run, "decision")
        if e["seq"] > approval["seq"] and e["decision"]["shot_id"] == last
    ]
    repair = repairs[0]["decision"]
    assert repair["rung"] == "repair" and note in repair["reason"]
    assert repair["changes"]["repaired"] == "action"  # the slot a note is about by default
    made = next(
        e["attempt"]
        for e in of_type(run, "attempt")
        if e["attempt"]["shot_id"] == last and e["attempt"]["number"] == number(rejected[last])
    )
    assert note in made["prompt"]

    light = "colder, bluer light before dawn"
    answer(tmp_path, "t2", "--reject", "--slot", "environment", "--note", light)
    redone = keyframes(status(tmp_path, "t2")["waiting"])
    assert all(number(redone[s]) == number(rejected[s]) + 1 for s in redone)  # the whole beat
    approval = of_type(run, "approval")[-1]
    repairs = [e["decision"] for e in of_type(run, "decision") if e["seq"] > approval["seq"]]
    assert {d["shot_id"] for d in repairs if d["rung"] == "repair"} == set(redone)
    assert all(d["changes"]["repaired"] == "environment" for d in repairs if d["rung"] == "repair")

    recorded = ok(director(tmp_path, "approve", "t2", "--abort"))
    assert "The run ends there when it resumes" in recorded.stdout
    assert "Continue the run" not in recorded.stdout
    ended = ok(director(tmp_path, "resume", "t2"))
    assert "Film:" not in ended.stdout and "Workflow:" in ended.stdout
    assert status(tmp_path, "t2")["status"] == "aborted"
    assert "Run t2: aborted." in ok(director(tmp_path, "status", "t2")).stdout
    assert not (run / "film.mp4").exists() and not list(run.glob("clips/*/*.mp4"))
    assert of_type(run, "run_finished")[-1]["status"] == "aborted"
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "| t2 | aborted |" in doc
    assert "Aborted by human" in doc and "at the keyframes of beat b01: no film was made" in doc
    assert "reject by human" in doc and light in doc

    assert_clean_error(director(tmp_path, "approve", "t2"), "is not waiting for approval")
    assert_clean_error(director(tmp_path, "resume", "t2"), "has finished")


def test_regenerate_drafts_a_new_beat_sheet_with_the_note(tmp_path):
    run = tmp_path / "runs" / "redo"
    start(tmp_path, "redo")
    before = status(tmp_path, "redo")["waiting"]["beats"]
    note = "more about the robot"
    answer(tmp_path, "redo", "--regenerate", "--note", note)
    waiting = status(tmp_path, "redo")["waiting"]
    assert waiting["checkpoint"] == "beats" and waiting["beats"] != before
    assert len(of_type(run, "beat_sheet_planned")) == 2
    regenerated = of_type(run, "approval")[-1]
    assert (regenerated["decision"], regenerated["note"]) == ("regenerate", note)


@pytest.fixture(scope="module")
def waiting_runs(tmp_path_factory):
    """Two runs in deferred mode: one at the beat sheet, one at beat 1's keyframes."""
    cwd = tmp_path_factory.mktemp("waiting")
    start(cwd, "beats")
    shots = list(keyframes(to_the_keyframes(cwd, "keys")))
    assert shots[0] == "s001"
    return cwd


BAD = [
    ("beats", ["--reroll", "s001"], "'reroll' is not a choice at the beats checkpoint"),
    ("beats", ["--edit", "b09", "--field", "summary=x"], "No beat 'b09' here"),
    ("beats", ["--edit", "b01", "--field", "style=noir"], "no field 'style'"),
    ("beats", ["--edit", "b01"], "--edit needs --field NAME=TEXT"),
    ("beats", ["--edit", "b01", "--slot", "action=x"], "--slot does not apply at the beat sheet"),
    ("beats", ["--regenerate", "--abort"], "Choose one of --regenerate / --abort"),
    ("keys", ["--reroll", "s999"], "Shot 's999' is not in beat b01"),
    ("keys", ["--edit", "s001", "--slot", "style=film noir"], "no slot 'style'"),
    ("keys", ["--edit", "s001"], "--edit needs --slot NAME=TEXT"),
    ("keys", ["--edit", "s001", "--slot", "action="], "The new text is empty"),
    ("keys", ["--edit", "s001", "--field", "summary=x"], "--field does not apply"),
    ("keys", ["--reroll", "s001", "--abort"], "Choose one of --reroll / --abort"),
    ("keys", ["--reject"], "A rejection needs a note"),
    ("keys", ["--reject", "--shot", "s999", "--note", "x"], "Shot 's999' is not in beat b01"),
    ("keys", ["--slot", "action=x"], "--slot goes with --edit or --reject, not with an approval"),
    ("keys", ["--shot", "s001"], "--shot goes with --reject"),
    ("keys", ["--regenerate", "--note", "x"], "'regenerate' is not a choice"),
]


@pytest.mark.parametrize("run_id, choice, fragment", BAD)
def test_a_bad_approval_is_one_line_exit_2_and_changes_nothing(
    waiting_runs, run_id, choice, fragment
):
    run = waiting_runs / "runs" / run_id
    log = (run / "events.jsonl").read_bytes()
    assert_clean_error(director(waiting_runs, "approve", run_id, *choice), fragment)
    assert (run / "events.jsonl").read_bytes() == log
    assert not (run / "approval.json").exists()


def test_asking_without_a_terminal_is_refused_before_anything_is_written(waiting_runs):
    alone = {"start_new_session": True}  # no controlling terminal to fall back on
    run = ("run", "--logline", LOGLINE, *SMALL, "--run-id", "no-tty", "--approve", "ask")
    assert_clean_error(director(waiting_runs, *run, **alone), "--approve ask needs a terminal")
    assert not (waiting_runs / "runs" / "no-tty").exists()
    log = (waiting_runs / "runs" / "keys" / "events.jsonl").read_bytes()
    resume = director(waiting_runs, "resume", "keys", "--approve", "ask", **alone)
    assert_clean_error(resume, "--approve ask needs a terminal")
    assert (waiting_runs / "runs" / "keys" / "events.jsonl").read_bytes() == log


def test_approving_a_running_run_is_refused(waiting_runs):
    run = waiting_runs / "runs" / "keys"
    with RunLock(run):  # what a run asking on its own terminal holds
        assert_clean_error(director(waiting_runs, "approve", "keys"), "Run keys is running")
        assert ok(director(waiting_runs, "status", "keys")).stdout.startswith("Run keys: running.")
    assert not (run / "approval.json").exists()


def test_a_new_answer_replaces_one_not_yet_taken(waiting_runs):
    run = waiting_runs / "runs" / "keys"
    ok(director(waiting_runs, "approve", "keys", "--reroll", "s001"))
    again = ok(director(waiting_runs, "approve", "keys", "--note", "looks right"))
    assert "It replaces the answer recorded before: reroll, shot s001." in again.stdout
    recorded = json.loads((run / "approval.json").read_text())["answer"]
    assert (recorded["decision"], recorded["note"]) == ("approve", "looks right")
    (run / "approval.json").unlink()


@pytest.mark.parametrize("auto", [["--yes"], ["--approve", "auto"]])
def test_automatic_approval_runs_straight_through_and_is_logged(tmp_path, auto):
    result = start(tmp_path, "auto", *auto, "--json")
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["waiting"] is None
    run = tmp_path / "runs" / "auto"
    assert Path(summary["paths"]["film"]).is_file()
    approvals = of_type(run, "approval")
    assert [(a["checkpoint"], a["beat_id"]) for a in approvals] == [
        ("beats", None),
        ("keyframes", "b01"),
        ("keyframes", "b02"),
    ]
    assert all(a["by"] == "auto" and a["decision"] == "approve" for a in approvals)
    assert not of_type(run, "approval_pending")
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "3 checkpoints approved automatically (--yes)" in doc
    log = (run / "events.jsonl").read_bytes()
    assert_clean_error(director(tmp_path, "approve", "auto"), "is not waiting for approval")
    assert (run / "events.jsonl").read_bytes() == log


def test_resume_with_yes_approves_the_rest_automatically(tmp_path):
    start(tmp_path, "later")
    ok(director(tmp_path, "resume", "later", "--yes", "-q"))
    run = tmp_path / "runs" / "later"
    assert status(tmp_path, "later")["status"] == "completed" and (run / "film.mp4").is_file()
    assert [a["by"] for a in of_type(run, "approval")] == ["auto", "auto", "auto"]


@pytest.mark.slow
def test_resume_from_a_stage_remakes_what_follows_and_keeps_what_precedes(tmp_path):
    start(tmp_path, "again", "--yes", "-q")
    run = tmp_path / "runs" / "again"
    planned = [
        len(of_type(run, kind))
        for kind in ("story_developed", "beat_sheet_planned", "shot_list_planned")
    ]

    def made(kind: str) -> dict[str, list[int]]:
        numbers: dict[str, list[int]] = {}
        for e in of_type(run, "attempt"):
            if e["attempt"]["kind"] == kind:
                numbers.setdefault(e["attempt"]["shot_id"], []).append(e["attempt"]["number"])
        return numbers

    def remade(stage: str) -> tuple[dict, dict]:
        old = {folder: digests(run, folder) for folder in ("keyframes", "clips")}
        films = len(of_type(run, "assembly"))
        film = (run / "film.mp4").stat().st_mtime_ns
        ok(director(run.parent.parent, "resume", "again", "--from", stage, "-q"))
        for folder, files in old.items():  # nothing made before is overwritten
            now = digests(run, folder)
            assert {k: now[k] for k in files} == files
        assert len(of_type(run, "assembly")) == films + 1
        assert (run / "film.mp4").stat().st_mtime_ns != film
        assert probe(run / "film.mp4").video_codec == "h264"
        resumed = of_type(run, "run_resumed")[-1]
        assert resumed["from_stage"] == stage
        assert of_type(run, "run_finished")[-1]["status"] == "completed"
        assert status(tmp_path, "again")["status"] == "completed"
        return made("keyframe"), made("clip")

    keys, clips = made("keyframe"), made("clip")
    new_keys, new_clips = remade("keyframes")
    assert new_keys == {s: [*n, max(n) + 1] for s, n in keys.items()}
    assert new_clips == {s: [*n, max(n) + 1] for s, n in clips.items()}
    assert len(of_type(run, "approval")) == 3 + 2  # both beats' keyframes again (--yes)

    keys, clips = new_keys, new_clips
    new_keys, new_clips = remade("clips")
    assert new_keys == keys
    assert new_clips == {s: [*n, max(n) + 1] for s, n in clips.items()}

    new_keys, newer_clips = remade("assembly")
    assert (new_keys, newer_clips) == (keys, new_clips)

    assert planned == [
        len(of_type(run, kind))
        for kind in ("story_developed", "beat_sheet_planned", "shot_list_planned")
    ]
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "Resumed 3 times (first " in doc and "from assembly" in doc
    assert_clean_error(director(tmp_path, "resume", "again"), "has finished")


def test_resume_from_keyframes_in_deferred_mode_stops_at_the_first_beat(tmp_path):
    start(tmp_path, "open", "--yes", "-q")
    result = ok(director(tmp_path, "resume", "open", "--from", "keyframes", "--approve", "defer"))
    assert "waits for approval of the keyframes of beat b01" in result.stdout
    waiting = status(tmp_path, "open")["waiting"]
    assert all(number(k) == 2 for k in keyframes(waiting).values())


def test_a_copied_or_renamed_run_knows_what_it_is_and_pays_for_nothing_again(tmp_path):
    import shutil

    start(tmp_path, "orig", "--yes", "-q")
    runs = tmp_path / "runs"
    film = (runs / "orig" / "film.mp4").read_bytes()
    shutil.copytree(runs / "orig", runs / "copy")
    (runs / "orig").rename(runs / "moved")
    for name in ("copy", "moved"):
        before = (runs / name / "events.jsonl").read_bytes()
        assert_clean_error(director(tmp_path, "resume", name), "has finished")
        assert (runs / name / "events.jsonl").read_bytes() == before  # nothing redone
        assert (runs / name / "film.mp4").read_bytes() == film
        assert status(tmp_path, name)["status"] == "completed"


def test_a_copy_of_a_waiting_run_carries_on_from_its_checkpoint(tmp_path):
    import shutil

    start(tmp_path, "wait")  # deferred: it stops at the beat sheet
    runs = tmp_path / "runs"
    shutil.copytree(runs / "wait", runs / "fork")
    planned = len(of_type(runs / "fork", "story_developed"))
    ok(director(tmp_path, "approve", "fork"))
    ok(director(tmp_path, "resume", "fork", "--yes"))
    assert (runs / "fork" / "film.mp4").exists()
    assert len(of_type(runs / "fork", "story_developed")) == planned  # not planned again
    assert not (runs / "wait" / "film.mp4").exists()  # the original is untouched


def test_resume_from_assembly_takes_new_music_and_records_the_change(tmp_path):
    from imageio_ffmpeg import get_ffmpeg_exe

    start(tmp_path, "m", "--yes", "-q")
    run = tmp_path / "runs" / "m"
    assert probe(run / "film.mp4").audio_codec is None
    tone = tmp_path / "tone.wav"
    subprocess.run(
        [get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d=30", str(tone)],
        check=True,
    )
    assert_clean_error(director(tmp_path, "resume", "m", "--music", "tone.wav"), "--from assembly")
    before = (run / "run.json").read_bytes()
    missing = director(tmp_path, "resume", "m", "--from", "assembly", "--music", "nope.mp3")
    assert_clean_error(missing, "is not a file")
    assert (run / "run.json").read_bytes() == before  # a refused change changes nothing
    ok(director(tmp_path, "resume", "m", "--from", "assembly", "--music", "tone.wav", "-q"))
    assert probe(run / "film.mp4").audio_codec == "aac"
    options = json.loads((run / "run.json").read_text(encoding="utf-8"))["options"]
    assert options["music"] == str(tone)
    resumed = of_type(run, "run_resumed")[-1]
    assert resumed["from_stage"] == "assembly" and resumed["changed"]["music"] == [None, str(tone)]
    assert "music None -> " in (run / "workflow.md").read_text(encoding="utf-8")
