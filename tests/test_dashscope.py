"""DashScope Wan backends through the real dashscope SDK, against the fake DashScope server."""

from __future__ import annotations

import base64
import io
import json
import socket
import time

import numpy as np
import pytest
from PIL import Image

from director import registry
from director.cli.doctor import backend_findings
from director.errors import (
    ConfigError,
    GenerationFailed,
    InputError,
    ModerationRejected,
    ProviderError,
)
from director.tools import hosted, pricing
from director.tools.assemble.probe import probe
from director.tools.base import ClipRequest, ImageRequest, Job
from director.tools.dashscope_tasks import SizeRule
from director.tools.image.dashscope import T2I_MODELS, DashScopeImage
from director.tools.video.dashscope import DashScopeVideo
from tests.conftest import make_plan
from tests.fakes import dashscope_server

FAST = {
    "retries": hosted.Retries(throttled=5, failed=3, base_delay=0.01, max_delay=0.05),
    "polling": hosted.Polling(first=0.01, factor=1.5, most=0.05, timeout=10),
}
PLAN = make_plan()
SHOT = PLAN.shots[0]


@pytest.fixture
def fake(monkeypatch):
    yield from dashscope_server.serve(monkeypatch)


def image_request(**extra) -> ImageRequest:
    fields = {"width": 320, "height": 180, "seed": 1234, "negative_prompt": "text, watermark"}
    fields["prompt"] = SHOT.prompt.render()
    return ImageRequest(shot=SHOT, bible=PLAN.bible, **fields | extra)


def clip_request(keyframe, **extra) -> ClipRequest:
    fields = {"duration_s": 3.5, "fps": 24, "width": 320, "height": 180, "seed": 99}
    return ClipRequest(
        shot=SHOT, keyframe=str(keyframe), prompt="she kneels; slow push in", **fields | extra
    )


def picture(path, size=(320, 180), seed=0):
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def no_uploads(fake) -> None:
    assert not any("upload" in p for p in fake.paths())
    assert not any("x-dashscope-ossresourceresolve" in r["headers"] for r in fake.requests)


# --- images -------------------------------------------------------------------------------


def test_text_to_image_submits_before_waiting_and_stores_the_requested_size(fake, tmp_path):
    fake.latency = 0.3
    backend = DashScopeImage(**FAST)
    request = image_request()
    job = backend.submit(request)
    assert job.id in fake.tasks and fake.polls == 0
    backend.collect(job, tmp_path / "k.png")

    assert Image.open(tmp_path / "k.png").size == (320, 180)
    body = fake.bodies("t2i")[0]
    assert body["model"] == "wan2.2-t2i-flash"
    assert body["input"] == {"prompt": request.prompt, "negative_prompt": "text, watermark"}
    sent = body["parameters"]
    assert sent == {
        "n": 1,
        "size": "912*512",
        "seed": 1234,
        "prompt_extend": False,
        "watermark": False,
    }
    assert fake.requests[0]["headers"]["x-dashscope-async"] == "enable"
    assert job.params["prompt"] == request.prompt and job.params["prompt_extend"] is False
    assert job.params["seed"] == 1234 and "912*512" in job.params["size_note"]
    assert job.params["delivered_size"] == "912*512" and job.params["resized_to"] == "320*180"
    assert job.params["usage"] == {"image_count": 1}
    assert fake.polls >= 2  # PENDING/RUNNING first, then SUCCEEDED


def test_calls_are_priced_before_and_billed_after(fake, tmp_path):
    backend = DashScopeImage("wanx2.1-t2i-turbo", **FAST)
    request = image_request()
    assert backend.estimate(request) > 0
    job = backend.submit(request)
    backend.collect(job, tmp_path / "k.png")
    assert job.cost == pytest.approx(backend.estimate(request)) and job.params["cost_detail"]
    edit = image_request(edit_source=str(picture(tmp_path / "s.png")))
    assert backend.estimate(edit) == pricing.estimate("dashscope", "wanx2.1-imageedit", "image")

    video = DashScopeVideo("wanx2.1-i2v-plus", **FAST)
    clip = clip_request(picture(tmp_path / "key.png"))
    assert video.estimate(clip) == pricing.estimate(
        "dashscope", "wanx2.1-i2v-plus", "clip", seconds=5, resolution="720P"
    )
    job = video.submit(clip)
    video.collect(job, tmp_path / "c.mp4")
    assert job.cost == pytest.approx(video.estimate(clip)) and "5 s" in job.params["cost_detail"]


