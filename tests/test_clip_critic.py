"""The CLIP critic on a tiny random-weight open_clip model built here: loading it from a file,
from the Hugging Face cache and from nowhere, CLIPScore and its per-slot details, style
similarity, batches, `director critique` and `director doctor`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from director.agent.configuration import resolve
from director.errors import InputError, ToolMissing
from director.records import Shot, ShotPrompt, StyleBible
from director.tools.base import CriticContext
from director.tools.critics import clip_weights
from director.tools.critics.clip import ClipCritic, clip_score
from tests.conftest import plain_shot
from tests.test_cli import director

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

# A CLIP small enough to build and run in milliseconds, with the real tokenizer.
TINY = {
    "embed_dim": 32,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
HUB_REPO = "director-tests/tiny-clip"
PROMPT = ShotPrompt(
    subject="an old woman in a green coat",
    action="kneels beside a seedling",
    environment="a walled garden at dawn",
    camera="medium shot, eye level",
    style="storyboard, muted greens",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SimpleNamespace:
    """The tiny model's config, and its random weights as .pt and .safetensors files."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny-clip")
    config = folder / "tiny-clip.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    state = open_clip.create_model("tiny-clip").state_dict()
    torch.save(state, folder / "tiny.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "tiny.safetensors")
    return SimpleNamespace(
        folder=folder,
        config=str(config),
        weights=str(folder / "tiny.pt"),
        safetensors=folder / "tiny.safetensors",
    )


@pytest.fixture
def critic(tiny) -> ClipCritic:
    return ClipCritic(tiny.config, tiny.weights)


@pytest.fixture
def no_caches(tmp_path, monkeypatch) -> SimpleNamespace:
    """Empty Hugging Face and open_clip caches, and no DIRECTOR_CLIP_* settings."""
    hub, home = tmp_path / "hub", tmp_path / "home"
    hub.mkdir()
    home.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HOME", str(home))
    return SimpleNamespace(hub=hub, home=home)


def _shot(prompt: ShotPrompt = PROMPT) -> Shot:
    return plain_shot(0, 2.0, prompt=prompt)


def _context(anchors: list[Path] | None = None) -> CriticContext:
    bible = StyleBible(
        name="t",
        suffix="storyboard",
        negative="",
        palette=[],
        aspect_ratio="16:9",
        width=64,
        height=36,
        grain=0.0,
    )
    return CriticContext(bible=bible, style_anchors=[str(p) for p in anchors or []])


def _images(folder: Path) -> dict[str, Path]:
    """A flat warm frame, a gradient and noise: three very different pictures."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    pictures = {
        "warm": np.full((36, 64, 3), (200, 120, 60), np.uint8),
        "ramp": np.stack([np.tile(ramp, (36, 1))] * 3, axis=-1),
        "noise": rng.integers(0, 256, (36, 64, 3), dtype=np.uint8),
    }
    paths = {}
    for name, array in pictures.items():
        paths[name] = folder / f"{name}.png"
        Image.fromarray(array).save(paths[name])
    return paths


def _checks(critic: ClipCritic, image: Path, anchors=None, prompt=PROMPT) -> dict:
    with Image.open(image) as im:
        results = critic.check(im.convert("RGB"), _shot(prompt), _context(anchors))
    return {c.name: c for c in results}


def _hub_file(hub: Path, repo: str, name: str, data: bytes, revision: str = "0a1b2c") -> Path:
    """A file where huggingface_hub keeps it: a blob, linked from the revision's snapshot."""
    folder = hub / clip_weights.repo_folder(repo)
    blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    link = folder / "snapshots" / revision / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("../..") / "blobs" / blob.name)
    return link


# --- where the weights come from ----------------------------------------------------------


