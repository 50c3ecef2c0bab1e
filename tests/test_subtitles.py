"""Subtitle events: film timing, Netflix line and reading-speed rules, SRT output."""

from __future__ import annotations

import math
import random
import re
from itertools import pairwise

import pytest

from director.errors import InputError
from director.records import Cards, Line, Plan
from director.tools.assemble.subtitles import (
    RULES,
    SubtitleEvent,
    format_timestamp,
    reading_chars,
    split_text,
    srt_text,
    subtitle_events,
    timeline,
    write_srt,
)
from tests.conftest import one_beat_plan, plain_shot

FRAME = 1 / 24
EPS = 1e-9
SENTENCE = (
    "the robots came at dawn and nobody in valley heard them until first wall fell we ran I kept "
    "seeds my coat all of every last one because that is what mother told me to do garden "
    "extraordinary unbelievably Mara"
)
WORDS = SENTENCE.split(" ")
HANZI = "机器人在黎明时分到来山谷里没有听见直到第一堵墙倒下我们逃跑了把种子都藏外套一颗也丢因为这是母亲教的"


def make_plan(lines: list[Line | None], durations: list[float], language: str = "en") -> Plan:
    cards = Cards(title="Garden", title_s=2.0, end="END", end_s=2.0, label="AI-generated")
    shots = [
        plain_shot(i, d, line=line)
        for i, (line, d) in enumerate(zip(lines, durations, strict=True))
    ]
    return one_beat_plan(shots, cards, language=language)


def _windows(plan: Plan) -> list[tuple[float, float]]:
    bounds = timeline(plan)
    return [(bounds[i + 1] / 24, bounds[i + 2] / 24) for i in range(len(plan.shots))]


# --- text -----------------------------------------------------------------------------------


def test_dialogue_shows_speaker_and_narration_does_not():
    plan = make_plan(
        [
            Line(kind="dialogue", speaker="MARA", text="Run."),
            Line(kind="narration", text="She ran."),
        ],
        [3.0, 3.0],
    )
    assert [e.text for e in subtitle_events(plan)] == ["MARA: Run.", "She ran."]


def test_chinese_dialogue_uses_full_width_colon_and_name_as_written():
    plan = make_plan([Line(kind="dialogue", speaker="林晚", text="我们回家吧。")], [3.0], "zh")
    assert subtitle_events(plan)[0].text == "林晚：我们回家吧。"


def test_first_event_starts_a_quarter_second_into_its_shot_after_the_title():
    plan = make_plan([None, Line(kind="narration", text="Dawn.")], [3.0, 4.0])
    (event,) = subtitle_events(plan)
    assert event.start_s == pytest.approx(2.0 + 3.0 + 0.25)
    assert event.index == 1


def test_long_english_line_splits_at_sentences_and_never_mid_word():
    text = (
        "The robots came at dawn, and nobody in the valley heard them until the first wall "
        "fell. We ran. I kept the seeds in my coat, all of them, every last one."
    )
    chunks = split_text(text, RULES["en"])
    assert len(chunks) > 1
    assert " ".join(c.replace("\n", " ") for c in chunks) == text
    assert all(len(line) <= 42 for c in chunks for line in c.split("\n"))
    assert all(c.count("\n") <= 1 for c in chunks)
    assert any(c.endswith(("fell.", "ran.", "dawn,")) for c in chunks[:-1])


def test_long_chinese_line_breaks_after_punctuation_where_it_can():
    text = "机器人在黎明时分到来，山谷里没有人听见。我们逃跑了，我把种子都藏在外套里。"
    chunks = split_text(text, RULES["zh"])
    assert "".join(c.replace("\n", "") for c in chunks) == text
    assert all(len(line) <= 16 for c in chunks for line in c.split("\n"))
    assert all(line[-1] in "，。" for c in chunks for line in c.split("\n"))


def test_english_line_break_avoids_leaving_an_article_at_a_line_end():
    chunk = split_text(
        "She walks slowly through the burning remains of the old garden", RULES["en"]
    )
    (lines,) = [c.split("\n") for c in chunk]
    assert len(lines) == 2 and lines[0].split()[-1].lower() not in {"the", "of", "a"}


def test_speaker_name_never_stands_alone_in_an_event():
    text = "x" * 40 + " " + "y" * 38 + "."
    plan = make_plan([Line(kind="dialogue", speaker="MARA", text=text)], [9.0])
    first = subtitle_events(plan)[0].text
    assert first.startswith("MARA:") and "x" in first


def test_too_short_shot_for_its_line_is_an_input_error():
    text = "A long line that needs several events. " * 6
    plan = make_plan([Line(kind="narration", text=text)], [0.2])
    with pytest.raises(InputError, match="s001"):
        subtitle_events(plan)


