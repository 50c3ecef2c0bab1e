"""Find the ffmpeg program and run it quietly, timing each step for the run's decision log.

Order: ``DIRECTOR_FFMPEG`` (a path or a program name), the binary that ships with
imageio-ffmpeg, then ``ffmpeg`` on PATH. Every command is kept as an argv list so the log can
show exactly what ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from director.errors import AssemblyError, ToolMissing

_FIX = "pip install imageio-ffmpeg, or install ffmpeg and put it on PATH, or set DIRECTOR_FFMPEG."
_QUIET = ("-hide_banner", "-loglevel", "error", "-nostdin")
_STDERR_LINES = 8


@dataclass
class StepRecord:
    step: str
    command: list[str]
    output: str
    seconds: float


def ffmpeg_exe() -> str:
    """The path of the ffmpeg program to run; raises ToolMissing with the fix when none exists."""
    explicit = os.environ.get("DIRECTOR_FFMPEG")
    if explicit:
        return _explicit_exe(explicit)
    for candidate in (_imageio_exe(), shutil.which("ffmpeg")):
        if candidate and _is_program(candidate):
            return candidate
    raise ToolMissing("ffmpeg was not found.", _FIX)


def _explicit_exe(value: str) -> str:
    # A wrong explicit setting is reported rather than silently replaced by another ffmpeg.
    found = value if _is_program(value) else shutil.which(value)
    if not found:
        raise ToolMissing(
            f"DIRECTOR_FFMPEG={value} is not an ffmpeg program.",
            "Point DIRECTOR_FFMPEG at the ffmpeg binary, or unset it to use the bundled one.",
        )
    return found


def _imageio_exe() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def _is_program(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def check_ffmpeg() -> str:
    """Run ``ffmpeg -version`` once per program; returns its first line or raises ToolMissing."""
    return _version_line(ffmpeg_exe())


@lru_cache(maxsize=4)
def _version_line(exe: str) -> str:
    try:
        done = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"ffmpeg at {exe} cannot run: {exc}.", _FIX) from exc
    if done.returncode != 0:
        raise ToolMissing(f"ffmpeg at {exe} cannot run: {_tail(done.stderr)}", _FIX)
    return done.stdout.splitlines()[0] if done.stdout else exe


def ffmpeg_argv(stream_or_argv: Any) -> list[str]:
    """The full argv for an ffmpeg-python stream or a list of ffmpeg arguments."""
    exe = ffmpeg_exe()
    if isinstance(stream_or_argv, Sequence) and not isinstance(stream_or_argv, str):
        args = [str(a) for a in stream_or_argv]
        if args and Path(args[0]).name.startswith("ffmpeg"):
            args = args[1:]
    else:
        args = list(stream_or_argv.get_args())
    # Outputs are always fresh temporary files, so overwriting is never a surprise.
    return [exe, *_QUIET, "-y", *args]


def run_ffmpeg(
    stream_or_argv: Any,
    *,
    step: str,
    output: Path,
    on_step: Callable[[StepRecord], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> StepRecord:
    """Run one ffmpeg command; raises AssemblyError with the end of ffmpeg's complaint.

    ``on_progress`` is called with the seconds of output written so far, as ffmpeg reports them.
    """
    running = start_ffmpeg(stream_or_argv, step=step, output=output, progress=on_progress)
    return running.wait(on_step)


class RunningFfmpeg:
    """An ffmpeg command running in the background; ``wait`` finishes it like run_ffmpeg."""

    def __init__(
        self,
        argv: list[str],
        step: str,
        output: Path,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.argv, self.step, self.output = argv, step, output
        self.progress = progress
        if progress is not None:  # key=value lines on stdout, read while waiting
            argv = [argv[0], "-progress", "pipe:1", "-nostats", *argv[1:]]
        self.started = time.perf_counter()
        # stderr goes to a file: a pipe nobody reads could fill up and stall ffmpeg.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (closed in wait/kill)
        try:
            stdout = subprocess.PIPE if progress is not None else subprocess.DEVNULL
            self._process = subprocess.Popen(
                argv, stdout=stdout, stderr=self._stderr, text=progress is not None
            )
        except OSError as exc:
            self._stderr.close()
            raise ToolMissing(f"ffmpeg cannot run: {exc}.", _FIX) from exc

    def wait(self, on_step: Callable[[StepRecord], None] | None = None) -> StepRecord:
        if self.progress is not None:
            self._follow_progress()
        code = self._process.wait()
        seconds = time.perf_counter() - self.started
        self._stderr.seek(0)
        stderr = self._stderr.read()
        self._stderr.close()
        if code != 0:
            error = AssemblyError(
                f"ffmpeg failed while making {self.step} ({self.output.name}): {_tail(stderr)}",
                "Check that the input files exist and play; error.command holds the full command.",
            )
            error.command = self.argv
            raise error
        record = StepRecord(
            step=self.step, command=self.argv, output=str(self.output), seconds=round(seconds, 3)
        )
        if on_step is not None:
            on_step(record)
        return record

    def _follow_progress(self) -> None:
        for line in self._process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                self.progress(int(value) / 1e6)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


def start_ffmpeg(
    stream_or_argv: Any,
    *,
    step: str,
    output: Path,
    progress: Callable[[float], None] | None = None,
) -> RunningFfmpeg:
    """Start one ffmpeg command without waiting for it."""
    return RunningFfmpeg(ffmpeg_argv(stream_or_argv), step, output, progress)


def _tail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(lines[-_STDERR_LINES:]) or "no message"
