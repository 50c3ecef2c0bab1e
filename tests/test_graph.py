"""The graph end to end on scripted backends: rerolls, the attempt cap, failures, the log."""

from __future__ import annotations

import json
import shutil

import pytest

from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.memory.events import read_events
from director.records import AttemptMade, DecisionMade, ErrorRaised, RunFinished
from director.replay.workflow import write_workflow
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from tests.conftest import make_plan


def _options(tmp_path, run_id="g", **extra):
    flags = {
        "logline": "Mara defends the last garden from robots",
        "minutes": 0.25,
        "size": "320x180",
        "max_attempts": 3,
        "runs_dir": str(tmp_path),
        "run_id": run_id,
        "yes": True,
        **extra,
    }
    return resolve(flags)


def _run(tmp_path, failures, run_id="g", critics=None):
    plan = make_plan(4)
    backends = {
        "planner": ScriptedPlanner(plan),
        "image": SolidImage(),
        "critics": critics or [ScriptedCritic(failures)],
    }
    return plan, start_run(_options(tmp_path, run_id), backends=backends)


def _decisions(events, shot_id):
    return [
        (e.decision.action, e.decision.attempt)
        for e in events
        if isinstance(e, DecisionMade) and e.decision.shot_id == shot_id
    ]


def test_rerolls_until_pass_then_caps_and_flags(tmp_path):
    plan, result = _run(tmp_path, {"s002": 1, "s003": 5})
    events = read_events(result.paths.events)
    assert _decisions(events, "s001") == [("accept", 1)]
    assert _decisions(events, "s002") == [("reroll", 1), ("accept", 2)]
    assert _decisions(events, "s003") == [
        ("reroll", 1),
        ("reroll", 2),
        ("accept-below-threshold", 3),
    ]
    assert result.flagged == ["s003"]
    seeds = [
        e.attempt.seed
        for e in events
        if isinstance(e, AttemptMade)
        and e.attempt.shot_id == "s003"
        and e.attempt.kind == "keyframe"
    ]
    assert len(set(seeds)) == 3
    assert all(
        (result.paths.root / e.attempt.artifact).is_file()
        for e in events
        if isinstance(e, AttemptMade)
    )
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    assert json.loads(result.paths.plan_json.read_text()) == plan.model_dump(mode="json")


def test_workflow_names_every_shot_and_every_failed_attempt(tmp_path):
    plan, result = _run(tmp_path, {"s002": 1, "s003": 5})
    text = result.paths.workflow.read_text(encoding="utf-8")
    for shot in plan.shots:
        assert f"#### {shot.id}" in text
    assert "s002 attempt 1 (seed" in text and "scripted failure 1 of 1" in text
    assert "s002: solved by rerolling" in text
    assert "Flagged below threshold" in text and "s003: not solved" in text
    assert "keyframes/s003/3.png" in text  # the chosen attempt is the closest one


def test_the_film_has_the_planned_duration(tmp_path):
    from director.tools.assemble.probe import probe

    plan, result = _run(tmp_path, {})
    info = probe(result.paths.film)
    assert info.video_codec == "h264" and (info.width, info.height) == (320, 180)
    assert abs(info.duration_s - plan.runtime_s) <= 0.02 * plan.runtime_s


class ExplodingCritic(ScriptedCritic):
    def check(self, image, shot, context):
        if shot.id == "s002":
            raise RuntimeError("critic crashed")
        return super().check(image, shot, context)


def test_a_failure_is_logged_and_leaves_no_film(tmp_path):
    with pytest.raises(RuntimeError, match="critic crashed"):
        _run(tmp_path, {}, critics=[ExplodingCritic({})])
    run = tmp_path / "g"
    events = read_events(run / "events.jsonl")
    assert isinstance(events[-1], RunFinished) and events[-1].status == "failed"
    assert any(isinstance(e, ErrorRaised) and "critic crashed" in e.message for e in events)
    assert not (run / "film.mp4").exists()


def test_a_copied_run_folder_replays_to_the_same_document(tmp_path):
    _, result = _run(tmp_path / "runs", {"s002": 2})
    original = result.paths.workflow.read_text(encoding="utf-8")
    copy = shutil.copytree(result.paths.root, tmp_path / "elsewhere" / "copy")
    (copy / "workflow.md").unlink()
    from director.memory.runs import RunPaths

    written = write_workflow(RunPaths(copy), html=True)
    assert (copy / "workflow.md").read_text(encoding="utf-8") == original
    page = written[1].read_text(encoding="utf-8")
    assert page.count('src="data:image/jpeg;base64,') == 4
    assert str(tmp_path) not in original