def test_a_size_the_model_makes_is_sent_as_is_and_a_different_delivery_is_resized(fake, tmp_path):
    fake.image_size = (1024, 1024)
    backend = DashScopeImage("wan2.2-t2i-plus", **FAST)
    job = backend.submit(image_request(width=1280, height=720))
    backend.collect(job, tmp_path / "k.png")
    assert fake.bodies()[0]["parameters"]["size"] == "1280*720"
    assert "size_note" not in job.params
    assert Image.open(tmp_path / "k.png").size == (1280, 720)
    assert job.params["delivered_size"] == "1024*1024"


@pytest.mark.parametrize("model", sorted(T2I_MODELS))
@pytest.mark.parametrize("size", [(320, 180), (1920, 1080), (720, 1280), (4000, 500), (512, 512)])
def test_sizes_are_fitted_to_each_model(model, size):
    rule: SizeRule = T2I_MODELS[model]
    w, h = rule.fit(*size)
    assert w % 16 == 0 and h % 16 == 0
    assert rule.min_side <= min(w, h) and max(w, h) <= rule.max_side
    assert rule.min_pixels <= w * h <= rule.max_pixels
    assert max(w / h, h / w) <= rule.max_aspect + 0.05
    if max(size) / min(size) <= 2:  # ordinary frames keep their shape
        assert abs(w / h - size[0] / size[1]) < 0.05


def test_a_masked_edit_sends_the_image_and_its_mask_inline(fake, tmp_path):
    source = picture(tmp_path / "source.png")
    backend = DashScopeImage(**FAST)
    request = image_request(edit_source=str(source), edit_region=[40, 20, 160, 120])
    job = backend.submit(request)
    backend.collect(job, tmp_path / "k.png")

    assert job.model == "wanx2.1-imageedit"
    body = fake.bodies("i2i")[0]
    assert body["input"]["function"] == "description_edit_with_mask"
    # The edit API defines no negative prompt: it is recorded as not sent.
    assert "negative_prompt" not in body["input"] and job.params["negative_prompt_sent"]
    base, mask = decode(body["input"]["base_image_url"]), decode(body["input"]["mask_image_url"])
    assert base.size == mask.size == (910, 512)  # scaled up into the 512-4096 px the model takes
    m = np.asarray(mask.convert("L"))
    scale = 512 / 180
    assert m[round(70 * scale), round(100 * scale)] == 255  # inside the region: repainted
    assert m[5, 5] == 0 and m[-5, -5] == 0  # outside: kept
    assert Image.open(tmp_path / "k.png").size == (320, 180)
    no_uploads(fake)


def test_references_go_to_the_image_to_image_model_as_data_uris(fake, tmp_path):
    refs = [str(picture(tmp_path / f"r{i}.png", seed=i)) for i in range(4)]
    backend = DashScopeImage(**FAST)
    job = backend.submit(image_request(references=refs, reference_strength=0.7))
    backend.collect(job, tmp_path / "k.png")

    assert job.model == "wan2.5-i2i-preview"
    body = fake.bodies("i2i")[0]
    images = body["input"]["images"]
    # The model takes up to three images; its prompt rewriting is off, as for text-to-image.
    assert len(images) == 3 and all(i.startswith("data:image/png;base64,") for i in images)
    assert body["parameters"]["prompt_extend"] is False and job.params["images"] == refs[:3]
    assert not any(str(tmp_path) in json.dumps(b) for b in fake.bodies())
    w, h = (int(v) for v in body["parameters"]["size"].split("*"))
    assert 768 * 768 <= w * h <= 1280 * 1280 and body["parameters"]["n"] == 1
    assert "not sent" in job.params["reference_strength"]
    assert Image.open(tmp_path / "k.png").size == (320, 180)
    no_uploads(fake)


