"""director lora train on the CPU: a small random SDXL pipeline built here, a real offline run's
accepted keyframes as the dataset. The loss falls, the weights load in diffusers and change
its output, their keys are the kohya layout ComfyUI reads, a killed training continues from its
last checkpoint, captions come from the slots (edits in captions.txt win), the document has
every section with a real plot and grid, and bad input is one line with nothing written."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("peft")
pytest.importorskip("diffusers")
pytest.importorskip("matplotlib")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from director.tools.lora import dataset as ds  # noqa: E402
from tests import diffusers_tiny as tiny  # noqa: E402
from tests.test_cli import director  # noqa: E402

RANK = 4
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # two cores, shared: no spinning
TRAIN = ["--device", "cpu", "--rank", str(RANK), "--lr", "2e-2", "--resolution", "64",
         "--sample-steps", "2", "--samples", "2"]  # fmt: skip
KNOWN = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"


def sdxl_small(dest: Path) -> Path:
    """The tiny SDXL of diffusers' tests with wider blocks (16 and 32 channels): attention
    wide enough for a rank-4 LoRA to lower the loss in a few steps."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(4, 8),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        sample_size=64,
        norm_num_groups=4,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )
    StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**tiny.CLIP_TEXT)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**tiny.CLIP_TEXT)),
        tokenizer=tiny.clip_tokenizer(),
        tokenizer_2=tiny.clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
    ).save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lora")


@pytest.fixture(scope="module")
def base(work) -> Path:
    return sdxl_small(work / "sdxl")


