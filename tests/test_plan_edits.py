"""A plan.json edited by hand: used by the stage a resume makes again (checked, logged as the
human's edit), or refused with the reason, the run folder left as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.test_approval_cli import director, of_type, ok, start
from tests.test_cli import assert_clean_error


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished offline run, copied by each test."""
    home = tmp_path_factory.mktemp("plan-edits")
    start(home, "film", "--yes", "-q")
    return home


@pytest.fixture()
def run(finished, tmp_path) -> Path:
    shutil.copytree(finished / "runs", tmp_path / "runs")
    return tmp_path / "runs" / "film"


def _plan(run: Path) -> dict:
    return json.loads((run / "plan.json").read_text(encoding="utf-8"))


def _edit(run: Path, change) -> dict:
    plan = _plan(run)
    change(plan)
    (run / "plan.json").write_text(json.dumps(plan, indent=1), encoding="utf-8")
    return plan


def _digests(run: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _set_action(text: str, shot: int = 0):
    def change(plan):
        plan["shots"][shot]["prompt"]["action"] = text

    return change


def test_an_edited_prompt_is_used_from_keyframes_and_logged_as_the_humans(run):
    plan = _edit(run, _set_action("kneels to read a letter by lantern light"))
    shot = plan["shots"][0]["id"]
    ok(director(run.parent.parent, "resume", "film", "--from", "keyframes", "-q"))
    latest = [e["attempt"] for e in of_type(run, "attempt") if e["attempt"]["shot_id"] == shot]
    newest = [a for a in latest if a["kind"] == "keyframe"][-1]
    assert "kneels to read a letter by lantern light" in newest["prompt"]
    resumed = of_type(run, "run_resumed")[-1]
    assert resumed["changed"][f"plan.json {shot} action"][1] == (
        "kneels to read a letter by lantern light"
    )
    after = _plan(run)["shots"][0]
    assert after["prompt"]["action"] == "kneels to read a letter by lantern light"
    assert "action" in after["edited_slots"]  # no repair rewrites the human's text
    doc = (run / "workflow.md").read_text(encoding="utf-8")
    assert "kneels to read a letter by lantern light" in doc


@pytest.mark.parametrize(
    ("args", "change", "says"),
    [
        ((), _set_action("walks on"), "--from keyframes"),
        (("--from", "shots"), _set_action("walks on"), "--from keyframes"),
        (("--from", "assembly"), _set_action("walks on"), "--from clips"),
        (
            ("--from", "clips"),
            lambda plan: plan["shots"][0]["prompt"].update(environment="a salt flat"),
            "--from keyframes",
        ),
        (("--from", "clips"), lambda plan: plan["shots"].pop(), "--from keyframes"),
        (("--from", "keyframes"), lambda plan: plan["shots"][0].pop("prompt"), "shots.0.prompt"),
        (
            ("--from", "keyframes"),
            lambda plan: plan["shots"][0].update(beat_id="b99"),
            "beat_id",
        ),
    ],
    ids=[
        "plain",
        "from-shots",
        "assembly-action",
        "clips-environment",
        "clips-removed",
        "no-prompt",
        "stray-beat",
    ],
)
def test_an_edit_the_stage_would_not_use_is_refused_and_nothing_changes(run, args, change, says):
    _edit(run, change)
    before = _digests(run)
    assert_clean_error(director(run.parent.parent, "resume", "film", *args), says)
    assert _digests(run) == before


def test_a_plan_that_is_no_longer_json_is_refused_with_the_way_out(run):
    (run / "plan.json").write_text('{"story": ', encoding="utf-8")
    before = _digests(run)
    assert_clean_error(
        director(run.parent.parent, "resume", "film", "--from", "keyframes"), "no longer JSON"
    )
    assert _digests(run) == before


def test_a_new_line_of_dialogue_reaches_the_film_from_assembly(run):
    def change(plan):
        plan["shots"][0]["line"] = {"kind": "narration", "speaker": None, "text": "Not yet."}

    plan = _edit(run, change)
    ok(director(run.parent.parent, "resume", "film", "--from", "assembly", "-q"))
    assert "Not yet." in (run / "film.srt").read_text(encoding="utf-8")
    assert f"plan.json {plan['shots'][0]['id']} line" in of_type(run, "run_resumed")[-1]["changed"]


def test_a_deleted_plan_drops_the_edit_and_is_written_again(run):
    original = _plan(run)
    (run / "plan.json").unlink()
    ok(director(run.parent.parent, "resume", "film", "--from", "assembly", "-q"))
    assert _plan(run) == original
    assert of_type(run, "run_resumed")[-1]["changed"] == {}