# --- Wan 2.7 images: the messages protocol ------------------------------------------------


def message_of(fake) -> list[dict]:
    """The content of the one user message of the last Wan 2.7 submission."""
    (message,) = fake.bodies("generation")[-1]["input"]["messages"]
    assert message["role"] == "user"
    return message["content"]


def test_wan27_text_to_image_asks_for_one_image_and_its_cost_is_unknown(fake, tmp_path):
    backend = DashScopeImage("wan2.7-image", **FAST)
    request = image_request(width=640, height=360)
    assert backend.estimate(request) is None  # no published price: --budget refuses it
    job = backend.submit(request)
    body = fake.bodies("generation")[0]
    assert fake.requests[0]["path"] == "/api/v1/services/aigc/image-generation/generation"
    assert fake.requests[0]["headers"]["x-dashscope-async"] == "enable"
    assert body == {
        "model": "wan2.7-image",
        "input": {"messages": [{"role": "user", "content": [{"text": request.prompt}]}]},
        "parameters": {"n": 1, "seed": 1234, "watermark": False, "size": "1K", "is_async": True},
    }
    # Collected from its record, in a fresh backend, as a resumed run does.
    saved = Job.model_validate_json(job.model_dump_json())
    DashScopeImage("wan2.7-image", **FAST).collect(saved, tmp_path / "k.png")
    assert Image.open(tmp_path / "k.png").size == (640, 360)
    params = saved.params
    assert (params["mode"], params["size"], params["references"]) == ("text-to-image", "1K", [])
    assert "1K" in params["size_note"] and params["delivered_size"] == "1024*1024"
    assert params["negative_prompt_sent"].startswith("no")  # the model defines none
    assert params["usage"]["image_count"] == 1
    assert saved.cost == 0 and "no price for dashscope:wan2.7-image" in params["cost_unknown"]
    no_uploads(fake)


def test_wan27_region_edit_sends_the_image_and_references_as_items_named_in_words(fake, tmp_path):
    source = str(picture(tmp_path / "source.png"))
    refs = [str(picture(tmp_path / f"r{i}.png", seed=i)) for i in range(3)]
    backend = DashScopeImage("wan2.7-image-pro", **FAST)
    request = image_request(
        edit_source=source, edit_region=[40, 20, 160, 120], references=refs, reference_strength=0.7
    )
    job = backend.submit(request)
    backend.collect(job, tmp_path / "k.png")

    assert job.model == "wan2.7-image-pro" and not fake.bodies("i2i")  # the model does edits
    content = message_of(fake)
    text = content[0]["text"]
    assert text.startswith("Edit image 1 only inside the box from 12% to 50% of its width")
    assert "from 11% to 67% of its height" in text and request.prompt in text
    assert text.endswith("Images 2 to 4 show the characters: keep the same face, hair and build.")
    images = [decode(item["image"]) for item in content[1:]]
    assert images[0].size == (427, 240)  # the image to edit, scaled into the sizes taken
    assert [i.size for i in images[1:]] == [(683, 384)] * 3  # references, only looked at
    assert "mask" not in json.dumps(fake.bodies("generation")[0]["parameters"])
    assert job.params["mode"] == "region edit" and job.params["mask"].startswith("not sent")
    assert job.params["images"] == [source, *refs] and job.params["references"] == refs
    assert job.params["edit_region"] == [40, 20, 160, 120]
    assert job.params["text_sent"] == text and job.params["prompt"] == request.prompt
    assert "not sent" in job.params["reference_strength"]
    assert Image.open(tmp_path / "k.png").size == (320, 180)
    no_uploads(fake)


