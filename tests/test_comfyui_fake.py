"""The fake ComfyUI answers the published protocol: raw HTTP (urllib) and a websocket-client
drive it the way a client would, and what it refuses is what ComfyUI refuses."""

from __future__ import annotations

import copy
import io
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest
import websocket
from PIL import Image

from tests.fakes.comfyui_server import FakeComfyUI, accept_key

WORKFLOWS = Path(__file__).parent.parent / "director" / "tools" / "comfyui" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def call(fake: FakeComfyUI, path: str, body: Any = None, data: bytes | None = None, **headers):
    """(status, decoded body) of one request; a body makes it a JSON POST."""
    if body is not None:
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(fake.url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, _decode(answer.read(), answer.headers["Content-Type"])
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read(), error.headers["Content-Type"])


def _decode(raw: bytes, content_type: str) -> Any:
    return json.loads(raw) if content_type == "application/json" else raw


def submit(fake: FakeComfyUI, graph: dict, **fields: Any) -> tuple[int, dict]:
    return call(fake, "/prompt", {"prompt": graph, "client_id": "tests", **fields})


def finished(fake: FakeComfyUI, prompt_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll /history as a client without a websocket would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, history = call(fake, f"/history/{prompt_id}")
        if history:
            return history[prompt_id]
        time.sleep(0.01)
    raise AssertionError(f"{prompt_id} did not finish")


def png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def upload(fake: FakeComfyUI, name: str, data: bytes, **fields: str) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
    parts.append(head.encode() + b"Content-Type: image/png\r\n\r\n" + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return call(fake, "/upload/image", data=body, **{"Content-Type": content_type})


def listen(fake: FakeComfyUI, client_id: str) -> websocket.WebSocket:
    ws = websocket.create_connection(f"{fake.ws_url}?clientId={client_id}", timeout=10)
    hello = json.loads(ws.recv())
    assert hello == {
        "type": "status",
        "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id},
    }
    return ws


def messages_until_done(ws: websocket.WebSocket, prompt_id: str) -> list[dict]:
    """Every message up to ``executing`` with node null for the prompt, status ones left out."""
    seen = []
    while True:
        message = json.loads(ws.recv())
        if message["type"] == "status":
            continue
        seen.append(message)
        data = message["data"]
        if message["type"] == "executing" and data["node"] is None:
            assert data["prompt_id"] == prompt_id
            return seen


@pytest.fixture
def fake():
    with FakeComfyUI() as server:
        yield server


def small_i2v(start: str, length: int = 17) -> dict[str, Any]:
    graph = workflow("wan2.2-i2v")
    graph["62"]["inputs"]["image"] = start
    graph["63"]["inputs"].update(width=160, height=96, length=length)
    for sampler in ("57", "58"):
        graph[sampler]["inputs"]["steps"] = 4
    graph["57"]["inputs"]["end_at_step"] = 2
    graph["58"]["inputs"]["start_at_step"] = 2
    return graph


# --- running prompts ---------------------------------------------------------------------


def test_the_default_text_to_image_graph_runs_and_its_png_is_served(fake):
    status, answer = submit(fake, workflow("sdxl"))
    assert status == 200 and answer["node_errors"] == {} and answer["number"] == 0
    entry = finished(fake, answer["prompt_id"])
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"]
    events = [event for event, _ in entry["status"]["messages"]]
    assert events == ["execution_start", "execution_cached", "execution_success"]
    assert entry["prompt"][1] == answer["prompt_id"] and entry["prompt"][4] == ["9"]
    [record] = entry["outputs"]["9"]["images"]
    assert record == {"filename": "sdxl_00001_.png", "subfolder": "director", "type": "output"}
    status, data = call(fake, "/api/view?filename=sdxl_00001_.png&subfolder=director&type=output")
    assert status == 200 and Image.open(io.BytesIO(data)).size == (1024, 1024)
    assert fake.submissions[answer["prompt_id"]] == 1 and fake.executed["KSampler"] == 1


def test_a_batch_gives_different_pictures_with_counters_that_go_on(fake):
    graph = workflow("sdxl")
    graph["5"]["inputs"].update(width=128, height=96, batch_size=2)
    first = finished(fake, submit(fake, graph)[1]["prompt_id"])
    second = finished(fake, submit(fake, graph)[1]["prompt_id"])
    names = [r["filename"] for e in (first, second) for r in e["outputs"]["9"]["images"]]
    assert names == [f"sdxl_{n:05}_.png" for n in (1, 2, 3, 4)]
    pictures = [np.asarray(Image.open(fake.output_dir / "director" / n)) for n in names[:2]]
    assert pictures[0].shape == (96, 128, 3) and not np.array_equal(*pictures)


def test_image_to_video_makes_an_mp4_of_the_length_from_the_uploaded_picture(fake):
    assert upload(fake, "start.png", png((250, 250, 0)))[1]["name"] == "start.png"
    entry = finished(fake, submit(fake, small_i2v("start.png"))[1]["prompt_id"])
    output = entry["outputs"]["61"]
    assert output["animated"] == [True]
    [record] = output["images"]
    assert record["filename"] == "wan2.2-i2v_00001_.mp4"
    status, data = call(fake, f"/view?filename={record['filename']}&subfolder=director")
    video = fake.root / "check.mp4"
    video.write_bytes(data)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(video))
    assert frames == 17 and seconds == pytest.approx(17 / 16, abs=0.01)  # 16 fps kept
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    assert meta["size"] == (160, 96)
    first = np.frombuffer(next(reader), np.uint8).reshape(96, 160, 3)
    assert abs(first[60, 80].astype(int) - [250, 250, 0]).max() < 24  # the picture it was given
    reader.close()


def test_a_wan_length_comes_back_rounded_to_four_frames_plus_one(fake):
    upload(fake, "start.png", png((0, 0, 200)))
    entry = finished(fake, submit(fake, small_i2v("start.png", length=12))[1]["prompt_id"])
    name = entry["outputs"]["61"]["images"][0]["filename"]
    path = fake.output_dir / "director" / name
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 9


# --- what POST /prompt refuses ----------------------------------------------------------


def test_a_known_prompt_id_is_refused_and_counted(fake):
    prompt_id = str(uuid.uuid4())
    assert submit(fake, workflow("sdxl"), prompt_id=prompt_id)[1]["prompt_id"] == prompt_id
    status, answer = submit(fake, workflow("sdxl"), prompt_id=prompt_id)
    assert status == 400 and answer["error"]["type"] == "invalid_prompt"
    assert prompt_id in answer["error"]["message"]
    finished(fake, prompt_id)
    assert submit(fake, workflow("sdxl"), prompt_id=prompt_id)[0] == 400  # in history now
    assert fake.duplicate_submissions == 2 and fake.submissions[prompt_id] == 1
    status, answer = submit(fake, workflow("sdxl"), prompt_id=prompt_id.upper())
    assert status == 400 and "canonical lowercase UUID" in answer["error"]["message"]


def test_an_unknown_node_type_is_named(fake):
    graph = workflow("sdxl")
    graph["3"]["class_type"] = "KSamplerTurbo"
    status, answer = submit(fake, graph)
    assert status == 400 and answer["node_errors"] == {}
    assert answer["error"] == {
        "type": "invalid_prompt",
        "message": "Cannot execute because node KSamplerTurbo does not exist.",
        "details": "Node ID '#3'",
        "extra_info": {},
    }


def failed_nodes(answer: dict) -> dict[str, list[str]]:
    assert answer["error"]["type"] == "prompt_outputs_failed_validation"
    return {n: [e["type"] for e in v["errors"]] for n, v in answer["node_errors"].items()}


def test_a_missing_required_input(fake):
    graph = workflow("sdxl")
    del graph["3"]["inputs"]["cfg"]
    status, answer = submit(fake, graph)
    assert status == 400 and failed_nodes(answer) == {"3": ["required_input_missing"]}
    error = answer["node_errors"]["3"]
    assert error["class_type"] == "KSampler" and error["dependent_outputs"] == ["9"]
    assert error["errors"][0]["extra_info"]["input_name"] == "cfg"


def test_a_model_the_server_does_not_have(fake):
    fake.models["checkpoints"].remove("sd_xl_base_1.0.safetensors")
    status, answer = submit(fake, workflow("sdxl"))
    assert status == 400 and failed_nodes(answer) == {"4": ["value_not_in_list"]}
    error = answer["node_errors"]["4"]["errors"][0]
    assert error["extra_info"]["input_name"] == "ckpt_name"
    assert "'sd_xl_base_1.0.safetensors' not in" in error["details"]


@pytest.mark.parametrize(
    ("node", "name", "value", "kind"),
    [
        ("3", "steps", 20.0, "invalid_input_type"),
        ("3", "seed", -1, "value_smaller_than_min"),
        ("3", "denoise", 1.5, "value_bigger_than_max"),
        ("3", "sampler_name", "dpm++2m", "value_not_in_list"),
        ("3", "model", ["4", 1], "return_type_mismatch"),
        ("3", "model", ["99", 0], "bad_linked_input"),
        ("3", "model", [4, 0], "bad_linked_input"),
        ("3", "sampler", "euler", "unknown_input"),
        ("3", "positive", "a prompt", "invalid_input_type"),
    ],
)
def test_bad_inputs_are_refused_with_comfyui_error_types(fake, node, name, value, kind):
    graph = workflow("sdxl")
    graph[node]["inputs"][name] = value
    status, answer = submit(fake, graph)
    assert status == 400 and failed_nodes(answer) == {node: [kind]}


def test_a_graph_without_an_output_node(fake):
    graph = workflow("sdxl")
    del graph["9"]
    status, answer = submit(fake, graph)
    assert status == 400 and answer["error"]["type"] == "prompt_no_outputs"
    assert submit(fake, {"1": {"class_type": "EmptyImage"}})[1]["error"]["type"] == "invalid_prompt"
    assert call(fake, "/prompt", {"client_id": "x"})[1]["error"]["type"] == "no_prompt"
    assert len(fake.refusals) == 3 and not fake.submissions


def test_a_missing_upload_fails_load_image_validation(fake):
    status, answer = submit(fake, small_i2v("nowhere.png"))
    assert status == 400 and failed_nodes(answer) == {"62": ["custom_validation_failed"]}


# --- uploads and files -------------------------------------------------------------------


def test_an_identical_upload_is_a_no_op_and_a_different_one_is_renamed(fake):
    assert upload(fake, "start.png", png((1, 2, 3)))[1] == {
        "name": "start.png",
        "subfolder": "",
        "type": "input",
    }
    written = fake.upload_bytes_written
    assert upload(fake, "start.png", png((1, 2, 3)))[1]["name"] == "start.png"
    assert fake.upload_bytes_written == written and fake.upload_writes == 1
    assert upload(fake, "start.png", png((9, 9, 9)))[1]["name"] == "start (1).png"
    assert upload(fake, "start.png", png((8, 8, 8)), overwrite="true")[1]["name"] == "start.png"
    assert fake.uploads == ["start.png", "start.png", "start (1).png", "start.png"]
    info = call(fake, "/object_info/LoadImage")[1]
    assert info["LoadImage"]["input"]["required"]["image"][0] == ["start (1).png", "start.png"]


def test_files_outside_the_folders_are_not_served(fake):
    fake.add_input("a.png", png((1, 1, 1)))
    assert call(fake, "/view?filename=a.png&type=input")[0] == 200
    assert call(fake, "/view?filename=../input/a.png&type=output")[0] == 400
    assert call(fake, "/view?filename=a.png&subfolder=../input&type=output")[0] == 403
    assert call(fake, "/view?filename=b.png&type=input")[0] == 404
    assert upload(fake, "x.png", b"x", subfolder="../output")[0] == 400


def test_schemas_models_and_system_stats(fake):
    info = call(fake, "/object_info")[1]
    seed = info["KSampler"]["input"]["required"]["seed"]
    assert seed == [
        "INT",
        {"default": 0, "min": 0, "max": 2**64 - 1, "step": 1, "control_after_generate": True},
    ]
    assert info["CheckpointLoaderSimple"]["output"] == ["MODEL", "CLIP", "VAE"]
    assert info["SaveVideo"]["output_node"] and not info["VAEDecode"]["output_node"]
    assert call(fake, "/object_info/NoSuchNode")[1] == {}
    assert "film_grain.safetensors" in call(fake, "/models/loras")[1]
    stats = call(fake, "/system_stats")[1]
    assert stats["system"]["comfyui_version"] == "0.3.66"
    assert stats["devices"][0]["type"] == "cuda" and stats["devices"][0]["vram_total"] > 0


# --- the websocket, the queue, interrupts and failures ----------------------------------


def test_the_websocket_tells_one_prompt_from_start_to_executing_null(fake):
    ws = listen(fake, "abc")
    answer = submit(fake, workflow("flux") | {}, client_id="abc")[1]
    seen = messages_until_done(ws, answer["prompt_id"])
    kinds = [m["type"] for m in seen]
    assert kinds[:2] == ["execution_start", "execution_cached"]
    assert kinds[-2:] == ["execution_success", "executing"]
    progress = [m["data"] for m in seen if m["type"] == "progress"]
    assert [p["value"] for p in progress] == list(range(1, 21)) and progress[0]["max"] == 20
    assert {p["node"] for p in progress} == {"31"}
    [executed] = [m["data"] for m in seen if m["type"] == "executed"]
    assert executed["node"] == "9" and executed["output"]["images"][0]["subfolder"] == "director"
    executing = [m["data"]["node"] for m in seen if m["type"] == "executing"]
    assert executing[-1] is None and executing.index("31") > executing.index("4")
    assert call(fake, f"/history/{answer['prompt_id']}")[1]  # there when executing null arrives
    ws.close()


def test_events_go_only_to_the_submitting_client_and_are_not_replayed(fake):
    other = listen(fake, "other")
    answer = submit(fake, workflow("sdxl"), client_id="abc")[1]
    finished(fake, answer["prompt_id"])
    late = listen(fake, "abc")  # connects after the prompt finished: hears nothing of it
    other.settimeout(0.3)
    late.settimeout(0.3)
    heard = []
    with pytest.raises(websocket.WebSocketTimeoutException):
        while True:
            heard.append(json.loads(other.recv())["type"])
    assert set(heard) == {"status"}
    with pytest.raises(websocket.WebSocketTimeoutException):
        late.recv()
    other.close()
    late.close()


def test_the_websocket_can_be_turned_off_so_clients_poll():
    with FakeComfyUI(websocket=False) as fake:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(f"{fake.ws_url}?clientId=x", timeout=5)
        assert refused.value.status_code == 404
        prompt_id = submit(fake, workflow("sdxl"))[1]["prompt_id"]
        assert finished(fake, prompt_id)["status"]["status_str"] == "success"


def test_the_handshake_answers_the_rfc_6455_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_one_prompt_runs_at_a_time_in_submission_order_and_busy_time_is_kept():
    with FakeComfyUI(exec_seconds=0.1) as fake:
        graph = workflow("sdxl")
        graph["5"]["inputs"].update(width=64, height=64)
        ids = [submit(fake, copy.deepcopy(graph))[1]["prompt_id"] for _ in range(3)]
        queue = call(fake, "/queue")[1]
        assert len(queue["queue_running"]) + len(queue["queue_pending"]) >= 2
        fake.wait_idle()
        assert [run.prompt_id for run in fake.runs] == ids
        assert all(b.start >= a.end for a, b in zip(fake.runs, fake.runs[1:], strict=False))
        assert 0.3 <= fake.busy_seconds < 0.6 and max(fake.idle_gaps()) < 0.1


def test_the_queue_can_be_cleared_and_pruned():
    with FakeComfyUI(exec_seconds=0.3) as fake:
        ids = [submit(fake, workflow("sdxl"))[1]["prompt_id"] for _ in range(4)]
        call(fake, "/queue", {"delete": [ids[2]]})
        pending = [item[1] for item in call(fake, "/queue")[1]["queue_pending"]]
        assert ids[2] not in pending and ids[3] in pending
        call(fake, "/queue", {"clear": True})
        assert call(fake, "/queue")[1]["queue_pending"] == []
        call(fake, "/interrupt", {})
        fake.wait_idle()
        assert [run.prompt_id for run in fake.runs] == ids[:1]


def test_an_interrupt_ends_the_running_prompt_with_an_error_status():
    with FakeComfyUI(exec_seconds=5.0) as fake:
        ws = listen(fake, "abc")
        prompt_id = submit(fake, workflow("sdxl"), client_id="abc")[1]["prompt_id"]
        while json.loads(ws.recv())["type"] != "progress":
            pass
        assert call(fake, "/interrupt", {"prompt_id": str(uuid.uuid4())})[0] == 200  # not it
        call(fake, "/api/interrupt", {"prompt_id": prompt_id})
        seen = messages_until_done(ws, prompt_id)
        [stop] = [m["data"] for m in seen if m["type"] == "execution_interrupted"]
        assert stop["node_id"] == "3" and stop["node_type"] == "KSampler"
        assert "4" in stop["executed"]
        entry = finished(fake, prompt_id)
        assert entry["status"]["status_str"] == "error" and not entry["status"]["completed"]
        assert entry["status"]["messages"][-1][0] == "execution_interrupted"
        assert fake.interrupts == 2 and fake.busy_seconds < 2
        ws.close()


def test_a_failure_knob_gives_an_execution_error(fake):
    fake.fail_marker = "OOM-ME"
    fake.fail_message = "CUDA out of memory. Tried to allocate 20.00 GiB"
    ws = listen(fake, "abc")
    graph = workflow("sdxl")
    graph["6"]["inputs"]["text"] += " OOM-ME"
    prompt_id = submit(fake, graph, client_id="abc")[1]["prompt_id"]
    seen = messages_until_done(ws, prompt_id)
    [error] = [m["data"] for m in seen if m["type"] == "execution_error"]
    assert error["node_id"] == "3" and error["node_type"] == "KSampler"
    assert error["exception_message"] == fake.fail_message
    assert error["exception_type"] == "torch.OutOfMemoryError" and error["traceback"]
    entry = finished(fake, prompt_id)
    assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
    fake.fail_marker, fake.fail_classes = None, {"VAEDecode"}
    entry = finished(fake, submit(fake, workflow("sdxl"))[1]["prompt_id"])
    assert entry["status"]["messages"][-1][1]["node_type"] == "VAEDecode"
    ws.close()


def test_http_faults_answer_500_then_recover(fake):
    fake.fail_next(2, path="/history")
    assert call(fake, "/history")[0] == 500
    assert call(fake, "/queue")[0] == 200
    assert call(fake, "/api/history")[0] == 500
    assert call(fake, "/history")[0] == 200


def test_stop_closes_listening_websockets_and_ends_its_threads():
    before = set(threading.enumerate())
    fake = FakeComfyUI(exec_seconds=30.0)
    with fake:
        ws = listen(fake, "abc")
        submit(fake, workflow("sdxl"))
        started = time.monotonic()
    assert time.monotonic() - started < 2 and not fake.root.exists()
    opcode, data = ws.recv_data()
    while opcode == websocket.ABNF.OPCODE_TEXT:  # the status messages the submission caused
        opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1001).to_bytes(2, "big")
    ws.close()
    time.sleep(0.05)  # the websocket's handler thread returns once its socket is shut
    assert [t for t in threading.enumerate() if t not in before] == []