def test_weights_load_from_an_explicit_file(tiny, critic, tmp_path):
    images = _images(tmp_path)
    assert critic.unavailable is None and critic.model == "tiny-clip.json"
    assert critic.source.weights == str(Path(tiny.weights).resolve())
    checks = _checks(critic, images["warm"], anchors=[images["ramp"]])
    assert checks["prompt"].passed is not None and checks["prompt"].score is not None
    assert checks["style"].passed is not None
    assert "tiny-clip.json" in checks["prompt"].reason


def test_weights_load_from_the_hugging_face_cache_layout(tiny, critic, no_caches, tmp_path):
    config = {"model_cfg": TINY, "preprocess_cfg": {}}
    _hub_file(no_caches.hub, HUB_REPO, "open_clip_config.json", json.dumps(config).encode())
    weights = _hub_file(
        no_caches.hub, HUB_REPO, "open_clip_model.safetensors", tiny.safetensors.read_bytes()
    )
    cached = ClipCritic(f"hf-hub:{HUB_REPO}")
    assert cached.source.weights == str(weights)
    image = _images(tmp_path)["warm"]
    # The same weights as the .pt file, so the same scores: the cache's file was loaded.
    assert _checks(cached, image)["prompt"].score == _checks(critic, image)["prompt"].score


def test_the_default_model_is_looked_for_where_open_clip_keeps_it(no_caches):
    assert clip_weights.locate().weights is None
    url_file = no_caches.home / ".cache" / "clip" / "ViT-B-32.pt"
    url_file.parent.mkdir(parents=True)
    url_file.write_bytes(b"weights")
    assert clip_weights.locate().weights == str(url_file)
    # The Hub copy comes first, safetensors before the pickled file.
    repo = clip_weights.DEFAULT_PRETRAINED.hub_repo
    _hub_file(no_caches.hub, repo, "open_clip_pytorch_model.bin", b"bin")
    safe = _hub_file(no_caches.hub, repo, "open_clip_model.safetensors", b"safe")
    source = clip_weights.locate()
    assert source.weights == str(safe) and source.quick_gelu and source.arch == "ViT-B-32-quickgelu"


def test_the_hub_cache_follows_the_hugging_face_variables(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert clip_weights.hub_cache() == tmp_path / "hf" / "hub"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert clip_weights.hub_cache() == tmp_path / "xdg" / "huggingface" / "hub"


def test_without_weights_both_checks_are_not_run_and_say_where_they_looked(no_caches, tmp_path):
    critic = ClipCritic()
    assert critic.unavailable is not None
    checks = _checks(critic, _images(tmp_path)["warm"], anchors=[_images(tmp_path)["ramp"]])
    for check in checks.values():
        assert check.passed is None and check.score is None
        assert check.reason.startswith("not run: no CLIP weights for ViT-B-32-quickgelu")
        assert str(no_caches.hub) in check.reason
        assert str(no_caches.home / ".cache" / "clip") in check.reason
        assert "timm/vit_base_patch32_clip_224.openai" in check.reason


def test_unusable_weights_are_refused_with_the_reason(tiny, no_caches, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny.safetensors.read_bytes()[:1000])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**TINY, "embed_dim": 16}))
    for model, weights in ((tiny.config, garbage), (tiny.config, truncated), (other, tiny.weights)):
        with pytest.raises(InputError, match="cannot be loaded into") as error:
            ClipCritic(str(model), str(weights))
        assert "--clip-model" in error.value.hint
    with pytest.raises(InputError, match="does not exist"):
        ClipCritic(tiny.config, str(tmp_path / "missing.pt"))
    with pytest.raises(InputError, match="not an open_clip model config"):
        (tmp_path / "plain.json").write_text('{"name": "x"}')
        ClipCritic(str(tmp_path / "plain.json"), tiny.weights)
    # A broken file in the cache is a missing model, not bad input.
    _hub_file(
        no_caches.hub, HUB_REPO, "open_clip_config.json", json.dumps({"model_cfg": TINY}).encode()
    )
    _hub_file(no_caches.hub, HUB_REPO, "open_clip_model.safetensors", b"broken")
    with pytest.raises(ToolMissing, match="cannot be loaded"):
        ClipCritic(f"hf-hub:{HUB_REPO}")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_openai_torchscript_checkpoints_load(tiny, critic, tmp_path):
    """OpenAI's own checkpoints, as open_clip caches them, are TorchScript archives."""
    net = open_clip.create_model("tiny-clip", pretrained=tiny.weights)
    torch.jit.script(net).save(str(tmp_path / "tiny-jit.pt"))
    scripted = ClipCritic(tiny.config, str(tmp_path / "tiny-jit.pt"))
    image = _images(tmp_path)["ramp"]
    assert _checks(scripted, image)["prompt"].score == _checks(critic, image)["prompt"].score


