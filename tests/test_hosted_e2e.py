"""A whole film on hosted services: the planner on an OpenAI-compatible API, keyframes and clips
on DashScope Wan, all of them fakes on 127.0.0.1 driven through the real SDKs by the CLI."""

from __future__ import annotations

import json

import pytest

from director.memory.events import read_events
from director.records import (
    AttemptMade,
    CostIncurred,
    CritiqueMade,
    DecisionMade,
    JobSubmitted,
    LLMCallMade,
)
from director.tools.assemble.probe import probe
from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.openai_server import FakeOpenAI
from tests.test_cli import director
from tests.test_openai_planner import screenwriter

LOGLINE = "A lighthouse keeper finds a robot washed up on the rocks and teaches it to sing"

pytestmark = pytest.mark.slow


@pytest.fixture
def services():
    with FakeOpenAI() as llm, FakeDashScope(latency=0.05) as wan:
        llm.chat_handler = screenwriter
        wan.throttle_first, wan.retry_after = 1, 0.1  # the first submission is throttled
        wan.fail_next.append(("InternalError", "The task failed on the service side."))
        yield llm, wan


def test_a_film_made_on_hosted_services_logs_task_ids_costs_and_faults(tmp_path, services):
    llm, wan = services
    env = {
        "OPENAI_API_KEY": llm.api_key,
        "OPENAI_BASE_URL": llm.base_url,
        "DASHSCOPE_API_KEY": wan.api_key,
        "DASHSCOPE_HTTP_BASE_URL": wan.base_url,
    }
    result = director(
        "run",
        "--logline",
        LOGLINE,
        "--minutes",
        "0.25",
        "--size",
        "640x360",
        "--llm",
        "openai:gpt-4.1-mini",
        "--image",
        "dashscope:wanx2.1-t2i-turbo",
        "--video",
        "dashscope:wanx2.1-i2v-turbo",
        "--budget",
        "5",
        "--yes",
        "--json",
        "--runs-dir",
        "runs",
        "--run-id",
        "hosted",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "hosted"
    plan = json.loads((run / "plan.json").read_text())
    info = probe(run / "film.mp4")
    assert info.video_codec == "h264" and (info.width, info.height) == (640, 360)
    total = sum(b["duration_s"] for b in plan["beat_sheet"]["beats"])
    assert abs(info.duration_s - total) <= 0.05 * total

    events = read_events(run / "events.jsonl")
    stages = {e.stage for e in events if isinstance(e, LLMCallMade)}
    assert {"develop", "beat_sheet", "bible", "shot_list"} <= stages
    task_ids = {e.job_id for e in events if isinstance(e, JobSubmitted)}
    assert task_ids <= set(wan.tasks) and len(task_ids) == len(wan.tasks)
    costs = [e for e in events if isinstance(e, CostIncurred)]
    assert {c.kind for c in costs} == {"keyframe", "clip"}
    assert all(c.amount and c.amount > 0 for c in costs)

    # the throttled submission was retried, and the failed task climbed the ladder
    attempts = [e.attempt for e in events if isinstance(e, AttemptMade)]
    assert any(a.params.get("faults") for a in attempts)
    failed = [
        c
        for e in events
        if isinstance(e, CritiqueMade)
        for c in e.critique.checks
        if c.name == "generation"
    ]
    assert failed and "InternalError" in failed[0].reason
    assert any(e.decision.rung == "reseed" for e in events if isinstance(e, DecisionMade))

    text = (run / "workflow.md").read_text(encoding="utf-8")
    assert "| cost (USD) |" in text and "language-model calls" in text
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".srt"):
            content = path.read_text(encoding="utf-8", errors="ignore")
            assert llm.api_key not in content and wan.api_key not in content


def _dashscope_env(wan: FakeDashScope) -> dict[str, str]:
    return {"DASHSCOPE_API_KEY": wan.api_key, "DASHSCOPE_HTTP_BASE_URL": wan.base_url}


