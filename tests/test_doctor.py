import json

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
