"""Finding and running ffmpeg, and probing what it wrote."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from director.errors import AssemblyError, ToolMissing
from director.tools.assemble import ffmpeg_bin, probe
from director.tools.assemble.ffmpeg_bin import (
    StepRecord,
    check_ffmpeg,
    ffmpeg_exe,
    run_ffmpeg,
)
from director.tools.assemble.probe import parse_ffmpeg_summary


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("DIRECTOR_FFMPEG", raising=False)
    ffmpeg_bin._version_line.cache_clear()
    yield
    ffmpeg_bin._version_line.cache_clear()


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _test_video(tmp_path: Path, name: str = "in.mp4", audio: bool = False) -> Path:
    out = tmp_path / name
    args = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=2"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "aac", "-shortest"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-metadata", "title=Tide: 潮汐", str(out)]
    run_ffmpeg(args, step="test video", output=out)
    return out


# --- locating ffmpeg ------------------------------------------------------------------------


def test_environment_variable_wins(monkeypatch, tmp_path):
    fake = _script(tmp_path / "ffmpeg-custom", "echo ffmpeg version custom")
    monkeypatch.setenv("DIRECTOR_FFMPEG", str(fake))
    assert ffmpeg_exe() == str(fake)
    assert check_ffmpeg() == "ffmpeg version custom"


def test_bundled_binary_is_used_without_environment():
    import imageio_ffmpeg

    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()
    assert check_ffmpeg().startswith("ffmpeg version")


def test_wrong_environment_variable_is_reported_not_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("DIRECTOR_FFMPEG", str(tmp_path / "nothing-here"))
    with pytest.raises(ToolMissing, match="DIRECTOR_FFMPEG"):
        ffmpeg_exe()


def test_path_is_the_last_resort(monkeypatch, tmp_path):
    import imageio_ffmpeg

    fake = _script(tmp_path / "ffmpeg", "echo ffmpeg version on-path")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", _raise_runtime)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ffmpeg_exe() == str(fake)


def test_no_ffmpeg_anywhere_says_how_to_fix(monkeypatch, tmp_path):
    import imageio_ffmpeg

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", _raise_runtime)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as caught:
        ffmpeg_exe()
    assert "pip install imageio-ffmpeg" in str(caught.value)
    assert "DIRECTOR_FFMPEG" in str(caught.value)


def _raise_runtime():
    raise RuntimeError("no binary")


def test_version_check_runs_once(monkeypatch, tmp_path):
    calls = tmp_path / "calls"
    fake = _script(tmp_path / "ffmpeg", f'echo x >> "{calls}"; echo ffmpeg version 1')
    monkeypatch.setenv("DIRECTOR_FFMPEG", str(fake))
    check_ffmpeg()
    check_ffmpeg()
    assert calls.read_text().count("x") == 1


def test_version_check_fails_when_program_cannot_run(monkeypatch, tmp_path):
    fake = _script(tmp_path / "ffmpeg", "echo broken >&2; exit 3")
    monkeypatch.setenv("DIRECTOR_FFMPEG", str(fake))
    with pytest.raises(ToolMissing, match="broken"):
        check_ffmpeg()


# --- running it -----------------------------------------------------------------------------


def test_run_records_a_quiet_timed_step(tmp_path):
    steps: list[StepRecord] = []
    out = tmp_path / "a.mp4"
    args = ["-f", "lavfi", "-i", "testsrc2=s=64x36:r=24:d=0.5", "-pix_fmt", "yuv420p", str(out)]
    record = run_ffmpeg(args, step="probe me", output=out, on_step=steps.append)
    assert steps == [record]
    assert record.step == "probe me" and record.output == str(out) and record.seconds > 0
    assert record.command[0] == ffmpeg_exe()
    assert {"-hide_banner", "-nostdin", "-loglevel"} <= set(record.command)
    assert out.stat().st_size > 0


def test_progress_reports_seconds_written_while_ffmpeg_runs(tmp_path):
    seen: list[float] = []
    out = tmp_path / "p.mp4"
    args = ["-f", "lavfi", "-i", "testsrc2=s=64x36:r=24:d=3", "-pix_fmt", "yuv420p", str(out)]
    record = run_ffmpeg(args, step="progress", output=out, on_progress=seen.append)
    assert seen and seen == sorted(seen)
    assert abs(seen[-1] - 3.0) < 0.1
    assert "-progress" not in record.command  # the logged command is the one that was asked


def test_run_accepts_an_ffmpeg_python_stream(tmp_path):
    import ffmpeg

    out = tmp_path / "b.mp4"
    stream = ffmpeg.input("testsrc2=s=64x36:r=24:d=0.5", f="lavfi").output(str(out))
    record = run_ffmpeg(stream, step="stream", output=out)
    assert record.command[-1] == str(out) and out.is_file()


def test_failure_raises_assembly_error_with_ffmpeg_message(tmp_path):
    steps = []
    out = tmp_path / "c.mp4"
    with pytest.raises(AssemblyError) as caught:
        run_ffmpeg(
            ["-i", str(tmp_path / "missing.mp4"), str(out)],
            step="x",
            output=out,
            on_step=steps.append,
        )
    assert "No such file" in str(caught.value)
    assert caught.value.command[0] == ffmpeg_exe()
    assert steps == [] and not out.exists()


# --- probing --------------------------------------------------------------------------------


def test_probe_with_ffmpeg_reads_streams_duration_and_tags(tmp_path, monkeypatch):
    video = _test_video(tmp_path, audio=True)
    monkeypatch.setattr(probe, "ffprobe_exe", lambda: None)  # the path taken without ffprobe
    info = probe.probe(video, count_frames=True)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == (
        "h264",
        "yuv420p",
        320,
        180,
    )
    assert info.fps == 24.0
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.frames == 48
    assert info.audio_codec == "aac"
    assert info.tags["title"] == "Tide: 潮汐"


def test_probe_without_audio_has_no_audio_codec(tmp_path, monkeypatch):
    monkeypatch.setattr(probe, "ffprobe_exe", lambda: None)
    info = probe.probe(_test_video(tmp_path))
    assert info.audio_codec is None and info.frames is None


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_probe_with_ffprobe_agrees_with_ffmpeg(tmp_path, monkeypatch):
    video = _test_video(tmp_path, audio=True)
    with_ffprobe = probe.probe(video, count_frames=True)
    monkeypatch.setattr(probe, "ffprobe_exe", lambda: None)
    with_ffmpeg = probe.probe(video, count_frames=True)
    assert with_ffprobe.video_codec == with_ffmpeg.video_codec == "h264"
    assert with_ffprobe.frames == with_ffmpeg.frames == 48
    assert with_ffprobe.duration_s == pytest.approx(with_ffmpeg.duration_s, abs=0.02)
    assert with_ffprobe.tags["title"] == with_ffmpeg.tags["title"]


def test_probe_of_unreadable_file_raises(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(2048))
    with pytest.raises(AssemblyError, match="cannot read"):
        probe.probe(junk)
    with pytest.raises(AssemblyError, match="No such file"):
        probe.probe(tmp_path / "absent.mp4")


SUMMARY = """\
Input #0, matroska,webm, from 'clip.mkv':
  Metadata:
    title           : First line
                    : second line
    ENCODER         : Lavf61
  Duration: 00:01:02.50, start: 0.000000, bitrate: 100 kb/s
  Stream #0:0(eng): Video: h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 23.98 fps, 23.98 tbr, 1k tbn (default)
    Metadata:
      title           : not a container tag
  Stream #0:1: Audio: opus, 48000 Hz, stereo, fltp (default)
"""


def test_summary_parser_reads_rates_sizes_and_multiline_tags():
    info = parse_ffmpeg_summary(SUMMARY)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height, info.fps) == (1920, 1080, 23.98)
    assert info.duration_s == pytest.approx(62.5)
    assert info.audio_codec == "opus"
    assert info.tags == {"title": "First line\nsecond line", "ENCODER": "Lavf61"}
