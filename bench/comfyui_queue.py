"""A whole film on one ComfyUI server: is its queue kept fed? Measured on the ComfyUI fake.

A ComfyUI server runs one prompt at a time, so a film made on it takes at least the sum of its
prompts' execution times (the server's busy time). The script starts the fake ComfyUI
(tests/fakes) with a fixed execution time per prompt, runs the real CLI in a subprocess
(`director run --image comfyui:sdxl --video comfyui:wan2.2-i2v --yes`, offline planner, 24
shots at the default --minutes 2) against it, and prints, from the same run: the prompts
executed, the busy time (the fake's execution time plus its own PNG and MP4 writes), the
generation span (first prompt started to last prompt ended), the run's wall time, span / busy
(goal <= 1.05: the server never waits while the run has work for it), wall / busy, the idle
time split by what the late prompt was (a retry, a clip, a first keyframe), the largest idle
gaps with what the client logged while the server waited and which finished prompts it had
not collected yet, and the duplicate submissions (must be 0).

`--max-attempts 1` (the default here) makes the prompt count predictable: one keyframe and one
clip per shot, no retries. With the CLI's own default, `--max-attempts 6`, the fake's frames
fail the pixel critics and the ladder retries keyframes (107 prompts for 24 shots).

    PYTHONPATH=. python bench/comfyui_queue.py [--exec-seconds 1.0] [--minutes 2]
        [--max-attempts 1] [--gaps 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from director.memory.events import read_events
from director.records import AttemptMade, JobSubmitted, StageStarted
from tests.fakes.comfyui_server import FakeComfyUI, Run

LOGLINE = "A lighthouse keeper and a robot keep the lamp burning through the storm"
GOAL = 1.05
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Film:
    """What one run left: the server's prompts (wall-clock seconds), the log, the wall time."""

    runs: list[Run]
    events: list[Any]
    started: float  # the CLI's process started (time.time())
    wall: float
    submissions: int
    duplicates: int


