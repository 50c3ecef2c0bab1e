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
