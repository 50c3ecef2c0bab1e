"""The diffusers speed settings (attention kernel, compile, VAE decoding) on tiny random-weight
pipelines on the CPU: each is resolved like every other setting, recorded in the job, and acts
on the pipeline call where a GPU would feel it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

from director.errors import InputError, ToolMissing  # noqa: E402
from director.tools import diffusers_local as local  # noqa: E402
from director.tools.base import ClipRequest, ImageRequest  # noqa: E402
from director.tools.image.diffusers_image import DiffusersImage  # noqa: E402
from director.tools.video.diffusers_video import DiffusersVideo  # noqa: E402
from tests import diffusers_tiny as tiny  # noqa: E402
from tests.conftest import file_settings, make_plan  # noqa: E402

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def config(diffusers_config):
    return diffusers_config


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusers-speed")
    return {
        "sdxl": tiny.sdxl(root / "sdxl"),
        "wan": tiny.wan(root / "wan", image_to_video=False),
    }


def request(seed: int, width: int = 64, height: int = 48) -> ImageRequest:
    plan = make_plan(1)
    return ImageRequest(
        shot=plan.shots[0],
        bible=plan.bible,
        seed=seed,
        width=width,
        height=height,
        prompt="a woman in a green coat in the rain, film still",
        negative_prompt="watermark",
    )


def image(models, **settings) -> DiffusersImage:
    return DiffusersImage(str(models["sdxl"]), device="cpu", steps=2, **settings)


def pixels(backend, req, path) -> np.ndarray:
    backend.generate(req, path)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(np.int16)


def during_denoising(model, read) -> list:
    """What ``read()`` returns at every call of ``model`` (a denoiser)."""
    seen: list = []
    model.register_forward_pre_hook(lambda *_: seen.append(read()))
    return seen


# --- attention ----------------------------------------------------------------------------


def test_a_torch_kernel_is_put_first_only_while_the_pipeline_runs(models, tmp_path):
    backend = image(models, attention="_native_math")
    order = torch._C._get_sdp_priority_order
    default = list(order())
    seen = during_denoising(backend.pipeline.unet, lambda: list(order()))
    job = backend.generate(request(1), tmp_path / "k.png")
    math = int(torch.nn.attention.SDPBackend.MATH)
    assert seen and all(o[0] == math for o in seen)
    assert list(order()) == default
    assert job.params["attention"] == "_native_math"


def test_a_diffusers_attention_backend_is_set_on_a_dispatching_denoiser(models):
    backend = DiffusersVideo(str(models["wan"]), device="cpu", steps=2, attention="flex")
    found = {
        getattr(m.processor, "_attention_backend", None)
        for m in backend.pipeline.transformer.modules()
        if hasattr(m, "processor")
    }
    assert {str(getattr(b, "value", b)) for b in found} == {"flex"}
    # Other pipelines of the process keep torch's own attention.
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    assert _AttentionBackendRegistry.get_active_backend()[0].value == "native"


def test_attention_backends_that_cannot_run_are_refused(models, monkeypatch):
    with pytest.raises(InputError, match="CUDA GPUs only"):
        image(models, attention="_native_cudnn")
    # SDXL's UNet calls torch's attention itself: a diffusers backend would do nothing.
    with pytest.raises(InputError, match="calls torch's attention itself"):
        image(models, attention="flex").submit(request(1))
    # flash-attn is not installed here: the message says what to install and how to go back.
    with pytest.raises(ToolMissing) as err:
        _ = DiffusersVideo(str(models["wan"]), device="cpu", attention="flash").pipeline
    assert "flash" in str(err.value) and "DIRECTOR_DIFFUSERS_ATTENTION=auto" in err.value.hint
    monkeypatch.setenv("DIRECTOR_DIFFUSERS_ATTENTION", "fastest")
    with pytest.raises(InputError, match="attention is 'fastest' .from DIRECTOR_DIFFUSERS_ATT"):
        image(models)


# --- compile ------------------------------------------------------------------------------


def test_compile_wraps_the_denoiser_and_changes_no_pixel(models, tmp_path, monkeypatch):
    # Traced by dynamo with the eager backend: the code path of a GPU run, without code
    # generation, which takes minutes on a CPU.
    monkeypatch.setattr(local, "COMPILER", "eager")
    compiled = image(models, compile="on")
    plain = image(models)
    first = pixels(compiled, request(3), tmp_path / "c.png")
    assert compiled.pipeline.unet._compiled_call_impl is not None
    assert plain.pipeline.unet._compiled_call_impl is None
    assert np.array_equal(first, pixels(plain, request(3), tmp_path / "p.png"))
    assert compiled.submit(request(3)).params["compile"] == "default"


@pytest.mark.parametrize(
    "given, expected",
    [(True, "default"), ("on", "default"), ("0", "off"), ("max-autotune", "max-autotune")],
)
def test_compile_takes_a_switch_or_a_mode(models, config, given, expected):
    if isinstance(given, bool):
        config.write_text(f"[diffusers]\ncompile = {str(given).lower()}\n")
        assert image(models, settings=file_settings()).speed.compile == expected
    else:
        assert image(models, compile=given).speed.compile == expected


def test_a_bad_compile_mode_names_every_way_to_set_it(models):
    with pytest.raises(InputError) as err:
        image(models, compile="fast")
    assert "compile is 'fast'" in str(err.value) and "reduce-overhead" in str(err.value)
    assert "DIRECTOR_DIFFUSERS_COMPILE=on" in err.value.hint


# --- VAE decoding -------------------------------------------------------------------------


def vae_modes(pipe) -> list:
    return during_denoising(pipe.vae.decoder, lambda: (pipe.vae.use_tiling, pipe.vae.use_slicing))


def test_auto_tiles_only_frames_above_the_size(models, tmp_path, monkeypatch):
    backend = image(models)
    seen = vae_modes(backend.pipeline)
    small = backend.generate(request(1), tmp_path / "s.png")
    assert small.params["vae_decode"] == "full" and seen == [(False, False)]
    monkeypatch.setattr("director.tools.image.diffusers_image.TILE_ABOVE", 64 * 40)
    big = backend.submit(request(1))
    assert big.params["vae_decode"] == "tiled"
    assert local.decode_mode("sliced", 4096, 4096, 1) == "sliced"


def test_tiled_and_sliced_decoding_make_the_same_keyframe(models, tmp_path):
    # The tiny VAE's tiles are 128 px: a 256x192 frame is decoded as overlapping tiles.
    whole = pixels(image(models), request(5, 256, 192), tmp_path / "whole.png")
    tiled_backend = image(models, vae_decode="tiled")
    seen = vae_modes(tiled_backend.pipeline)
    tiled = pixels(tiled_backend, request(5, 256, 192), tmp_path / "tiled.png")
    assert seen and all(flags == (True, True) for flags in seen)
    assert tiled.shape == whole.shape
    # Tiles are blended where they overlap, so pixels move a little, never the picture.
    assert np.abs(tiled - whole).mean() < 8
    sliced = image(models, vae_decode="sliced")
    jobs = sliced.submit_many([request(5, 256, 192), request(6, 256, 192)])
    sliced.collect(jobs[0], tmp_path / "sliced.png")
    with Image.open(tmp_path / "sliced.png") as im:
        assert np.abs(np.asarray(im).astype(np.int16) - whole).max() <= 2  # batch rounding


def test_a_bad_vae_decode_is_refused(models, config):
    config.write_text('[diffusers]\nvae_decode = "chunked"\n')
    with pytest.raises(InputError, match="vae_decode is 'chunked'.*full, sliced, tiled"):
        image(models, settings=file_settings())


def test_a_clip_is_decoded_in_tiles_when_asked(models, tmp_path):
    keyframe = tmp_path / "key.png"
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(keyframe)
    backend = DiffusersVideo(str(models["wan"]), device="cpu", steps=2, vae_decode="tiled")
    seen = vae_modes(backend.pipeline)
    shot = make_plan(1).shots[0]
    req = ClipRequest(
        shot=shot, keyframe=str(keyframe), seed=3, duration_s=0.4, fps=10, width=64, height=48
    )
    job = backend.submit(req)
    backend.collect(job, tmp_path / "clip.mp4")
    assert job.params["vae_decode"] == "tiled" and (tmp_path / "clip.mp4").stat().st_size > 0
    assert seen and all(flags == (True, True) for flags in seen)


# --- bytes on the device ------------------------------------------------------------------


def test_keyframes_are_the_pixels_diffusers_would_have_made(models, tmp_path):
    backend = image(models)
    made = pixels(backend, request(9), tmp_path / "k.png")
    pipe = backend.pipeline
    embeds = backend._embed(request(9).prompt, "watermark", None, {"guidance": 5.0})
    reference = pipe(
        **embeds,
        generator=local.generators([9]),
        height=48,
        width=64,
        num_inference_steps=2,
        guidance_scale=5.0,
        output_type="pil",
    ).images[0]
    assert np.array_equal(made, np.asarray(reference).astype(np.int16))