def test_wan27_takes_nine_images_at_most_the_image_to_edit_first(fake, tmp_path):
    source = str(picture(tmp_path / "source.png"))
    refs = [str(picture(tmp_path / f"r{i}.png", seed=i)) for i in range(10)]
    job = DashScopeImage("wan2.7-image", **FAST).submit(
        image_request(edit_source=source, references=refs)
    )
    content = message_of(fake)
    assert len(content) == 1 + 9
    assert content[0]["text"].startswith("Edit image 1 so that it shows: ")
    assert "Images 2 to 9 show the characters" in content[0]["text"]
    assert job.params["mode"] == "edit" and job.params["references"] == refs[:8]
    assert job.params["references_dropped"] == refs[8:]


@pytest.mark.parametrize(
    "model, size, with_images, preset",
    [
        ("wan2.7-image", (640, 360), False, "1K"),
        ("wan2.7-image", (1920, 1080), False, "2K"),
        ("wan2.7-image", (3840, 2160), False, "2K"),  # the largest it makes
        ("wan2.7-image-pro", (3840, 2160), False, "4K"),
        ("wan2.7-image-pro", (3840, 2160), True, "2K"),  # 4K is text-to-image only
    ],
)
def test_wan27_sizes_are_the_smallest_documented_preset_covering_the_request(
    fake, tmp_path, model, size, with_images, preset
):
    extra = {"references": [str(picture(tmp_path / "r.png"))]} if with_images else {}
    job = DashScopeImage(model, **FAST).submit(
        image_request(width=size[0], height=size[1], **extra)
    )
    assert fake.bodies("generation")[0]["parameters"]["size"] == preset == job.params["size"]


def test_wan27_words_a_chinese_prompt_in_chinese(fake, tmp_path):
    source = str(picture(tmp_path / "source.png"))
    refs = [str(picture(tmp_path / "r.png"))]
    DashScopeImage("wan2.7-image", **FAST).submit(
        image_request(prompt="老园丁跪在花园里", edit_source=source, references=refs)
    )
    text = message_of(fake)[0]["text"]
    assert (
        text
        == "编辑图1，使画面呈现：老园丁跪在花园里\n图2是角色的参考图：保持人物的面容、发型和体型不变。"
    )


def test_wan27_failures_and_refusals_are_the_same_errors_as_the_other_models(fake, tmp_path):
    backend = DashScopeImage("wan2.7-image", **FAST)
    fake.fail_next.append(("InternalError.Algo", "Inference error."))
    job = backend.submit(image_request())
    with pytest.raises(GenerationFailed) as caught:
        backend.collect(job, tmp_path / "k.png")
    assert caught.value.task_id == job.id and caught.value.code == "InternalError.Algo"

    fake.blocked_words = {"gun"}  # the content check reads the text item
    with pytest.raises(ModerationRejected):
        backend.submit(image_request(prompt="a man with a gun"))

    fake.models.discard("wan2.7-image")
    with pytest.raises(ProviderError, match="AccessDenied.Unpurchased"):
        backend.submit(image_request())


def test_an_image_model_the_backend_does_not_know_names_the_ones_it_does():
    with pytest.raises(InputError, match="wan2.7-image-pro") as caught:
        DashScopeImage("wan2.7-t2i")
    assert "wan2.2-t2i-flash" in str(caught.value)


# --- video --------------------------------------------------------------------------------


def test_image_to_video_clip_is_normalised_to_the_request(fake, tmp_path):
    keyframe = picture(tmp_path / "key.png")
    backend = DashScopeVideo(**FAST)
    assert backend.max_in_flight == 4
    job = backend.submit(clip_request(keyframe))
    backend.collect(job, tmp_path / "clip.mp4")

    info = probe(tmp_path / "clip.mp4")
    assert (info.width, info.height, info.fps) == (320, 180, 24.0)
    body = fake.bodies("video")[0]
    assert body["model"] == "wan2.2-i2v-flash"
    assert decode(body["input"]["img_url"]).size == (640, 360)  # at least 360 px a side
    assert body["input"]["extend_prompt"] is False
    params = body["parameters"]
    assert params["resolution"] == "480P" and params["seed"] == 99
    assert params["prompt_extend"] is False and "duration" not in params  # a fixed 5 s model
    assert job.params["delivered"]["duration_s"] == 5.0
    assert job.params["delivered"]["width"] == 832 and job.params["delivered"]["fps"] == 16.0
    assert job.params["normalised_to"] == {"width": 320, "height": 180, "fps": 24}
    no_uploads(fake)