# --- the timing rules, over many random plans -----------------------------------------------


def _random_line(rng: random.Random, language: str) -> Line:
    if language == "zh":
        parts = ["".join(rng.choice(HANZI) for _ in range(rng.randint(2, 14))) for _ in range(4)]
        text = "".join(p + rng.choice("，。！？；") for p in parts[: rng.randint(1, 4)])
    else:
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 40))]
        text = " ".join(
            w + (rng.choice([",", ".", "?", ""]) if rng.random() < 0.2 else "") for w in words
        )
    if rng.random() < 0.5:
        return Line(kind="dialogue", speaker=rng.choice(["MARA", "林晚"]), text=text)
    return Line(kind="narration", text=text)


def _random_plan(seed: int, language: str) -> Plan:
    rng = random.Random(seed)
    count = rng.randint(1, 6)
    lines = [_random_line(rng, language) if rng.random() < 0.8 else None for _ in range(count)]
    return make_plan(lines, [round(rng.uniform(1.0, 9.0), 2) for _ in range(count)], language)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_timing_rules_hold_for_random_plans(language):
    rules = RULES[language]
    checked_speed = 0
    for seed in range(150):
        plan = _random_plan(seed, language)
        events = subtitle_events(plan)
        assert [e.index for e in events] == list(range(1, len(events) + 1))
        for a, b in pairwise(events):
            assert b.start_s - a.end_s >= 2 * FRAME - EPS  # two frames apart, never overlapping
        for shot, (start, end) in zip(plan.shots, _windows(plan), strict=True):
            inside = [e for e in events if start - EPS <= e.start_s < end]
            assert bool(inside) == (shot.line is not None)
            for e in inside:
                assert e.end_s <= end - 2 * FRAME + EPS  # never crosses the cut
                assert e.end_s - e.start_s <= 7.0 + EPS
                lines = e.text.split("\n")
                assert len(lines) <= 2
                assert all(0 < len(line) <= rules.max_chars for line in lines)
            if inside and _shot_allows(inside, start, end, rules):
                checked_speed += 1
                for e in inside:
                    seconds = e.end_s - e.start_s
                    assert seconds >= 5 / 6 - EPS
                    assert reading_chars(e.text, language) / seconds <= rules.cps + 1e-6
                assert inside[0].start_s == pytest.approx(start + 0.25)
    assert checked_speed > 50  # the reading-speed rule was exercised, not skipped


def _shot_allows(events: list[SubtitleEvent], start: float, end: float, rules) -> bool:
    """Whether the shot is long enough for full reading time after the usual lead-in."""
    need = [
        min(
            168,
            max(
                20,
                math.ceil(reading_chars(e.text, "en" if rules.joiner else "zh") / rules.cps * 24),
            ),
        )
        for e in events
    ]
    frames = round((end - start) * 24) - 6 - 2 - 2 * (len(events) - 1)
    return sum(need) <= frames


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_text_is_lost_when_lines_are_split(language):
    for seed in range(100):
        plan = _random_plan(seed, language)
        events = subtitle_events(plan)
        shown = "".join(re.sub(r"\s+", "", e.text) for e in events)
        expected = "".join(
            re.sub(
                r"\s+",
                "",
                (
                    s.line.speaker + ("：" if language == "zh" else ":")
                    if s.line.kind == "dialogue"
                    else ""
                )
                + s.line.text,
            )
            for s in plan.shots
            if s.line
        )
        assert shown == expected


# --- SRT ------------------------------------------------------------------------------------


def test_format_timestamp():
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(3725.0417) == "01:02:05,042"
    assert format_timestamp(59.9996) == "00:01:00,000"


def test_srt_text_layout():
    events = [SubtitleEvent(1, 2.25, 4.0, "MARA: Run.\nNow."), SubtitleEvent(2, 5.0, 6.5, "Go.")]
    assert srt_text(events) == (
        "1\n00:00:02,250 --> 00:00:04,000\nMARA: Run.\nNow.\n\n"
        "2\n00:00:05,000 --> 00:00:06,500\nGo.\n"
    )


def test_write_srt_is_utf8_and_leaves_no_temp_file(tmp_path):
    path = write_srt([SubtitleEvent(1, 1.0, 2.0, "林晚：走吧。")], tmp_path / "film.srt")
    assert path.read_bytes().decode("utf-8").splitlines()[2] == "林晚：走吧。"
    assert [p.name for p in tmp_path.iterdir()] == ["film.srt"]


def test_timeline_is_exact_to_the_frame_without_drift():
    plan = make_plan([None] * 30, [1.01] * 30)
    bounds = timeline(plan)
    assert bounds[-1] == round((2.0 + 30 * 1.01 + 2.0) * 24)
    assert all(b - a in (24, 25, 48) for a, b in pairwise(bounds))