@pytest.fixture(scope="module")
def film(work) -> Path:
    made = director(
        "run", "--logline", "A lighthouse keeper finds a message in a bottle", "--minutes",
        "0.25", "--size", "320x180", "--yes", "--runs-dir", str(work / "runs"), "--run-id",
        "film", cwd=work,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return work / "runs" / "film"


def invoke(*args: str) -> tuple[int, str, str]:
    """The CLI in this process, its error turned into the one line the edge prints."""
    from click.testing import CliRunner

    from director.cli import cli, exit_line

    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        code, line = exit_line(result.exception)
        return code, result.stdout, line
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(work, film, base) -> Path:
    """Captions written first and one edited, then 16 steps with checkpoints at 8 and 16."""
    out = work / "out"
    args = ["lora", "train", "--from", str(film), "--trigger", "lhkstyle", "--out", str(out)]
    code, said, err = invoke(*args, "--captions-only")
    assert code == 0, err
    assert "captions.txt" in said and not (out / "checkpoints").exists()
    path = out / "captions.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    name = lines[first].partition(": ")[0]
    lines[first] = f"{name}: lhkstyle, a keeper on a rock, edited by hand"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    torch.set_num_threads(1)
    code, said, err = invoke(
        *args, "--base", f"diffusers:{base}", *TRAIN, "--steps", "16", "--checkpoint-every", "8"
    )
    assert code == 0, err
    assert "1 captions as edited" in said
    return out


def record(out: Path) -> dict:
    return json.loads((out / "training.json").read_text(encoding="utf-8"))


# --- captions and the dataset ----------------------------------------------------------------


def test_captions_are_the_content_slots_after_the_trigger_without_the_style():
    slots = {
        "subject": "a keeper in a red coat",
        "action": "climbs the stairs.",
        "environment": "a lighthouse at dusk",
        "camera": "wide shot, low angle",
        "style": "cinematic film still, amber palette",
    }
    said = ds.caption_from_slots(slots, "lhkstyle")
    assert said == "lhkstyle, a keeper in a red coat, climbs the stairs, a lighthouse at dusk, " \
        "wide shot, low angle"  # fmt: skip
    assert "amber" not in said and "cinematic" not in said
    chinese = {"subject": "守塔人", "action": "爬楼梯", "environment": "黄昏的灯塔",
               "camera": "远景", "style": "电影感"}  # fmt: skip
    assert ds.caption_from_slots(chinese, "lhk") == "lhk，守塔人，爬楼梯，黄昏的灯塔，远景"


@pytest.mark.slow
def test_a_runs_accepted_keyframes_are_the_dataset_once_each(film, tmp_path):
    from director.memory.runs import RunPaths

    items, language = ds.from_runs([RunPaths(film)], "lhkstyle")
    plan = json.loads((film / "plan.json").read_text(encoding="utf-8"))
    assert language == "en" and len(items) == len(plan["shots"])
    for item, shot in zip(items, plan["shots"], strict=True):
        assert item.caption == ds.caption_from_slots(shot["prompt"], "lhkstyle")
        assert shot["prompt"]["style"] not in item.caption
    # The same frames twice, and one a little brighter, from a folder: each is kept once.
    folder = tmp_path / "frames"
    folder.mkdir()
    for item in items:
        shutil.copy(item.source, folder / f"a-{item.stem}.png")
        shutil.copy(item.source, folder / f"b-{item.stem}.png")
    img = Image.open(items[0].source).convert("RGB")
    Image.fromarray(np.clip(np.asarray(img, dtype=np.int16) + 6, 0, 255).astype(np.uint8)).save(
        folder / "c-brighter.jpg", quality=95
    )
    (folder / "a-s001.txt").write_text("a keeper on the shore", encoding="utf-8")
    found, _ = ds.from_folder(folder, "lhkstyle")
    kept = ds.build(found, "en", str(folder))
    assert len(kept.items) == len(items)
    reasons = [why for _, why in kept.dropped]
    assert sum("the same file" in r for r in reasons) == len(items)
    assert sum("near-duplicate" in r for r in reasons) == 1
    assert kept.items[0].caption == "lhkstyle, a keeper on the shore"


# --- training ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_loss_falls_and_the_edited_caption_is_trained_on(trained):
    r = record(trained)
    assert r["steps"] == 16 and len(r["losses"]) == 16
    assert r["fixed_loss"]["after"] < 0.97 * r["fixed_loss"]["before"]
    assert all(np.isfinite(r["losses"]))
    assert r["dataset"][0]["caption"] == "lhkstyle, a keeper on a rock, edited by hand"
    assert "edited by hand" in (trained / "captions.txt").read_text(encoding="utf-8")
    assert r["optimizer"] == "AdamW" and r["precision"] == "float32"


@pytest.mark.slow
def test_the_weights_are_in_the_kohya_layout_comfyui_reads(trained, base):
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    from director.tools.lora.save import read_metadata

    path = trained / "lhkstyle.safetensors"
    tensors = load_file(path)
    names = {key.split(".", 1)[0] for key in tensors}
    for key in tensors:
        assert re.fullmatch(r"lora_unet_[a-z0-9_]+\.(lora_down\.weight|lora_up\.weight|alpha)", key)
    for name in names:  # every module has its triplet
        assert {f"{name}.lora_down.weight", f"{name}.lora_up.weight", f"{name}.alpha"} <= set(
            tensors
        )
        assert float(tensors[f"{name}.alpha"]) == RANK
    # ComfyUI's rule: lora_unet_ + the diffusers module path with '.' as '_'.
    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    linears = {
        "lora_unet_" + n.replace(".", "_"): m
        for n, m in unet.named_modules()
        if isinstance(m, torch.nn.Linear) and re.search(r"\.(to_q|to_k|to_v|to_out\.0)$", n)
    }
    assert names == set(linears)
    layer = linears[KNOWN]
    assert tensors[f"{KNOWN}.lora_down.weight"].shape == (RANK, layer.in_features)
    assert tensors[f"{KNOWN}.lora_up.weight"].shape == (layer.out_features, RANK)
    assert tensors[f"{KNOWN}.lora_up.weight"].abs().max() > 0  # trained, not the zero init
    meta = read_metadata(path)
    assert meta["ss_network_dim"] == str(RANK) and meta["ss_steps"] == "16"
    assert meta["modelspec.trigger_phrase"] == "lhkstyle"
    assert meta["director.base_model"] == str(base)
    assert meta["director.dataset_sha256"] == record(trained)["dataset_sha256"]


@pytest.mark.slow
def test_the_layout_is_diffusers_own_kohya_conversion_key_for_key(base):
    from diffusers import UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict

    from director.tools.lora.save import kohya_state

    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    config = LoraConfig(r=RANK, lora_alpha=RANK, target_modules=targets, init_lora_weights=False)
    unet.add_adapter(config)
    peft_state = get_peft_model_state_dict(unet)
    # diffusers' converter writes alpha = rank whatever the adapter's alpha; at alpha = rank
    # the two must agree on every name and every number.
    theirs = convert_state_dict_to_kohya({f"unet.{k}": v for k, v in peft_state.items()})
    ours = kohya_state(peft_state, RANK)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k].float(), theirs[k].float()) for k in ours)
    alphas = {float(v) for k, v in kohya_state(peft_state, 8).items() if k.endswith(".alpha")}
    assert alphas == {8.0}