def test_first_and_last_frame_model_gets_both_frames(fake, tmp_path):
    first, last = picture(tmp_path / "a.png", seed=1), picture(tmp_path / "b.png", seed=2)
    backend = DashScopeVideo("wan2.2-kf2v-flash", **FAST)
    job = backend.submit(clip_request(first, end_frame=str(last), width=480, height=270))
    backend.collect(job, tmp_path / "clip.mp4")

    post = next(r for r in fake.requests if r["method"] == "POST")
    assert post["path"] == "/api/v1/services/aigc/image2video/video-synthesis"
    inputs = post["body"]["input"]
    assert inputs["first_frame_url"] != inputs["last_frame_url"]
    assert decode(inputs["last_frame_url"]).size == (640, 360)
    info = probe(tmp_path / "clip.mp4")
    assert (info.width, info.height, info.fps) == (480, 270, 24.0)

    looped = backend.submit(clip_request(first))  # no end frame: the clip returns to its start
    inputs = fake.bodies("kf2v")[-1]["input"]
    assert inputs["first_frame_url"] == inputs["last_frame_url"]
    assert "no end frame" in looped.params["end_frame"]


def test_text_to_video_sends_a_size_and_the_length_asked_for(fake, tmp_path):
    backend = DashScopeVideo("wan2.5-t2v-preview", **FAST)
    job = backend.submit(clip_request(tmp_path / "unused.png", duration_s=4.2))
    backend.collect(job, tmp_path / "clip.mp4")
    body = fake.bodies("video")[0]
    assert body["parameters"]["size"] == "832*480" and body["parameters"]["duration"] == 5
    assert "img_url" not in body["input"] and body["input"]["prompt"] == SHOT.prompt.render()
    assert probe(tmp_path / "clip.mp4").width == 320


# --- faults -------------------------------------------------------------------------------


def test_a_failed_task_is_a_failed_generation_with_its_task_id(fake, tmp_path):
    fake.fail_next.append(("InternalError.Algo", "Inference error: out of memory."))
    backend = DashScopeImage(**FAST)
    job = backend.submit(image_request())
    with pytest.raises(GenerationFailed) as caught:
        backend.collect(job, tmp_path / "k.png")
    assert not isinstance(caught.value, ModerationRejected)
    assert caught.value.task_id == job.id and caught.value.code == "InternalError.Algo"
    assert job.id in str(caught.value)
    assert not (tmp_path / "k.png").exists()


def test_moderation_at_submission_and_as_a_failed_task(fake, tmp_path):
    fake.blocked_words = {"gun"}
    fake.unsafe_words = {"blood"}
    backend = DashScopeImage(**FAST)
    with pytest.raises(ModerationRejected) as caught:
        backend.submit(image_request(prompt="a man with a gun"))
    assert caught.value.code == "DataInspectionFailed"

    job = backend.submit(image_request(prompt="blood on the snow"))
    with pytest.raises(ModerationRejected) as caught:
        backend.collect(job, tmp_path / "k.png")
    assert caught.value.task_id == job.id


def test_throttling_is_retried_after_retry_after(fake):
    fake.throttle_first = 2
    fake.retry_after = 0.2
    job = DashScopeImage(**FAST).submit(image_request())
    assert job.id in fake.tasks and fake.submissions == 3
    gaps = np.diff(fake.submit_times)
    assert all(gap >= 0.2 for gap in gaps), gaps
    assert [f["reason"][:24] for f in job.params["faults"]] == ["HTTP 429 Throttling.Rate"] * 2
    assert all(f["retry_in_s"] >= 0.2 for f in job.params["faults"])

    fake.throttle_first, fake.retry_after = fake.submissions + 1, 3600
    with pytest.raises(ProviderError, match="asks to wait 3600 s"):
        DashScopeImage(**FAST).submit(image_request())


