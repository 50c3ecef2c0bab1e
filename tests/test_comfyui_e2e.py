"""Films made through ComfyUI, end to end: the CLI against a fake ComfyUI server that speaks the
published protocol (tests/fakes/comfyui_server.py), built-in and user workflows, a kill -9 and a
resume that queues nothing twice, a failing node climbing the ladder, and the errors a user
meets first (no server, a missing model), each one clear line before anything is made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from director.memory.events import read_events
from director.records import AttemptMade, CritiqueMade, DecisionMade, JobSubmitted
from director.tools.assemble.probe import probe
from tests.fakes.comfyui_server import FakeComfyUI
from tests.test_cli import assert_clean_error, director

LOGLINE = "A lighthouse keeper finds a stranded robot on the shore and teaches it to fish"
WORKFLOWS = Path(__file__).parent.parent / "director/tools/comfyui/workflows"
FILM = ["--minutes", "0.25", "--size", "640x360", "--yes", "--runs-dir", "runs"]

pytestmark = pytest.mark.slow


@pytest.fixture
def comfyui():
    with FakeComfyUI() as fake:
        yield fake


def _run(tmp_path: Path, fake: FakeComfyUI, *args: str, run_id: str = "film"):
    env = {"COMFYUI_URL": fake.url}
    return director(
        "run", "--logline", LOGLINE, *FILM, "--run-id", run_id, *args, cwd=tmp_path, env=env
    )


def _attempts(run: Path) -> list:
    return [e.attempt for e in read_events(run / "events.jsonl") if isinstance(e, AttemptMade)]


def _sent_once(fake: FakeComfyUI) -> None:
    assert fake.duplicate_submissions == 0
    assert fake.submissions and max(fake.submissions.values()) == 1


def test_a_film_made_on_the_built_in_workflows_records_each_graph(tmp_path, comfyui):
    result = _run(tmp_path, comfyui, "--image", "comfyui:sdxl", "--video", "comfyui:wan2.2-i2v")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "film"
    info = probe(run / "film.mp4")
    assert info.video_codec == "h264" and (info.width, info.height) == (640, 360)
    plan = json.loads((run / "plan.json").read_text())
    total = sum(b["duration_s"] for b in plan["beat_sheet"]["beats"])
    assert abs(info.duration_s - total) <= 0.05 * total
    _sent_once(comfyui)

    events = read_events(run / "events.jsonl")
    prompts = {e.job_id.split("#")[0] for e in events if isinstance(e, JobSubmitted)}
    assert prompts == set(comfyui.submissions)
    attempts = _attempts(run)
    assert {a.kind for a in attempts} == {"keyframe", "clip"}
    text = (run / "workflow.md").read_text(encoding="utf-8")
    assert "Keyframe on ComfyUI" in text and "Clip on ComfyUI" in text
    assert "ComfyUI 0.3.66" in text and "sd_xl_base_1.0.safetensors" in text
    for attempt in attempts:
        graph_file = run / "comfyui" / f"{attempt.shot_id}-{attempt.kind}-{attempt.number}.json"
        assert graph_file.name in text
        graph = json.loads(graph_file.read_text(encoding="utf-8"))
        assert graph == attempt.params["graph"]
        assert attempt.params["comfyui"]["seed"] == attempt.seed
        assert attempt.prompt in json.dumps(graph, ensure_ascii=False)
    # the recorded graph loads back into ComfyUI as it is: the server runs it again
    again = comfyui.submit({"prompt": attempts[-1].params["graph"], "client_id": "again"})
    assert again["node_errors"] == {}


def _user_workflow(path: Path) -> Path:
    """The built-in SDXL graph as a user would have it: a LoRA of their own, a second text
    node for a style prefix, and the prompt node titled for director."""
    graph = json.loads((WORKFLOWS / "sdxl.json").read_text())
    graph["20"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "film_grain.safetensors",
            "strength_model": 0.4,
            "strength_clip": 0.4,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
        "_meta": {"title": "Grain"},
    }
    graph["21"] = {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "35mm film still", "clip": ["20", 1]},
        "_meta": {"title": "Style prefix"},
    }
    graph["22"] = {
        "class_type": "ConditioningCombine",
        "inputs": {"conditioning_1": ["21", 0], "conditioning_2": ["6", 0]},
        "_meta": {"title": "Combine"},
    }
    graph["6"]["_meta"]["title"] = "director:positive"
    graph["6"]["inputs"]["clip"] = ["20", 1]
    graph["7"]["inputs"]["clip"] = ["20", 1]
    graph["3"]["inputs"].update(model=["20", 0], positive=["22", 0], steps=12)
    path.write_text(json.dumps(graph), encoding="utf-8")
    return path


def test_a_users_workflow_file_gets_the_prompt_where_titled_and_the_style_lora(tmp_path, comfyui):
    workflow = _user_workflow(tmp_path / "my-sdxl.json")
    result = _run(
        tmp_path,
        comfyui,
        "--image",
        f"comfyui:{workflow}",
        "--lora",
        "storyboard_sketch_xl.safetensors:0.6",
        "--video",
        "previz",
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "film"
    keyframes = [a for a in _attempts(run) if a.kind == "keyframe"]
    assert keyframes
    for attempt in keyframes:
        graph = attempt.params["graph"]
        assert graph["6"]["inputs"]["text"] == attempt.prompt
        assert graph["21"]["inputs"]["text"] == "35mm film still"
        loras = {n["inputs"]["lora_name"]: n for n in graph.values() if "lora_name" in n["inputs"]}
        assert set(loras) == {"film_grain.safetensors", "storyboard_sketch_xl.safetensors"}
        assert loras["storyboard_sketch_xl.safetensors"]["inputs"]["strength_model"] == 0.6
        assert "storyboard_sketch_xl.safetensors @ 0.6" in attempt.params["comfyui"]["lora"]
    assert "storyboard_sketch_xl.safetensors @ 0.6" in (run / "workflow.md").read_text()
    _sent_once(comfyui)


def test_a_kill_during_a_prompt_then_resume_queues_no_prompt_twice(tmp_path):
    with FakeComfyUI(exec_seconds=0.4) as fake:
        args = ["--image", "comfyui:sdxl", "--video", "comfyui:wan2.2-i2v"]
        command = [sys.executable, "-m", "director", "run", "--logline", LOGLINE, *FILM]
        command += ["--run-id", "killed", *args]
        env = {**os.environ, "COMFYUI_URL": fake.url}
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        running = _wait_for_a_running_clip(fake, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        result = director("resume", "killed", "--yes", "--runs-dir", "runs", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        fake.wait_idle()
        _sent_once(fake)
        run = tmp_path / "runs" / "killed"
        collected = {a.job_id for a in _attempts(run)}
        assert running in collected  # the prompt running at the kill was collected, not redone
        assert probe(run / "film.mp4").video_codec == "h264"


def _wait_for_a_running_clip(fake: FakeComfyUI, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before a clip was queued"
        running = fake.queue()["queue_running"]
        if running and any(n["class_type"] == "SaveVideo" for n in running[0][2].values()):
            return running[0][1]
        time.sleep(0.05)
    raise AssertionError("no clip prompt ran within 240 s")


def test_a_failing_node_is_a_failed_attempt_the_ladder_climbs_past(tmp_path, comfyui):
    comfyui.fail_classes = {"KSampler"}
    threading.Thread(target=_heal_after_first_failure, args=(comfyui,), daemon=True).start()
    result = _run(tmp_path, comfyui, "--image", "comfyui:sdxl", "--video", "previz")
    assert result.returncode == 0, result.stderr
    events = read_events(tmp_path / "runs" / "film" / "events.jsonl")
    failed = [
        c
        for e in events
        if isinstance(e, CritiqueMade)
        for c in e.critique.checks
        if c.name == "generation" and not c.passed
    ]
    assert failed and "CUDA out of memory" in failed[0].reason and "KSampler" in failed[0].reason
    assert any(e.decision.rung == "reseed" for e in events if isinstance(e, DecisionMade))


def _heal_after_first_failure(fake: FakeComfyUI) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(r.status == "error" for r in fake.runs):
        time.sleep(0.02)
    fake.fail_classes = set()


def test_an_unreachable_server_is_one_clear_line_and_no_run_folder(tmp_path):
    with FakeComfyUI() as fake:
        url = fake.url
    result = director(
        "run", "--logline", LOGLINE, *FILM, "--image", "comfyui:sdxl", "--comfyui-url", url,
        cwd=tmp_path,
    )  # fmt: skip
    assert_clean_error(result, f"ComfyUI at {url} is not reachable")
    assert "--comfyui-url" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_run_resumes_on_a_server_that_moved(tmp_path):
    # A run stops for approval; its ComfyUI server goes away and comes back at another address.
    start = ["run", "--logline", LOGLINE, *(f for f in FILM if f != "--yes"), "--run-id", "film"]
    start += ["--approve", "defer", "--image", "comfyui:sdxl", "--video", "previz"]
    with FakeComfyUI() as old:
        was = old.url
        stopped = director(*start, "--comfyui-url", was, cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
    resume = ["resume", "film", "--runs-dir", "runs"]
    gone = director(*resume, "--yes", cwd=tmp_path)
    assert_clean_error(gone, f"ComfyUI at {was} is not reachable")
    assert "director resume film --comfyui-url URL" in gone.stderr
    bad = director(*resume, "--comfyui-url", "ftp://example", cwd=tmp_path)
    assert_clean_error(bad, "--comfyui-url 'ftp://example' is not an http(s) URL")
    run = tmp_path / "runs" / "film"
    options = lambda: json.loads((run / "run.json").read_text())["options"]  # noqa: E731
    assert options()["comfyui_url"] == was  # nothing recorded by a resume that failed
    with FakeComfyUI() as new:
        now = new.url
        done = director(*resume, "--yes", "--comfyui-url", now, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert new.submissions and not new.duplicate_submissions
    assert probe(run / "film.mp4").video_codec == "h264"
    assert options()["comfyui_url"] == now  # the next resume finds it too
    resumed = [e for e in read_events(run / "events.jsonl") if e.type == "run_resumed"]
    assert resumed[-1].changed["comfyui_url"] == [was, now]


def test_a_model_missing_on_the_server_is_named_before_the_run(tmp_path, comfyui):
    comfyui.models["checkpoints"].remove("sd_xl_base_1.0.safetensors")
    result = _run(tmp_path, comfyui, "--image", "comfyui:sdxl", "--video", "previz")
    assert_clean_error(result, "checkpoint (models/checkpoints) sd_xl_base_1.0.safetensors")
    assert not (tmp_path / "runs" / "film").exists()


def test_doctor_names_the_server_and_what_it_lacks(tmp_path, comfyui):
    env = {"COMFYUI_URL": comfyui.url, "DIRECTOR_VIDEO": "comfyui:wan2.2-t2v"}
    found = _doctor(tmp_path, env)
    assert found["image"]["ok"] and "ComfyUI 0.3.66" in found["image"]["detail"]
    assert found["video"]["ok"] and "wan2.2-t2v" in found["video"]["detail"]
    comfyui.models["diffusion_models"] = []
    found = _doctor(tmp_path, env)
    assert found["image"]["ok"] and not found["video"]["ok"]
    assert "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors" in found["video"]["detail"]


def _doctor(tmp_path: Path, env: dict) -> dict:
    result = director("doctor", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return {f["area"]: f for f in json.loads(result.stdout) if f["name"] == "comfyui"}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--image", "comfyui:no-such-workflow.json"], "No built-in ComfyUI workflow is named"),
        (["--image", "comfyui:wan2.2-i2v"], "makes videos, not images"),
        (["--video", "comfyui:sdxl"], "makes images, not videos"),
        (["--image", "comfyui:sdxl", "--comfyui-url", "localhost:8188"], "not an http(s) URL"),
        (["--image", "comfyui:sdxl", "--comfyui-timeout", "-5"], "must be above zero"),
        (["--image", "comfyui:sdxl", "--lora", "nope.safetensors:0.5"], "nope.safetensors"),
        (["--image", "comfyui:sdxl", "--comfyui-edit", "flux"], "makes images, not edits"),
    ],
)
def test_bad_comfyui_settings_are_one_line_before_the_run(tmp_path, comfyui, args, fragment):
    result = _run(tmp_path, comfyui, *args)
    assert_clean_error(result, fragment)
    assert not (tmp_path / "runs" / "film").exists()


def test_ctrl_c_takes_the_runs_prompts_off_the_server(tmp_path):
    with FakeComfyUI(exec_seconds=3.0) as fake:
        command = [sys.executable, "-m", "director", "run", "--logline", LOGLINE, *FILM]
        command += ["--run-id", "stopped", "--image", "comfyui:sdxl", "--video", "previz"]
        env = {**os.environ, "COMFYUI_URL": fake.url}
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while not fake.queue()["queue_running"] and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.05)
        running = fake.queue()["queue_running"][0][1]
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode != 0 and b"director resume stopped" in stderr
        assert fake.interrupts >= 1
        fake.wait_idle()
        assert fake.queue() == {"queue_running": [], "queue_pending": []}
        assert [run.status for run in fake.runs if run.prompt_id == running] == ["interrupted"]
        # the resume makes the stopped keyframes again, and none is made twice
        fake.exec_seconds = 0.0
        result = director("resume", "stopped", "--yes", "--runs-dir", "runs", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        made = Counter(run.prompt_id for run in fake.runs if run.status == "success")
        assert fake.duplicate_submissions == 0 and max(made.values()) == 1
        failed = [a for a in _attempts(tmp_path / "runs" / "stopped") if a.params.get("failed")]
        assert not failed
