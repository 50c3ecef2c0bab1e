"""director render --clean: a real offline run with the scratch voice (so it has lines and
subtitles) rendered as a clean master, measured against the film and against the clips
themselves: the storyboard caption band gone and the picture in its place, no subtitles burned
in, the same length, rate, codecs and sound, the subtitles beside it in the film's language."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from director.records import Line
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from director.tools.assemble.mix import measure_file
from director.tools.assemble.probe import probe
from director.tools.assemble.subtitles import line_text
from tests.test_cli import assert_clean_error, director

pytestmark = pytest.mark.slow

LOGLINE = "A lighthouse keeper finds a message in a bottle"
ZH = "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园"
W, H, FPS = 320, 180, 24


def _run(root: Path, logline: str, run_id: str, minutes: str) -> Path:
    made = director(
        "run", "--logline", logline, "--minutes", minutes, "--size", f"{W}x{H}", "--yes",
        "--voice", "scratch", "--runs-dir", str(root / "runs"), "--run-id", run_id, cwd=root,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return root / "runs" / run_id


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("clean"), LOGLINE, "film", "0.4")


@pytest.fixture(scope="module")
def clean(run: Path) -> tuple[Path, str]:
    made = director("render", "film", "--clean", "--runs-dir", str(run.parent), cwd=run.parent)
    assert made.returncode == 0, made.stderr
    return run / "film-clean.mp4", made.stdout


def _plan(root: Path) -> dict:
    return json.loads((root / "plan.json").read_text(encoding="utf-8"))


def _events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]


def _bounds(plan: dict) -> list[int]:
    """First frame of the title card, each shot and the end card, then the film's end."""
    seconds = [plan["cards"]["title_s"], *(s["duration_s"] for s in plan["shots"])]
    bounds, total = [0], 0.0
    for s in [*seconds, plan["cards"]["end_s"]]:
        total += s
        bounds.append(round(total * FPS))
    return bounds


def _frame(path: Path, number: int) -> np.ndarray:
    """Frame ``number`` of a video, decoded to RGB."""
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{number})",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(H, W, 3).astype(np.int16)


def _clip_frame(run: Path, shot_id: str, number: int) -> np.ndarray:
    accepted = [
        e["attempt"]
        for e in _events(run)
        if e["type"] == "attempt" and e["attempt"]["kind"] == "clip"
        and e["attempt"]["shot_id"] == shot_id
    ]  # fmt: skip
    return _frame(run / accepted[-1]["artifact"], number)


def _band(run: Path, shot_id: str) -> int:
    """The caption band's rows, as the previz backend logged them for the shot's keyframe."""
    keyframes = [
        e["attempt"]["params"]
        for e in _events(run)
        if e["type"] == "attempt" and e["attempt"]["kind"] == "keyframe"
        and e["attempt"]["shot_id"] == shot_id
    ]  # fmt: skip
    return keyframes[-1]["caption_px"]


def _filled(picture: np.ndarray) -> np.ndarray:
    """A picture scaled to fill the frame's height, centred, the sides cut: what the clean
    master should show of a clip once its caption band is gone."""
    h, w = picture.shape[:2]
    wide = round(w * H / h)
    img = Image.fromarray(picture.astype(np.uint8)).resize((wide, H), Image.BICUBIC)
    left = (wide - W) // 2
    return np.asarray(img, np.int16)[:, left : left + W]


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _line_frame(run: Path) -> tuple[str, int, int]:
    """A shot with a line, and a frame in the middle of its subtitle, clear of any transition;
    returns the shot id, the film's frame and the clip's."""
    plan = _plan(run)
    bounds = _bounds(plan)
    srt = _srt(run / "film.srt")
    for i, shot in enumerate(plan["shots"]):
        previous = plan["shots"][i - 1] if i else None
        head = (
            round(previous["transition_s"] * FPS)
            if previous and previous["transition"] != "cut"
            else 0
        )
        start, end = bounds[i + 1], bounds[i + 2]
        for a, b, _ in srt:
            middle = round((a + b) / 2 * FPS)
            if start + head + 2 <= middle < end - 2 and shot.get("line"):
                return shot["id"], middle, middle - start
    raise AssertionError("the run has no line to look at")


def _srt(path: Path) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, s = stamp.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    events = []
    for block in blocks:
        lines = block.splitlines()
        a, b = lines[1].split(" --> ")
        events.append((seconds(a), seconds(b), "\n".join(lines[2:])))
    return events


# --- the picture ----------------------------------------------------------------------------