def test_throttling_without_retry_after_backs_off_then_gives_up(fake):
    fake.throttle_first = 10
    fake.retry_after = None
    with pytest.raises(ProviderError, match="still throttled after 5 tries"):
        DashScopeImage(**FAST).submit(image_request())
    assert fake.submissions == 5


def test_server_errors_are_retried_a_bounded_number_of_times(fake, tmp_path):
    fake.submit_errors.extend([(500, "InternalError", "oops")] * 2)
    fake.poll_errors.extend([(503, "ServiceUnavailable", "busy")] * 2)
    backend = DashScopeImage(**FAST)
    job = backend.submit(image_request())
    backend.collect(job, tmp_path / "k.png")
    assert fake.submissions == 3
    reasons = [f["reason"] for f in job.params["faults"]]
    assert (
        reasons == ["HTTP 500 InternalError: oops"] * 2 + ["HTTP 503 ServiceUnavailable: busy"] * 2
    )

    fake.submit_errors.extend([(500, "InternalError", "oops")] * 5)
    with pytest.raises(ProviderError, match="kept failing, 3 tries"):
        backend.submit(image_request())
    assert fake.submissions == 6


def test_a_bad_key_names_the_variable_and_never_shows_the_key(fake, monkeypatch):
    secret = "sk-wrong-0123456789secret"
    monkeypatch.setenv("DASHSCOPE_API_KEY", secret)
    backend = DashScopeImage(**FAST)
    with pytest.raises(ProviderError) as caught:
        backend.submit(image_request())
    assert "DASHSCOPE_API_KEY" in str(caught.value) and secret not in str(caught.value)

    # A service that echoes the key back: the message shows *** in its place.
    monkeypatch.setenv("DASHSCOPE_API_KEY", fake.api_key)
    fake.submit_errors.append((400, "InvalidParameter", f"bad {fake.api_key}"))
    with pytest.raises(GenerationFailed) as caught:
        DashScopeImage(**FAST).submit(image_request())
    assert fake.api_key not in str(caught.value) and "***" in str(caught.value)


def test_an_unreachable_host_is_retried_then_stops_without_a_traceback(monkeypatch, capfd):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    with pytest.raises(ProviderError, match="kept failing, 3 tries"):
        DashScopeImage(**FAST).submit(image_request())
    assert "Traceback" not in capfd.readouterr().err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_key_stops_at_construction_and_doctor_says_what_to_set(monkeypatch):
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    for kind in ("image", "video"):
        with pytest.raises(ConfigError, match="DASHSCOPE_API_KEY"):
            registry.load(kind, "dashscope")
    found = {(f.area, f.name): f for f in backend_findings()}
    assert not found[("image", "dashscope")].ok
    assert "DASHSCOPE_API_KEY" in found[("video", "dashscope")].detail

    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    found = {(f.area, f.name): f for f in backend_findings()}
    assert (
        found[("image", "dashscope")].ok
        and "wan2.2-t2i-flash" in found[("image", "dashscope")].detail
    )
    assert found[("video", "dashscope")].ok


@pytest.mark.parametrize(
    "status, code, message, fragment",
    [
        (404, "ModelNotFound", "Model not exist.", "--image dashscope:MODEL"),
        (400, "InvalidParameter", "Model not exist.", "has no model 'wan2.2-t2i-flash'"),
        (403, "AccessDenied", "Access denied.", "Enable wan2.2-t2i-flash"),
        (
            403,
            "Arrearage",
            "Access denied, please make sure your account is in good standing.",
            "arrears",
        ),
    ],
)
def test_account_and_model_refusals_stop_the_run(fake, status, code, message, fragment):
    fake.submit_errors.append((status, code, message))
    with pytest.raises(ProviderError, match=fragment):
        DashScopeImage(**FAST).submit(image_request())
    assert fake.submissions == 1  # not retried


