"""Paid work once, when the network lies: a fault-injecting proxy between director and the
fake services loses answers, garbles them and cuts downloads; every case is counted at the
fake (what was paid), read in the log, and the film is made or the run stops with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from director.memory.events import read_events
from director.records import AttemptMade, DecisionMade, JobSubmitted
from director.tools.assemble.probe import probe
from tests.fakes.dashscope_server import FakeDashScope, fingerprint
from tests.fakes.fault_proxy import FaultProxy
from tests.test_cli import director

LOGLINE = "A lighthouse keeper teaches a stranded robot to sing"
SUBMIT = "/api/v1/services/aigc/"

pytestmark = pytest.mark.slow


@pytest.fixture
def wan():
    with FakeDashScope(latency=0.02) as fake, FaultProxy(fake.origin) as proxy:
        fake.result_base = proxy.origin  # result downloads go through the proxy too
        yield fake, proxy


def _film(tmp_path: Path, fake: FakeDashScope, proxy: FaultProxy, run_id: str, *extra: str):
    env = {"DASHSCOPE_API_KEY": fake.api_key, "DASHSCOPE_HTTP_BASE_URL": proxy.url("/api/v1")}
    return director(
        *("run", "--logline", LOGLINE, "--minutes", "0.25", "--size", "640x360"),
        *("--image", "dashscope:wanx2.1-t2i-turbo", "--video", "dashscope:wanx2.1-i2v-turbo"),
        *("--yes", "--runs-dir", "runs", "--run-id", run_id, *extra),
        cwd=tmp_path,
        env=env,
    )


@pytest.fixture(scope="module")
def paid_without_faults(tmp_path_factory) -> int:
    """Tasks the same film pays for when the network tells the truth: the money test's
    yardstick (the fake's images are all alike, so the gate decides the same every time)."""
    tmp = tmp_path_factory.mktemp("clean")
    with FakeDashScope(latency=0.02) as fake, FaultProxy(fake.origin) as proxy:
        fake.result_base = proxy.origin
        result = _film(tmp, fake, proxy, "clean")
        assert result.returncode == 0, result.stderr
        return len(fake.tasks)


def _paid_once(fake: FakeDashScope, run: Path) -> list:
    """Every task the fake accepted is one the log holds, and none was paid for twice."""
    assert fake.duplicates() == 0
    events = read_events(run / "events.jsonl")
    logged = {e.job_id for e in events if isinstance(e, JobSubmitted)}
    assert logged == set(fake.tasks)
    return events


@pytest.mark.parametrize("fault", ["lose", "html"])
def test_a_lost_submit_answer_is_reconciled_not_paid_twice(
    tmp_path, wan, fault, paid_without_faults
):
    fake, proxy = wan
    proxy.add("POST", SUBMIT, fault, times=2)  # the first two submissions' answers
    result = _film(tmp_path, fake, proxy, fault)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / fault
    assert probe(run / "film.mp4").video_codec == "h264"
    assert proxy.faults(fault) == 2 and fake.listings >= 2
    assert len(fake.tasks) == paid_without_faults  # not one task more than without faults
    events = _paid_once(fake, run)
    notes = [
        f["reason"]
        for e in events
        if isinstance(e, AttemptMade)
        for f in e.attempt.params.get("faults", [])
    ]
    assert sum("reconciled with the task list: found task" in n for n in notes) == 2


def test_a_cut_download_is_fetched_again_from_the_same_url(tmp_path, wan, paid_without_faults):
    fake, proxy = wan
    proxy.add("GET", "/files/", "cut", times=3, keep=2000)
    result = _film(tmp_path, fake, proxy, "cut")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "cut"
    assert proxy.faults("cut") == 3 and fake.ranged >= 1  # picked up where it broke off
    assert len(fake.tasks) == paid_without_faults
    events = _paid_once(fake, run)
    attempts = [e.attempt for e in events if isinstance(e, AttemptMade)]
    assert len(attempts) == len(fake.tasks)  # each task collected once, none redone


def test_a_refused_prompt_is_sent_once_when_nothing_in_it_can_be_softened(tmp_path, wan):
    fake, proxy = wan
    fake.blocked_words = {"lighthouse"}  # a word no rule softens: refused every time
    result = _film(tmp_path, fake, proxy, "refused")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "content filter refused its prompt" in errors[0]
    sent = [fingerprint(r["body"]) for r in fake.requests if r["method"] == "POST"]
    assert sent and len(sent) == len(set(sent))  # no prompt sent twice
    assert not fake.tasks  # nothing paid
    reasons = [
        e.decision.reason
        for e in read_events(tmp_path / "runs" / "refused" / "events.jsonl")
        if isinstance(e, DecisionMade)
    ]
    assert any("not sent again unchanged" in r for r in reasons)


@pytest.mark.parametrize("fault", ["html", "garble"])
def test_a_planner_answering_200_with_no_completion_stops_in_one_line(tmp_path, fault):
    from tests.fakes.openai_server import FakeOpenAI
    from tests.test_openai_planner import screenwriter

    with FakeOpenAI() as llm, FaultProxy(llm.base_url.rsplit("/v1", 1)[0]) as proxy:
        llm.chat_handler = screenwriter
        proxy.add("POST", "/v1/chat/completions", fault, times=99)
        result = director(
            *("run", "--logline", LOGLINE, "--minutes", "0.25", "--yes"),
            *("--llm", f"openai-compatible:{proxy.url('/v1')}#qwen2.5:7b"),
            cwd=tmp_path,
            env={"DIRECTOR_COMPATIBLE_API_KEY": llm.api_key},
        )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr
    assert len(errors) == 1 and "not a chat completion" in errors[0]
    assert "unexpected" not in errors[0]


def _hostile(value):
    """Every string of an answer laced with a NUL, an ESC, a BEL and a C1 control."""
    if isinstance(value, str):
        return f"{value[:1]}\x00\x1b\x07\x9b{value[1:]}" if value else value
    if isinstance(value, list):
        return [_hostile(v) for v in value]
    if isinstance(value, dict):
        return {k: _hostile(v) if k not in ("id", "beat_id") else v for k, v in value.items()}
    return value


def test_control_characters_in_a_planners_answers_never_reach_assembly(tmp_path):
    from tests.fakes.openai_server import FakeOpenAI
    from tests.test_openai_planner import screenwriter

    with FakeOpenAI() as llm:
        llm.chat_handler = lambda request: _hostile(screenwriter(request))
        result = director(
            *("run", "--logline", LOGLINE, "--minutes", "0.25", "--size", "320x180"),
            *("--llm", "openai:gpt-4.1-mini", "--yes", "--runs-dir", "runs", "--run-id", "nul"),
            cwd=tmp_path,
            env={"OPENAI_API_KEY": llm.api_key, "OPENAI_BASE_URL": llm.base_url},
        )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "nul"
    assert probe(run / "film.mp4").video_codec == "h264"
    for name in ("plan.json", "film.srt", "workflow.md", "events.jsonl"):
        raw = (run / name).read_bytes()
        assert b"\x00" not in raw and b"\x1b" not in raw and b"\x07" not in raw, name
        assert b"\\u0000" not in raw and b"\\u001b" not in raw, name
