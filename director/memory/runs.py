"""Run folders: ids, the layout inside a run, finding runs and summarising them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from director.errors import InputError, RunNotFound
from director.files import read_json_object, writable_folder
from director.files import write_json_atomic as write_json_atomic  # its home is director.files
from director.memory.events import read_events
from director.records import (
    Approval,
    ApprovalPending,
    AttemptMade,
    DecisionMade,
    RunFinished,
    RunResumed,
    RunStarted,
)

HUMAN_REDOS = ("reroll", "edit", "reject")  # a human's answers that make a keyframe again
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class RunPaths:
    """Where everything of one run lives."""

    root: Path

    @property
    def run_id(self) -> str:
        """The folder's name: what the user types to name the run."""
        return self.root.name

    @property
    def thread_id(self) -> str:
        """The run's identity, recorded in run.json when it started: a copied or renamed
        folder keeps it, so its checkpoints (and what it paid for) are found again."""
        try:
            recorded = json.loads(self.run_json.read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError, AttributeError):
            recorded = None
        return recorded if isinstance(recorded, str) and recorded else self.root.name

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def plan_json(self) -> Path:
        return self.root / "plan.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def film(self) -> Path:
        return self.root / "film.mp4"

    @property
    def srt(self) -> Path:
        return self.root / "film.srt"

    @property
    def workflow(self) -> Path:
        return self.root / "workflow.md"

    @property
    def contact_sheet(self) -> Path:
        return self.root / "contact_sheet.png"

    def keyframe(self, shot_id: str, attempt: int) -> Path:
        return self.root / "keyframes" / shot_id / f"{attempt}.png"

    def clip(self, shot_id: str, attempt: int) -> Path:
        return self.root / "clips" / shot_id / f"{attempt}.mp4"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def validate_run_id(run_id: str) -> str:
    if ".." in run_id or "/" in run_id or "\\" in run_id or not _RUN_ID.match(run_id):
        raise InputError(
            f"Run id {run_id!r} is not safe as a folder name.",
            "Use 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return run_id


def new_run_id(logline: str, seed: int, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    digest = hashlib.sha256(f"{logline}\n{seed}".encode()).hexdigest()[:6]
    return f"{stamp}-{_slug(logline)}{digest}"


def _slug(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text.lower())[:4]
    return "".join(w + "-" for w in words)[:40]


def ensure_writable(runs_dir: Path) -> Path:
    """Create the runs folder if needed and prove we can write there."""
    return writable_folder(
        runs_dir,
        f"Cannot write to the runs folder {runs_dir}",
        "Pass --runs-dir with a folder you can write to, or set DIRECTOR_RUNS_DIR.",
    )


def create_run(
    runs_dir: Path, run_id: str, first: Callable[[RunPaths], None] | None = None
) -> RunPaths:
    """Make a new run's folder. ``first`` writes what makes it a run (run.json, the first
    event) into a hidden folder beside it, which then takes the run's name in one rename: a
    crash at any moment leaves either no run at all or one that can be resumed, never a
    folder that blocks the run id and cannot be resumed."""
    paths = RunPaths(runs_dir / validate_run_id(run_id))
    if paths.root.exists():
        raise _taken(run_id, runs_dir)
    staging = runs_dir / f".{run_id}.{uuid.uuid4().hex[:8]}.new"
    staging.mkdir()
    try:
        if first is not None:
            first(RunPaths(staging))
        os.rename(staging, paths.root)  # refused when another process took the name first
    except OSError as exc:
        if paths.root.exists():
            raise _taken(run_id, runs_dir) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths


def _taken(run_id: str, runs_dir: Path) -> InputError:
    return InputError(
        f"A run named {run_id!r} already exists in {runs_dir}.",
        "Pick another --run-id, or leave it out to get a fresh one.",
    )


# What an unfinished write leaves in a run folder: a result collected but not yet renamed
# (``1.part.png``), a download in progress (``.1.png.download``, ``.*.part``), an assembly's
# work folder, a JSON file before its rename. None of it is ever an accepted artifact.
UNFINISHED = ("*.part*", "*.download*", ".*.tmp", ".assembly-*")


def sweep_unfinished(paths: RunPaths) -> list[str]:
    """Remove what a killed process left half-written; call it holding the run's lock, when
    nothing else writes there. Returns what was removed, relative to the run folder."""
    found = {p for pattern in UNFINISHED for p in paths.root.rglob(pattern)}
    removed = []
    for path in sorted(found, key=lambda p: len(p.parts), reverse=True):
        if not path.exists() and not path.is_symlink():
            continue  # inside a folder already removed
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(paths.root)))
    return sorted(removed)