def test_the_dashscope_defaults_without_a_budget_make_a_film_with_costs_marked_unknown(tmp_path):
    with FakeDashScope(latency=0.02) as wan:
        result = director(
            *("run", "--logline", LOGLINE, "--minutes", "0.25", "--size", "640x360"),
            *("--image", "dashscope", "--video", "dashscope", "--yes"),
            *("--runs-dir", "runs", "--run-id", "defaults"),
            cwd=tmp_path,
            env=_dashscope_env(wan),
        )
        models = {body["model"] for body in wan.bodies()}
    assert result.returncode == 0, result.stderr
    assert models == {"wan2.2-t2i-flash", "wan2.2-i2v-flash"}
    run = tmp_path / "runs" / "defaults"
    assert probe(run / "film.mp4").video_codec == "h264"
    costs = [e for e in read_events(run / "events.jsonl") if isinstance(e, CostIncurred)]
    images = [c for c in costs if c.kind == "keyframe"]
    clips = [c for c in costs if c.kind == "clip"]
    assert images and all(c.amount is None and "no price" in c.detail for c in images)
    assert clips and all(c.amount and c.amount > 0 for c in clips)
    text = (run / "workflow.md").read_text(encoding="utf-8")
    total = next(line for line in text.splitlines() if line.startswith("| cost (USD) |"))
    assert "unknown" in total and f"dashscope:wan2.2-t2i-flash: {len(images)} call" in total


def test_a_budget_refuses_the_unpriced_image_default_before_anything_is_paid(tmp_path):
    with FakeDashScope() as wan:
        result = director(
            *("run", "--logline", LOGLINE, "--minutes", "0.25", "--budget", "5"),
            *("--image", "dashscope", "--video", "dashscope", "--yes"),
            *("--runs-dir", "runs", "--run-id", "budget"),
            cwd=tmp_path,
            env=_dashscope_env(wan),
        )
        assert wan.submissions == 0
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no known price" in result.stderr and '[prices."PROVIDER:MODEL"]' in result.stderr


def test_reference_to_video_conditions_each_clip_on_the_cast_photos_and_logs_them(tmp_path):
    import skimage.data as skdata
    from PIL import Image

    photo = tmp_path / "mara.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    with FakeDashScope(latency=0.02) as wan:
        result = director(
            *("run", "--logline", "Mara, the last gardener, defends her roses from the robots"),
            *("--minutes", "0.25", "--size", "640x360", "--character", f"Mara={photo}"),
            *("--video", "dashscope:wan2.7-r2v", "--yes", "--runs-dir", "runs", "--run-id", "r2v"),
            cwd=tmp_path,
            env=_dashscope_env(wan),
        )
        bodies = wan.bodies()
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "r2v"
    plan = json.loads((run / "plan.json").read_text())
    assert probe(run / "film.mp4").video_codec == "h264"
    with_mara = {s["id"] for s in plan["shots"] if "Mara" in s["characters"]}
    assert with_mara
    clips = {
        e.attempt.shot_id: e.attempt
        for e in read_events(run / "events.jsonl")
        if isinstance(e, AttemptMade) and e.attempt.kind == "clip"
    }
    assert set(clips) == {s["id"] for s in plan["shots"]}
    for shot_id, attempt in clips.items():
        if shot_id in with_mara:
            assert attempt.model == "wan2.7-r2v" and attempt.params["mode"] == "r2v"
            assert attempt.params["references"] == [str(photo)]
            assert attempt.params["reference_names"] == ["Mara"]
            assert [m["type"] for m in attempt.params["media"]] == [
                "reference_image",
                "first_frame",
            ]
            assert attempt.params["prompt"].startswith("Image 1 is Mara.")
        else:  # no one to reference: the clip starts on its keyframe with wan2.7-i2v
            assert attempt.model == "wan2.7-i2v"
    # what reached the service: 2.7's input.media, the photo inline, no 2.2-style fields
    r2v = [b for b in bodies if b["model"] == "wan2.7-r2v"]
    assert len(r2v) >= len(with_mara)
    for body in r2v:
        media = body["input"]["media"]
        assert media[0]["type"] == "reference_image" and media[0]["url"].startswith("data:image/")
        assert "img_url" not in body["input"] and body["parameters"]["ratio"] == "16:9"
