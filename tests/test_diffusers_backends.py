"""The diffusers image and video backends on tiny random-weight pipelines built in the test.

Each pipeline is saved to a folder and loaded through the backends' own local-only
from_pretrained path, so what runs is what runs on a real model, at toy size on the CPU.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from PIL import Image  # noqa: E402

from director import registry  # noqa: E402
from director.errors import BackendError, InputError, ToolMissing  # noqa: E402
from director.memory.events import read_events  # noqa: E402
from director.records import AttemptMade  # noqa: E402
from director.tools import sdxl_text  # noqa: E402
from director.tools.assemble.probe import probe  # noqa: E402
from director.tools.base import ClipRequest, ImageRequest, Job  # noqa: E402
from director.tools.image.diffusers_image import DiffusersImage  # noqa: E402
from director.tools.video.diffusers_video import DiffusersVideo, generated_frames  # noqa: E402
from tests import diffusers_tiny as tiny  # noqa: E402
from tests.conftest import file_settings, make_plan  # noqa: E402
from tests.test_cli import LOGLINE, assert_clean_error, director  # noqa: E402

PROMPT = "a woman in a green coat in the rain, film still"
# Batched and one-by-one runs differ only by float rounding in batched kernels.
BATCH_TOLERANCE = 2


@pytest.fixture(autouse=True)
def config(diffusers_config):
    return diffusers_config


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


# A five-slot prompt of a real plan's length: far more than SDXL's 77 tokens, with the camera and
# style slots at the end. The tiny tokenizer spells unknown words letter by letter.
LONG_SUBJECT = (
    "a woman in a green coat, red scarf, short dark hair, a notebook in her pocket, kneels in "
    "the rain by the garden gate, the city at night, wet stones in the foreground"
)


def long_prompt(style: str) -> str:
    return f"{LONG_SUBJECT}, wide shot, eye level, {style}"


def test_split_prompt_keeps_every_word_in_windows_that_fit():
    from director.tools.sdxl_text import split_prompt

    words = len  # a tokenizer that reads one token per character keeps the arithmetic visible
    text = "aaa bbb, cc, dddddddddd eeee, f，gg"
    windows = split_prompt(text, words, 10)
    assert all(words(w) <= 10 for w in windows)
    # Nothing lost or reordered (a window starts without the space the text had there).
    assert "".join("".join(windows).split()) == "".join(text.split())
    # Whole phrases where they fit; a phrase longer than a window splits between its words.
    assert windows == ["aaa bbb,", "cc,", "dddddddddd", "eeee, f，", "gg"]


def test_a_long_sdxl_prompt_reaches_the_model_past_77_tokens(models, tmp_path):
    backend = image_backend(models)
    pipe = backend.pipeline
    family = backend._loaded()
    windows_of = lambda p: sdxl_text.windows(pipe, p)  # noqa: E731
    ink, pastel = long_prompt("ink wash, monochrome"), long_prompt("pastel, soft light")
    assert sdxl_text.tokens(pipe, ink) > 75
    # diffusers alone cuts both prompts to the same first 77 tokens: the style never counts.
    plain = [pipe.encode_prompt(p, device="cpu", do_classifier_free_guidance=False)[0]
             for p in (ink, pastel)]  # fmt: skip
    assert torch.equal(plain[0], plain[1])
    first, second = (family.encode(p, "watermark", 5.0) for p in (ink, pastel))
    windows = len(windows_of(ink))
    assert windows == 2
    assert first["prompt_embeds"].shape[1] == 77 * windows
    assert first["negative_prompt_embeds"].shape == first["prompt_embeds"].shape
    assert not torch.equal(first["prompt_embeds"], second["prompt_embeds"])
    # The first window is the prompt's opening, encoded as diffusers encodes a short prompt.
    opening = pipe.encode_prompt(windows_of(ink)[0], device="cpu", negative_prompt="watermark")
    assert torch.equal(first["prompt_embeds"][:, :77], opening[0])
    assert torch.equal(first["pooled_prompt_embeds"], opening[2])
    # Without a negative prompt its embeddings stay zeros, as SDXL's own choice.
    none = family.encode(ink, "", 5.0)
    assert not none["negative_prompt_embeds"].any()
    assert none["negative_prompt_embeds"].shape == none["prompt_embeds"].shape
    # The keyframe changes with the style slot (cut off, the two would be the same image), and
    # the job says how its prompt was encoded.
    a = render(backend, request(3, prompt=ink), tmp_path, "ink")
    b = render(backend, request(3, prompt=pastel), tmp_path, "pastel")
    assert not np.array_equal(a, b)
    job = backend.generate(request(3, prompt=ink), tmp_path / "again.png")
    assert job.params["prompt_windows"] == 2
    assert "prompt_windows" not in backend.generate(request(3), tmp_path / "short.png").params


def test_a_short_sdxl_prompt_is_encoded_as_diffusers_encodes_it(models):
    backend = image_backend(models)
    ours = backend._loaded().encode(PROMPT, "watermark", 5.0)
    theirs = backend.pipeline.encode_prompt(PROMPT, device="cpu", negative_prompt="watermark")
    for mine, its in zip(ours.values(), theirs, strict=True):
        assert torch.equal(mine, its)


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
        DiffusersImage(str(models["sdxl"]), device="cpu", offload=True)
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


# --- settings ---------------------------------------------------------------------------


def test_settings_come_from_arguments_then_environment_then_config_file(
    models, config, monkeypatch
):
    config.write_text("[diffusers]\nsteps = 3\nguidance = 1.5\nmax_batch = 2\n")
    sdxl = str(models["sdxl"])
    job = DiffusersImage(sdxl, device="cpu", settings=file_settings()).submit(request(1))
    assert (job.params["steps"], job.params["guidance"]) == (3, 1.5)
    monkeypatch.setenv("DIRECTOR_DIFFUSERS_STEPS", "4")
    monkeypatch.setenv("DIRECTOR_DIFFUSERS_DEVICE", "cpu")
    backend = DiffusersImage(sdxl, settings=file_settings())
    assert backend.submit(request(1)).params["steps"] == 4 and backend.max_batch == 2
    backend = DiffusersImage(sdxl, steps=2, settings=file_settings())
    assert backend.submit(request(1)).params["steps"] == 2
    video = DiffusersVideo(str(models["wan-i2v"]), guidance=0.0, settings=file_settings())
    assert (video.steps, video.guidance, video.placement.device) == (4, 0.0, "cpu")


@pytest.mark.parametrize(
    "where, text, message",
    [
        ("argument", {"dtype": "float7"}, "dtype is 'float7' (from the argument dtype)"),
        ("argument", {"device": "tpu9"}, "device is 'tpu9' (from the argument device)"),
        ("env", {"DIRECTOR_DIFFUSERS_OFFLOAD": "maybe"}, "from DIRECTOR_DIFFUSERS_OFFLOAD"),
        ("env", {"DIRECTOR_DIFFUSERS_STEPS": "many"}, "steps is 'many'"),
        ("file", 'guidance = "strong"', "guidance in the config file's [diffusers] table"),
        ("file", "max_batch = 0", "max_batch is 0"),
    ],
)
def test_bad_settings_name_where_they_came_from(models, config, monkeypatch, where, text, message):
    kwargs = {"device": "cpu"}
    if where == "argument":
        kwargs.update(text)
    elif where == "env":
        for name, value in text.items():
            monkeypatch.setenv(name, value)
    else:
        config.write_text(f"[diffusers]\n{text}\n")
    with pytest.raises(InputError) as err:
        DiffusersImage(str(models["sdxl"]), settings=file_settings(), **kwargs)
    assert message in str(err.value) and "DIRECTOR_DIFFUSERS_" in str(err.value)


def test_unknown_keys_of_the_diffusers_table_are_named(models, config):
    config.write_text('[diffusers]\nsampler = "euler"\n')
    with pytest.raises(InputError, match="Unknown keys in the .diffusers. table.*: sampler"):
        DiffusersImage(str(models["sdxl"]), device="cpu", settings=file_settings())


def test_errors_that_name_a_setting_name_every_way_to_set_it(models, monkeypatch):
    with pytest.raises(InputError) as err:
        DiffusersImage(str(models["sdxl"]), device="cpu", dtype="bfloat16")
    fix = err.value.hint
    assert "--dtype float32" in fix and 'dtype = "float32"' in fix
    assert "DIRECTOR_DIFFUSERS_DTYPE=float32" in fix
    with pytest.raises(InputError) as err:
        DiffusersImage(str(models["sdxl"]), device="cpu", offload=True)
    assert "--no-offload" in err.value.hint and "offload = false" in err.value.hint
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ToolMissing) as err:
            DiffusersVideo(str(models["wan-i2v"]), device="cuda:3")
        assert "--device cpu" in err.value.hint


def test_the_lora_setting_is_used_when_the_bible_names_none(models, tmp_path):
    from tests.test_lora_use import header_only

    style = header_only(tmp_path / "style.safetensors", {"lora_unet_x.lora_down.weight": (4, 8)})
    backend = DiffusersImage(str(models["sdxl"]), device="cpu", lora=str(style))
    assert backend.submit(request(1)).params["lora"] == str(style)
    own = header_only(tmp_path / "bible.safetensors", {"lora_unet_y.lora_down.weight": (4, 8)})
    assert backend.submit(request(1, lora=str(own))).params["lora"] == str(own)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"weights")
    with pytest.raises(InputError, match="not a safetensors file"):
        DiffusersImage(str(models["sdxl"]), device="cpu", lora=str(junk))
    with pytest.raises(InputError, match="LoRA .*missing.safetensors does not exist"):
        DiffusersImage(
            str(models["sdxl"]), device="cpu", lora=str(tmp_path / "missing.safetensors")
        )


def test_a_run_builds_its_diffusers_backends_with_its_resolved_settings(models, config):
    from director.agent.configuration import resolve
    from director.tools.image.previz import PrevizImage

    config.write_text("[diffusers]\nguidance = 2.5\n")
    options = resolve(
        {
            "logline": LOGLINE,
            "image": f"diffusers:{models['sdxl']}",
            "video": f"diffusers:{models['wan-t2v']}",
            "steps": 2,
            "device": "cpu",
        }
    )
    image = registry.load_for_run("image", options)
    video = registry.load_for_run("video", options)
    assert (image.steps, image.guidance, image.placement.device) == (2, 2.5, "cpu")
    assert (video.steps, video.guidance, video.mode) == (2, 2.5, "text-to-video")
    previz = options.model_copy(update={"image": "previz"})
    assert isinstance(registry.load_for_run("image", previz), PrevizImage)


# --- director run with diffusers settings -----------------------------------------------


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--dtype", "float7"], "dtype is 'float7' (from --dtype)"),
        (["--device", "tpu9"], "device is 'tpu9' (from --device)"),
        (["--steps", "0"], "steps is 0 (from --steps)"),
        (["--dtype", "float16", "--device", "cpu"], "float16 is for GPUs"),
    ],
)
def test_director_run_refuses_bad_settings_before_a_run_folder(models, tmp_path, flags, fragment):
    result = director(
        "run",
        *("--logline", LOGLINE, "--image", f"diffusers:{models['sdxl']}", "--yes"),
        *flags,
        *("--runs-dir", "runs"),
        cwd=tmp_path,
    )
    assert_clean_error(result, fragment)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_director_run_uses_and_records_flags_environment_and_config_file(models, tmp_path, config):
    config.write_text("[diffusers]\nguidance = 3.0\nsteps = 7\n")
    result = director(
        "run",
        *("--logline", LOGLINE, "--minutes", "0.25", "--size", "256x144"),
        *("--image", f"diffusers:{models['sdxl']}", "--steps", "2", "--device", "cpu"),
        *("--yes", "--runs-dir", "runs", "--run-id", "local", "--json"),
        cwd=tmp_path,
        env={"DIRECTOR_DIFFUSERS_DTYPE": "float32", "DIRECTOR_DIFFUSERS_STEPS": "5"},
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "local"
    recorded = json.loads((run / "run.json").read_text())["options"]["diffusers"]
    assert recorded == {
        "device": "cpu",
        "dtype": "float32",
        "offload": None,
        "steps": 2,
        "guidance": 3.0,
        "max_batch": None,
        "config": None,
        "lora": None,
        "attention": None,
        "compile": None,
        "vae_decode": None,
    }
    events = read_events(run / "events.jsonl")
    keyframes = [e.attempt for e in events if isinstance(e, AttemptMade)]
    assert keyframes and all(a.backend == "diffusers" for a in keyframes if a.kind == "keyframe")
    assert all(
        (a.params["steps"], a.params["guidance"]) == (2, 3.0)
        for a in keyframes
        if a.kind == "keyframe"
    )