@pytest.mark.slow
def test_diffusers_loads_the_weights_exactly_and_they_change_the_picture(trained, base):
    from diffusers import StableDiffusionXLPipeline
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    pipe = StableDiffusionXLPipeline.from_pretrained(base)
    pipe.set_progress_bar_config(disable=True)

    def draw():
        generator = torch.Generator().manual_seed(3)
        return np.asarray(
            pipe("lhkstyle, a cat", num_inference_steps=2, height=64, width=64,
                 generator=generator, output_type="np").images[0]
        )  # fmt: skip

    plain = draw()
    pipe.load_lora_weights(str(trained), weight_name="lhkstyle.safetensors")
    loaded = get_peft_model_state_dict(pipe.unet, adapter_name=next(iter(pipe.unet.peft_config)))
    ours = load_file(trained / "lhkstyle.safetensors")
    module = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"
    assert torch.allclose(
        loaded[f"{module}.lora_A.weight"].float(), ours[f"{KNOWN}.lora_down.weight"].float()
    )
    assert torch.allclose(
        loaded[f"{module}.lora_B.weight"].float(), ours[f"{KNOWN}.lora_up.weight"].float()
    )
    assert len(loaded) == 2 * len({k.split(".", 1)[0] for k in ours})  # every module arrived
    assert np.abs(draw() - plain).max() > 1e-3