def resolve_run(ref: str, runs_dir: Path) -> RunPaths:
    """A run given by id (looked up in runs_dir) or by the path of its folder."""
    candidate = Path(ref).expanduser()
    if (candidate / "events.jsonl").is_file():
        return _checked(RunPaths(candidate.resolve()))
    if _RUN_ID.match(ref) and (runs_dir / ref / "events.jsonl").is_file():
        return _checked(RunPaths((runs_dir / ref).resolve()))
    raise RunNotFound(
        f"No run {ref!r} (looked for {candidate} and {runs_dir / ref}).",
        "Pass a run id from `director runs` or the path of a run folder.",
    )


def _checked(paths: RunPaths) -> RunPaths:
    """The run, its run.json (where it has one) read as the record it must be: every command
    on a run trusts it, and a broken one is named here rather than failing deep inside."""
    if paths.run_json.exists() or paths.run_json.is_symlink():
        record = read_json_object(paths.run_json, f"Run {paths.run_id}'s record", RESTORE)
        if not isinstance(record.get("options"), dict):
            raise InputError(
                f"Run {paths.run_id}'s record {paths.run_json} holds no options.", RESTORE
            )
    return paths


RESTORE = "Restore it from a copy of the run folder (director writes it when a run starts)."


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class RunSummary:
    run_id: str
    path: Path
    status: str
    started: str
    seconds: float | None
    shots: int
    attempts: int
    rerolls: int
    logline: str


def summarise(paths: RunPaths) -> RunSummary:
    events = read_events(paths.events)
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    last = next(
        (e for e in reversed(events) if isinstance(e, RunFinished | RunResumed | ApprovalPending)),
        None,
    )
    finished = last if isinstance(last, RunFinished) else None
    keyframes = [e for e in events if isinstance(e, AttemptMade) and e.attempt.kind == "keyframe"]
    rerolls = [e for e in events if isinstance(e, DecisionMade) and e.decision.action == "reroll"]
    rerolls += [
        e
        for e in events
        if isinstance(e, Approval) and e.checkpoint == "keyframes" and e.decision in HUMAN_REDOS
    ]
    return RunSummary(
        run_id=paths.run_id,
        path=paths.root,
        status=finished.status if finished else _unfinished(last),
        started=started.ts if started else "",
        seconds=finished.seconds if finished else None,
        shots=len({e.attempt.shot_id for e in keyframes}),
        attempts=len(keyframes),
        rerolls=len(rerolls),
        logline=started.logline if started else "",
    )


def working_seconds(events: list) -> float:
    """Seconds processes spent on a run: from each start or resume to the last event that
    process logged (a wait for a human, or a dead process, does not count)."""
    total, begun, last = 0.0, None, None
    for event in events:
        if isinstance(event, RunStarted | RunResumed):
            if begun is not None and last is not None:
                total += (last - begun).total_seconds()
            begun = datetime.fromisoformat(event.ts)
        last = datetime.fromisoformat(event.ts)
    if begun is not None and last is not None:
        total += (last - begun).total_seconds()
    return round(total, 3)


def _unfinished(last) -> str:
    return "waiting for approval" if isinstance(last, ApprovalPending) else "incomplete"


def list_runs(runs_dir: Path) -> list[RunSummary]:
    if runs_dir.exists() and not runs_dir.is_dir():
        raise InputError(
            f"The runs folder {runs_dir} is a file, not a folder.",
            "Pass --runs-dir with the folder that holds the runs, or fix DIRECTOR_RUNS_DIR.",
        )
    if not runs_dir.is_dir():
        return []
    found = [
        RunPaths(p)
        for p in sorted(runs_dir.iterdir())
        if not p.name.startswith(".") and (p / "events.jsonl").is_file()  # not one being made
    ]
    return sorted((summarise(p) for p in found), key=lambda s: s.started, reverse=True)
