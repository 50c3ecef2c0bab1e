"""bench/comfyui_queue.py: the whole script on a 4-shot film with short prompts, and its
explanation of an idle gap on a handmade log."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import comfyui_queue
from director.records import AttemptMade, JobSubmitted
from director.records.judging import Attempt
from tests.fakes.comfyui_server import Run

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_800_000_000.0


@pytest.mark.slow
def test_the_script_runs_a_small_film_and_prints_its_figures():
    command = [sys.executable, "bench/comfyui_queue.py", "--exec-seconds", "0.02"]
    command += ["--minutes", "0.25", "--gaps", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "4 shots, 0.02 s a prompt, --max-attempts 1" in out
    assert "prompts executed:      8 (8 success), 8 queued" in out
    assert "duplicate submissions: 0" in out
    assert "span / busy" in out and "wall / busy" in out
    assert out.count(" -> ") == 2


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).isoformat(timespec="milliseconds")


def _job(shot: str, kind: str, pid: str, at: float) -> JobSubmitted:
    return JobSubmitted(
        shot_id=shot, kind=kind, job_id=pid, backend="comfyui", model="m", ts=_ts(at)
    )


def _attempt(shot: str, kind: str, pid: str, at: float) -> AttemptMade:
    attempt = Attempt(
        shot_id=shot,
        kind=kind,
        number=1,
        backend="comfyui",
        model="m",
        seed=1,
        prompt="p",
        artifact="a.png",
        sha256="0",
        seconds=1.0,
        job_id=pid,
    )
    return AttemptMade(attempt=attempt, ts=_ts(at))


def test_a_gap_says_when_the_next_prompt_was_queued_and_what_the_client_did_meanwhile():
    runs = [Run("a", T0 + 0.0, T0 + 1.0, "success"), Run("b", T0 + 1.5, T0 + 2.5, "success")]
    events = [
        _job("s001", "keyframe", "a", 0.0),
        _attempt("s001", "keyframe", "a", 1.2),
        _job("s001", "clip", "b", 1.5),
        _attempt("s001", "clip", "b", 2.6),
    ]
    line = comfyui_queue._gap(runs[0], runs[1], runs, events)
    assert "0.500 s  s001 keyframe #1 -> s001 clip #1: queued 0.500 s late" in line
    assert "meanwhile: attempt s001 keyframe" in line
    assert "finished on the server, not yet collected: s001 keyframe #1" in line


def test_a_prompt_queued_in_time_leaves_only_the_servers_turnaround():
    runs = [Run("a", T0 + 0.0, T0 + 1.0, "success"), Run("b", T0 + 1.001, T0 + 2.0, "success")]
    events = [_job("s001", "keyframe", "a", 0.0), _job("s002", "keyframe", "b", 0.1)]
    line = comfyui_queue._gap(runs[0], runs[1], runs, events)
    assert line.endswith("queued 0.90 s before (the server's own turnaround)")
