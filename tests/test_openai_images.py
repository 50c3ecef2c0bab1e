"""OpenAI image generation and editing against a fake server, through the real SDK."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from director import registry
from director.errors import BackendError, GenerationFailed, ModerationRejected, ProviderError
from director.tools.base import ImageRequest, Job
from director.tools.image.openai_images import SEED_NOTE, OpenAIImage, api_size
from tests.conftest import make_plan
from tests.fakes.openai_server import FakeOpenAI, Reply


@pytest.fixture
def fake(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(config))
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def request(width=320, height=180, **fields) -> ImageRequest:
    plan = make_plan(1)
    shot = plan.shots[0]
    return ImageRequest(
        shot=shot,
        bible=plan.bible,
        seed=1234,
        width=width,
        height=height,
        prompt=shot.prompt.render(),
        negative_prompt="text, watermark",
        **fields,
    )


def picture(path, width=320, height=180):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return str(path)


def size_of(path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def test_generate_draws_at_the_nearest_size_and_writes_the_size_asked_for(fake, tmp_path):
    backend = OpenAIImage()
    job = backend.submit(request())
    assert fake.requests == []  # submit returns before any call: the graph logs the id first
    assert job.params["size"] == "1536x1024" and job.params["seed"] == 1234
    assert (job.params["seed_sent"], job.params["seed_note"]) == (False, SEED_NOTE)
    job = Job.model_validate_json(job.model_dump_json())  # what a resumed run reads back
    OpenAIImage().collect(job, tmp_path / "k.png")
    assert size_of(tmp_path / "k.png") == (320, 180)

    sent = fake.image_requests()[0]
    assert sent.path == "/v1/images/generations"
    body = sent.json
    assert (body["model"], body["size"], body["quality"], body["n"]) == (
        "gpt-image-1.5",
        "1536x1024",
        "medium",
        1,
    )
    assert body["prompt"].endswith("Avoid: text, watermark.") and "seed" not in body
    # medium 1536x1024 is $0.05 an image, plus $5 per million input text tokens.
    text_tokens = len(body["prompt"]) // 4 + 1
    assert job.cost == pytest.approx(0.05 + text_tokens * 5 / 1e6)
    assert "1 image 1536x1024 medium" in job.params["cost_detail"]
    assert backend.estimate(request()) == pytest.approx(0.05)


def test_the_retired_gpt_image_1_is_still_sent_when_named(fake, tmp_path):
    backend = registry.load("image", "openai:gpt-image-1")
    job = backend.generate(request(), tmp_path / "k.png")
    assert fake.image_requests()[0].json["model"] == "gpt-image-1"
    assert backend.estimate(request()) == pytest.approx(0.063)  # its own price, not 1.5's
    assert job.model == "gpt-image-1"


@pytest.mark.parametrize(
    "size, drawn",
    [((720, 1280), (1024, 1536)), ((512, 512), (1024, 1024)), ((2048, 858), (1536, 1024))],
)
def test_sizes_map_to_the_nearest_aspect(size, drawn):
    assert api_size(*size) == drawn


def test_references_go_to_the_edit_endpoint_as_image_parts(fake, tmp_path):
    refs = [picture(tmp_path / "a.png", 200, 260), picture(tmp_path / "b.png", 180, 240)]
    backend = OpenAIImage()
    job = backend.generate(request(references=refs, reference_strength=0.7), tmp_path / "k.png")
    assert size_of(tmp_path / "k.png") == (320, 180)
    sent = fake.image_requests()[0]
    assert sent.path == "/v1/images/edits"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    parts = sent.files("image[]")
    assert len(parts) == 2 and all(p.content_type == "image/png" for p in parts)
    assert Image.open(io.BytesIO(parts[0].data)).size == (200, 260)
    fields = sent.fields()
    assert fields["input_fidelity"] == "high" and fields["size"] == "1536x1024"
    assert "mask" not in {p.name for p in sent.parts}
    assert (job.params["mode"], job.params["references"], job.params["mask"]) == (
        "references",
        2,
        False,
    )


def test_an_edit_sends_a_mask_of_the_region_and_keeps_the_rest(fake, tmp_path):
    source = picture(tmp_path / "best.png")
    region = [100, 40, 180, 120]
    backend = OpenAIImage()
    job = backend.generate(request(edit_source=source, edit_region=region), tmp_path / "e.png")
    sent = fake.image_requests()[0]
    (image,) = sent.files("image[]")
    (mask,) = sent.files("mask")
    assert job.params["mask"] is True and job.params["mode"] == "edit"
    padded = Image.open(io.BytesIO(image.data))
    alpha = np.asarray(Image.open(io.BytesIO(mask.data)).convert("RGBA"))[..., 3]
    assert padded.size == (1536, 1024) and alpha.shape == (1024, 1536)
    # 320x180 sits in 1536x1024 scaled by 4.8, centred: 160 rows of padding above.
    scale, top = 4.8, (1024 - 864) // 2
    assert alpha[top + int(80 * scale), int(140 * scale)] == 0  # inside: repaint
    assert alpha[top + 10, 10] == 255 and alpha[5, 768] == 255  # outside and padding: keep
    assert alpha.mean() > 200

    before = np.asarray(Image.open(source).convert("RGB")).astype(int)
    after = np.asarray(Image.open(tmp_path / "e.png").convert("RGB")).astype(int)
    assert after.shape == before.shape
    assert np.array_equal(after[:30], before[:30]) and np.array_equal(after[:, :80], before[:, :80])
    assert np.abs(after[60:100, 120:160] - before[60:100, 120:160]).mean() > 20


def test_a_content_policy_refusal_is_a_moderation_rejection(fake, tmp_path):
    fake.script_images(Reply.content_policy())
    backend = OpenAIImage()
    job = backend.submit(request())
    with pytest.raises(ModerationRejected, match="safety system") as err:
        backend.collect(job, tmp_path / "k.png")
    assert err.value.task_id == job.id and err.value.code == "content_policy_violation"
    assert not (tmp_path / "k.png").exists()


def test_an_empty_answer_is_a_failed_generation_and_5xx_is_retried(fake, tmp_path):
    fake.script_images(Reply(200, {"created": 0, "data": []}))
    backend = OpenAIImage(max_retries=2)
    with pytest.raises(GenerationFailed) as err:
        backend.generate(request(), tmp_path / "k.png")
    assert err.value.code == "empty_result"
    fake.script_images(Reply.server_error(502), Reply.server_error(500))
    backend.generate(request(), tmp_path / "k.png")
    assert size_of(tmp_path / "k.png") == (320, 180) and len(fake.image_requests()) == 4


def test_a_bad_key_names_the_variable_without_echoing_the_key(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-secret-777777")
    with pytest.raises(ProviderError) as err:
        OpenAIImage().generate(request(), tmp_path / "k.png")
    assert "OPENAI_API_KEY" in str(err.value) and "777777" not in str(err.value)


def test_jobs_of_other_backends_are_refused_and_models_load_by_name(fake, tmp_path):
    backend = registry.load("image", "openai:gpt-image-1-mini")
    assert isinstance(backend, OpenAIImage) and backend.model == "gpt-image-1-mini"
    assert backend.accepts_references and backend.edits
    job = Job(id="previz-1", backend="previz", model="m", kind="image", request={})
    with pytest.raises(BackendError, match="previz"):
        backend.collect(job, tmp_path / "k.png")


def test_a_lost_image_answer_is_never_sent_again_and_stops_with_why(fake, tmp_path, monkeypatch):
    from director.errors import ProviderError
    from tests.fakes.fault_proxy import FaultProxy

    with FaultProxy(fake.base_url.rsplit("/v1", 1)[0]) as proxy:
        monkeypatch.setenv("OPENAI_BASE_URL", proxy.url("/v1"))
        proxy.add("POST", "/v1/images/generations", "lose")
        backend = OpenAIImage()
        job = backend.submit(request())
        with pytest.raises(ProviderError, match="was lost after it was sent"):
            backend.collect(job, tmp_path / "k.png")
    assert len(fake.image_requests()) == 1  # made (and billed) once, never again
    assert not (tmp_path / "k.png").exists()


def test_an_image_request_that_never_reached_the_service_is_sent_again(fake, tmp_path):
    from director.tools.image.openai_images import _sent_once

    class NotSent(Exception):
        pass

    NotSent.__name__ = "ConnectError"
    tries = []

    def call():
        import httpx2
        import openai

        tries.append(1)
        if len(tries) < 3:
            try:
                raise NotSent("refused")
            except NotSent as cause:
                sent = httpx2.Request("POST", "http://127.0.0.1/v1/images/generations")
                raise openai.APIConnectionError(request=sent) from cause
        return "made"

    assert _sent_once(call, retries=3, sleep=lambda s: None) == "made" and len(tries) == 3