# --- the scores ---------------------------------------------------------------------------


def test_prompt_score_is_clipscore_of_the_rendered_prompt(tiny, critic, tmp_path):
    image = _images(tmp_path)["ramp"]
    net, _, preprocess = open_clip.create_model_and_transforms("tiny-clip", pretrained=tiny.weights)
    tokenizer = open_clip.get_tokenizer("tiny-clip")
    with torch.no_grad(), Image.open(image) as im:
        pixels = preprocess(im.convert("RGB"))[None]
        picture = net.encode_image(pixels, normalize=True)
        texts = net.encode_text(tokenizer([PROMPT.render(), PROMPT.action]), normalize=True)
    cosines = (texts @ picture.T).squeeze(1).tolist()
    prompt = _checks(critic, image)["prompt"]
    assert prompt.score == pytest.approx(2.5 * max(cosines[0], 0.0), abs=2e-4)
    assert prompt.details["cosine"] == pytest.approx(cosines[0], abs=2e-4)
    assert prompt.details["slots"]["action"] == pytest.approx(2.5 * max(cosines[1], 0), abs=2e-4)
    assert prompt.threshold == 0.625 and prompt.passed == (prompt.score >= 0.625)
    assert clip_score(-0.3) == 0.0 and clip_score(0.3) == pytest.approx(0.75)


def test_prompt_details_score_each_slot_and_name_the_weakest(critic, tmp_path):
    no_place = PROMPT.model_copy(update={"environment": " "})
    prompt = _checks(critic, _images(tmp_path)["noise"], prompt=no_place)["prompt"]
    slots = prompt.details["slots"]
    assert set(slots) == {"subject", "action", "camera"}
    assert prompt.details["weakest"] == min(slots, key=slots.get)
    assert f"weakest slot {prompt.details['weakest']}" in prompt.reason
    json.dumps(prompt.details)


def test_thresholds_are_overridable(tiny, tmp_path):
    strict = ClipCritic(tiny.config, tiny.weights, min_clipscore=2.5, min_style=1.01)
    checks = _checks(strict, _images(tmp_path)["warm"], anchors=[_images(tmp_path)["warm"]])
    assert checks["prompt"].passed is False and checks["style"].passed is False
    with pytest.raises(TypeError, match="unknown thresholds"):
        ClipCritic(tiny.config, tiny.weights, min_sharpness=1.0)


def test_style_is_similarity_to_the_anchors(critic, tmp_path):
    images = _images(tmp_path)
    itself = _checks(critic, images["warm"], anchors=[images["warm"]])["style"]
    assert itself.score == pytest.approx(1.0, abs=1e-4) and itself.passed is True
    other = _checks(critic, images["warm"], anchors=[images["noise"]])["style"]
    assert other.score < itself.score - 0.01
    both = _checks(critic, images["warm"], anchors=[images["warm"], images["noise"]])["style"]
    assert both.details["best"] == pytest.approx(1.0, abs=1e-4)
    assert both.score == both.details["mean"] == pytest.approx((1.0 + other.score) / 2, abs=2e-4)
    assert both.details["anchors"] == 2


