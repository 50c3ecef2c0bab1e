"""The ComfyUI image and video backends against the fake server: a prompt queued once however
often it is submitted, batches for best-of-k, edits with a mask, progress, polling without a
websocket, aborting, the server's refusals and failures as failed generations, and a UI-format
workflow converted with the server's node list."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from director.errors import GenerationFailed
from director.tools.base import ClipRequest, ImageRequest
from director.tools.comfyui.client import ComfyUI
from director.tools.image.comfyui import ComfyUIImage
from director.tools.video.comfyui import ComfyUIVideo
from tests.conftest import make_plan
from tests.fakes.comfyui_server import FakeComfyUI
from tests.test_comfyui_ui_format import sdxl_document

PLAN = make_plan(shot_count=1)


def make_shot():
    return PLAN.shots[0]


def make_bible():
    return PLAN.bible


@pytest.fixture
def comfyui():
    with FakeComfyUI() as fake:
        yield fake


def _request(seed: int = 7, **update) -> ImageRequest:
    request = ImageRequest(
        shot=make_shot(),
        bible=make_bible(),
        seed=seed,
        width=320,
        height=180,
        prompt="a keeper on the rocks at dusk",
        negative_prompt="blurry",
    )
    return request.model_copy(update=update)


def _server(fake: FakeComfyUI, **settings) -> ComfyUI:
    return ComfyUI(url=fake.url, poll_every=0.05, **settings)


def test_a_request_submitted_twice_is_queued_once(comfyui, tmp_path):
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    first = backend.submit(_request())
    again = ComfyUIImage("sdxl", server=_server(comfyui)).submit(_request())  # a resumed run
    assert first.id == again.id
    backend.collect(again, tmp_path / "k.png")
    assert comfyui.submissions == {first.id: 1} and comfyui.duplicate_submissions == 0
    assert Image.open(tmp_path / "k.png").size == (320, 180)
    assert backend.held(again).size == (320, 180)


def test_best_of_k_is_one_prompt_with_the_graphs_batch_size(comfyui, tmp_path):
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    jobs = backend.submit_many([_request(seed) for seed in (1, 2, 3)])
    assert len(comfyui.submissions) == 1 and len({job.id for job in jobs}) == 3
    pictures = []
    for index, job in enumerate(jobs):
        backend.collect(job, tmp_path / f"{index}.png")
        pictures.append(Image.open(tmp_path / f"{index}.png").tobytes())
        assert job.params["graph"]["5"]["inputs"]["batch_size"] == 3
    assert len(set(pictures)) == 3


def test_an_edit_uploads_the_keyframe_and_the_region_as_a_mask(comfyui, tmp_path):
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    assert backend.edits
    base = tmp_path / "base.png"
    Image.new("RGB", (320, 180), "navy").save(base)
    job = backend.submit(_request(edit_source=str(base), edit_region=[10, 10, 100, 90]))
    assert job.model == "inpaint"
    backend.collect(job, tmp_path / "edited.png")
    graph = job.params["graph"]
    source, mask = graph["10"]["inputs"]["image"], graph["11"]["inputs"]["image"]
    assert source != mask and {source, mask} <= set(comfyui.uploads)
    masked = Image.open(comfyui.input_dir / mask).convert("L")
    assert masked.getpixel((50, 50)) == 255 and masked.getpixel((200, 150)) == 0


def test_progress_is_heard_over_the_websocket_and_polling_does_without_it(comfyui, tmp_path):
    comfyui.exec_seconds = 0.3
    heard: list[tuple[str, str]] = []
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    backend.progress = lambda shot, text: heard.append((shot, text))
    backend.collect(backend.submit(_request()), tmp_path / "a.png")
    assert heard and heard[-1][0] == "s001" and "step 30/30" in heard[-1][1]
    comfyui.websocket = False
    sockets = comfyui.ws_connections
    backend.collect(backend.submit(_request(seed=8)), tmp_path / "b.png")
    assert comfyui.ws_connections == sockets
    assert (tmp_path / "b.png").is_file()


def test_abort_takes_the_runs_prompts_off_the_server(comfyui):
    comfyui.exec_seconds = 2.0
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    for seed in (1, 2, 3):
        backend.submit(_request(seed))
    deadline = time.monotonic() + 5
    while not comfyui.queue()["queue_running"] and time.monotonic() < deadline:
        time.sleep(0.02)
    backend.abort()
    comfyui.wait_idle()
    assert comfyui.interrupts >= 1
    assert comfyui.queue() == {"queue_running": [], "queue_pending": []}
    ran = [run for run in comfyui.runs if run.status == "success"]
    assert not ran  # nothing of the run rendered on after the abort


def test_a_refused_prompt_is_a_failed_generation_naming_the_node(comfyui):
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    bible = make_bible().model_copy(update={"lora": "not-on-the-server.safetensors"})
    with pytest.raises(GenerationFailed) as failed:
        backend.submit(_request(bible=bible))
    assert "LoraLoader" in str(failed.value) and "not-on-the-server" in str(failed.value)


def test_a_failed_execution_is_a_failed_generation_with_the_nodes_message(comfyui, tmp_path):
    comfyui.fail_classes = {"VAEDecode"}
    backend = ComfyUIImage("sdxl", server=_server(comfyui))
    job = backend.submit(_request())
    with pytest.raises(GenerationFailed) as failed:
        backend.collect(job, tmp_path / "k.png")
    assert "VAEDecode" in str(failed.value) and "CUDA out of memory" in str(failed.value)
    assert failed.value.task_id == job.id and not (tmp_path / "k.png").exists()


def test_a_ui_format_workflow_is_converted_with_the_servers_node_list(comfyui, tmp_path):
    saved = tmp_path / "saved-from-comfyui.json"
    saved.write_text(json.dumps(sdxl_document()), encoding="utf-8")
    backend = ComfyUIImage(str(saved), server=_server(comfyui))
    job = backend.submit(_request())
    backend.collect(job, tmp_path / "k.png")
    assert job.params["workflow"] == str(saved)
    assert job.params["comfyui"]["checkpoint"] == "sd_xl_base_1.0.safetensors"


def _clip(keyframe: Path, **update) -> ClipRequest:
    request = ClipRequest(
        shot=make_shot(),
        keyframe=str(keyframe),
        seed=11,
        duration_s=1.4,
        fps=24,
        width=320,
        height=180,
        prompt="the keeper turns toward the sea",
    )
    return request.model_copy(update=update)


def test_a_clip_starts_from_the_uploaded_keyframe_at_the_runs_size_and_rate(comfyui, tmp_path):
    from director.tools.assemble.probe import probe

    keyframe = tmp_path / "key.png"
    Image.new("RGB", (320, 180), "darkred").save(keyframe)
    backend = ComfyUIVideo("wan2.2-i2v", server=_server(comfyui))
    job = backend.submit(_clip(keyframe))
    backend.collect(job, tmp_path / "clip.mp4")
    graph = job.params["graph"]
    assert graph["62"]["inputs"]["image"] in comfyui.uploads
    assert graph["63"]["inputs"]["length"] == 25  # 1.4 s at 16 fps, up to 4n+1
    assert graph["63"]["inputs"]["width"] % 16 == 0
    info = probe(tmp_path / "clip.mp4")
    assert (info.width, info.height) == (320, 180) and round(info.fps) == 24


def test_a_text_to_video_workflow_says_the_keyframe_was_not_used(comfyui, tmp_path):
    keyframe = tmp_path / "key.png"
    Image.new("RGB", (320, 180), "darkred").save(keyframe)
    backend = ComfyUIVideo("wan2.2-t2v", server=_server(comfyui))
    job = backend.submit(_clip(keyframe))
    assert job.params["keyframe_used"].startswith("no")
    assert comfyui.uploads == []