@pytest.mark.slow
def test_a_killed_training_continues_from_its_last_checkpoint(film, base, work):
    out = work / "killed"
    common = ["lora", "train", "--from", str(film), "--base", f"diffusers:{base}", *TRAIN,
              "--steps", "12", "--checkpoint-every", "2", "--samples", "0"]  # fmt: skip
    args = [*common, "--out", str(out)]
    env = {**os.environ, **ONE_THREAD}
    proc = subprocess.Popen(
        [sys.executable, "-m", "director", *args], cwd=work, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not list((out / "checkpoints").glob("step-*.pt")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not list(out.glob("*.safetensors"))  # it did not finish
    kept = sorted((out / "checkpoints").glob("step-*.pt"))
    last = int(kept[-1].stem.split("-")[1])
    assert 2 <= last < 12 and last % 2 == 0

    again = director(*args, cwd=work, env=ONE_THREAD)
    assert again.returncode == 0, again.stderr
    assert f"continuing from step {last}" in again.stderr
    steps = [int(m) for m in re.findall(r"^step (\d+)/12", again.stderr, re.M)]
    assert steps == list(range(last + 1, 13))  # none repeated, none skipped
    r = record(out)
    assert r["steps"] == 12 and len(r["losses"]) == 12 and r["resumed"] == [last]

    # The same training never interrupted: the same losses and the same weights.
    torch.set_num_threads(1)
    code, _, err = invoke(*common, "--out", str(work / "uninterrupted"))
    assert code == 0, err
    np.testing.assert_allclose(r["losses"], record(work / "uninterrupted")["losses"], rtol=1e-4)
    from safetensors.torch import load_file

    resumed = load_file(out / "filmstyle.safetensors")
    straight = load_file(work / "uninterrupted" / "filmstyle.safetensors")
    assert resumed.keys() == straight.keys()
    assert all(torch.allclose(resumed[k].float(), straight[k].float(), atol=1e-3) for k in resumed)


# --- the document -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_document_has_every_section_a_real_plot_and_grid(trained):
    md = (trained / "lora.md").read_text(encoding="utf-8")
    for heading in ("## Overview", "## Dataset", "## Hyperparameters", "## Hardware and time",
                    "## Loss", "## Samples before, during and after training", "## Files"):  # fmt: skip
        assert heading in md
    r = record(trained)
    for d in r["dataset"]:
        assert d["caption"] in md and f"dataset/{d['name']}" in md
    assert "learning rate | 0.02" in md and "rank / alpha | 4 / 4" in md
    with Image.open(trained / "loss.png") as plot:
        assert plot.format == "PNG" and plot.size == (800, 350)
        assert len(np.unique(np.asarray(plot.convert("L")))) > 20  # drawn, not blank
    with Image.open(trained / "samples.png") as grid:
        rows = sorted(r["samples"], key=int)
        assert rows == ["0", "8", "16"]
        assert grid.size == (150 + 2 * 260, 32 + 3 * 260)
    html = (trained / "lora.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/') >= 3  # the sheet, the plot and the grid, inline
    assert "lhkstyle, a keeper on a rock, edited by hand" in html


@pytest.mark.slow
def test_the_document_speaks_chinese_when_asked(trained, tmp_path):
    from director.tools.lora.document import write_document

    folder = tmp_path / "zh"
    shutil.copytree(trained, folder)
    write_document(folder, record(folder), "zh")
    md = (folder / "lora.md").read_text(encoding="utf-8")
    assert (
        "训练记录" in md and "## 数据集" in md and "## 超参数" in md and "| 学习率 | 0.02 |" in md
    )


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_without_a_gpu_training_is_refused_before_anything_is_written(film, base, work):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = work / "no-gpu"
    made = director("lora", "train", "--from", str(film), "--base", f"diffusers:{base}",
                    "--out", str(out), cwd=work)  # fmt: skip
    assert made.returncode == 2 and "Traceback" not in made.stderr
    lines = [line for line in made.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs a CUDA GPU" in lines[0], made.stderr
    assert not out.exists()


@pytest.mark.slow
def test_bad_inputs_are_one_line_each_and_write_nothing(film, base, work):
    flux = work / "flux"
    flux.mkdir(exist_ok=True)
    (flux / "model_index.json").write_text('{"_class_name": "FluxPipeline"}', encoding="utf-8")
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    broken = work / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "frame.png").write_bytes(b"not a picture at all")
    ok = f"diffusers:{base}"
    cases = [
        (["--from", str(film), "--base", f"diffusers:{work / 'nothing'}"], "No diffusers model"),
        (["--from", str(film), "--base", f"diffusers:{flux}"], "is a FluxPipeline"),
        (["--from", str(film), "--base", str(base)], "does not name a diffusers model"),
        (["--from", str(film)], "needs a base model"),
        (["--images", str(empty), "--base", ok], "nothing to train on"),
        (["--images", str(broken), "--base", ok], "cannot be read as an image"),
        (["--images", str(empty), "--from", str(film), "--base", ok], "one way"),
        (["--from", str(film), "--base", ok, "--trigger", "two words"], "is not one word"),
        (["--from", str(film), "--base", ok, "--device", "gpu"], "is not a device"),
    ]
    for i, (args, fragment) in enumerate(cases):
        out = work / f"bad-{i}"
        code, _, line = invoke("lora", "train", "--device", "cpu", *args, "--out", str(out))
        assert code == 2, (args, line)
        assert "\n" not in line.strip() and fragment in line, (args, line)
        assert not out.exists(), args


# --- the next film --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_next_films_keyframes_use_it_with_its_trigger_word(trained, base, diffusers_config):
    """The trained file through director's diffusers image backend, as `director run --lora`
    uses it: it changes the keyframe, and the run records it with the trigger its metadata
    names."""
    from director.tools import style_lora
    from director.tools.base import ImageRequest
    from director.tools.image.diffusers_image import DiffusersImage
    from tests.conftest import make_plan

    weights = trained / "lhkstyle.safetensors"
    info = style_lora.read(weights)
    assert (info.architecture, info.trigger, info.rank) == ("sdxl", "lhkstyle", RANK)
    plan = make_plan(1)

    def keyframe(lora: str | None, dest: Path) -> np.ndarray:
        request = ImageRequest(
            shot=plan.shots[0], bible=plan.bible.model_copy(update={"lora": lora}), seed=5,
            width=64, height=64, prompt="lhkstyle, a keeper on a rock", negative_prompt="",
        )  # fmt: skip
        backend.generate(request, dest)
        with Image.open(dest) as image:
            return np.asarray(image.convert("RGB")).astype(np.int16)

    backend = DiffusersImage(str(base), device="cpu", steps=2)
    plain = keyframe(None, trained.parent / "plain.png")
    styled = keyframe(f"{weights}:1", trained.parent / "styled.png")
    assert np.abs(plain - styled).mean() > 1.0, np.abs(plain - styled).mean()


def test_the_default_trigger_is_a_short_rare_word():
    from director.memory.runs import RunPaths
    from director.tools.lora.job import Request, default_trigger

    def trigger(**given) -> str:
        fields = {"runs": [], "images": None, "base": "", "settings": None, **given}
        return default_trigger(Request(**fields))

    assert trigger(runs=[RunPaths(Path("runs/20261207-014123-e805e6"))]) == "dire805e6style"
    assert trigger(runs=[RunPaths(Path("runs/lighthouse"))]) == "lighthousestyle"
    assert trigger(images=Path("stills/Ink Wash!")) == "inkwashstyle"
