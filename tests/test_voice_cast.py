"""Voices kept in cast memory (``director cast add NAME --voice PROVIDER:VOICE``), the narrator's
own (``--narrator-voice``), and a film whose lines are spoken in them; bad voice specs are one
line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skimage.data as skdata
from PIL import Image

from director.records import CastVoice
from director.tools.voice.casting import Casting, parse_voice
from director.tools.voice.openai_speech import OpenAISpeech
from director.tools.voice.scratch import ScratchVoice
from tests.test_cli import assert_clean_error, director

LOGLINE = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"


def _home(tmp_path: Path) -> dict:
    Image.fromarray(skdata.astronaut()).save(tmp_path / "eileen.png")
    return {"DIRECTOR_HOME": str(tmp_path / "home")}


def _ok(result):
    assert result.returncode == 0, result.stderr
    return result


def test_cast_keeps_a_voice_per_backend_and_shows_it(tmp_path):
    env = _home(tmp_path)
    added = director(
        "cast", "add", "Eileen", "--ref", "eileen.png", "--voice", "scratch:f5",
        "--voice", "openai:nova", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert "voice scratch:f5, openai:nova" in _ok(added).stdout
    shown = json.loads(
        _ok(director("cast", "show", "Eileen", "--json", cwd=tmp_path, env=env)).stdout
    )
    assert shown["voices"] == ["openai:nova", "scratch:f5"]
    assert "voice scratch:f5" in director("cast", "show", "Eileen", cwd=tmp_path, env=env).stdout
    listed = director("cast", "list", cwd=tmp_path, env=env).stdout
    assert "openai:nova, scratch:f5" in listed
    # a new voice in a backend replaces the old one there; the others stay
    _ok(director("cast", "voice", "Eileen", "scratch:f4", cwd=tmp_path, env=env))
    listed = json.loads(director("cast", "list", "--json", cwd=tmp_path, env=env).stdout)
    assert listed[0]["voices"] == ["openai:nova", "scratch:f4"]
    _ok(director("cast", "voice", "Eileen", "--clear", cwd=tmp_path, env=env))
    shown = director("cast", "show", "Eileen", cwd=tmp_path, env=env).stdout
    assert "voice: automatic" in shown


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("nova", "names no voice"),
        ("scratch:", "names no voice"),
        ("a:b:c:d", "names no voice"),
        ("nobody:nova", "no voice backend named 'nobody'"),
        ("scratch:zz9", "no variant 'zz9'"),
        ("openai:robot", "has no voice 'robot'"),
        ("openai:tts-1:verse", "(tts-1) has no voice 'verse'"),
    ],
)
def test_a_bad_voice_is_one_line_and_stores_nothing(tmp_path, spec, fragment):
    env = _home(tmp_path)
    added = director(
        "cast", "add", "X", "--ref", "eileen.png", "--voice", spec, cwd=tmp_path, env=env
    )
    assert_clean_error(added, fragment)
    assert json.loads(director("cast", "list", "--json", cwd=tmp_path, env=env).stdout) == []


def test_a_voice_for_someone_not_in_the_cast_is_one_line(tmp_path):
    env = _home(tmp_path)
    result = director("cast", "voice", "Nobody", "scratch:f2", cwd=tmp_path, env=env)
    assert_clean_error(result, "No character 'Nobody'")
    assert_clean_error(director("cast", "voice", "Nobody", cwd=tmp_path, env=env), "No voice given")


def test_the_narrator_voice_is_checked_before_the_run(tmp_path):
    bad = director(
        "run", "--logline", LOGLINE, "--voice", "scratch", "--narrator-voice", "zz9", cwd=tmp_path
    )
    assert_clean_error(bad, "no variant 'zz9'")
    silent = director("run", "--logline", LOGLINE, "--narrator-voice", "m7", cwd=tmp_path)
    assert_clean_error(silent, "--voice none")
    assert not (tmp_path / "runs").exists()


def test_casting_uses_a_voice_only_with_its_backend_and_model():
    scratch, openai = ScratchVoice(), OpenAISpeech.__new__(OpenAISpeech)
    openai.model = "tts-1"
    casting = Casting.of(
        "m7",
        {
            "Eileen": [parse_voice("scratch:f4"), parse_voice("openai:tts-1-hd:ash")],
            "Kofi": [CastVoice(provider="openai", voice="echo")],
        },
    )
    assert casting.voice(scratch, "eileen ") == ("f4", "cast")
    assert casting.voice(scratch, None) == ("m7", "narrator")
    assert casting.voice(openai, "Eileen") == (openai.voice_for("Eileen"), "automatic")
    assert casting.voice(openai, "KOFI") == ("echo", "cast")
    openai.model = "tts-1-hd"
    assert casting.voice(openai, "Eileen") == ("ash", "cast")
    assert Casting().voice(scratch, None) == (scratch.voices[0], "automatic")
    # who is heard in an automatic voice though the cast gives them one elsewhere
    assert casting.unserved(scratch, ["Kofi", "Eileen", "Mara", "kofi"]) == {
        "Kofi": ["openai:echo"]
    }
    openai.model = "tts-1"
    assert casting.unserved(openai, ["Eileen", "Kofi"]) == {
        "Eileen": ["scratch:f4", "openai:tts-1-hd:ash"]
    }


def test_a_film_speaks_each_cast_member_in_their_voice(tmp_path):
    env = _home(tmp_path)
    _ok(
        director(
            "cast",
            "add",
            "Eileen",
            "--ref",
            "eileen.png",
            "--voice",
            "scratch:f4",
            cwd=tmp_path,
            env=env,
        )
    )
    result = director(
        "run", "--logline", LOGLINE, "--minutes", "0.5", "--seed", "1", "--size", "320x180",
        "--yes", "-q", "--runs-dir", "runs", "--run-id", "v", "--cast", "Eileen",
        "--voice", "scratch", "--narrator-voice", "m7", cwd=tmp_path, env=env,
    )  # fmt: skip
    _ok(result)
    events = [json.loads(x) for x in (tmp_path / "runs/v/events.jsonl").read_text().splitlines()]
    spoken = [e for e in events if e["type"] == "voice_line"]
    hers = [e for e in spoken if e["speaker"] == "Eileen"]
    narrated = [e for e in spoken if e["kind"] == "narration"]
    assert hers and narrated
    assert {(e["voice"], e["voice_from"]) for e in hers} == {("f4", "cast")}
    assert {(e["voice"], e["voice_from"]) for e in narrated} == {("m7", "narrator")}
    # without her voice in the cast, she gets the backend's automatic one
    assert ScratchVoice().voice_for("Eileen") != "f4"


def test_a_cast_voice_for_another_backend_is_said_not_dropped_silently(tmp_path):
    env = _home(tmp_path)
    added = director(
        "cast", "add", "Eileen", "--ref", "eileen.png", "--voice", "openai:nova",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    _ok(added)
    result = director(
        "run", "--logline", LOGLINE, "--minutes", "0.5", "--seed", "1", "--size", "320x180",
        "--yes", "--runs-dir", "runs", "--run-id", "v", "--cast", "Eileen", "--voice", "scratch",
        cwd=tmp_path, env={**env, "COLUMNS": "400"},
    )  # fmt: skip
    _ok(result)
    said = " ".join(result.stderr.split())
    assert "Eileen's cast voice is for openai:nova, not scratch" in said
    assert "director cast voice Eileen scratch:VOICE" in said
    events = [json.loads(x) for x in (tmp_path / "runs/v/events.jsonl").read_text().splitlines()]
    hers = [e for e in events if e["type"] == "voice_line" and e["speaker"] == "Eileen"]
    assert hers and {e["voice_from"] for e in hers} == {"automatic"}
