"""director export: one real offline run (with music, the scratch voice and a planned
transition), written in every format through the CLI and read back with each format's own
reader; the MLT export rendered by MLT's melt and compared with the film frame by frame at the
cuts, and its sound checked for speech where the lines start."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from tests.test_cli import assert_clean_error, director

pytestmark = pytest.mark.slow

# At 0.4 minutes the offline planner gives this logline six shots, the first closing its beat
# with a fade through black: the export must carry a transition, so the test pins a logline
# that has one (checked in ``run``).
LOGLINE = "A lighthouse keeper finds a message in a bottle"
FORMATS = {
    "otio": "film.otio",
    "fcpxml": "film.fcpxml",
    "xml": "film.xml",
    "edl": "film.edl",
    "kdenlive": "film.mlt",
    "jianying": "draft_content.json",
}
FPS = 24


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    music = tmp / "music.wav"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=4",
            str(music),
        ],
        check=True,
    )
    made = director(
        "run", "--logline", LOGLINE, "--minutes", "0.4", "--size", "320x180", "--yes",
        "--music", str(music), "--voice", "scratch", "--runs-dir", str(tmp / "runs"),
        "--run-id", "film", cwd=tmp,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    root = tmp / "runs" / "film"
    shots = _plan(root)["shots"]
    assert any(s["transition"] != "cut" for s in shots), "pick a logline with a transition"
    return root


@pytest.fixture(scope="module")
def exported(run: Path) -> dict[str, tuple[Path, str]]:
    """Every format written by the CLI into a folder of its own, then the folders moved away
    from the run: whatever the timelines point at must have come along."""
    from click.testing import CliRunner

    from director.cli import cli

    out = {}
    for fmt in FORMATS:  # in this process: six interpreters would start for as many seconds
        folder = run.parent.parent / "exports" / fmt
        result = CliRunner().invoke(cli, ["export", str(run), "--to", fmt, "--out", str(folder)])
        assert result.exit_code == 0, result.output
        moved = run.parent.parent / "moved" / fmt
        shutil.move(folder, moved)
        out[fmt] = (moved, result.output)
    return out


# --- what the run says the film is ----------------------------------------------------------


def _plan(root: Path) -> dict:
    return json.loads((root / "plan.json").read_text(encoding="utf-8"))


def _events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]


def expected(root: Path) -> list[dict]:
    """Title card, shots, end card: where each starts and how long, in frames, from the
    plan's seconds (rounded from cumulative time, as the film is cut); each shot's seed and
    model from its accepted clip attempt in the log."""
    plan = _plan(root)
    seconds = [plan["cards"]["title_s"], *(s["duration_s"] for s in plan["shots"])]
    seconds.append(plan["cards"]["end_s"])
    bounds, total = [0], 0.0
    for s in seconds:
        total += s
        bounds.append(round(total * FPS))
    accepted = {
        (e["decision"]["shot_id"], e["decision"]["attempt"])
        for e in _events(root)
        if e["type"] == "decision" and e["decision"]["kind"] == "clip"
        and e["decision"]["action"].startswith("accept")
    }  # fmt: skip
    attempts = {
        a["shot_id"]: a
        for e in _events(root)
        if e["type"] == "attempt" and (a := e["attempt"])["kind"] == "clip"
        and (a["shot_id"], a["number"]) in accepted
    }  # fmt: skip
    ids = ["title", *(s["id"] for s in plan["shots"]), "end"]
    return [
        {
            "id": i,
            "start": bounds[n],
            "frames": bounds[n + 1] - bounds[n],
            "attempt": attempts.get(i),
        }
        for n, i in enumerate(ids)
    ]


def _lines(root: Path) -> list[dict]:
    """The voice lines the film speaks, from the log."""
    return [e for e in _events(root) if e["type"] == "voice_line"]


def _transitions(root: Path) -> dict[str, int]:
    """Shot id -> frames of its planned transition into the next part."""
    return {
        s["id"]: round(s["transition_s"] * FPS)
        for s in _plan(root)["shots"]
        if s["transition"] != "cut"
    }


# --- OpenTimelineIO -------------------------------------------------------------------------


def test_otio_round_trip_keeps_clips_timings_and_metadata(run, exported):
    import opentimelineio as otio

    folder, said = exported["otio"]
    timeline = otio.adapters.read_from_file(str(folder / "film.otio"))
    video, *voices, music = timeline.tracks
    assert music.name.endswith("music") and voices
    clips = list(video.find_clips())
    want = expected(run)
    assert len(clips) == len(want)
    for clip, part in zip(clips, want, strict=True):
        assert clip.range_in_parent().start_time.to_frames() == part["start"]
        assert clip.source_range.duration.to_frames() == part["frames"]
        assert (folder / clip.media_reference.target_url).is_file()  # relative, and it moved along
        assert not Path(clip.media_reference.target_url).is_absolute()
        record = clip.metadata["director"]
        if part["attempt"] is not None:
            attempt = part["attempt"]
            assert record["shot_id"] == part["id"]
            assert record["clip"]["seed"] == attempt["seed"]
            assert record["clip"]["model"] == attempt["model"]
            assert record["clip"]["sha256"] == attempt["sha256"]
            assert set(record["prompt"]) == {"subject", "action", "environment", "camera", "style"}
            assert record["clip"]["scores"]["flicker"]["passed"] is True
    transitions = [t for t in video if isinstance(t, otio.schema.Transition)]
    assert [t.out_offset.to_frames() for t in transitions] == list(_transitions(run).values())
    assert all(t.in_offset.to_frames() == 0 for t in transitions)
    # The music fills the film, looped as the film loops it.
    assert music.kind == otio.schema.TrackKind.Audio
    assert music.duration().to_frames() == want[-1]["start"] + want[-1]["frames"]
    beats = {s["beat_id"] for s in _plan(run)["shots"]}
    assert len(timeline.tracks.markers) == len(beats)
    # Written again and read again, nothing changes.
    again = otio.adapters.read_from_string(
        otio.adapters.write_to_string(timeline, "otio_json"), "otio_json"
    )
    assert again.is_equivalent_to(timeline)
    assert "film.srt" in said and (folder / "film.srt").is_file()
    assert "music's level and fades are not set" in said


def test_otio_voice_lines_are_clips_at_their_starts(run, exported):
    import opentimelineio as otio

    folder, said = exported["otio"]
    timeline = otio.adapters.read_from_file(str(folder / "film.otio"))
    voices = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio][:-1]
    lines = {e["shot_id"]: e for e in _lines(run)}
    assert lines and voices
    found = {}
    for track in voices:
        assert "scratch voice" in track.name  # labelled as what it is
        for clip in track.find_clips():
            record = clip.metadata["director"]
            line = lines[record["shot_id"]]
            speaker = line["speaker"] if line["kind"] == "dialogue" else "Narrator"
            assert track.name.split(" ", 1)[1].startswith(speaker)  # a track per speaker
            assert clip.name.startswith(f"{line['shot_id']} {speaker}: {line['text'][:20]}")
            start = clip.range_in_parent().start_time.to_frames()
            assert start == round(line["start_s"] * FPS)
            assert 0 <= clip.source_range.duration.to_seconds() - line["duration_s"] < 1 / FPS
            assert (folder / clip.media_reference.target_url).is_file()
            assert (record["text"], record["voice"], record["scratch"]) == (
                line["text"], line["voice"], True,
            )  # fmt: skip
            found[record["shot_id"]] = start
    assert sorted(found) == sorted(lines)
    # Written and read again, the lines stay where they are.
    again = otio.adapters.read_from_string(
        otio.adapters.write_to_string(timeline, "otio_json"), "otio_json"
    )
    assert again.is_equivalent_to(timeline)
    assert "voice lines on" in said and "scratch track" in said


# --- Final Cut Pro 7 XML, FCPXML, EDL -------------------------------------------------------


def test_fcp7_xml_has_every_clip_with_its_duration_and_file(run, exported):
    folder, _ = exported["xml"]
    root = ET.parse(folder / "film.xml").getroot()
    video = root.find(".//sequence/media/video/track")
    items = video.findall("clipitem")
    want = expected(run)
    assert len(items) == len(want)
    for item, part in zip(items, want, strict=True):
        assert int(item.findtext("out")) - int(item.findtext("in")) == part["frames"]
        assert int(item.findtext("start")) in (part["start"], -1)  # -1: after a transition
        path = item.findtext("file/pathurl")
        assert path is not None and (folder / path).is_file()
    assert len(video.findall("transitionitem")) == len(_transitions(run))
    audio = root.findall(".//sequence/media/audio/track")
    assert audio[-1].find("clipitem") is not None  # the music
    starts = {
        c.findtext("file/pathurl"): int(c.findtext("start"))
        for track in audio[:-1]
        for c in track.findall("clipitem")
    }
    assert starts == {
        f"media/voice_{e['shot_id']}.wav": round(e["start_s"] * FPS) for e in _lines(run)
    }
    # Read back by the adapter, the transitions begin at their cuts, as in the film.
    import opentimelineio as otio

    video = otio.adapters.read_from_file(str(folder / "film.xml")).video_tracks()[0]
    starts = [c.range_in_parent().start_time.to_frames() for c in video.find_clips()]
    assert starts == [p["start"] for p in want]
    offsets = [(t.in_offset.to_frames(), t.out_offset.to_frames()) for t in video
               if isinstance(t, otio.schema.Transition)]  # fmt: skip
    assert offsets == [(0, frames) for frames in _transitions(run).values()]


def test_fcpxml_has_every_clip_with_its_duration_and_file(run, exported):
    folder, said = exported["fcpxml"]
    root = ET.parse(folder / "film.fcpxml").getroot()
    assets = {a.get("id"): a.get("src") for a in root.iter("asset")}
    spine = root.find(".//sequence/spine")
    clips = [c for c in spine if c.tag == "clip"]
    want = expected(run)
    assert len(clips) == len(want)
    for clip, part in zip(clips, want, strict=True):
        assert _seconds(clip.get("duration")) == Fraction(part["frames"], FPS)
        assert _seconds(clip.get("offset")) == Fraction(part["start"], FPS)
        video = clip.find("video")
        assert (folder / assets[video.get("ref")]).is_file()
    assert len(list(root.iter("marker"))) == len({s["beat_id"] for s in _plan(run)["shots"]})
    assert "writes no transitions" in said  # said, not dropped in silence


def _seconds(value: str) -> Fraction:
    return Fraction(value.removesuffix("s"))


def test_edl_parses_with_one_event_per_clip(run, exported):
    import opentimelineio as otio

    folder, said = exported["edl"]
    timeline = otio.adapters.read_from_file(str(folder / "film.edl"), rate=FPS)
    assert len(timeline.tracks) == 1
    clips = [c for c in timeline.tracks[0].find_clips() if c.source_range.duration.value > 0]
    want = expected(run)
    assert [c.range_in_parent().start_time.to_frames() for c in clips] == [p["start"] for p in want]
    # Each event's reel is its media file's name: the clips in film order, a dissolve named
    # by its incoming clip.
    edl = (folder / "film.edl").read_text()
    events = re.findall(r"^\d{3}\s+(\S+)\s+V\s+(C|D \d+)\s+\S+\s+\S+\s+(\S+)\s+(\S+)$", edl, re.M)
    reels = [reel for reel, _, rec_in, rec_out in events if rec_in != rec_out]
    assert reels == [f"{p['id']}mp4" for p in want]
    assert sum(kind.startswith("D") for _, kind, _, _ in events) == len(_transitions(run))
    assert "one video track only" in said and "no per-clip metadata" in said
    assert "the voice and music tracks are left out" in said
    assert json.loads((folder / "shots.json").read_text())["clips"][1]["clip"]["seed"] > 0


# --- MLT, rendered by melt ------------------------------------------------------------------


def _frames(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 180, 320, 3).astype(np.int16)


def test_mlt_export_renders_with_melt_like_the_film_at_every_cut(run, exported, tmp_path):
    melt = shutil.which("melt")
    if melt is None:
        pytest.skip("MLT's melt is not installed (Debian: apt-get install melt; .ci/run does it)")
    folder, _ = exported["kdenlive"]
    out = tmp_path / "mlt.rgb"  # raw frames: nothing encoded, nothing to decode again
    subprocess.run(
        [melt, "-quiet", str(folder / "film.mlt"), "-consumer", f"avformat:{out}",
         "f=rawvideo", "pix_fmt=rgb24", "an=1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    film = _frames(run / "film.mp4")
    render = np.fromfile(out, np.uint8).reshape(-1, 180, 320, 3).astype(np.int16)
    assert len(render) == len(film)
    # The film burns in a corner label (top right) and subtitles (lower third) that an editor
    # adds itself; the picture left of the label and above the subtitles is the clips alone.
    region = (slice(36, 108), slice(0, 192))
    cuts = [p["start"] for p in expected(run)[1:]]
    blended = {
        p["start"] + p["frames"] + k
        for p in expected(run)
        for k in range(_transition_after(run, p))
    }
    for cut in cuts:
        for frame in (cut - 1, cut):
            if frame in blended or frame - 1 in blended:
                continue
            same = np.abs(render[frame][region] - film[frame][region]).mean()
            assert same < 6, f"frame {frame}: {same:.1f}"
        # A render off by one frame at a cut differs far more: the comparison can tell.
        if cut not in blended:
            off = np.abs(render[cut][region] - film[cut - 1][region]).mean()
            assert off > 12, f"frames {cut - 1}/{cut} look alike ({off:.1f})"


def test_mlt_export_speaks_each_line_where_the_film_does(run, exported, tmp_path):
    melt = shutil.which("melt")
    if melt is None:
        pytest.skip("MLT's melt is not installed (Debian: apt-get install melt; .ci/run does it)")
    folder, said = exported["kdenlive"]
    rate = 16000
    out = tmp_path / "mlt.wav"
    subprocess.run(
        [melt, "-quiet", str(folder / "film.mlt"), "-consumer", f"avformat:{out}", "vn=1",
         f"ar={rate}", "ac=1", "acodec=pcm_s16le"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    import wave

    with wave.open(str(out)) as audio:
        sound = np.frombuffer(audio.readframes(audio.getnframes()), np.int16) / 32768.0
    lines = _lines(run)
    assert lines and "voice lines on" in said
    for line in lines:
        start = line["start_s"]
        speech = _speech(sound, rate, start + 0.05, start + 0.35)
        quiet = [o for o in lines if o["start_s"] < start - 0.4 < o["start_s"] + o["duration_s"]]
        if not quiet:  # no other line still speaking just before this one starts
            before = _speech(sound, rate, start - 0.35, start - 0.05)
            assert speech > 20 * before, f"{line['shot_id']}: {speech:.2e} vs {before:.2e}"
        assert speech > 1e-4, f"{line['shot_id']}: no speech at {start:.3f} s ({speech:.2e})"


def _speech(sound: np.ndarray, rate: int, a: float, b: float) -> float:
    """Energy in a window outside the test's music (a 440 Hz sine): the voice alone."""
    window = sound[round(a * rate) : round(b * rate)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window)))) ** 2
    freqs = np.fft.rfftfreq(len(window), 1 / rate)
    keep = (freqs > 80) & ((freqs < 340) | (freqs > 540))
    return float(spectrum[keep].sum() / len(window))