def test_a_model_the_account_lacks_is_a_provider_error(fake):
    # The service's answer for a model the account has not activated (status-code table).
    fake.models.discard("wan2.2-t2i-flash")
    with pytest.raises(ProviderError, match="AccessDenied.Unpurchased") as caught:
        DashScopeImage(**FAST).submit(image_request())
    assert "Enable wan2.2-t2i-flash" in str(caught.value) and fake.submissions == 1


def test_a_job_record_resumes_in_a_fresh_backend(fake, tmp_path):
    fake.latency = 0.1
    job = DashScopeImage(**FAST).submit(image_request())
    saved = job.model_dump_json()
    assert fake.api_key not in saved
    fresh = DashScopeImage(**FAST)
    fresh.collect(Job.model_validate_json(saved), tmp_path / "k.png")
    assert Image.open(tmp_path / "k.png").size == (320, 180)

    keyframe = picture(tmp_path / "key.png")
    clip = DashScopeVideo(**FAST).submit(clip_request(keyframe))
    DashScopeVideo(**FAST).collect(
        Job.model_validate_json(clip.model_dump_json()), tmp_path / "c.mp4"
    )
    assert probe(tmp_path / "c.mp4").width == 320


# --- downloads ----------------------------------------------------------------------------


def test_download_refuses_plain_http_off_the_service_host(fake, tmp_path):
    allowed = [hosted.host_of(fake.base_url)]
    with pytest.raises(ProviderError, match="Refusing to download"):
        hosted.download(
            "http://results.example.com/x.png", tmp_path / "x", allowed_hosts=allowed,
            max_bytes=10, timeout=1,
        )  # fmt: skip
    with pytest.raises(ProviderError, match="Refusing"):
        hosted.check_url("file:///etc/passwd", allowed)
    hosted.check_url("https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/a.png?x=1", allowed)
    assert list(tmp_path.iterdir()) == []

    # A result URL the service points elsewhere is refused inside collect as well.
    fake.result_base = "http://results.example.com"
    backend = DashScopeImage(**FAST)
    with pytest.raises(ProviderError, match="Refusing"):
        backend.collect(backend.submit(image_request()), tmp_path / "k.png")
    assert fake.downloads == 0


@pytest.mark.parametrize("declared", ["yes", "no"])
def test_download_caps_the_size(fake, tmp_path, declared):
    url = fake.url(f"/blob?bytes=200000&length={declared}")
    allowed = [hosted.host_of(url)]
    with pytest.raises(GenerationFailed) as caught:
        hosted.download(url, tmp_path / "x", allowed_hosts=allowed, max_bytes=100_000, timeout=5)
    assert caught.value.code == "ResultTooLarge"
    assert list(tmp_path.iterdir()) == []
    size = hosted.download(url, tmp_path / "x", allowed_hosts=allowed, max_bytes=200_000, timeout=5)
    assert size == 200_000 and (tmp_path / "x").stat().st_size == 200_000


def test_download_stops_a_slow_body_at_the_time_limit(fake, tmp_path):
    url = fake.url("/blob?bytes=320000&delay=0.1")  # 20 chunks, 2 s in all
    allowed = [hosted.host_of(url)]
    started = time.monotonic()
    with pytest.raises(hosted.Transient, match="longer than 0.3 s"):
        hosted.download(url, tmp_path / "x", allowed_hosts=allowed, max_bytes=10**7, timeout=0.3)
    assert time.monotonic() - started < 0.6
    assert list(tmp_path.iterdir()) == []

    fake.file_delay = 0.2
    backend = DashScopeImage(download_timeout=0.1, **FAST)
    job = backend.submit(image_request(width=1280, height=720))
    with pytest.raises(ProviderError, match="Download of the image: the service kept failing"):
        backend.collect(job, tmp_path / "k.png")
    assert list(tmp_path.iterdir()) == []


def test_retry_after_reads_seconds_and_dates():
    assert hosted.retry_after({"Retry-After": "0.2"}) == 0.2
    assert hosted.retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert hosted.retry_after({}) is None
    assert hosted.is_throttled(400, "Throttling.AllocationQuota")
