"""Shots on a hosted service at once: wall time against the ideal, on the DashScope fake.

A film of N shots is made with the real DashScope image and video backends against the fake
DashScope server (tests/fakes), whose every task takes a fixed latency. With C tasks in
flight, the keyframes cannot take less than ceil(N / C) x latency; the script prints the
measured time of the keyframe pipeline (first keyframe submitted to last keyframe collected,
from the event log's timestamps) over that ideal, and the same for the clips. Goal: <= 1.10.

    PYTHONPATH=. python bench/hosted_concurrency.py [--shots 48] [--latency 2] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
from datetime import datetime
from pathlib import Path

from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.memory.events import read_events
from director.records import AttemptMade, JobSubmitted
from director.testing import ScriptedCritic, ScriptedPlanner
from director.tools import hosted
from director.tools.image.dashscope import DashScopeImage
from director.tools.video.dashscope import DashScopeVideo
from tests.conftest import make_plan
from tests.fakes.dashscope_server import FakeDashScope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=48)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per task")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with FakeDashScope(latency=args.latency) as fake, tempfile.TemporaryDirectory() as tmp:
        os.environ["DASHSCOPE_API_KEY"], os.environ["DASHSCOPE_HTTP_BASE_URL"] = (
            fake.api_key,
            fake.base_url,
        )
        os.environ["DIRECTOR_CONFIG"] = str(_empty_config(Path(tmp)))
        events = _film(args, Path(tmp))
    ideal = math.ceil(args.shots / args.concurrency) * args.latency
    print(f"{args.shots} shots, {args.concurrency} tasks in flight, {args.latency:g} s a task")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {datetime.now():%Y-%m-%d}")
    print(
        f"ideal per pipeline: ceil({args.shots}/{args.concurrency}) x {args.latency:g} s = {ideal:.1f} s"
    )
    for kind in ("keyframe", "clip"):
        wall = _pipeline(events, kind)
        print(f"{kind:>8}s: {wall:6.1f} s   ratio {wall / ideal:.3f}")


def _film(args, tmp: Path) -> list:
    fast = hosted.Polling(first=args.latency / 40, factor=1.1, most=args.latency, timeout=600)
    options = resolve(
        {
            "logline": "A keeper and a robot",
            "minutes": max(0.25, args.shots * 3.0 / 60),
            "size": "640x360",
            "runs_dir": str(tmp),
            "run_id": "bench",
            "yes": True,
        }
    )
    backends = {
        "planner": ScriptedPlanner(make_plan(args.shots, shot_s=3.0)),
        "image": DashScopeImage("wanx2.1-t2i-turbo", polling=fast, max_in_flight=args.concurrency),
        "video": DashScopeVideo("wanx2.1-i2v-turbo", polling=fast, max_in_flight=args.concurrency),
        "critics": [ScriptedCritic({})],
    }
    result = start_run(options, backends=backends)
    return read_events(result.paths.events)


def _pipeline(events: list, kind: str) -> float:
    """Seconds from the first job of a kind submitted to the last attempt of it collected."""
    starts = [e.ts for e in events if isinstance(e, JobSubmitted) and e.kind == kind]
    ends = [e.ts for e in events if isinstance(e, AttemptMade) and e.attempt.kind == kind]
    return (_when(max(ends)) - _when(min(starts))).total_seconds()


def _when(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _empty_config(tmp: Path) -> Path:
    path = tmp / "config.toml"
    path.write_text("")
    return path


if __name__ == "__main__":
    main()