def test_the_caption_band_is_gone_and_the_picture_fills_the_frame(run, clean):
    master, _ = clean
    shot_id, at, in_clip = _line_frame(run)
    band = _band(run, shot_id)
    assert band > 0  # previz keyframes carry a caption band
    clip, film, cleaned = (
        _clip_frame(run, shot_id, in_clip),
        _frame(run / "film.mp4", at),
        _frame(master, at),
    )
    bottom = slice(H - band + 2, H)
    # The film shows the clip's caption band; the clean master does not.
    assert _diff(film[bottom], clip[bottom]) < 6
    assert _diff(cleaned[bottom], clip[bottom]) > 15
    # It shows the clip's picture above the band, scaled to fill the frame, in its place.
    expected = _filled(clip[: 2 * ((H - band) // 2)])
    assert _diff(cleaned[bottom], expected[bottom]) < 8
    # Left of the label, the whole frame is that picture; the clip as it is does not match.
    left = (slice(0, H), slice(0, W // 2))
    assert _diff(cleaned[left], expected[left]) < 8
    assert _diff(cleaned[left], clip[left]) > 2 * _diff(cleaned[left], expected[left])


def test_no_subtitles_are_burned_in(run, clean):
    master, _ = clean
    shot_id, at, in_clip = _line_frame(run)
    band = _band(run, shot_id)
    clip = _clip_frame(run, shot_id, in_clip)
    film, cleaned = _frame(run / "film.mp4", at), _frame(master, at)
    expected = _filled(clip[: 2 * ((H - band) // 2)])
    # The lower middle of the frame, above the caption band, where the film's subtitles sit:
    # the worst row of the film against its clip shows them; no row of the clean master
    # differs from the picture it should show.
    area = (slice(H // 2, H - band), slice(W // 4, 3 * W // 4))
    assert _worst_row(film[area], clip[area]) > 25  # burned in: the measure can tell
    assert _worst_row(cleaned[area], expected[area]) < 12


def _worst_row(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean(axis=(1, 2)).max())


# --- length, rate, codecs, sound ------------------------------------------------------------


def test_same_length_rate_codecs_and_sound_as_the_film(run, clean):
    master, said = clean
    film, cleaned = probe(run / "film.mp4", count_frames=True), probe(master, count_frames=True)
    assert abs(cleaned.duration_s - film.duration_s) <= 1 / FPS
    assert cleaned.frames == film.frames
    assert (cleaned.video_codec, cleaned.width, cleaned.height, cleaned.fps) == (
        film.video_codec, film.width, film.height, film.fps,
    )  # fmt: skip
    assert cleaned.audio_codec == film.audio_codec == "aac"
    heard, original = measure_file(master), measure_file(run / "film.mp4")
    assert original["integrated"] > -30  # the film speaks: there is sound to compare
    assert abs(heard["integrated"] - original["integrated"]) < 0.1
    assert abs(heard["true_peak"] - original["true_peak"]) < 0.1
    assert cleaned.tags.get("comment", "").startswith("AI-generated")
    assert str(master) in said


# --- subtitles beside it --------------------------------------------------------------------


def test_subtitles_are_written_beside_it_and_match_the_lines(run, clean):
    master, said = clean
    plan = _plan(run)
    srt, vtt = master.with_suffix(".srt"), master.with_suffix(".vtt")
    assert str(srt) in said and str(vtt) in said
    events = _srt(srt)
    spoken = [
        line_text(Line.model_validate(s["line"]), "en") for s in plan["shots"] if s.get("line")
    ]
    assert spoken and " ".join(t.replace("\n", " ") for _, _, t in events) == " ".join(spoken)
    assert events == _srt(run / "film.srt")  # the film's own subtitles
    # Each line's subtitles start after its voice does, within its shot.
    starts = {e["shot_id"]: e["start_s"] for e in _events(run) if e["type"] == "voice_line"}
    assert len(starts) == len(spoken)
    firsts = sorted(starts.values())
    assert all(any(0 <= a - first < 1.0 for a, _, _ in events) for first in firsts)
    text = vtt.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n")
    assert len(re.findall(r"^\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}$", text, re.M)) == len(
        events
    )
    # And inside the master as a soft track in the film's language.
    assert re.search(r"Stream #0:2\S*\(eng\): Subtitle: mov_text", _streams(master))


def _streams(path: Path) -> str:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr


def test_a_chinese_film_has_chinese_subtitles_beside_its_clean_master(tmp_path):
    run = _run(tmp_path, ZH, "zh", "0.25")
    out = tmp_path / "masters" / "zh.mp4"
    made = director("render", str(run), "--clean", "--out", str(out), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    events = _srt(out.with_suffix(".srt"))
    assert events and all(re.search(r"[\u4e00-\u9fff]", t) for _, _, t in events)
    assert re.search(r"\(zho\): Subtitle: mov_text", _streams(out))
    assert abs(probe(out).duration_s - probe(run / "film.mp4").duration_s) <= 1 / FPS


# --- bad inputs -----------------------------------------------------------------------------


def test_bad_inputs_are_one_line(run, tmp_path):
    runs = str(run.parent)
    assert_clean_error(
        director("render", "nope", "--clean", "--runs-dir", runs, cwd=tmp_path), "No run"
    )
    assert_clean_error(director("render", "film", "--runs-dir", runs, cwd=tmp_path), "pass --clean")
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    for out, said in (
        (a_file / "m.mp4", "Cannot write the clean master"),
        (tmp_path / "m.txt", "not a video file"),
    ):
        result = director(
            "render", "film", "--clean", "--out", str(out), "--runs-dir", runs, cwd=tmp_path
        )
        assert_clean_error(result, said)
    assert_clean_error(
        director(
            "render",
            "film",
            "--clean",
            "--out",
            str(run / "film.mp4"),
            "--runs-dir",
            runs,
            cwd=tmp_path,
        ),
        "is the film itself",
    )
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("run.json", "plan.json", "events.jsonl"):
        shutil.copy(run / name, unfinished / name)
    assert_clean_error(director("render", str(unfinished), "--clean", cwd=tmp_path), "no film yet")
    # A clip gone from disk is named; nothing is written.
    shutil.copy(run / "film.mp4", unfinished / "film.mp4")
    shutil.copytree(run / "keyframes", unfinished / "keyframes")
    shutil.copytree(run / "clips", unfinished / "clips")
    gone = sorted((unfinished / "clips").iterdir())[1]
    shutil.rmtree(gone)
    result = director("render", str(unfinished), "--clean", cwd=tmp_path)
    assert_clean_error(result, f"no clip on disk for shot {gone.name}")
    assert not (unfinished / "film-clean.mp4").exists()
