"""`director critique` on real photos: the JSON contract, identity, copy-paste, bad input."""

from __future__ import annotations

import json

import skimage.data as skdata
from PIL import Image

from tests.test_cli import assert_clean_error, director

KEYS = {"score", "threshold", "passed", "reason"}


def _photos(tmp_path):
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astronaut.png")
    Image.new("RGB", (400, 300), (90, 120, 150)).save(tmp_path / "sky.png")


def _critique(tmp_path, *args):
    result = director("critique", *args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_reference_pasted_back_passes_identity_and_fails_copy_paste(tmp_path):
    _photos(tmp_path)
    out = _critique(tmp_path, "astronaut.png", "--ref", "astronaut.png")
    assert set(out) == {"verdict", "checks"}
    assert all(set(check) == KEYS for check in out["checks"].values())
    assert out["checks"]["identity"]["passed"] is True
    assert out["checks"]["copy_paste"]["passed"] is False
    assert out["verdict"] == "fail"


def test_a_missing_face_fails_identity_and_skips_the_guard(tmp_path):
    _photos(tmp_path)
    out = _critique(tmp_path, "sky.png", "--ref", "astronaut.png", "--size", "400x300")
    assert out["checks"]["identity"]["passed"] is False
    assert "not found" in out["checks"]["identity"]["reason"]
    assert out["checks"]["copy_paste"]["passed"] is None
    assert out["checks"]["resolution"]["passed"] is True
    assert out["checks"]["contrast"]["passed"] is False  # a flat sky has no contrast


def test_checks_that_cannot_run_say_why(tmp_path):
    _photos(tmp_path)
    out = _critique(tmp_path, "astronaut.png", "--prompt", "an astronaut")
    assert "identity" not in out["checks"]
    for name in ("resolution", "style_palette", "prompt"):
        assert out["checks"][name]["passed"] is None and out["checks"][name]["reason"]
    styled = _critique(tmp_path, "astronaut.png", "--style-ref", "astronaut.png")
    assert styled["checks"]["style_colours"]["passed"] is True
    assert "style_palette" not in styled["checks"]  # the anchors' measure, not the palette's


def test_bad_input_exits_2(tmp_path):
    _photos(tmp_path)
    (tmp_path / "notes.png").write_text("text")
    assert_clean_error(director("critique", "missing.png", cwd=tmp_path), "does not exist")
    assert_clean_error(director("critique", "notes.png", cwd=tmp_path), "not an image")
    assert_clean_error(
        director("critique", "astronaut.png", "--ref", "sky.png", cwd=tmp_path), "face"
    )
    result = director(
        "critique",
        "astronaut.png",
        "--cast",
        "Nobody",
        cwd=tmp_path,
        env={"DIRECTOR_HOME": str(tmp_path / "home")},
    )
    assert_clean_error(result, "No character 'Nobody'")


def test_thresholds_come_from_the_config_file_and_the_flag(tmp_path):
    _photos(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text("[thresholds]\nmin_sharpness = 1e9\nidentity = 0.999\n")
    env = {"DIRECTOR_CONFIG": str(config)}
    result = director(
        "critique", "astronaut.png", "--ref", "astronaut.png", "--json", cwd=tmp_path, env=env
    )
    out = json.loads(result.stdout)
    assert out["checks"]["sharpness"]["threshold"] == 1e9
    assert out["checks"]["sharpness"]["passed"] is False
    assert out["checks"]["identity"]["threshold"] == 0.999
    flagged = director(
        "critique",
        "astronaut.png",
        "--threshold",
        "min_sharpness=5",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    sharpness = json.loads(flagged.stdout)["checks"]["sharpness"]
    assert sharpness["score"] == out["checks"]["sharpness"]["score"]
    assert (sharpness["threshold"], sharpness["passed"]) == (5.0, True)


def test_an_unknown_or_malformed_threshold_is_refused_with_the_known_names(tmp_path):
    _photos(tmp_path)
    bad = director("critique", "astronaut.png", "--threshold", "sharpnes=5", cwd=tmp_path)
    assert_clean_error(bad, "Unknown thresholds in --threshold: sharpnes")
    assert "min_sharpness" in bad.stderr and "max_flicker" in bad.stderr
    worse = director("critique", "astronaut.png", "--threshold", "min_sharpness", cwd=tmp_path)
    assert_clean_error(worse, "is not NAME=NUMBER")