def shrink(graph: dict[str, Any]) -> dict[str, Any]:
    """The graph with small pictures, short videos and few steps, to keep the tests fast."""
    for node in graph.values():
        inputs = node["inputs"]
        if "width" in inputs:
            inputs.update(width=96, height=64)
        if "length" in inputs:
            inputs["length"] = 9
        if "steps" in inputs:
            inputs["steps"] = 4
    return graph


@pytest.mark.parametrize("name", ["sdxl", "flux", "inpaint", "wan2.2-i2v", "wan2.2-t2v"])
def test_every_built_in_workflow_runs(fake, name):
    upload(fake, "start.png", png((10, 200, 10)))
    upload(fake, "source.png", png((10, 10, 200)))
    mask = Image.new("RGB", (64, 48), (0, 0, 0))
    mask.paste((255, 255, 255), (0, 0, 32, 48))  # repaint the left half
    out = io.BytesIO()
    mask.save(out, format="PNG")
    upload(fake, "mask.png", out.getvalue())
    status, answer = submit(fake, shrink(workflow(name)))
    assert status == 200, answer
    entry = finished(fake, answer["prompt_id"])
    assert entry["status"]["status_str"] == "success"
    [output] = entry["outputs"].values()
    [record] = output["images"]
    kept = fake.output_dir / record["subfolder"] / record["filename"]
    if name.startswith("wan"):
        assert imageio_ffmpeg.count_frames_and_secs(str(kept))[0] == 9
        return
    picture = np.asarray(Image.open(kept))
    if name != "inpaint":
        assert picture.shape == (64, 96, 3)
        return
    # The source's size; its right half kept, the masked left half repainted.
    assert picture.shape == (48, 64, 3)
    assert abs(picture[40, 50].astype(int) - [10, 10, 200]).max() < 8
    assert abs(picture[40, 10].astype(int) - [10, 10, 200]).max() > 8


