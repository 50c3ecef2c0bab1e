import json

import pytest

from tests.test_cli import director


def _findings(tmp_path, env=None):
    result = director("doctor", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return {(f["area"], f["name"]): f for f in json.loads(result.stdout)}


def test_doctor_reports_tools_backends_and_face_models(tmp_path):
    found = _findings(tmp_path)
    assert (
        found[("tools", "ffmpeg")]["ok"]
        and "ffmpeg version" in found[("tools", "ffmpeg")]["detail"]
    )
    assert found[("tools", "font")]["ok"]
    assert found[("critics", "identity: dlib")]["ok"]
    assert "non-commercial" in found[("critics", "identity: insightface")]["detail"]
    assert not found[("critics", "clip")]["ok"]
    for key in (
        ("planners", "offline"),
        ("image", "previz"),
        ("video", "previz"),
        ("critics", "technical"),
    ):
        assert found[key]["ok"], key


def test_doctor_says_what_is_broken_and_how_to_fix_it(tmp_path):
    found = _findings(
        tmp_path,
        env={
            "DIRECTOR_FFMPEG": str(tmp_path / "none"),
            "DIRECTOR_FONT": str(tmp_path / "none.ttf"),
        },
    )
    assert not found[("tools", "ffmpeg")]["ok"]
    assert "DIRECTOR_FFMPEG" in found[("tools", "ffmpeg")]["detail"]
    assert not found[("tools", "font")]["ok"]
    assert "--font" in found[("tools", "font")]["detail"]


def test_doctor_says_diffusers_is_installed_and_needs_a_model(tmp_path):
    pytest.importorskip("diffusers")
    found = _findings(tmp_path, env={"DIRECTOR_CONFIG": str(_config(tmp_path))})
    for kind in ("image", "video"):
        finding = found[(kind, "diffusers")]
        assert finding["ok"], finding
        assert "installed (diffusers " in finding["detail"]
        assert f"needs a model to run: --{kind} diffusers:/path/to/model" in finding["detail"]


def test_doctor_loads_the_configured_diffusers_model_and_checks_the_settings(tmp_path):
    pytest.importorskip("diffusers")
    from tests import diffusers_tiny as tiny

    model = tiny.sdxl(tmp_path / "sdxl")
    config = _config(tmp_path, f'image = "diffusers:{model}"\n[diffusers]\ndevice = "cpu"\n')
    found = _findings(tmp_path, env={"DIRECTOR_CONFIG": str(config)})
    image = found[("image", "diffusers")]
    assert image["ok"] and image["detail"] == f"usable (model {model}; cpu, float32)"
    broken = _findings(
        tmp_path,
        env={"DIRECTOR_CONFIG": str(config), "DIRECTOR_DIFFUSERS_DTYPE": "float7"},
    )
    for kind in ("image", "video"):
        finding = broken[(kind, "diffusers")]
        assert not finding["ok"] and "DIRECTOR_DIFFUSERS_DTYPE" in finding["detail"]


def test_doctor_names_the_missing_package_of_the_diffusers_extra(monkeypatch):
    import importlib.util

    from director.cli import doctor

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    finding = doctor._guard("image", "diffusers", lambda: doctor._load("image", "diffusers"))
    assert not finding.ok and "need torch" in finding.detail and "[diffusers]" in finding.detail


def _config(tmp_path, text: str = ""):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_doctor_names_each_hosted_backends_model_family_and_its_unpriced_models(tmp_path):
    found = _findings(
        tmp_path,
        env={
            "DASHSCOPE_API_KEY": "sk-doctor",
            "OPENAI_API_KEY": "sk-doctor",
            "DIRECTOR_VIDEO": "dashscope:wan2.7-r2v",
        },
    )
    video = found[("video", "dashscope")]["detail"]
    assert "model wan2.7-r2v" in video and "reference-to-video" in video
    assert "no known price for wan2.7-r2v" in video and '[prices."dashscope:MODEL"]' in video
    image = found[("image", "dashscope")]["detail"]
    assert "no known price for wan2.2-t2i-flash" in image
    assert "expects Qwen chat models" in found[("planners", "dashscope")]["detail"]
    # priced models are not listed as unpriced
    assert "no known price" not in found[("image", "openai")]["detail"]
    assert "wan2.2-i2v-flash" not in video.split("no known price")[1]
