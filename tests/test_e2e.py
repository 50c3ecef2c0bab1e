"""End to end through the command line, on the embedded stack, checking what a user gets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from director.tools.assemble.probe import probe
from tests.test_cli import director

EN = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
ZH = "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园"

pytestmark = pytest.mark.slow


def _run(tmp_path, logline, run_id, *extra):
    result = director(
        "run",
        "--logline",
        logline,
        "--yes",
        "--json",
        "--runs-dir",
        "runs",
        "--run-id",
        run_id,
        *extra,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _check_run(tmp_path, summary, seconds):
    run = tmp_path / "runs" / summary["run_id"]
    for name in (
        "film.mp4",
        "film.srt",
        "events.jsonl",
        "plan.json",
        "workflow.md",
        "run.json",
        "contact_sheet.png",
        "checkpoints.sqlite",
    ):
        assert (run / name).is_file(), name
    info = probe(run / "film.mp4")
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == (
        "h264",
        "yuv420p",
        1280,
        720,
    )
    assert abs(info.fps - 24) < 0.01
    assert abs(info.duration_s - seconds) <= 0.02 * seconds
    assert info.audio_codec is None
    return run


def _workflow_covers_the_run(run):
    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    text = (run / "workflow.md").read_text(encoding="utf-8")
    for shot in plan["shots"]:
        assert f"#### {shot['id']}" in text
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    applied = {
        (check["name"], check["threshold"])
        for event in events
        if event["type"] == "critique"
        for check in event["critique"]["checks"]
        if check["threshold"] is not None
    }
    zh = plan["story"]["language"] == "zh"  # the document is in the film's language
    heading = "### 评审阈值（按实际应用）" if zh else "### Critique thresholds, as applied"
    table = text.split(heading)[1].split("\n### ")[0]
    rows = [line.split(" | ")[:2] for line in table.splitlines() if line.startswith("| ")][1:]
    assert sorted((name.strip("| "), float(value)) for name, value in rows) == sorted(applied)
    for event in events:
        if event["type"] == "critique" and event["verdict"] == "fail":
            c = event["critique"]
            said = f"第 {c['attempt']} 次尝试" if zh else f"attempt {c['attempt']} "
            # attempts that failed with the same words are listed on one line
            same = rf"{c['shot_id']} (attempts|第) [\d, 、]*\b{c['attempt']}\b"
            assert f"{c['shot_id']} {said}" in text or re.search(same, text)
            for check in c["checks"]:
                if check["passed"] is False:
                    assert check["reason"] in text
    return plan, events


def test_english_one_minute_film(tmp_path):
    summary = _run(tmp_path, EN, "en", "--minutes", "1")
    run = _check_run(tmp_path, summary, 60.0)
    plan, events = _workflow_covers_the_run(run)
    assert plan["story"]["language"] == "en"
    assert summary["counts"]["shots"] == len(plan["shots"]) >= 8
    srt = (run / "film.srt").read_text(encoding="utf-8")
    assert "-->" in srt
    kinds = {e["type"] for e in events}
    assert {
        "run_started",
        "story_developed",
        "beat_sheet_planned",
        "approval",
        "attempt",
        "critique",
        "decision",
        "assembly",
        "run_finished",
    } <= kinds
    assert all(e["attempt"]["backend"] == "previz" for e in events if e["type"] == "attempt")


def test_chinese_film_renders_chinese_subtitles(tmp_path):
    summary = _run(tmp_path, ZH, "zh", "--minutes", "0.5")
    run = _check_run(tmp_path, summary, 30.0)
    plan, _ = _workflow_covers_the_run(run)
    assert plan["story"]["language"] == "zh"
    assert plan["beat_sheet"]["structure"] == "qi-cheng-zhuan-he"
    srt = (run / "film.srt").read_text(encoding="utf-8")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in srt)
    assert _subtitle_ink(run, srt) > 200  # white strokes on the translucent subtitle box


def _subtitle_ink(run, srt: str) -> int:
    """Bright pixels in the subtitle band, mid-way through the first subtitle."""
    import numpy as np
    from PIL import Image

    from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
    from director.tools.assemble.film import SUBTITLE_MARGIN

    start, end = (_seconds(t) for t in srt.split("\n")[1].split(" --> "))
    frame = run / "subtitle.png"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-ss",
            f"{(start + end) / 2:.3f}",
            "-i",
            str(run / "film.mp4"),
            "-frames:v",
            "1",
            "-update",
            "1",
            str(frame),
        ],
        check=True,
    )
    pixels = np.asarray(Image.open(frame).convert("RGB")).astype(int)
    bottom = round(720 * (1 - SUBTITLE_MARGIN))
    band = pixels[bottom - 60 : bottom, 240:1040]
    return int((band.min(axis=2) > 220).sum())


def _seconds(stamp: str) -> float:
    h, m, rest = stamp.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest.replace(",", "."))


def test_same_logline_and_seed_give_the_same_plan_and_keyframes(tmp_path):
    a = tmp_path / "runs" / _run(tmp_path, EN, "a", "--minutes", "0.25", "--seed", "7")["run_id"]
    b = tmp_path / "runs" / _run(tmp_path, EN, "b", "--minutes", "0.25", "--seed", "7")["run_id"]
    assert (a / "plan.json").read_bytes() == (b / "plan.json").read_bytes()
    frames_a = sorted(p.relative_to(a) for p in (a / "keyframes").rglob("*.png"))
    assert frames_a == sorted(p.relative_to(b) for p in (b / "keyframes").rglob("*.png"))
    assert all((a / p).read_bytes() == (b / p).read_bytes() for p in frames_a)
    c = tmp_path / "runs" / _run(tmp_path, EN, "c", "--minutes", "0.25", "--seed", "8")["run_id"]
    assert (a / "plan.json").read_bytes() != (c / "plan.json").read_bytes()


def test_replay_of_a_copied_run_and_the_runs_list(tmp_path):
    summary = _run(tmp_path, EN, "r", "--minutes", "0.25")
    run = tmp_path / "runs" / summary["run_id"]
    copy = shutil.copytree(run, tmp_path / "copied")
    (copy / "workflow.md").unlink()
    result = director("replay", str(copy), "--html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (copy / "workflow.md").read_bytes() == (run / "workflow.md").read_bytes()
    assert "data:image/jpeg;base64," in (copy / "workflow.html").read_text(encoding="utf-8")
    listing = director("runs", "--runs-dir", "runs", "--json", cwd=tmp_path)
    [row] = json.loads(listing.stdout)
    assert (row["run_id"], row["status"]) == ("r", "completed")
    assert row["attempts"] >= row["shots"] >= 3


def test_music_is_laid_under_the_film(tmp_path):
    from director.tools.assemble.ffmpeg_bin import ffmpeg_exe

    song = tmp_path / "song.wav"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=f=330:d=40", str(song)], check=True
    )
    summary = _run(tmp_path, EN, "m", "--minutes", "0.25", "--music", str(song))
    info = probe(tmp_path / "runs" / summary["run_id"] / "film.mp4")
    assert info.audio_codec == "aac"
    assert abs(info.duration_s - 15.0) <= 0.3
