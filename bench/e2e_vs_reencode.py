"""End-to-end time of a film against a bare ffmpeg re-encode of the same film, in one run.

The goal: making a whole film with the embedded stack (plan, keyframes, critique, clips,
assembly, document) costs at most 2x a bare re-encode of the finished film on the same machine,
measured side by side. Two baselines are timed:

- bare: ``ffmpeg -i film.mp4 out.mp4``, ffmpeg's defaults (libx264, preset medium, crf 23);
- same settings: the film's own encoder settings (director's EncodeSettings), the stricter one.

    python bench/e2e_vs_reencode.py [--minutes 3] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOGLINE = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"


def run_film(runs_dir: Path, minutes: float, run_id: str) -> float:
    command = [
        sys.executable,
        "-m",
        "director",
        "run",
        "--logline",
        LOGLINE,
        "--minutes",
        str(minutes),
        "--yes",
        "--quiet",
        "--runs-dir",
        str(runs_dir),
        "--run-id",
        run_id,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def reencode(film: Path, out: Path, same_settings: bool) -> float:
    from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
    from director.tools.assemble.film import EncodeSettings

    enc = EncodeSettings()
    options = ["-c:v", "libx264", "-preset", enc.preset, "-crf", str(enc.crf)]
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(film)]
    command += [*(options if same_settings else []), str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def stage_times(run: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["type"] == "stage_finished":
            times[event["stage"]] = times.get(event["stage"], 0.0) + event["seconds"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for i in range(args.repeat):
            e2e = run_film(runs, args.minutes, f"bench-{i}")
            run = runs / f"bench-{i}"
            bare = reencode(run / "film.mp4", runs / f"bare-{i}.mp4", same_settings=False)
            same = reencode(run / "film.mp4", runs / f"same-{i}.mp4", same_settings=True)
            print(f"run {i + 1}: film {args.minutes:g} min, end to end {e2e:.1f} s")
            print(f"  bare re-encode, ffmpeg defaults: {bare:.1f} s, ratio {e2e / bare:.2f}")
            print(f"  re-encode with the film's own settings: {same:.1f} s, ratio {e2e / same:.2f}")
            print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stage_times(run).items()))
    print(
        f"machine: {platform.machine()}, {platform.processor() or '?'}, python "
        f"{platform.python_version()}"
    )


if __name__ == "__main__":
    main()