def test_a_lora_between_the_checkpoint_and_its_consumers(fake):
    graph = shrink(workflow("sdxl"))
    graph["20"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "model": ["4", 0],
            "clip": ["4", 1],
            "lora_name": "film_grain.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.8,
        },
    }
    graph["3"]["inputs"]["model"] = ["20", 0]
    graph["6"]["inputs"]["clip"] = graph["7"]["inputs"]["clip"] = ["20", 1]
    assert finished(fake, submit(fake, graph)[1]["prompt_id"])["status"]["completed"]
    assert fake.executed["LoraLoader"] == 1
    fake.models["loras"] = []
    assert failed_nodes(submit(fake, graph)[1]) == {"20": ["value_not_in_list"]}


def test_a_graph_with_one_bad_output_still_runs_the_good_one(fake):
    graph = shrink(workflow("sdxl"))
    graph["10"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    graph["11"] = {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}}  # a MODEL
    status, answer = submit(fake, graph)
    assert status == 200, answer  # as ComfyUI: queued, the broken output reported
    assert list(answer["node_errors"]) == ["11"]
    errors = answer["node_errors"]["11"]["errors"]
    assert {e["type"] for e in errors} == {"required_input_missing", "return_type_mismatch"}
    entry = finished(fake, answer["prompt_id"])
    assert sorted(entry["outputs"]) == ["10", "9"] and entry["prompt"][4] == ["9", "10"]
    assert entry["outputs"]["10"]["images"][0]["type"] == "temp"