def test_style_without_usable_anchors_is_not_run(critic, tmp_path):
    image = _images(tmp_path)["warm"]
    assert _checks(critic, image)["style"].reason == "not run: no style anchor yet"
    (tmp_path / "notes.png").write_text("text")
    unreadable = _checks(critic, image, anchors=[tmp_path / "notes.png"])["style"]
    assert unreadable.passed is None and "could be read" in unreadable.reason


def test_a_chinese_prompt_is_not_scored_by_an_english_model(critic, tmp_path):
    zh = ShotPrompt(
        subject="老妇人", action="跪在幼苗旁", environment="黎明的花园", camera="中景", style=""
    )
    prompt = _checks(critic, _images(tmp_path)["warm"], prompt=zh)["prompt"]
    assert prompt.passed is None and "reads English only" in prompt.reason


def test_a_batch_scores_as_one_by_one(tiny, tmp_path):
    images = _images(tmp_path)
    frames = [Image.open(p).convert("RGB") for p in images.values()]
    shots = [
        _shot(PROMPT),
        _shot(PROMPT.model_copy(update={"action": "waters the seedlings"})),
        _shot(PROMPT.model_copy(update={"subject": "a robot", "camera": "wide shot"})),
    ]
    context = _context([images["ramp"]])
    batched = ClipCritic(tiny.config, tiny.weights, batch_size=2).check_batch(
        frames, shots, context
    )
    single = ClipCritic(tiny.config, tiny.weights)
    for together, frame, shot in zip(batched, frames, shots, strict=True):
        alone = single.check(frame, shot, context)
        for a, b in zip(together, alone, strict=True):
            assert a.name == b.name and a.score == pytest.approx(b.score, abs=2e-4)
            for slot, score in a.details.get("slots", {}).items():
                assert score == pytest.approx(b.details["slots"][slot], abs=2e-4)


# --- options, the command line, doctor ----------------------------------------------------


def test_run_options_take_clip_settings_from_flag_env_and_config(monkeypatch, tmp_path):
    logline = "A gardener defends her garden"
    config = tmp_path / "config.toml"
    config.write_text('clip_model = "from-config"\nclip_weights = "config.pt"\n')
    monkeypatch.setenv("DIRECTOR_CONFIG", str(config))
    options = resolve({"logline": logline})
    assert (options.clip_model, options.clip_weights) == ("from-config", "config.pt")
    monkeypatch.setenv("DIRECTOR_CLIP_WEIGHTS", "env.pt")
    options = resolve({"logline": logline, "clip_model": "flag"})
    assert (options.clip_model, options.clip_weights) == ("flag", "env.pt")


def test_doctor_says_where_it_looked_and_how_to_fix_it(tiny, no_caches, monkeypatch):
    from director.cli.doctor import _clip

    missing = _clip()
    assert not missing.ok and missing.name == "clip"
    assert str(no_caches.hub) in missing.detail and "--clip-weights" in missing.detail
    assert "DIRECTOR_CLIP_WEIGHTS" in missing.detail
    monkeypatch.setenv("DIRECTOR_CLIP_WEIGHTS", tiny.weights)
    monkeypatch.setenv("DIRECTOR_CLIP_MODEL", tiny.config)
    found = _clip()
    assert found.ok and str(Path(tiny.weights).resolve()) in found.detail


@pytest.mark.slow
def test_critique_runs_the_prompt_and_style_checks_with_weights(tiny, tmp_path):
    images = _images(tmp_path)
    result = director(
        "critique",
        str(images["warm"]),
        "--prompt",
        "an orange wall",
        "--style-ref",
        str(images["warm"]),
        "--clip-weights",
        tiny.weights,
        "--clip-model",
        tiny.config,
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert checks["prompt"]["passed"] is not None and checks["prompt"]["threshold"] == 0.625
    assert "CLIPScore" in checks["prompt"]["reason"]
    assert checks["style"]["passed"] is True
    assert result.stderr.strip() == ""
