"""A style LoRA in a run: ``--lora PATH[:STRENGTH]`` (and the style bible's ``lora``) on a tiny
SDXL pipeline and on a fake ComfyUI server.

The LoRA files are made here in kohya's layout (``lora_unet_*.lora_down/lora_up/alpha``, what
ComfyUI's LoraLoader reads) from peft weights on the tiny UNet, converted by diffusers' own
converter and read back by diffusers' ``load_lora_weights``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from director.errors import InputError
from director.memory.events import read_events
from director.records import AttemptMade, StyleLoraChosen
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from director.tools import style_lora
from director.tools.base import ImageRequest
from tests.conftest import make_plan
from tests.fakes.comfyui_server import FakeComfyUI
from tests.test_cli import LOGLINE, assert_clean_error, director

SDXL_SPEC = "stable-diffusion-xl-v1-base/lora"
FLUX_SPEC = "flux-1-dev/lora"


def kohya_lora(
    model: Path, dest: Path, *, trigger: str = "", architecture: str = SDXL_SPEC, seed: int = 1
) -> Path:
    """A random LoRA on the tiny UNet's attention, written as kohya's trainers write one."""
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(str(model / "unet"))
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        init_lora_weights=False,
    )
    unet.add_adapter(config)
    state = {f"unet.{k}": v for k, v in get_peft_model_state_dict(unet).items()}
    tensors = convert_state_dict_to_kohya(state)
    metadata = {"ss_network_dim": "4", "ss_steps": "120", "modelspec.architecture": architecture}
    if trigger:
        metadata["modelspec.trigger_phrase"] = trigger
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dest), metadata=metadata)
    return dest


def header_only(dest: Path, tensors: dict, metadata: dict | None = None) -> Path:
    """A safetensors file of zero-filled tensors named ``tensors`` (name -> shape)."""
    import torch
    from safetensors.torch import save_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.zeros(shape) for k, shape in tensors.items()}, str(dest), metadata)
    return dest


# --- the spec and the file --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ink.safetensors:strong", "not a number"),
        ("ink.safetensors:", "not a number"),
        ("ink.safetensors:nan", "not a number"),
        ("ink.safetensors:5", "outside -4 to 4"),
        ("ink.safetensors:-4.5", "outside -4 to 4"),
        (":0.5", "names no file"),
    ],
)
def test_bad_specs_are_refused_with_the_form_to_write(text, fragment):
    with pytest.raises(InputError, match=fragment) as err:
        style_lora.parse(text)
    assert "PATH:STRENGTH" in str(err.value)


def test_specs_keep_a_colon_in_a_path_and_default_to_strength_one():
    assert style_lora.parse("C:/loras/ink.safetensors") == style_lora.LoraSpec(
        "C:/loras/ink.safetensors", 1.0
    )
    assert style_lora.parse("ink.safetensors:-0.5").strength == -0.5
    assert str(style_lora.parse(" ink.safetensors : 0.8 ")) == "ink.safetensors:0.8"


def test_a_file_says_its_base_rank_steps_and_trigger(tmp_path):
    path = header_only(
        tmp_path / "ink.safetensors",
        {"lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight": (8, 32)},
        {"director.trigger": "inkstyle", "ss_base_model_version": "sdxl_base_v1-0"},
    )
    info = style_lora.read(path)
    assert (info.trigger, info.architecture, info.rank, info.steps) == ("inkstyle", "sdxl", 8, None)
    assert len(info.sha256) == 64
    assert "trigger 'inkstyle'" in info.summary() and "rank 8" in info.summary()


@pytest.mark.parametrize(
    ("key", "architecture"),
    [
        ("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", "sdxl"),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", "sd1"),
        ("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", "flux"),
        ("transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight", "flux"),
        ("diffusion_model.blocks.0.self_attn.q.lora_A.weight", "wan"),
        ("lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight", ""),
    ],
)
def test_the_architecture_is_told_by_tensor_names_where_metadata_is_silent(key, architecture):
    assert style_lora.architecture_of([], [key]) == architecture


def test_what_is_no_lora_is_refused_in_one_line(tmp_path):
    model = header_only(tmp_path / "model.safetensors", {"conv_in.weight": (4, 4)})
    with pytest.raises(InputError, match="no LoRA weights"):
        style_lora.read(model)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(InputError, match="not a safetensors file"):
        style_lora.read(junk)
    (tmp_path / "two").mkdir()
    for name in ("a", "b"):
        header_only(tmp_path / "two" / f"{name}.safetensors", {"x.lora_A.weight": (2, 2)})
    with pytest.raises(InputError, match="one LoRA file"):
        style_lora.resolve(str(tmp_path / "two"), local_only=True)


def test_the_trigger_leads_the_text_once():
    assert style_lora.with_trigger("ink wash, muted", "inkstyle") == "inkstyle, ink wash, muted"
    assert style_lora.with_trigger("INKSTYLE ink wash", "inkstyle") == "INKSTYLE ink wash"
    assert style_lora.with_trigger("水墨，留白", "inkstyle") == "inkstyle，水墨，留白"
    assert style_lora.with_trigger("ink", "") == "ink"


# --- the style bible's LoRA and --lora in the graph ------------------------------------------


class LoraImage(SolidImage):
    """Flat frames, from a backend that says it puts a LoRA on: what it was asked is kept."""

    takes_lora = True

    def __init__(self) -> None:
        self.requests: list[ImageRequest] = []

    def submit(self, request):
        self.requests.append(request)
        return super().submit(request)


def _graph_run(tmp_path, plan, run_id, **update):
    from tests.test_graph import _options

    image = LoraImage()
    backends = {"planner": ScriptedPlanner(plan), "image": image, "critics": [ScriptedCritic({})]}
    options = _options(tmp_path, run_id).model_copy(update=update)
    from director.agent.runner import start_run

    result = start_run(options, backends=backends)
    return image, read_events(result.paths.events)


def test_the_bible_lora_is_used_and_its_trigger_led_every_prompt(tmp_path):
    lora = header_only(
        tmp_path / "ink.safetensors",
        {"lora_unet_x.lora_down.weight": (4, 8)},
        {"director.trigger": "inkstyle"},
    )
    plan = make_plan(2)
    plan = plan.model_copy(update={"bible": plan.bible.model_copy(update={"lora": str(lora)})})
    image, events = _graph_run(tmp_path, plan, "bible")
    assert image.requests and all(r.bible.lora == str(lora) for r in image.requests)
    for request in image.requests:
        assert request.prompt.count("inkstyle") == 1
        assert request.prompt.startswith("inkstyle")  # first, as the captions have it
    (chosen,) = [e for e in events if isinstance(e, StyleLoraChosen)]
    assert (chosen.source, chosen.trigger, chosen.replaced) == ("style bible", "inkstyle", "")
    assert chosen.sha256 == style_lora.read(lora).sha256 and chosen.strength == 1.0


def test_lora_replaces_the_bibles_and_the_log_says_which(tmp_path):
    mine = header_only(tmp_path / "mine.safetensors", {"lora_unet_x.lora_down.weight": (4, 8)})
    plan = make_plan(2)
    plan = plan.model_copy(update={"bible": plan.bible.model_copy(update={"lora": "old.st"})})
    image, events = _graph_run(tmp_path, plan, "flag", lora=f"{mine}:0.7")
    assert all(r.bible.lora == f"{mine}:0.7" for r in image.requests)
    assert all(r.prompt == r.shot.prompt.render() for r in image.requests)  # no trigger word
    (chosen,) = [e for e in events if isinstance(e, StyleLoraChosen)]
    assert (chosen.source, chosen.replaced, chosen.strength) == ("--lora", "old.st", 0.7)


def test_a_backend_without_loras_gets_the_plan_as_it_is(tmp_path):
    from director.agent.runner import start_run
    from tests.test_graph import _options

    plan = make_plan(1)
    plan = plan.model_copy(update={"bible": plan.bible.model_copy(update={"lora": "x.st"})})
    backends = {"planner": ScriptedPlanner(plan), "critics": [ScriptedCritic({})]}
    image = SolidImage()
    result = start_run(_options(tmp_path, "plain"), backends={**backends, "image": image})
    assert not [e for e in read_events(result.paths.events) if isinstance(e, StyleLoraChosen)]


# --- on a tiny SDXL pipeline ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    from tests import diffusers_tiny as tiny

    root = tmp_path_factory.mktemp("lora-sdxl")
    model = tiny.sdxl(root / "sdxl")
    return {
        "model": model,
        "lora": kohya_lora(model, root / "ink" / "ink.safetensors", trigger="inkstyle"),
        "flux_lora": kohya_lora(model, root / "other" / "flux.safetensors", architecture=FLUX_SPEC),
    }


def _request(lora: str | None, seed: int = 5) -> ImageRequest:
    plan = make_plan(1)
    return ImageRequest(
        shot=plan.shots[0],
        bible=plan.bible.model_copy(update={"lora": lora}),
        seed=seed,
        width=64,
        height=64,
        prompt="a woman in a green coat in the rain, film still",
        negative_prompt="",
    )


def _pixels(backend, request, dest: Path) -> np.ndarray:
    from PIL import Image

    backend.generate(request, dest)
    with Image.open(dest) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


@pytest.mark.slow
def test_the_kohya_lora_changes_the_keyframe_at_its_strength(sdxl, tmp_path, diffusers_config):
    from director.tools.image.diffusers_image import DiffusersImage

    backend = DiffusersImage(str(sdxl["model"]), device="cpu", steps=2)
    lora = str(sdxl["lora"])
    plain = _pixels(backend, _request(None), tmp_path / "plain.png")
    full = _pixels(backend, _request(f"{lora}:1"), tmp_path / "full.png")
    zero = _pixels(backend, _request(f"{lora}:0"), tmp_path / "zero.png")
    half = _pixels(backend, _request(f"{lora}:0.5"), tmp_path / "half.png")
    assert np.abs(plain - full).mean() > 1.0
    assert np.abs(zero - full).mean() > 1.0 and np.abs(half - full).mean() > 0.2
    assert np.abs(plain - zero).mean() < 0.5  # strength 0 is the LoRA switched off
    params = backend.submit(_request(f"{lora}:0.5")).params
    assert params["lora"] == lora and params["lora_name"] == "ink.safetensors"
    assert params["lora_strength"] == 0.5
    assert params["lora_sha256"] == style_lora.read(sdxl["lora"]).sha256
    with pytest.raises(InputError, match="trained for FLUX.*is SDXL"):
        DiffusersImage(str(sdxl["model"]), device="cpu", lora=str(sdxl["flux_lora"]))


@pytest.mark.slow
def test_a_run_with_lora_on_diffusers_records_it(sdxl, tmp_path, diffusers_config):
    """The run resolves --lora, builds its diffusers backend with it, and every keyframe
    records it (one shot, scripted critics: the LoRA is what is tested, not the gate)."""
    from director.agent.runner import start_run
    from tests.test_graph import _options

    lora = sdxl["lora"]
    flags = {"image": f"diffusers:{sdxl['model']}", "steps": 2, "device": "cpu"}
    options = _options(tmp_path, "styled", lora=f"{lora}:0.8", **flags)
    assert options.lora == f"{lora}:0.8"
    backends = {"planner": ScriptedPlanner(make_plan(1)), "critics": [ScriptedCritic({})]}
    result = start_run(options, backends=backends)
    run = result.paths.root
    assert json.loads((run / "run.json").read_text())["options"]["lora"] == f"{lora}:0.8"
    events = read_events(run / "events.jsonl")
    (chosen,) = [e for e in events if isinstance(e, StyleLoraChosen)]
    assert (chosen.file, chosen.trigger, chosen.rank) == (str(lora), "inkstyle", 4)
    keyframes = [e.attempt for e in events if isinstance(e, AttemptMade)]
    keyframes = [a for a in keyframes if a.kind == "keyframe"]
    assert keyframes
    for attempt in keyframes:
        assert attempt.params["lora_name"] == "ink.safetensors"
        assert attempt.params["lora_strength"] == 0.8
        assert attempt.params["lora_sha256"] == chosen.sha256
        assert attempt.prompt.count("inkstyle") == 1


@pytest.mark.parametrize(
    ("lora", "fragment"),
    [
        ("missing.safetensors", "LoRA file missing.safetensors does not exist"),
        ("{lora}:9", "outside -4 to 4"),
        ("{lora}:heavy", "not a number"),
        ("{flux}", "trained for FLUX"),
    ],
)
def test_bad_loras_are_one_line_before_the_run(sdxl, tmp_path, diffusers_config, lora, fragment):
    spec = lora.format(lora=sdxl["lora"], flux=sdxl["flux_lora"])
    result = director(
        "run",
        *("--logline", LOGLINE, "--image", f"diffusers:{sdxl['model']}", "--device", "cpu"),
        *("--lora", spec, "--yes", "--runs-dir", "runs", "--run-id", "bad"),
        cwd=tmp_path,
    )
    assert_clean_error(result, fragment)
    assert not (tmp_path / "runs" / "bad").exists()


def test_lora_on_a_backend_that_takes_none_is_refused(tmp_path):
    result = director(
        "run",
        *("--logline", LOGLINE, "--lora", "ink.safetensors", "--yes", "--runs-dir", "runs"),
        cwd=tmp_path,
    )
    assert_clean_error(result, "--lora sets the style LoRA")


def test_the_training_images_beside_the_lora_anchor_the_style_check(tmp_path, monkeypatch):
    from PIL import Image

    from director.agent.configuration import resolve

    folder = tmp_path / "ink"
    lora = header_only(folder / "ink.safetensors", {"lora_unet_x.lora_down.weight": (4, 8)})
    (folder / "dataset").mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 10, 10)).save(folder / "dataset" / f"f{i}.png")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    flags = {"logline": LOGLINE, "image": "comfyui:sdxl", "lora": str(lora)}
    options = resolve(flags)
    assert options.lora == f"{lora}:1"
    assert [Path(p).name for p in options.style_refs] == ["f0.png", "f1.png", "f2.png"]
    given = tmp_path / "mine.png"
    Image.new("RGB", (32, 32)).save(given)
    assert resolve({**flags, "style_ref": [str(given)]}).style_refs == [str(given)]


# --- on ComfyUI -------------------------------------------------------------------------------


@pytest.fixture
def comfyui():
    with FakeComfyUI() as fake:
        yield fake


def _comfy_run(tmp_path, fake, *args, run_id="film"):
    return director(
        "run",
        *("--logline", LOGLINE, "--minutes", "0.25", "--size", "640x360", "--yes"),
        *("--runs-dir", "runs", "--run-id", run_id, "--image", "comfyui:sdxl", *args),
        cwd=tmp_path,
        env={"COMFYUI_URL": fake.url},
    )


def _loaders(graph: dict) -> dict:
    return {n["inputs"]["lora_name"]: n for n in graph.values() if "lora_name" in n["inputs"]}


@pytest.mark.slow
def test_a_local_lora_on_comfyui_is_the_servers_copy_at_its_strength(tmp_path, comfyui):
    lora = header_only(
        tmp_path / "film_grain.safetensors",
        {"lora_te1_x.lora_down.weight": (4, 8)},
        {"director.trigger": "grainy"},
    )
    result = _comfy_run(tmp_path, comfyui, "--lora", f"{lora}:0.6")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "film"
    keyframes = [
        e.attempt
        for e in read_events(run / "events.jsonl")
        if isinstance(e, AttemptMade) and e.attempt.kind == "keyframe"
    ]
    assert keyframes
    for attempt in keyframes:
        loader = _loaders(attempt.params["graph"])["film_grain.safetensors"]
        assert loader["class_type"] == "LoraLoader"
        assert loader["inputs"]["strength_model"] == loader["inputs"]["strength_clip"] == 0.6
        assert "film_grain.safetensors @ 0.6" in attempt.params["comfyui"]["lora"]
        assert attempt.params["lora_sha256"] == style_lora.read(lora).sha256
        assert attempt.params["lora_file"] == str(lora)
        assert (attempt.params["lora_name"], attempt.params["lora_strength"]) == (lora.name, 0.6)
        assert attempt.prompt.count("grainy") == 1


@pytest.mark.slow
def test_the_deprecated_comfyui_lora_still_names_a_servers_lora_and_says_so(tmp_path, comfyui):
    result = _comfy_run(tmp_path, comfyui, "--comfyui-lora", "storyboard_sketch_xl.safetensors:0.4")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("deprecated") == 1
    run = tmp_path / "runs" / "film"
    options = json.loads((run / "run.json").read_text())["options"]
    assert options["lora"] == "storyboard_sketch_xl.safetensors:0.4"
    attempt = next(
        e.attempt for e in read_events(run / "events.jsonl") if isinstance(e, AttemptMade)
    )
    loader = _loaders(attempt.params["graph"])["storyboard_sketch_xl.safetensors"]
    assert loader["inputs"]["strength_model"] == 0.4


def test_a_local_lora_the_server_lacks_is_one_line_with_where_to_copy_it(tmp_path, comfyui):
    lora = header_only(tmp_path / "mine.safetensors", {"lora_unet_x.lora_down.weight": (4, 8)})
    result = _comfy_run(tmp_path, comfyui, "--lora", f"{lora}:0.6")
    assert_clean_error(result, f"Copy {lora} into ComfyUI/models/loras/")
    assert comfyui.url in result.stderr
    assert not (tmp_path / "runs" / "film").exists()
    comfyui.models["loras"].remove("film_grain.safetensors")
    result = _comfy_run(tmp_path, comfyui, "--lora", "film_grain.safetensors")
    assert_clean_error(result, "LoRA (models/loras) film_grain.safetensors")


def test_a_flux_lora_is_refused_on_the_built_in_sdxl_workflow(tmp_path, comfyui):
    lora = header_only(
        tmp_path / "film_grain.safetensors",
        {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": (4, 8)},
    )
    result = _comfy_run(tmp_path, comfyui, "--lora", str(lora))
    assert_clean_error(result, "trained for FLUX")


def test_the_bibles_local_lora_is_looked_up_on_the_server_per_request(tmp_path, comfyui):
    from director.tools.comfyui.client import ComfyUI
    from director.tools.image.comfyui import ComfyUIImage

    backend = ComfyUIImage("sdxl", server=ComfyUI(url=comfyui.url, poll_every=0.05))
    lora = header_only(
        tmp_path / "storyboard_sketch_xl.safetensors", {"lora_unet_x.lora_down.weight": (4, 8)}
    )
    job = backend.submit(_request(f"{lora}:0.3").model_copy(update={"width": 320, "height": 184}))
    loader = _loaders(job.params["graph"])["storyboard_sketch_xl.safetensors"]
    assert loader["inputs"]["strength_model"] == 0.3
    assert job.params["lora_sha256"] == style_lora.read(lora).sha256
    missing = header_only(tmp_path / "mine.safetensors", {"lora_unet_x.lora_down.weight": (4, 8)})
    with pytest.raises(InputError, match="Copy .*mine.safetensors into ComfyUI/models/loras/"):
        backend.submit(_request(str(missing)))


# --- doctor -----------------------------------------------------------------------------------


def test_doctor_shows_the_lora_or_its_problem(tmp_path):
    lora = header_only(
        tmp_path / "ink.safetensors",
        {"lora_te1_x.lora_down.weight": (16, 8)},
        {"director.trigger": "inkstyle", "director.base_model": "/models/sdxl"},
    )
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {"DIRECTOR_CONFIG": str(config), "DIRECTOR_LORA": f"{lora}:0.8"}
    found = _doctor_lora(tmp_path, env)
    assert found["ok"]
    assert all(word in found["detail"] for word in ("ink.safetensors", "rank 16", "inkstyle"))
    assert "/models/sdxl" in found["detail"] and "0.8" in found["detail"]
    found = _doctor_lora(tmp_path, {**env, "DIRECTOR_LORA": f"{lora}:7"})
    assert not found["ok"] and "outside -4 to 4" in found["detail"]


def _doctor_lora(tmp_path, env) -> dict:
    result = director("doctor", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    (found,) = [f for f in json.loads(result.stdout) if f["name"] == "lora"]
    return found