def test_history_listing_and_clearing(fake):
    ids = [submit(fake, shrink(workflow("sdxl")))[1]["prompt_id"] for _ in range(3)]
    fake.wait_idle()
    assert list(call(fake, "/history?max_items=2")[1]) == ids[1:]
    call(fake, "/history", {"delete": [ids[0]]})
    assert list(call(fake, "/history")[1]) == ids[1:]
    call(fake, "/history", {"clear": True})
    assert call(fake, "/history")[1] == {} and call(fake, f"/history/{ids[2]}")[1] == {}


def test_a_hung_request_stalls_then_is_served(fake):
    fake.hang_next(1, seconds=0.3, path="/system_stats")
    started = time.monotonic()
    assert call(fake, "/system_stats")[0] == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(TimeoutError):
        fake.hang_next(1, seconds=5.0)
        urllib.request.urlopen(fake.url + "/queue", timeout=0.2)


def test_a_body_the_server_cannot_use(fake):
    status, answer = call(fake, "/prompt", data=b"{not json", **{"Content-Type": "text/plain"})
    assert status == 400 and answer["error"]["type"] == "invalid_prompt"
    status, answer = submit(fake, workflow("sdxl"), extra_data=[1])
    assert status == 400 and "extra_data" in answer["error"]["message"]
