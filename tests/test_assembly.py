"""Film assembly: exact timing through cuts and transitions, cards, burned-in subtitles that
render Chinese, the AI label and metadata, music, and failures that leave no film behind."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from director.errors import AssemblyError
from director.records import Cards, Line, Plan, StyleBible
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe, run_ffmpeg
from director.tools.assemble.film import SUBTITLE_MARGIN, FilmResult, assemble, clip_length
from director.tools.assemble.probe import probe
from director.tools.assemble.subtitles import srt_text, subtitle_events
from director.tools.base import ClipRequest
from director.tools.video.previz import PrevizVideo
from tests.conftest import one_beat_plan, plain_shot

W, H = 320, 180
FPS = 24
RED, GREEN, BLUE, YELLOW = (200, 60, 60), (60, 200, 60), (60, 60, 200), (200, 200, 60)
SHOTS = [  # colour, move, transition out, line
    (RED, "static", "crossfade", Line(kind="narration", text="Seedling one is alive.")),
    (GREEN, "push-in", "cut", None),
    (BLUE, "static", "fade-black", Line(kind="dialogue", speaker="MARA", text="Run now.")),
    (YELLOW, "static", "crossfade", None),
]
# Frames where each part starts: title 0, shots every 36 frames from 24, end card at 168.
TITLE, SHOT, END = 24, 36, 168
SAMPLE = (slice(70, 110), slice(5, 40))  # rows, columns: background, clear of text and label


def make_plan(specs, language: str = "en", shot_s: float = 1.5, size=(W, H)) -> Plan:
    cards = Cards(
        title="The Last Garden" if language == "en" else "最后的花园",
        title_s=1.0,
        end="THE END" if language == "en" else "终",
        end_s=1.0,
        label="AI-generated" if language == "en" else "AI生成",
    )
    bible = StyleBible(
        name="t",
        suffix="storyboard",
        negative="text",
        palette=["#101820", "#6b8f5e", "#f2ead3"],
        aspect_ratio="16:9",
        width=size[0],
        height=size[1],
        grain=0.0,
    )
    shots = [
        plain_shot(
            i,
            shot_s,
            move=move,
            line=line,
            transition=transition,
            transition_s=0.5 if transition != "cut" else 0.0,
        )
        for i, (_, move, transition, line) in enumerate(specs)
    ]
    return one_beat_plan(shots, cards, language=language, bible=bible)


def _keyframe(path, colour, size=(W, H)) -> str:
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).ellipse((120, 50, 200, 130), fill=(240, 240, 240))
    image.save(path)
    return str(path)


def _render_clips(plan: Plan, colours, folder, seconds=None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    size = (plan.bible.width, plan.bible.height)
    clips = {}
    for shot, colour in zip(plan.shots, colours, strict=True):
        keyframe = _keyframe(folder / f"{shot.id}.png", colour, size)
        request = ClipRequest(
            shot=shot,
            keyframe=keyframe,
            seed=1,
            duration_s=seconds or clip_length(shot),
            width=size[0],
            height=size[1],
        )
        clips[shot.id] = folder / f"{shot.id}.mp4"
        PrevizVideo().generate(request, clips[shot.id])
    return clips


def _frames(path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    w, h = next(reader)["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]).astype(int)


def _colour(frame: np.ndarray) -> np.ndarray:
    return frame[SAMPLE].reshape(-1, 3).mean(axis=0)


def _near(frame, colour, tolerance=14) -> bool:
    return bool(np.abs(_colour(frame) - np.array(colour)).max() < tolerance)


@pytest.fixture(scope="module")
def en(tmp_path_factory):
    """One English film, assembled into a folder whose name needs escaping in ffmpeg filters."""
    root = tmp_path_factory.mktemp("assembly")
    plan = make_plan(SHOTS)
    clips = _render_clips(plan, [s[0] for s in SHOTS], root / "clips")
    out = root / "my film's: 电影 out"
    steps = []
    result = assemble(plan, clips, out, on_step=steps.append)
    return plan, clips, result, steps, _frames(result.film)


# --- the film file --------------------------------------------------------------------------


def test_film_is_h264_yuv420p_24fps_at_the_planned_length(en):
    plan, _, result, _, _ = en
    info = probe(result.film, count_frames=True)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", W, H)
    assert info.fps == 24.0
    assert plan.runtime_s == 1.0 + 4 * 1.5 + 1.0
    assert info.frames == round(plan.runtime_s * FPS)
    assert abs(info.duration_s - plan.runtime_s) <= 0.02 * plan.runtime_s
    assert result.duration_s == pytest.approx(plan.runtime_s, abs=1 / FPS)
    assert info.audio_codec is None


def test_film_and_srt_are_written_side_by_side_with_nothing_else(en):
    plan, _, result, _, _ = en
    assert isinstance(result, FilmResult)
    assert result.film.name == "film.mp4" and result.srt == result.film.with_name("film.srt")
    assert result.srt.read_text(encoding="utf-8") == srt_text(subtitle_events(plan))
    assert sorted(p.name for p in result.film.parent.iterdir()) == ["film.mp4", "film.srt"]


def test_the_step_is_recorded_as_an_argv_list(en):
    _, _, result, steps, _ = en
    assert steps == result.steps and [s.step for s in steps] == ["film"]
    command = steps[0].command
    assert command[0] == ffmpeg_exe() and all(isinstance(a, str) for a in command)
    assert "-filter_complex" in command and steps[0].output == str(result.film)


def test_metadata_says_the_film_is_ai_generated(en):
    plan, _, result, _, _ = en
    tags = probe(result.film).tags
    assert tags["title"] == plan.cards.title
    assert "AI-generated" in tags["comment"] and "AI-generated" in tags["description"]


# --- timing through cuts and transitions ----------------------------------------------------


def test_every_shot_keeps_its_planned_frames_on_screen(en):
    frames = en[4]
    starts = [TITLE + i * SHOT for i in range(4)]
    for (colour, *_), start in zip(SHOTS, starts, strict=True):
        assert _near(frames[start + SHOT - 1], colour)  # still this shot at its last frame
    assert _near(frames[starts[2]], BLUE) and _near(frames[starts[2] - 1], GREEN)  # the cut
    assert _near(frames[starts[1] + 12], GREEN)  # the crossfade is over after 0.5 s


def test_crossfade_blends_and_fade_black_goes_through_black(en):
    frames = en[4]
    blend = _colour(frames[TITLE + SHOT + 6])  # mid-crossfade from red to green
    assert 90 < blend[0] < 170 and 90 < blend[1] < 170
    fade = [_colour(f).max() for f in frames[TITLE + 3 * SHOT : TITLE + 3 * SHOT + 12]]
    assert min(fade) < 10  # blue goes through black to yellow
    assert _near(frames[TITLE + 3 * SHOT + 12], YELLOW)


def test_title_and_end_cards_show_text_on_the_palette_background(en):
    frames = en[4]
    for index in (TITLE // 2, END + 18):
        frame = frames[index]
        assert _near(frame, (0x10, 0x18, 0x20), tolerance=8)
        assert (frame[40:140].min(axis=2) > 150).sum() > 30  # light title text in the middle
    assert _colour(frames[0]).max() < 20  # the title fades in from black


# --- text on screen -------------------------------------------------------------------------


def test_subtitles_are_burned_in_only_while_an_event_shows(en):
    plan, clips, _, _, frames = en
    clip = _frames(clips["s003"])
    band = (slice(150, 178), slice(60, 260))

    def ink(film_index: int) -> int:
        """Pixels that the subtitle changed: white text and its dark outline."""
        changed = np.abs(frames[film_index][band] - clip[film_index - TITLE - 2 * SHOT][band])
        return int((changed.max(axis=2) > 60).sum())

    assert ink(TITLE + 2 * SHOT + 18) > 100  # "MARA: Run now." is on screen
    assert ink(TITLE + 2 * SHOT + 2) < 5  # before the event's 0.25 s lead-in


def test_ai_label_sits_in_the_top_right_corner_all_film_long(en):
    _, clips, _, _, frames = en
    clip = _frames(clips["s003"])
    corner, middle = (slice(6, 30), slice(230, 310)), (slice(60, 120), slice(40, 110))
    film_frame = frames[TITLE + 2 * SHOT + 10]
    assert np.abs(film_frame[corner] - clip[10][corner]).mean() > 20
    assert np.abs(film_frame[middle] - clip[10][middle]).mean() < 4
    for index in (TITLE // 2, END + 12):
        assert (frames[index][corner].min(axis=2) > 180).sum() > 15


# --- music ----------------------------------------------------------------------------------


def test_music_is_looped_trimmed_faded_and_encoded_as_aac(en, tmp_path):
    plan, clips, _, _, _ = en
    music = tmp_path / "theme.mp3"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "sine=f=330:d=3", "-c:a", "libmp3lame", str(music)],
        step="music",
        output=music,
    )
    result = assemble(plan, clips, tmp_path / "out", music=music)
    info = probe(result.film, count_frames=True)
    assert info.audio_codec == "aac" and info.video_codec == "h264"
    assert info.frames == round(plan.runtime_s * FPS)
    assert abs(info.duration_s - plan.runtime_s) <= 0.02 * plan.runtime_s


def test_unreadable_music_is_reported_before_rendering(en, tmp_path):
    plan, clips, _, _, _ = en
    music = tmp_path / "notes.mp3"
    music.write_text("not audio")
    with pytest.raises(AssemblyError, match="music"):
        assemble(plan, clips, tmp_path / "out", music=music)
    assert not (tmp_path / "out" / "film.mp4").exists()


# --- Chinese --------------------------------------------------------------------------------


def test_chinese_subtitles_render_real_glyphs(tmp_path):
    lines = [
        Line(kind="narration", text="我们回家吧今天"),
        Line(kind="narration", text="机器人在黎明来"),
    ]
    specs = [((40, 40, 40), "static", "cut", line) for line in lines]
    plan = make_plan(specs, language="zh", shot_s=2.0, size=(640, 360))
    # One short clip for both shots: a file used twice, and a clip that must hold its last frame.
    first_only = plan.model_copy(update={"shots": plan.shots[:1]})
    (clip,) = _render_clips(first_only, [(40, 40, 40)], tmp_path / "clips", seconds=0.5).values()
    out = tmp_path / "中文 片"
    result = assemble(plan, {"s001": clip, "s002": clip}, out)
    frames = _frames(result.film)
    assert len(frames) == round(plan.runtime_s * FPS)
    bottom = round(360 * (1 - SUBTITLE_MARGIN)) + 4  # subtitles sit on this margin
    band = (slice(bottom - 64, bottom), slice(160, 480))
    first, second = frames[TITLE + 30][band], frames[TITLE + 48 + 30][band]
    for text in (first, second):
        assert (text.min(axis=2) > 200).sum() > 150  # white ink on the dark frame
    # Missing glyphs draw identical boxes; real glyphs of different characters differ.
    assert (np.abs(first - second).max(axis=2) > 100).sum() > 150


def test_no_cards_and_an_overlong_transition_still_keep_the_planned_length(tmp_path):
    specs = [(RED, "static", "crossfade", None), (GREEN, "static", "fade-black", None)]
    plan = make_plan(specs)
    plan.cards.title_s = plan.cards.end_s = 0.0
    plan.shots[0].transition_s = 3.0  # longer than the shot it leads into
    plan.beat_sheet.beats[0].duration_s = 3.0
    clips = _render_clips(plan, [RED, GREEN], tmp_path / "clips")
    result = assemble(plan, clips, tmp_path / "out")
    frames = _frames(result.film)
    assert len(frames) == round(plan.runtime_s * FPS) == 72
    assert _near(frames[0], RED) and _near(frames[-1], GREEN)


# --- failures -------------------------------------------------------------------------------


def test_missing_clip_names_the_shot(en, tmp_path):
    plan, clips, _, _, _ = en
    partial = {k: v for k, v in clips.items() if k != "s002"}
    with pytest.raises(AssemblyError, match="s002"):
        assemble(plan, partial, tmp_path / "out")
    assert not (tmp_path / "out" / "film.mp4").exists()


def test_failed_render_leaves_no_film_or_temp_files(en, tmp_path):
    plan, clips, _, _, _ = en
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4096))
    out = tmp_path / "out"
    with pytest.raises(AssemblyError, match="ffmpeg failed"):
        assemble(plan, {**clips, "s003": broken}, out)
    assert list(out.iterdir()) == []


def test_clip_length_adds_the_transition_handle():
    plan = make_plan(SHOTS)
    assert [clip_length(s) for s in plan.shots] == [2.0, 1.5, 2.0, 2.0]
