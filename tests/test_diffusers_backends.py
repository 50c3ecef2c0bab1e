"""The diffusers image and video backends on tiny random-weight pipelines built in the test.

Each pipeline is saved to a folder and loaded through the backends' own local-only
from_pretrained path, so what runs is what runs on a real model, at toy size on the CPU.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from PIL import Image  # noqa: E402

from director import registry  # noqa: E402
from director.errors import BackendError, InputError, ToolMissing  # noqa: E402
from director.tools.assemble.probe import probe  # noqa: E402
from director.tools.base import ClipRequest, ImageRequest, Job  # noqa: E402
from director.tools.image.diffusers_image import DiffusersImage  # noqa: E402
from director.tools.video.diffusers_video import DiffusersVideo, generated_frames  # noqa: E402
from tests import diffusers_tiny as tiny  # noqa: E402
from tests.conftest import make_plan  # noqa: E402

PROMPT = "a woman in a green coat in the rain, film still"
# Batched and one-by-one runs differ only by float rounding in batched kernels.
BATCH_TOLERANCE = 2


@pytest.fixture(autouse=True)
def _no_diffusers_settings(monkeypatch):
    """The backends' settings come from each test, never from the developer's environment."""
    import os

    for name in [n for n in os.environ if n.startswith("DIRECTOR_DIFFUSERS_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusers-models")
    return {
        "sdxl": tiny.sdxl(root / "sdxl"),
        "flux": tiny.flux(root / "flux"),
        "wan-t2v": tiny.wan(root / "wan-t2v", image_to_video=False),
        "wan-i2v": tiny.wan(root / "wan-i2v", image_to_video=True),
    }


def image_backend(models, family: str = "sdxl", **kwargs) -> DiffusersImage:
    return DiffusersImage(str(models[family]), device="cpu", steps=2, **kwargs)


def request(seed: int, *, width=64, height=48, prompt=PROMPT, lora=None, negative="watermark"):
    plan = make_plan(1)
    bible = plan.bible.model_copy(update={"lora": lora})
    return ImageRequest(
        shot=plan.shots[0],
        bible=bible,
        seed=seed,
        width=width,
        height=height,
        prompt=prompt,
        negative_prompt=negative,
    )


def render(backend, req, tmp_path, name: str) -> np.ndarray:
    dest = tmp_path / f"{name}.png"
    backend.generate(req, dest)
    return pixels(dest)


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


# --- keyframes --------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["sdxl", "flux"])
def test_keyframe_is_a_png_of_the_requested_size(models, tmp_path, family):
    backend = image_backend(models, family)
    dest = tmp_path / "key.png"
    job = backend.generate(request(7, width=100, height=60), dest)
    with Image.open(dest) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (100, 60), "RGB")
    multiple = 8 if family == "sdxl" else 2
    assert job.params["render_width"] % multiple == 0
    assert job.params["render_height"] % multiple == 0
    assert (job.params["width"], job.params["height"]) == (100, 60)
    assert job.params["device"] == "cpu" and job.params["dtype"] == "float32"
    assert job.id.startswith("diffusers-") and job.model == str(models[family])


def test_seed_decides_the_image(models, tmp_path):
    backend = image_backend(models)
    first = render(backend, request(11), tmp_path, "a")
    again = render(backend, request(11), tmp_path, "b")
    other = render(backend, request(12), tmp_path, "c")
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 1.0


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sdxl", "flux"])
def test_best_of_k_is_one_batch_equal_to_one_by_one(models, tmp_path, family):
    backend = image_backend(models, family)
    denoiser = getattr(backend.pipeline, "unet", None) or backend.pipeline.transformer
    batch_sizes: list[int] = []
    hook = denoiser.register_forward_pre_hook(
        lambda _m, args, kwargs: batch_sizes.append(
            (args[0] if args else kwargs["hidden_states"]).shape[0]
        ),
        with_kwargs=True,
    )
    seeds = [21, 22, 23, 24]
    jobs = backend.submit_many([request(s) for s in seeds])
    batched = []
    for i, job in enumerate(jobs):
        backend.collect(job, tmp_path / f"batch{i}.png")
        batched.append(pixels(tmp_path / f"batch{i}.png"))
    hook.remove()
    # Two steps of one pass; SDXL doubles the batch for classifier-free guidance.
    per_image = 2 if family == "sdxl" else 1
    assert batch_sizes == [4 * per_image] * 2
    assert all(job.params["batch_size"] == 4 for job in jobs)
    singles = image_backend(models, family)
    for seed, image in zip(seeds, batched, strict=True):
        alone = render(singles, request(seed), tmp_path, f"one{seed}")
        assert np.abs(image - alone).max() <= BATCH_TOLERANCE
    assert np.abs(batched[0] - batched[1]).mean() > 1.0


def test_prompt_is_encoded_once_across_rerolls(models, tmp_path):
    backend = image_backend(models)
    calls = []
    backend.pipeline.text_encoder_2.register_forward_hook(lambda *_: calls.append(1))
    render(backend, request(1), tmp_path, "first")
    encoded = len(calls)
    assert encoded == 2  # the prompt and the negative prompt
    for seed in (2, 3, 4):
        render(backend, request(seed), tmp_path, f"reroll{seed}")
    backend.submit_many([request(5), request(6)])
    assert len(calls) == encoded
    render(backend, request(7, prompt="a man with a dog at night"), tmp_path, "new")
    assert len(calls) == 2 * encoded


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sdxl", "flux"])
def test_style_lora_loads_once_and_changes_the_image(models, tmp_path, family):
    from diffusers import FluxPipeline, StableDiffusionXLPipeline

    pipe_class = StableDiffusionXLPipeline if family == "sdxl" else FluxPipeline
    source = pipe_class.from_pretrained(str(models[family]), local_files_only=True)
    denoiser = source.unet if family == "sdxl" else source.transformer
    lora = tiny.lora(pipe_class, denoiser, tmp_path / "lora")

    backend = image_backend(models, family)
    loads = []
    original = backend.pipeline.load_lora_weights
    backend.pipeline.load_lora_weights = lambda *a, **k: loads.append(a) or original(*a, **k)
    plain = render(backend, request(5), tmp_path, "plain")
    styled = render(backend, request(5, lora=str(lora)), tmp_path, "styled")
    styled_again = render(backend, request(6, lora=str(lora)), tmp_path, "styled2")
    plain_again = render(backend, request(5), tmp_path, "plain2")
    assert len(loads) == 1
    assert np.abs(plain - styled).mean() > 1.0
    assert not np.array_equal(styled, styled_again)
    assert np.array_equal(plain, plain_again)
    folder = render(image_backend(models, family), request(5, lora=str(lora.parent)), tmp_path, "f")
    assert np.array_equal(folder, styled)


def test_a_job_record_is_collected_by_another_backend(models, tmp_path):
    first = image_backend(models)
    job = first.submit(request(31))
    first.collect(job, tmp_path / "here.png")
    record = Job.model_validate_json(job.model_dump_json())
    image_backend(models).collect(record, tmp_path / "resumed.png")
    assert np.array_equal(pixels(tmp_path / "here.png"), pixels(tmp_path / "resumed.png"))


def test_registry_names_the_backends(models):
    image = registry.load("image", f"diffusers:{models['sdxl']}", device="cpu")
    assert isinstance(image, DiffusersImage) and image.renders_faces
    assert not image.accepts_references and not image.edits
    video = registry.load("video", f"diffusers:{models['wan-i2v']}", device="cpu")
    assert isinstance(video, DiffusersVideo)


# --- clips ------------------------------------------------------------------------------


def clip_request(keyframe, *, seconds=0.6, fps=10, width=40, height=24, hold=0) -> ClipRequest:
    shot = make_plan(1).shots[0]
    return ClipRequest(
        shot=shot,
        keyframe=str(keyframe),
        seed=3,
        duration_s=seconds,
        fps=fps,
        width=width,
        height=height,
        prompt="a woman walks in the rain",
        hold_bottom_px=hold,
    )


@pytest.fixture
def keyframe(tmp_path):
    gradient = np.linspace(0, 255, 40 * 24 * 3).reshape(24, 40, 3).astype(np.uint8)
    path = tmp_path / "key.png"
    Image.fromarray(gradient).save(path)
    return path


def frames_of(path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wan-i2v", "wan-t2v"])
def test_wan_writes_an_mp4_of_the_requested_size_and_length(models, tmp_path, keyframe, kind):
    backend = DiffusersVideo(str(models[kind]), device="cpu", steps=2)
    job = backend.submit(clip_request(keyframe, hold=6))
    assert (job.params["frames"], job.params["frames_generated"]) == (6, 9)
    assert (job.params["render_width"], job.params["render_height"]) == (32, 32)
    dest = tmp_path / "clip.mp4"
    backend.collect(job, dest)
    pipeline = backend.pipeline
    info = probe(dest, count_frames=True)
    assert (info.width, info.height, info.frames) == (40, 24, 6)
    assert info.fps == pytest.approx(10)
    frames = frames_of(dest)
    # The held caption rows stay still while the rest moves.
    held = np.abs(frames[0, -4:].astype(int) - frames[-1, -4:]).mean()
    assert held < 3
    # The next shot reuses the loaded pipeline.
    backend.collect(backend.submit(clip_request(keyframe, seconds=0.4)), tmp_path / "next.mp4")
    assert backend.pipeline is pipeline
    assert probe(tmp_path / "next.mp4", count_frames=True).frames == 4


def test_frame_counts_are_4k_plus_1():
    assert [generated_frames(n) for n in (1, 2, 5, 6, 9, 120, 121)] == [1, 5, 5, 9, 9, 121, 121]


# --- refusals ---------------------------------------------------------------------------


def test_models_are_local_only(models, tmp_path):
    with pytest.raises(InputError, match="never downloads"):
        DiffusersImage("stabilityai/stable-diffusion-xl-base-1.0", device="cpu")
    with pytest.raises(InputError, match="never downloads"):
        DiffusersVideo("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", device="cpu")
    with pytest.raises(InputError, match="No diffusers model"):
        DiffusersImage(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(InputError, match="needs a local model"):
        DiffusersImage("", device="cpu")
    with pytest.raises(InputError, match="no model_index.json"):
        DiffusersImage(str(tmp_path), device="cpu")


def test_an_incomplete_folder_is_refused_without_a_download(models, tmp_path):
    broken = tmp_path / "sdxl"
    shutil.copytree(models["sdxl"], broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.unlink()
    backend = DiffusersImage(str(broken), device="cpu", steps=2)
    with pytest.raises(InputError, match="Cannot load the diffusers model"):
        backend.submit(request(1))


def test_wrong_kinds_of_model_are_refused(models, tmp_path):
    with pytest.raises(InputError, match="does not run"):
        DiffusersImage(str(models["wan-t2v"]), device="cpu")
    with pytest.raises(InputError, match="does not run"):
        DiffusersVideo(str(models["sdxl"]), device="cpu")
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="needs a diffusers config folder"):
        DiffusersImage(str(checkpoint), device="cpu")
    with pytest.raises(InputError, match="Cannot load the diffusers model"):
        DiffusersImage(str(checkpoint), device="cpu", config=str(models["sdxl"])).submit(request(1))


def test_bad_settings_are_refused(models, tmp_path):
    with pytest.raises(InputError, match="float32"):
        DiffusersImage(str(models["sdxl"]), device="cpu", dtype="float16")
    with pytest.raises(InputError, match="needs a GPU"):
        DiffusersImage(str(models["sdxl"]), device="cpu", cpu_offload=True)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ToolMissing, match="no CUDA GPU"):
            DiffusersImage(str(models["sdxl"]), device="cuda")
    backend = image_backend(models)
    with pytest.raises(InputError, match="LoRA"):
        backend.generate(request(1, lora=str(tmp_path / "none.safetensors")), tmp_path / "x.png")
    with pytest.raises(BackendError, match="was made by"):
        job = backend.submit(request(1)).model_copy(update={"model": "/elsewhere"})
        backend.collect(job, tmp_path / "y.png")
