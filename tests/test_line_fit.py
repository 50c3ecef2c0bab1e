"""Lines fitted to their shots at planning: the spoken pace estimated from the text (and the
scratch voice found within it), a long line lengthening its shot within its beat, and a line no
shot can hold flagged at the beat's checkpoint, in the log and in `director status`; the film
keeps its length and the line is never cut."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from director.agent.line_fit import MAX_SHOT_CS, MIN_SHOT_CS, TAIL_CS, fit_lines, needed_cs
from director.memory.events import read_events
from director.records import Line
from director.replay.record import fold
from director.tools.assemble.probe import probe
from director.tools.voice.pace import spoken_seconds
from director.tools.voice.scratch import ScratchVoice
from tests.conftest import make_plan
from tests.test_cli import director

FITS = "The rain came late that year, and the garden drank it slowly, row by row."
TOO_LONG = (
    "The robots came again at dawn, and they flattened the beans, the tomatoes, the old pear "
    "tree your grandmother planted, and every row we dug together last spring."
)
SHORT = "Not this one. Not ever."


# --- the pace -------------------------------------------------------------------------------


def test_the_pace_counts_words_in_english_and_characters_in_chinese():
    assert spoken_seconds("one two three four five") == pytest.approx(2.0)  # 2.5 words a second
    assert spoken_seconds("one two, three four. Five") == pytest.approx(2.0 + 0.15 + 0.35)
    assert spoken_seconds("花园在等雨") == pytest.approx(5 / 4.5, abs=0.01)  # 4.5 a second
    assert spoken_seconds("花园在等雨。") == spoken_seconds("花园在等雨")  # no breath at the end
    assert spoken_seconds("2075年") == pytest.approx(5 / 4.5, abs=0.01)  # digit by digit
    assert spoken_seconds("In 2075") > spoken_seconds("In the year")


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", FITS),
        ("en", "In 2075 the last human on Earth tends a garden that robots keep bulldozing."),
        ("zh", "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园。"),
        ("zh", "我会一直守着这里，直到最后一颗种子发芽。"),
    ],
)
def test_the_scratch_voice_speaks_within_the_planned_time(tmp_path, language, text):
    dest = tmp_path / "line.wav"
    ScratchVoice().speak(text, voice="m3", language=language, dest=dest)
    with wave.open(str(dest)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds <= spoken_seconds(text) + TAIL_CS / 100
    assert seconds > 0.6 * spoken_seconds(text)  # the estimate is a pace, not a loose bound


# --- fitting a plan -------------------------------------------------------------------------


def _plan(lines: dict[int, str], seconds=(4.0, 7.0, 4.0, 4.0)):
    """Four shots in two beats (two each); ``lines`` by shot index."""
    plan = make_plan(4, 4.0)
    shots = [
        s.model_copy(
            update={
                "duration_s": seconds[i],
                "line": Line(kind="narration", text=lines[i]) if i in lines else None,
            }
        )
        for i, s in enumerate(plan.shots)
    ]
    return plan.model_copy(update={"shots": shots})


def _beat_s(plan, beat):
    return round(sum(s.duration_s for s in plan.shots if s.beat_id == beat), 2)


def test_a_long_line_lengthens_its_shot_taking_time_from_the_beat():
    plan = _plan({0: FITS})
    fitted, [fit] = fit_lines(plan, "run")
    first, second = fitted.shots[:2]
    assert fit.fits and fit.shot.id == first.id
    assert first.duration_s * 100 == pytest.approx(needed_cs(plan.shots[0]))
    assert second.duration_s == pytest.approx(11.0 - first.duration_s)
    assert second.duration_s * 100 >= MIN_SHOT_CS
    assert fit.taken == {second.id: round((7.0 - second.duration_s) * 100)}
    assert _beat_s(fitted, "b01") == _beat_s(plan, "b01")  # the beat keeps its length
    assert fitted.shots[2:] == plan.shots[2:]  # the other beat is untouched
    assert "lengthened from 4 s" in fit.event().said


def test_lines_that_fit_change_nothing():
    plan = _plan({0: SHORT, 2: SHORT})
    assert fit_lines(plan, "run") == (plan, [])


def test_a_line_the_beat_cannot_make_room_for_is_flagged_and_nothing_moves():
    crowded = _plan({0: FITS, 1: FITS}, seconds=(4.0, 4.0, 4.0, 4.0))
    fitted, fits = fit_lines(crowded, "run")
    assert fitted == crowded and [f.fits for f in fits] == [False, False]
    assert "can spare only" in fits[0].said and "resume run --from assembly" in fits[0].said
    endless = _plan({2: TOO_LONG})
    fitted, [fit] = fit_lines(endless, "run")
    assert needed_cs(endless.shots[2]) > MAX_SHOT_CS
    assert fitted == endless and not fit.fits and "longer than a shot may hold" in fit.said
    # fitting again finds just what is still flagged: what the checkpoint shows
    assert [f.said for f in fit_lines(fitted, "run")[1]] == [fit.said]


def test_only_the_beats_named_are_fitted():
    plan = _plan({0: FITS, 2: FITS}, seconds=(4.0, 5.0, 4.0, 5.0))
    fitted, fits = fit_lines(plan, "run", ["b02"])
    assert [f.shot.beat_id for f in fits] == ["b02"] and fitted.shots[:2] == plan.shots[:2]


# --- through the CLI: a script's timed shots ------------------------------------------------

SCRIPT = {
    "title": "Seed Vault",
    "logline": "An old gardener hides the last seeds from a robot that has learned to love weeding.",
    "shots": [
        {"beat": "Morning", "subject": "Mara", "action": "presses a seed into black soil",
         "environment": "a rooftop greenhouse at dawn", "line": FITS, "duration": 4},
        {"beat": "Morning", "action": "a tall weeding robot rolls between the beds", "duration": 5},
        {"beat": "Morning", "action": "seed packets flutter on a string", "duration": 4},
        {"beat": "Morning", "subject": "Mara", "action": "looks up at the robot",
         "speaker": "Mara", "line": TOO_LONG, "duration": 4},
        {"beat": "Night", "subject": "Mara", "action": "buries a tin of seeds",
         "environment": "her kitchen by candlelight", "speaker": "Mara", "line": SHORT,
         "duration": 4.5},
    ],
}  # fmt: skip


def write_script(folder: Path) -> Path:
    path = folder / "shots.json"
    path.write_text(json.dumps(SCRIPT), encoding="utf-8")
    return path


def _events(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "events.jsonl").read_text("utf-8").splitlines()]


def _ok(result):
    assert result.returncode == 0, result.stderr
    return result


def test_a_voiced_run_fits_its_lines_and_flags_the_rest_at_the_beat(tmp_path):
    write_script(tmp_path)
    args = ("--runs-dir", "runs")
    _ok(director("run", "--script", "shots.json", "--voice", "scratch", "--size", "320x180",
                 "--run-id", "fit", "-q", *args, cwd=tmp_path))  # fmt: skip
    _ok(director("approve", "fit", *args, cwd=tmp_path))
    _ok(director("resume", "fit", "-q", *args, cwd=tmp_path))
    run = tmp_path / "runs" / "fit"
    plan = json.loads((run / "plan.json").read_text("utf-8"))
    shots = {s["id"]: s for s in plan["shots"]}
    fits = {e["shot_id"]: e for e in _events(run) if e["type"] == "line_fit"}
    assert set(fits) == {"s001", "s004"}
    lengthened, flagged = fits["s001"], fits["s004"]
    assert lengthened["fits"] and lengthened["planned_s"] == 4.0
    assert shots["s001"]["duration_s"] == lengthened["shot_s"] == lengthened["needed_s"] > 6
    for donor, taken in lengthened["taken"].items():
        planned = SCRIPT["shots"][int(donor[1:]) - 1]["duration"]
        assert shots[donor]["duration_s"] == pytest.approx(planned - taken)
    assert sum(s["duration_s"] for s in plan["shots"][:4]) == pytest.approx(17.0)
    assert not flagged["fits"] and shots["s004"]["duration_s"] == 4.0
    # the flag waits at the beat's checkpoint, and director status shows it
    status = json.loads(_ok(director("status", "fit", "--json", *args, cwd=tmp_path)).stdout)
    assert status["waiting"]["beat"] == "b01"
    assert status["waiting"]["line_flags"] == [flagged["said"]]
    text = _ok(director("status", "fit", *args, cwd=tmp_path)).stdout
    assert f"Line too long: {flagged['said']}" in text
    # the film keeps the planned length, with the lengthened shot and the whole long line
    _ok(director("resume", "fit", "--yes", "-q", *args, cwd=tmp_path))
    assert probe(run / "film.mp4").duration_s == pytest.approx(27.5, abs=0.05)
    spoken = {e["shot_id"]: e for e in _events(run) if e["type"] == "voice_line"}
    assert spoken["s001"]["fits"] and spoken["s001"]["shot_s"] == lengthened["shot_s"]
    assert not spoken["s004"]["fits"] and spoken["s004"]["duration_s"] > 8  # not cut
    text = _ok(director("status", "fit", *args, cwd=tmp_path)).stdout
    assert "Lines longer than their shots in the film: s004" in text
    # the workflow document tells the shots at the lengths the film has
    told = fold(read_events(run / "events.jsonl")).shots
    assert [(s.id, s.duration_s) for s in told] == [
        (s["id"], s["duration_s"]) for s in plan["shots"]
    ]
    document = (run / "workflow.md").read_text("utf-8")
    assert f"planning lengthened the shot from 4 s to {lengthened['shot_s']:g} s" in document
    assert (
        "s004: its line needs about" in document and "flagged at the beat's checkpoint" in document
    )


def test_a_silent_run_leaves_its_shots_as_planned(tmp_path):
    write_script(tmp_path)
    args = ("--runs-dir", "runs")
    _ok(director("run", "--script", "shots.json", "--size", "320x180", "--run-id", "quiet",
                 "-q", *args, cwd=tmp_path))  # fmt: skip
    _ok(director("approve", "quiet", *args, cwd=tmp_path))
    _ok(director("resume", "quiet", "-q", *args, cwd=tmp_path))  # to the first beat's keyframes
    run = tmp_path / "runs" / "quiet"
    plan = json.loads((run / "plan.json").read_text("utf-8"))
    assert [s["duration_s"] for s in plan["shots"]] == [4.0, 5.0, 4.0, 4.0, 4.5]
    assert not [e for e in _events(run) if e["type"] == "line_fit"]
    status = json.loads(_ok(director("status", "quiet", "--json", *args, cwd=tmp_path)).stdout)
    assert status["waiting"]["line_flags"] == []