def _transition_after(root: Path, part: dict) -> int:
    return _transitions(root).get(part["id"], 0)


# --- JianYing / CapCut ----------------------------------------------------------------------


def test_jianying_draft_has_the_clips_at_their_microseconds(run, exported):
    folder, said = exported["jianying"]
    draft = json.loads((folder / "draft_content.json").read_text(encoding="utf-8"))
    tracks = {t["name"]: t for t in draft["tracks"]}
    segments = tracks["video"]["segments"]
    want = expected(run)
    assert len(segments) == len(want)
    for segment, part in zip(segments, want, strict=True):
        assert segment["target_timerange"]["start"] == round(part["start"] * 1_000_000 / FPS)
        assert segment["target_timerange"]["duration"] == round(part["frames"] * 1_000_000 / FPS)
    videos = {v["id"]: v for v in draft["materials"]["videos"]}
    for segment in segments:
        assert Path(videos[segment["material_id"]]["path"]).name.endswith(".mp4")
    assert len(draft["materials"]["transitions"]) == len(_transitions(run))
    subtitles = (folder / "film.srt").read_text(encoding="utf-8").count(" --> ")
    assert len(tracks["subtitles"]["segments"]) == subtitles > 0
    music = tracks["music"]["segments"]
    assert music and all(m["volume"] == pytest.approx(0.6) for m in music)  # the film's level
    assert len(draft["materials"]["audio_fades"]) == 2  # faded in and out, as the film is
    # Each voice line a segment on its speaker's track, at its start in microseconds.
    audios = {a["id"]: a for a in draft["materials"]["audios"]}
    spoken = {
        Path(audios[seg["material_id"]]["path"]).name: seg["target_timerange"]
        for t in draft["tracks"]
        if t["type"] == "audio" and "scratch voice" in t["name"]
        for seg in t["segments"]
    }
    lines = _lines(run)
    assert lines and set(spoken) == {f"voice_{e['shot_id']}.wav" for e in lines}
    for line in lines:
        span = spoken[f"voice_{line['shot_id']}.wav"]
        assert span["start"] == round(round(line["start_s"] * FPS) * 1_000_000 / FPS)
        assert abs(span["duration"] - line["duration_s"] * 1_000_000) < 1_000
    assert "no markers" in said
    assert (folder / "draft_meta_info.json").is_file()


# --- bad inputs -----------------------------------------------------------------------------


def test_bad_inputs_are_one_line(run, tmp_path):
    runs = str(run.parent)
    assert_clean_error(
        director("export", "nope", "--to", "otio", "--runs-dir", runs, cwd=tmp_path), "No run"
    )
    assert_clean_error(
        director("export", "film", "--to", "avid", "--runs-dir", runs, cwd=tmp_path), "avid"
    )
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    result = director(
        "export", "film", "--to", "otio", "--out", str(a_file), "--runs-dir", runs, cwd=tmp_path
    )
    assert_clean_error(result, "is a file")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("run.json", "plan.json", "events.jsonl"):
        shutil.copy(run / name, unfinished / name)
    assert_clean_error(
        director("export", str(unfinished), "--to", "edl", cwd=tmp_path), "no film yet"
    )
