"""The film's sound: voice lines placed at their shots, music ducked under them, and the mix
normalised to a loudness target in two passes of EBU R128 ``loudnorm``.

Pass one measures the mix (and writes the stems, voice.wav and music.wav, beside the film);
pass two happens inside the film's own ffmpeg command, which applies the measured values, so
the film is encoded once. The music stem is the ducked music as it sits in the mix, before
normalisation; the voice stem is the placed lines.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from director.errors import AssemblyError
from director.tools.assemble.ffmpeg_bin import StepRecord, ffmpeg_argv

SAMPLE_RATE = 48000
MUSIC_FADE_IN_S, MUSIC_FADE_OUT_S, MUSIC_VOLUME = 1.5, 2.5, 0.6
# Ducking: the voice track keys a compressor on the music; speech pulls the music down by
# about 10 dB within 20 ms and lets it back over 400 ms, so it breathes between lines.
DUCK = {"threshold": 0.02, "ratio": 8, "attack": 20, "release": 400, "makeup": 1}
_LOUDNORM_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.DOTALL)


@dataclass(frozen=True)
class LoudnessTarget:
    integrated: float = -16.0  # LUFS
    true_peak: float = -1.0  # dBTP
    range: float = 11.0  # LU

    def filter_args(self) -> dict[str, float]:
        return {"I": self.integrated, "TP": self.true_peak, "LRA": self.range}


@dataclass(frozen=True)
class PlacedLine:
    path: Path
    start_s: float


@dataclass(frozen=True)
class Measured:
    """Pass one's reading of the mix: what pass two is told, with the target it aims at."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float
    target: LoudnessTarget


def audio_graph(lines: list[PlacedLine], music: Path | None, seconds: float, *, stems=False):
    """The film's sound before normalisation: ``{"mix": stream}``, with ``"voice"`` and
    ``"music"`` stem streams where asked; each stereo at 48 kHz and exactly ``seconds`` long."""
    voice = _voice_track(lines, seconds) if lines else None
    bed = _music(music, seconds) if music is not None else None
    found = {}
    if voice is not None and bed is not None:
        key, voice = _split(voice, 2)
        bed = ffmpeg.filter([bed, key], "sidechaincompress", **DUCK)
    if stems and voice is not None:
        voice, found["voice"] = _split(voice, 2)
    if stems and bed is not None:
        bed, found["music"] = _split(bed, 2)
    parts = [s for s in (voice, bed) if s is not None]
    if len(parts) == 1:
        return {**found, "mix": parts[0]}
    mix = ffmpeg.filter(parts, "amix", inputs=2, normalize=0, duration="first")
    return {**found, "mix": mix}


def normalised(mix, measured: Measured):
    """Pass two: the mix brought to the target with pass one's measurements, linear where it
    can be (one gain for the whole film, so the balance of voice and music is kept)."""
    return mix.filter(
        "loudnorm",
        **measured.target.filter_args(),
        measured_I=measured.input_i,
        measured_TP=measured.input_tp,
        measured_LRA=measured.input_lra,
        measured_thresh=measured.input_thresh,
        offset=measured.target_offset,
        linear="true",
    ).filter("aresample", SAMPLE_RATE)


def measure_and_write_stems(
    lines: list[PlacedLine],
    music: Path | None,
    seconds: float,
    out_dir: Path,
    target: LoudnessTarget,
    on_step: Callable[[StepRecord], None] | None = None,
) -> tuple[Measured, dict[str, Path]]:
    """Pass one: measure the mix against ``target`` and write its stems into ``out_dir``."""
    graph = audio_graph(lines, music, seconds, stems=True)
    stems = {name: out_dir / f"{name}.wav" for name in ("voice", "music") if name in graph}
    outputs = [
        ffmpeg.output(graph[name], str(path), acodec="pcm_s16le", ar=SAMPLE_RATE)
        for name, path in stems.items()
    ]
    meter = graph["mix"].filter("loudnorm", **target.filter_args(), print_format="json")
    outputs.append(ffmpeg.output(meter, "-", f="null"))
    stderr = _run_logged(ffmpeg.merge_outputs(*outputs), out_dir / "mix", on_step)
    return parse_loudnorm(stderr, target), stems