def main() -> None:
    args = _parser().parse_args()
    film = measure(args)
    print(report(film, args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exec-seconds", type=float, default=1.0, help="seconds per prompt")
    parser.add_argument("--minutes", type=float, default=2.0, help="2: 24 shots offline")
    parser.add_argument("--max-attempts", type=int, default=1)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--gaps", type=int, default=5, help="largest idle gaps to explain")
    parser.add_argument("--keep", type=Path, help="keep the run folder under this folder")
    return parser


def measure(args: argparse.Namespace) -> Film:
    """Run the film through the CLI against a fresh fake; the fake's runs in wall-clock time."""
    with FakeComfyUI(exec_seconds=args.exec_seconds) as fake, tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.keep or Path(tmp)
        offset = time.time() - time.monotonic()  # the fake's clock is monotonic, the log's not
        started, clock = time.time(), time.monotonic()
        _cli(args, fake.url, runs_dir, Path(tmp))
        wall = time.monotonic() - clock
        runs = [Run(r.prompt_id, r.start + offset, r.end + offset, r.status) for r in fake.runs]
        events = read_events(runs_dir / "bench" / "events.jsonl")
        submitted = sum(fake.submissions.values())
        return Film(runs, events, started, wall, submitted, fake.duplicate_submissions)


def _cli(args: argparse.Namespace, url: str, runs_dir: Path, tmp: Path) -> None:
    config = tmp / "config.toml"
    config.write_text("")  # the user's own config must not change the film
    command = [sys.executable, "-m", "director", "run", "--logline", LOGLINE]
    command += ["--image", "comfyui:sdxl", "--video", "comfyui:wan2.2-i2v", "--yes"]
    command += ["--size", args.size, "--minutes", str(args.minutes), "--llm", "offline"]
    command += ["--max-attempts", str(args.max_attempts), "--comfyui-url", url]
    command += ["--runs-dir", str(runs_dir), "--run-id", "bench"]
    env = {**os.environ, "DIRECTOR_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"director run failed ({done.returncode}):\n{done.stderr[-4000:]}")


# --- the report ------------------------------------------------------------------------------


def report(film: Film, args: argparse.Namespace) -> str:
    runs = sorted(film.runs, key=lambda r: r.start)
    busy = sum(r.end - r.start for r in runs)
    span = runs[-1].end - runs[0].start
    shots = len({e.shot_id for e in film.events if isinstance(e, JobSubmitted)})
    lines = [
        f"{shots} shots, {args.exec_seconds:g} s a prompt, --max-attempts {args.max_attempts}",
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {datetime.now():%Y-%m-%d}",
        f"prompts executed:      {len(runs)} ({_statuses(runs)}), {film.submissions} queued",
        f"server busy:           {busy:7.1f} s ({_per_kind(runs, film.events)})",
        f"generation span:       {span:7.1f} s   span / busy {span / busy:.3f} (goal <= {GOAL})",
        f"run wall time:         {film.wall:7.1f} s   wall / busy {film.wall / busy:.3f}",
        f"idle between prompts:  {span - busy:7.1f} s in {len(runs) - 1} gaps",
        f"duplicate submissions: {film.duplicates}",
        *_causes(runs, film.events),
        *_ends(film, runs),
        f"largest idle gaps ({args.gaps}):",
    ]
    return "\n".join(lines + _gaps(runs, film.events, args.gaps))


def _per_kind(runs: list[Run], events: list[Any]) -> str:
    """Mean execution per prompt kind: the fake's exec_seconds plus writing its PNGs or MP4s."""
    kinds = {e.job_id: e.kind for e in events if isinstance(e, JobSubmitted)}
    times: dict[str, list[float]] = {}
    for run in runs:
        times.setdefault(kinds.get(run.prompt_id, "other"), []).append(run.end - run.start)
    return ", ".join(f"{k} {sum(t) / len(t):.2f} s each" for k, t in sorted(times.items()))


def _statuses(runs: list[Run]) -> str:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _ends(film: Film, runs: list[Run]) -> list[str]:
    """Where the wall time outside the generation span goes: start-up and planning before the
    first prompt; the last clip's judging, the assembly and the documents after the last."""
    first, last = _when(film.events[0]), _when(film.events[-1])
    assemble = [e for e in film.events if isinstance(e, StageStarted) and e.stage == "assemble"]
    joined = _when(assemble[0]) if assemble else last
    return [
        f"process start to run_started:   {first - film.started:5.1f} s (interpreter, imports)",
        f"run_started to first prompt:    {runs[0].start - first:5.1f} s (planning)",
        f"last prompt to assembly start:  {joined - runs[-1].end:5.1f} s (last clip judged)",
        f"assembly start to run_finished: {last - joined:5.1f} s (assembly, documents)",
    ]


def _causes(runs: list[Run], events: list[Any]) -> list[str]:
    """The idle time split by what the late prompt was: a retry (queued once its shot's last
    attempt was judged), a clip (queued once its beat's keyframes were approved) or a shot's
    first keyframe; gaps whose prompt was queued in time are the server's own turnaround."""
    jobs = {e.job_id: e for e in events if isinstance(e, JobSubmitted)}
    numbers = {e.attempt.job_id: e.attempt.number for e in events if isinstance(e, AttemptMade)}
    sums: dict[str, list[float]] = {}
    for before, after in zip(runs, runs[1:], strict=False):
        job = jobs.get(after.prompt_id)
        late = job is not None and _when(job) > before.end
        cause = "queued in time" if not late else f"{job.kind} attempt 1"
        if late and numbers.get(after.prompt_id, 1) > 1:
            cause = f"{job.kind} retry"
        sums.setdefault(cause, []).append(after.start - before.end)
    parts = [f"{k} {sum(v):.2f} s in {len(v)}" for k, v in sorted(sums.items())]
    return ["idle by the next prompt: " + "; ".join(parts)]


def _gaps(runs: list[Run], events: list[Any], count: int) -> list[str]:
    pairs = sorted(zip(runs, runs[1:], strict=False), key=lambda p: p[0].end - p[1].start)
    return [_gap(before, after, runs, events) for before, after in pairs[:count]]


def _gap(before: Run, after: Run, runs: list[Run], events: list[Any]) -> str:
    """One idle gap: which prompts, when the next was queued, and what the log shows meanwhile."""
    jobs = {e.job_id: e for e in events if isinstance(e, JobSubmitted)}
    queued = _when(jobs[after.prompt_id]) if after.prompt_id in jobs else after.start
    names = _names(events)
    line = f"  {after.start - before.end:6.3f} s  {names(before)} -> {names(after)}: "
    if queued <= before.end:
        return line + f"queued {before.end - queued:.2f} s before (the server's own turnaround)"
    meanwhile = [_label(e) for e in events if before.end < _when(e) < queued]
    line += f"queued {queued - before.end:.3f} s late; meanwhile: {', '.join(meanwhile)}"
    return line + _backlog(before, runs, events)


def _backlog(before: Run, runs: list[Run], events: list[Any]) -> str:
    """Prompts the server had finished by the gap that the client had not yet recorded as
    attempts: how far the client was behind the server."""
    names = _names(events)
    recorded = {e.attempt.job_id: _when(e) for e in events if isinstance(e, AttemptMade)}
    finished = [r for r in runs if r.end <= before.end]
    behind = [names(r) for r in finished if recorded.get(r.prompt_id, 0.0) > before.end]
    return f"; finished on the server, not yet collected: {', '.join(behind) or 'none'}"


def _names(events: list[Any]) -> Callable[[Run], str]:
    """A prompt's name from the log: shot, kind and attempt number (s004 keyframe #2)."""
    jobs = {e.job_id: e for e in events if isinstance(e, JobSubmitted)}
    numbers = {e.attempt.job_id: e.attempt.number for e in events if isinstance(e, AttemptMade)}

    def name(run: Run) -> str:
        job = jobs.get(run.prompt_id)
        if job is None:
            return run.prompt_id[:8]
        return f"{job.shot_id} {job.kind} #{numbers.get(run.prompt_id, '?')}"

    return name


def _label(event: Any) -> str:
    """An event as a few words: its type and the shot, beat or stage it is about."""
    inner = getattr(event, "attempt", None) or getattr(event, "critique", None)
    inner = inner or getattr(event, "decision", None)
    about = getattr(inner, "shot_id", None) or getattr(event, "shot_id", None)
    about = about or getattr(event, "beat_id", None) or getattr(event, "stage", None)
    kind = getattr(inner, "kind", None) or getattr(event, "kind", None)
    return " ".join(str(x) for x in (event.type, about, kind) if x)


def _when(event: Any) -> float:
    return datetime.fromisoformat(event.ts).timestamp()


if __name__ == "__main__":
    main()
