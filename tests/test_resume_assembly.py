"""`director resume RUN --from assembly` with new music or new voices: the film is assembled
again without a new picture (no keyframe or clip made, nothing paid), lines already spoken in
the same voice are reused, and the sound is measured and logged again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from tests.test_cli import assert_clean_error, director
from tests.test_line_fit import write_script
from tests.test_mix import decoded

ARGS = ("--runs-dir", "runs")
PAID = ("attempt", "job_submitted", "critique", "cost")


def _ok(result):
    assert result.returncode == 0, result.stderr
    return result


def _events(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "events.jsonl").read_text("utf-8").splitlines()]


def _since(run: Path, count: int) -> list[dict]:
    return _events(run)[count:]


@pytest.fixture(scope="module")
def voiced(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    write_script(root)
    _ok(director("run", "--script", "shots.json", "--voice", "scratch", "--size", "320x180",
                 "--run-id", "r", "--yes", "-q", *ARGS, cwd=root))  # fmt: skip
    subprocess.run(
        [get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d=40",
         str(root / "tone.wav")],
        check=True,
    )  # fmt: skip
    return root, root / "runs" / "r"


def _lines(events: list[dict]) -> dict[str, dict]:
    return {e["shot_id"]: e for e in events if e["type"] == "voice_line"}


def test_new_music_reassembles_the_film_and_pays_for_nothing(voiced):
    root, run = voiced
    before = decoded(run / "film.mp4")
    spoken = _lines(_events(run))
    count = len(_events(run))
    _ok(director("resume", "r", "--from", "assembly", "--music", "tone.wav", "-q", *ARGS, cwd=root))
    new = _since(run, count)
    assert not [e for e in new if e["type"] in PAID]  # no keyframe, clip or cost
    assert [e["type"] for e in new].count("loudness") == 1
    after = decoded(run / "film.mp4")
    assert after.shape == before.shape and not np.allclose(after, before, atol=1e-3)
    assert (run / "music.wav").is_file()
    again = _lines(new)
    assert set(again) == set(spoken)
    for sid, line in again.items():  # every line reused as it was spoken, nothing paid again
        assert line["reused"] and line["cost"] == 0.0
        assert (line["path"], line["voice"]) == (spoken[sid]["path"], spoken[sid]["voice"])
    resumed = [e for e in new if e["type"] == "run_resumed"][0]
    assert resumed["changed"]["music"] == [None, str(root / "tone.wav")]


def test_a_new_narrator_voice_speaks_only_the_narration_again(voiced):
    root, run = voiced
    spoken = _lines(_events(run))
    count = len(_events(run))
    _ok(director("resume", "r", "--from", "assembly", "--narrator-voice", "f1", "-q", *ARGS,
                 cwd=root))  # fmt: skip
    new = _since(run, count)
    again = _lines(new)
    assert not [e for e in new if e["type"] in PAID]
    narration = [sid for sid, e in again.items() if e["kind"] == "narration"]
    assert narration and all(again[s]["voice"] == "f1" for s in narration)
    for sid, line in again.items():
        changed = sid in narration
        assert line["reused"] is not changed
        assert (line["path"] != spoken[sid]["path"]) is changed
        assert (run / line["path"]).is_file()
    options = json.loads((run / "run.json").read_text("utf-8"))["options"]
    assert options["narrator_voice"] == "f1"


def test_no_voices_leaves_the_music_alone(voiced):
    root, run = voiced
    count = len(_events(run))
    _ok(director("resume", "r", "--from", "assembly", "--voice", "none", "-q", *ARGS, cwd=root))
    new = _since(run, count)
    assert not _lines(new) and not [e for e in new if e["type"] in PAID]
    options = json.loads((run / "run.json").read_text("utf-8"))["options"]
    assert (options["voice"], options["narrator_voice"]) == ("none", None)
    assert not (run / "voice.wav").exists() and (run / "music.wav").is_file()


def test_bad_voice_changes_are_one_line_and_change_nothing(voiced):
    root, run = voiced
    before = (run / "run.json").read_bytes()
    for args, fragment in (
        (("--voice", "scratch"), "--from assembly"),
        (("--from", "assembly", "--voice", "nobody"), "no voice backend named 'nobody'"),
        (("--from", "assembly", "--voice", "scratch", "--narrator-voice", "zz9"), "'zz9'"),
        (("--from", "assembly", "--narrator-voice", "m3"), "--voice none"),
    ):
        assert_clean_error(director("resume", "r", *args, *ARGS, cwd=root), fragment)
    assert (run / "run.json").read_bytes() == before