def parse_loudnorm(stderr: str, target: LoudnessTarget = LoudnessTarget()) -> Measured:
    """The JSON block that ``loudnorm`` prints at the end of a pass."""
    found = _LOUDNORM_JSON.findall(stderr)
    if not found:
        raise AssemblyError(
            "ffmpeg's loudnorm printed no measurement of the film's sound.",
            "Use an ffmpeg build with the loudnorm filter (ffmpeg 3.1 or later).",
        )
    values = json.loads(found[-1])
    return Measured(
        input_i=_number(values["input_i"]),
        input_tp=_number(values["input_tp"]),
        input_lra=_number(values["input_lra"]),
        input_thresh=_number(values["input_thresh"]),
        target_offset=_number(values["target_offset"]),
        target=target,
    )


def measure_file(path: Path, target: LoudnessTarget = LoudnessTarget()) -> dict[str, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a finished file's sound."""
    stream = ffmpeg.input(str(path)).audio.filter(
        "loudnorm", **target.filter_args(), print_format="json"
    )
    stderr = _run_logged(ffmpeg.output(stream, "-", f="null"), Path(path), None)
    values = json.loads(_LOUDNORM_JSON.findall(stderr)[-1])
    return {"integrated": _number(values["input_i"]), "true_peak": _number(values["input_tp"])}


# --- tracks ---------------------------------------------------------------------------------


def _voice_track(lines: list[PlacedLine], seconds: float):
    placed = [
        _stereo(ffmpeg.input(str(Path(line.path).absolute())).audio).filter(
            "adelay", delays=round(line.start_s * 1000), all=1
        )
        for line in lines
    ]
    track = placed[0]
    if len(placed) > 1:
        track = ffmpeg.filter(placed, "amix", inputs=len(placed), normalize=0, duration="longest")
    return _exactly(track, seconds)


def _music(path: Path, seconds: float):
    fade_in = min(MUSIC_FADE_IN_S, seconds / 4)
    fade_out = min(MUSIC_FADE_OUT_S, seconds / 4)
    stream = ffmpeg.input(str(Path(path).absolute()), stream_loop=-1).audio
    return (
        _exactly(_stereo(stream), seconds)
        .filter("afade", t="in", st=0, d=f"{fade_in:.3f}")
        .filter("afade", t="out", st=f"{seconds - fade_out:.6f}", d=f"{fade_out:.3f}")
        .filter("volume", MUSIC_VOLUME)
    )


def _stereo(stream):
    return stream.filter("aresample", SAMPLE_RATE).filter(
        "aformat", sample_fmts="fltp", channel_layouts="stereo"
    )


def _exactly(stream, seconds: float):
    """Padded with silence, then cut, to the film's length."""
    return stream.filter("apad").filter("atrim", end=f"{seconds:.6f}").filter("asetpts", "N/SR/TB")


def _split(stream, count: int):
    node = stream.filter_multi_output("asplit", count)
    return [node.stream(i) for i in range(count)]


# --- running --------------------------------------------------------------------------------


def _run_logged(stream, output: Path, on_step: Callable[[StepRecord], None] | None) -> str:
    """Run ffmpeg at info level, since loudnorm prints its measurement there; returns stderr."""
    argv = ffmpeg_argv(stream)
    argv = [argv[0], *_info_level(argv[1:])]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-4:])
        raise AssemblyError(
            f"ffmpeg failed while mixing the film's sound: {tail}",
            "Check that the music and voice files exist and play.",
        )
    if on_step is not None:
        seconds = round(time.perf_counter() - started, 3)
        on_step(StepRecord(step="mix", command=argv, output=str(output), seconds=seconds))
    return done.stderr


def _info_level(args: list[str]) -> list[str]:
    out = list(args)
    if "-loglevel" in out:
        out[out.index("-loglevel") + 1] = "info"
    return out


def _number(value: str | float) -> float:
    number = float(value)
    # loudnorm reports silence as -inf (and its offset as inf): clamped to the range its own
    # options take, a record stays JSON and pass two stays valid.
    return min(max(number, -99.0), 99.0) if number == number else -99.0
