"""The film's sound: voice lines placed at their shots, music ducked under them (measured on the
music stem), the mix normalised to the loudness target (measured on the film), stems beside it."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from director.records import Line
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe, run_ffmpeg
from director.tools.assemble.film import assemble
from director.tools.assemble.mix import LoudnessTarget, PlacedLine, measure_file, parse_loudnorm
from director.tools.assemble.probe import probe
from director.tools.voice.lines import speak_lines
from director.tools.voice.scratch import ScratchVoice
from tests.test_assembly import RED, _render_clips, make_plan

RATE = 16000
SHOT_S = 2.5
# Lines in the second and fourth shots: they start at 1.0 + 2.5 = 3.5 s and at 8.5 s.
LINES = [
    None,
    Line(kind="narration", text="The garden waits for rain."),
    None,
    Line(kind="dialogue", speaker="MARA", text="Not this time."),
    None,
]


def decoded(path, start: float = 0.0) -> np.ndarray:
    """A file's sound as mono floats at 16 kHz."""
    argv = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(RATE)]
    raw = subprocess.run([*argv, "-f", "s16le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.int16).astype(float) / 32768.0


def level_db(samples: np.ndarray, start: float, end: float) -> float:
    """RMS level in dBFS of the span from ``start`` to ``end`` seconds."""
    span = samples[int(start * RATE) : int(end * RATE)]
    return float(20 * np.log10(np.sqrt(np.mean(span**2)) + 1e-9))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A five-shot film with two scratch-voice lines and a steady tone as its music."""
    root = tmp_path_factory.mktemp("mix")
    plan = make_plan(
        [(RED, "static", "cut", line) for line in LINES], shot_s=SHOT_S, size=(160, 90)
    )
    clips = _render_clips(plan, [RED] * len(LINES), root / "clips")
    music = root / "tone.wav"
    tone = ["-f", "lavfi", "-i", "sine=f=220:d=4", "-ac", "2", str(music)]
    run_ffmpeg(tone, step="music", output=music)
    spoken = speak_lines(plan, ScratchVoice(), root, 24)
    lines = [PlacedLine(s.path, s.start_s) for s in spoken]
    result = assemble(plan, clips, root / "out", music=music, lines=lines)
    return plan, spoken, result


def test_lines_are_placed_at_their_shots_starts(mixed):
    plan, spoken, _ = mixed
    assert [s.shot.id for s in spoken] == [plan.shots[1].id, plan.shots[3].id]
    assert [s.start_s for s in spoken] == [3.5, 8.5]
    assert all(s.fits and s.voice in ScratchVoice.voices for s in spoken)


def test_stems_are_written_beside_the_film(mixed):
    _, _, result = mixed
    assert set(result.stems) == {"voice", "music"}
    for stem in result.stems.values():
        assert stem.parent == result.film.parent
        assert abs(probe(stem).duration_s - probe(result.film).duration_s) < 0.1
    voice = decoded(result.stems["voice"])
    assert level_db(voice, 3.6, 4.5) > level_db(voice, 5.9, 8.3) + 30  # speech, then silence


def test_music_is_ducked_under_the_lines(mixed):
    _, spoken, result = mixed
    music = decoded(result.stems["music"])
    under = [level_db(music, s.start_s + 0.2, s.start_s + s.duration_s - 0.2) for s in spoken]
    between = level_db(music, spoken[0].start_s + spoken[0].duration_s + 0.8, 8.4)
    assert between > -40  # the tone plays between the lines
    assert all(level <= between - 4 for level in under), (under, between)


def test_the_film_is_normalised_to_the_loudness_target(mixed):
    _, _, result = mixed
    target = LoudnessTarget()
    assert probe(result.film).audio_codec == "aac"
    heard = measure_file(result.film)
    assert abs(heard["integrated"] - target.integrated) <= 1.0, heard
    assert heard["true_peak"] <= target.true_peak + 0.5, heard
    assert result.loudness is not None and result.loudness.target == target
    assert abs(result.loudness.input_i - target.integrated) > 1.0  # normalising did something


def test_speech_is_heard_in_the_film_over_the_music(mixed):
    _, spoken, result = mixed
    film = decoded(result.film)
    voice = decoded(result.stems["voice"])
    line = spoken[1]
    # The film's sound follows the voice stem where a line is spoken: correlated, not just loud.
    a = film[int(line.start_s * RATE) : int((line.start_s + line.duration_s) * RATE)]
    b = voice[int(line.start_s * RATE) : int((line.start_s + line.duration_s) * RATE)]
    assert np.corrcoef(a, b)[0, 1] > 0.5


def test_loudnorm_reports_silence_as_a_number():
    stderr = (
        '[Parsed_loudnorm_0 @ 0x1]\n{\n\t"input_i" : "-inf",\n\t"input_tp" : "-inf",\n'
        '\t"input_lra" : "0.00",\n\t"input_thresh" : "-inf",\n\t"output_i" : "-inf",\n'
        '\t"target_offset" : "inf"\n}\n'
    )
    measured = parse_loudnorm(stderr)
    assert (measured.input_i, measured.input_tp, measured.input_lra) == (-99.0, -99.0, 0.0)
