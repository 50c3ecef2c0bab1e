"""kill -9 at any moment of a run, then ``director resume``: the film comes out the same, no
generation is paid for twice, and nothing half-written is taken for a result.

The crash test runs a short film on hosted services (the planner on a fake OpenAI-compatible
API, keyframes and clips on a fake DashScope), once without interruption for reference, then
once per kill point: the run is SIGKILLed (its whole process group, ffmpeg included) at a
chosen moment, a request arriving at a fake, an event reaching the log, or an ffmpeg the run
started, and resumed until it finishes. Some points kill the resume too.

The fast tests pin down the pieces: a torn last line of the log, the run lock, a step saved
but not yet checkpointed, a run folder made whole, and half-written files swept on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from director.agent.checkpoints import snapshot
from director.agent.configuration import resolve
from director.agent.runner import resume_run, start_run
from director.memory.events import read_events
from director.memory.lock import RunLock
from director.memory.runs import RunPaths, create_run, summarise, sweep_unfinished
from director.records import AttemptMade, CostIncurred, RunResumed, StoryDeveloped
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from director.tools.assemble.probe import probe
from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.openai_server import FakeOpenAI
from tests.test_cli import LOGLINE, assert_clean_error, director
from tests.test_openai_planner import screenwriter

RUN_ID = "crash"
FILM = [
    "--logline",
    LOGLINE,
    "--minutes",
    "0.25",
    "--size",
    "320x180",
    "--max-attempts",
    "3",
    "--llm",
    "openai:gpt-4.1-mini",
    "--image",
    "dashscope:wanx2.1-t2i-turbo",
    "--video",
    "dashscope:wanx2.1-i2v-turbo",
    "--yes",
]
LATENCY = 0.3  # seconds from submission to a task's end, on the fake DashScope
WORKERS = 4  # kill points played at once: the runs mostly wait on the fakes' latency
STRAY = (".part", ".download", ".tmp", ".assembly-")  # what only an unfinished write leaves


# --- kill points --------------------------------------------------------------------------


def _is(type_: str, **fields) -> Callable[[dict], bool]:
    """An event of type ``type_`` whose fields have the given values."""
    return lambda e: e["type"] == type_ and all(e.get(k) == v for k, v in fields.items())


def _clip_attempt(event: dict) -> bool:
    return event["type"] == "attempt" and event["attempt"]["kind"] == "clip"


def _reroll(event: dict) -> bool:
    return event["type"] == "decision" and event["decision"]["action"] == "reroll"


@dataclass(frozen=True)
class Kill:
    """A moment to kill the running process at. ``on`` is a request arriving at a fake
    ("chat", "submit", "poll", "download": the ``nth`` of that kind in the whole scenario,
    ``kind`` filtering DashScope's), an event reaching the log ("event": the ``nth`` that
    ``event`` matches), an ffmpeg child ("ffmpeg": once ``event`` has matched), or the first
    thing appearing in the runs folder ("folder")."""

    on: str
    nth: int = 1
    kind: str = ""
    event: Callable[[dict], bool] | None = None


POINTS: dict[str, tuple[Kill, ...]] = {
    "run folder just made": (Kill("folder"),),
    "planning: the story asked": (Kill("chat", 1),),
    "planning: the beat sheet asked": (Kill("chat", 2),),
    "planning: the style bible asked": (Kill("chat", 3),),
    "planning: the shot list asked": (Kill("chat", 4),),
    "shot list logged, nothing submitted": (Kill("event", event=_is("shot_list_planned")),),
    "first keyframe submission arriving": (Kill("submit", 1, "t2i"),),
    "the next shot's keyframe submitted ahead, arriving": (Kill("submit", 2, "t2i"),),
    "between a submission and its first poll": (Kill("poll", 1, "t2i"),),
    "waiting on a reroll's task": (Kill("poll", 6, "t2i"),),
    "first keyframe download, part-way": (Kill("download", 1, "image"),),
    "a later keyframe download, part-way": (Kill("download", 4, "image"),),
    "first keyframe collected, critics running": (Kill("event", event=_is("attempt")),),
    "after a reroll decision": (Kill("event", event=_reroll),),
    "the ladder asking the planner to repair a slot": (Kill("chat", 5),),
    "beat approved, clips next": (Kill("event", event=_is("approval", checkpoint="keyframes")),),
    "first clip submission arriving": (Kill("submit", 1, "video"),),
    "between a clip's submission and its poll": (Kill("poll", 1, "video"),),
    "first clip download, part-way": (Kill("download", 1, "video"),),
    "ffmpeg normalising a clip": (Kill("ffmpeg", event=_is("job_submitted", kind="clip")),),
    "first clip collected, gate running": (Kill("event", event=_clip_attempt),),
    "all clips in, assembly next": (Kill("event", event=_is("stage_finished", stage="shots")),),
    "ffmpeg assembling the film": (Kill("ffmpeg", event=_is("stage_started", stage="assemble")),),
    "film made, contact sheet next": (Kill("event", event=_is("assembly")),),
    "document step: workflow being written": (Kill("event", event=_is("run_finished")),),
    "run killed waiting, its resume killed downloading": (
        Kill("poll", 4, "t2i"),
        Kill("download", 5, "image"),
    ),
    "run, resume and resume killed": (
        Kill("submit", 2, "video"),
        Kill("poll", 2, "video"),
        Kill("ffmpeg", event=_is("stage_started", stage="assemble")),
    ),
}


# --- playing a scenario -------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    run: Path
    kills: list[str] = field(default_factory=list)  # the last event logged at each kill
    processes: int = 0  # director processes started: the run and its resumes
    resumes: int = 0
    accepted: list[str] = field(default_factory=list)  # fingerprints of paid submissions
    duplicates: int = 0
    cut: dict[str, int] = field(default_factory=dict)
    chats: int = 0
    failures: list[str] = field(default_factory=list)


class Scenario:
    """One film made against its own fakes, killed at each of ``kills`` in turn."""

    def __init__(self, root: Path, name: str, kills: tuple[Kill, ...]) -> None:
        self.root, self.name = root, name
        self.run = root / "runs" / RUN_ID
        self.armed = list(kills)
        self.outcome = Outcome(name, self.run)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    # Fakes call these from their server threads; True cuts the request the kill lands on.
    def request(self, on: str, kind: str) -> bool:
        with self._lock:
            self.counts[on, kind] += 1
            if kind:
                self.counts[on, ""] += 1
            kill = self.armed[0] if self.armed else None
            if kill is None or kill.on != on or kill.kind not in ("", kind):
                return False
            if self.counts[on, kill.kind] < kill.nth:
                return False
            return self._kill()

    def chat(self, request):
        self.request("chat", "")
        return screenwriter(request)

    def _kill(self) -> bool:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.armed.pop(0)
        self.outcome.kills.append(_last_event(self.run))
        return True

    def play(self) -> Outcome:
        with FakeOpenAI() as llm, FakeDashScope(latency=LATENCY) as wan:
            llm.chat_handler = self.chat
            wan.interrupt = self.request
            wan.file_chunk = 1024  # every result comes in several pieces: a cut lands inside
            env = {
                "OPENAI_API_KEY": llm.api_key,
                "OPENAI_BASE_URL": llm.base_url,
                "DASHSCOPE_API_KEY": wan.api_key,
                "DASHSCOPE_HTTP_BASE_URL": wan.base_url,
                "DIRECTOR_CONFIG": str(self.root / "config.toml"),
            }
            (self.root / "config.toml").write_text("")
            args = ["run", *FILM, "--run-id", RUN_ID]
            while True:
                code = self._spawn(args, env)
                if code == -signal.SIGKILL:
                    if _finished(self.run):  # killed after its last checkpoint: nothing to do
                        break
                    if (self.run / "events.jsonl").exists():
                        args = ["resume", RUN_ID]
                    # else killed before the run existed: it is started again, under its id
                    continue
                if code != 0:
                    self.outcome.failures.append(f"exit {code}: {self._stderr()[-2000:]}")
                break
            self.outcome.accepted = wan.accepted()
            self.outcome.duplicates = wan.duplicates()
            self.outcome.cut = dict(wan.cut)
            self.outcome.chats = len(llm.chat_requests())
        if self.armed:
            self.outcome.failures.append(f"{len(self.armed)} kill point(s) never reached")
        return self.outcome

    def _spawn(self, args: list[str], env: dict[str, str]) -> int:
        self.outcome.processes += 1
        self.outcome.resumes += args[0] == "resume"
        command = [sys.executable, "-m", "director", *args, "--json", "--runs-dir", "runs"]
        with open(self.root / "stderr.txt", "w") as err:
            # A session of its own: the kill takes the process group, ffmpeg children too.
            self.proc = subprocess.Popen(
                command,
                cwd=self.root,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
            watcher = threading.Thread(target=self._watch, args=(self.proc,), daemon=True)
            watcher.start()
            try:
                code = self.proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self.outcome.failures.append(f"{args[0]} hung")
                return 1
            watcher.join()
        return code

    def _watch(self, proc: subprocess.Popen) -> None:
        """Kill at an event or an ffmpeg child, watching the log and the process group."""
        seen: list[dict] = []
        offset = 0
        while proc.poll() is None:
            kill = self.armed[0] if self.armed else None
            if kill is None or kill.on not in ("event", "ffmpeg", "folder"):
                time.sleep(0.02)
                continue
            if kill.on == "folder":
                if any(self.run.parent.glob("*")):
                    with self._lock:
                        self._kill()
                    return
                time.sleep(0.001)
                continue
            offset = _read_new(self.run / "events.jsonl", offset, seen)
            matched = sum(1 for e in seen if kill.event(e))
            due = matched >= kill.nth if kill.on == "event" else matched and _ffmpeg_in(proc.pid)
            if due:
                with self._lock:
                    self._kill()
                return
            time.sleep(0.003)

    def _stderr(self) -> str:
        return (self.root / "stderr.txt").read_text(errors="replace")


def _read_new(path: Path, offset: int, into: list[dict]) -> int:
    """Complete lines appended since ``offset``, parsed; the new offset."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return offset
    end = data.rfind(b"\n") + 1
    into.extend(json.loads(line) for line in data[:end].splitlines() if line.strip())
    return offset + end


def _ffmpeg_in(group: int) -> bool:
    """Whether an ffmpeg runs in the process group (the run's session)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if comm.startswith("ffmpeg") and int(rest.split()[2]) == group:
            return True
    return False


def _last_event(run: Path) -> str:
    try:
        lines = (run / "events.jsonl").read_bytes().splitlines()
    except FileNotFoundError:
        return "(no log yet)"
    if not lines:
        return "(empty log)"
    try:
        last = json.loads(lines[-1])
    except ValueError:
        return "(torn line)"
    detail = last.get("stage") or last.get("kind") or last.get("checkpoint") or ""
    return f"#{last['seq']} {last['type']} {detail}".strip()


def _finished(run: Path) -> bool:
    """Completed in the log, and nothing left to do in the checkpoints."""
    paths = RunPaths(run)
    if not paths.events.exists() or not paths.checkpoints.exists():
        return False
    return summarise(paths).status == "completed" and not snapshot(paths).next


# --- what a finished run must be ----------------------------------------------------------


def check_run(outcome: Outcome, reference: Outcome) -> list[str]:
    """Everything wrong with a resumed run, compared with the uninterrupted one."""
    run, ref = outcome.run, reference.run
    problems = list(outcome.failures)
    if problems:
        return problems
    if not _finished(run):
        problems.append("the run did not finish")
    if outcome.duplicates:
        problems.append(f"{outcome.duplicates} duplicate submission(s)")
    if sorted(outcome.accepted) != sorted(reference.accepted):
        problems.append(
            f"other work was paid for: {len(outcome.accepted)} tasks against "
            f"{len(reference.accepted)} in the reference"
        )
    if _json(run / "plan.json") != _json(ref / "plan.json"):
        problems.append("plan.json differs from the reference")
    film, expected = probe(run / "film.mp4"), probe(ref / "film.mp4")
    if (film.video_codec, film.width, film.height) != ("h264", 320, 180):
        problems.append(f"film.mp4 is {film.video_codec} {film.width}x{film.height}")
    if abs(film.duration_s - expected.duration_s) > 1 / 24 + 1e-6:
        problems.append(f"film.mp4 lasts {film.duration_s} s, not {expected.duration_s} s")
    if not (run / "workflow.md").is_file():
        problems.append("no workflow.md")
    problems += _log_problems(run, outcome.resumes)
    if _books(run) != _books(ref):
        problems.append(f"the log's attempts and costs {_books(run)}, not {_books(ref)}")
    for png in sorted(run.glob("keyframes/*/*.png")):
        try:
            with Image.open(png) as img:
                img.load()
        except OSError as exc:
            problems.append(f"{png.relative_to(run)} does not load: {exc}")
    for mp4 in sorted(run.glob("clips/*/*.mp4")):
        if error := _decode_error(mp4):
            problems.append(f"{mp4.relative_to(run)} does not decode: {error}")
    stray = [p for p in run.rglob("*") if any(s in p.name for s in STRAY)]
    problems += [f"left behind: {p.relative_to(run)}" for p in stray]
    return problems


def _log_problems(run: Path, resumes: int) -> list[str]:
    """The log parses to its last line, and every attempt it accepted is its file, whole."""
    raw = (run / "events.jsonl").read_bytes()
    events = read_events(run / "events.jsonl")
    if not raw.endswith(b"\n") or len(events) != len(raw.splitlines()):
        return ["events.jsonl has lines that do not parse"]
    problems = []
    latest = {}
    for e in events:
        if isinstance(e, AttemptMade) and e.attempt.artifact:
            latest[e.attempt.artifact] = e.attempt
    for artifact, attempt in latest.items():
        path = run / artifact
        if ".part" in artifact:
            problems.append(f"a part file was accepted: {artifact}")
        elif not path.is_file():
            problems.append(f"{artifact} is logged but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != attempt.sha256:
            problems.append(f"{artifact} is not the file the log recorded")
    if sum(isinstance(e, RunResumed) for e in events) != resumes:
        problems.append(f"not one run_resumed event per resume ({resumes})")
    return problems


def _books(run: Path) -> tuple[int, float]:
    """Attempts logged and the cost logged for them: each paid job once, as in the reference."""
    events = read_events(run / "events.jsonl")
    attempts = sum(1 for e in events if isinstance(e, AttemptMade))
    cost = sum(e.amount or 0.0 for e in events if isinstance(e, CostIncurred))
    return attempts, round(cost, 6)


def _decode_error(path: Path) -> str:
    argv = [ffmpeg_exe(), "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return "" if done.returncode == 0 and not done.stderr.strip() else done.stderr.strip()[-300:]


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_anywhere_then_resume_makes_the_same_film_and_pays_once(tmp_path):
    started = time.perf_counter()
    (tmp_path / "reference").mkdir()
    reference = Scenario(tmp_path / "reference", "reference", ()).play()
    assert not reference.failures, reference.failures
    assert reference.duplicates == 0 and reference.accepted
    assert _json(reference.run / "plan.json")["shots"]

    def play(item: tuple[int, str]) -> Outcome:
        index, name = item
        root = tmp_path / f"point-{index:02d}"
        root.mkdir()
        return Scenario(root, name, POINTS[name]).play()

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(play, enumerate(POINTS)))

    problems = {o.name: check_run(o, reference) for o in outcomes}
    killed = sum(len(o.kills) for o in outcomes)
    completed = sum(1 for o in outcomes if not problems[o.name])
    duplicates = sum(o.duplicates for o in outcomes)
    print(f"\nreference: {len(reference.accepted)} tasks, {reference.chats} planner calls")
    for o in outcomes:
        verdict = "ok" if not problems[o.name] else "; ".join(problems[o.name])
        print(
            f"{o.name:52s} killed after {' / '.join(o.kills) or '-':40s} "
            f"processes {o.processes}  cut {sum(o.cut.values())}  "
            f"planner calls +{o.chats - reference.chats}  {verdict}"
        )
    repeated = sum(o.chats - reference.chats for o in outcomes)
    print(
        f"kill points {len(outcomes)}, kills {killed}, runs completed {completed}/{len(outcomes)}, "
        f"duplicate submissions {duplicates}, planner calls repeated {repeated}, "
        f"{time.perf_counter() - started:.0f} s"
    )
    assert len(outcomes) >= 20
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
    assert duplicates == 0


def _waiting_run(tmp_path: Path):
    """A run on the embedded stack stopped at its first checkpoint (the beat sheet)."""
    options = resolve(
        {
            "logline": LOGLINE,
            "minutes": 0.25,
            "size": "320x180",
            "max_attempts": 1,
            "runs_dir": str(tmp_path / "runs"),
            "run_id": "torn",
            "approve": "defer",
        }
    )
    result = start_run(options)
    assert result.waiting is not None
    return result.paths


def test_a_torn_last_line_is_repaired_on_resume_and_the_run_completes(tmp_path):
    paths = _waiting_run(tmp_path)
    before = paths.events.read_bytes()
    with open(paths.events, "ab") as fh:  # a crash in the middle of an append
        fh.write(b'{"type": "attempt", "seq": 99, "attempt": {"shot_')
    result = resume_run(paths, approve="auto", approver=lambda pending: {"decision": "approve"})
    assert result.summary.status == "completed"
    events = read_events(paths.events)
    resumed = [e for e in events if isinstance(e, RunResumed)]
    assert len(resumed) == 1 and resumed[0].log_repaired is True
    raw = paths.events.read_bytes()
    assert raw.startswith(before) and raw.endswith(b"\n")
    assert len(raw.splitlines()) == len(events)  # every line parses: the torn one is gone
    assert paths.film.is_file()


def test_a_run_cannot_be_run_by_two_processes_at_once(tmp_path):
    paths = _waiting_run(tmp_path)
    with RunLock(paths.root):
        result = director("resume", "torn", "--yes", "--runs-dir", "runs", cwd=tmp_path)
    assert_clean_error(result, "is being run by another process")
    assert f"(pid {os.getpid()})" in result.stderr
    assert "director status RUN" in result.stderr
    # the refused resume wrote nothing: the run still waits at its checkpoint
    assert not any(isinstance(e, RunResumed) for e in read_events(paths.events))


class _Died(BaseException):
    """The process dying: not an error any code handles."""


def test_a_step_saved_but_not_yet_checkpointed_carries_on_and_is_not_redone(tmp_path, monkeypatch):
    """Killed after a node's work was saved but before the checkpoint that follows it, a run
    has no next node in its checkpoints, only that node's saved work: resume carries on from
    there, it does not start the film over (a new plan, everything paid again)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    real_put = SqliteSaver.put

    def put(self, config, checkpoint, metadata, new_versions):
        if metadata.get("step") == 5:  # the checkpoint after the first keyframe round
            raise _Died()
        return real_put(self, config, checkpoint, metadata, new_versions)

    options = resolve(
        {
            "logline": LOGLINE,
            "minutes": 0.25,
            "size": "320x180",
            "max_attempts": 1,
            "runs_dir": str(tmp_path / "runs"),
            "run_id": "saved",
            "yes": True,
        }
    )
    monkeypatch.setattr(SqliteSaver, "put", put)
    with pytest.raises(_Died):
        start_run(options)
    monkeypatch.setattr(SqliteSaver, "put", real_put)
    paths = RunPaths(tmp_path / "runs" / "saved")
    state = snapshot(paths)
    assert state.next == () and [t.name for t in state.tasks] == ["keyframe"]
    attempts = [e for e in read_events(paths.events) if isinstance(e, AttemptMade)]

    result = resume_run(paths)
    assert result.summary.status == "completed"
    events = read_events(paths.events)
    assert sum(isinstance(e, StoryDeveloped) for e in events) == 1  # not planned again
    again = [e for e in events if isinstance(e, AttemptMade)][: len(attempts)]
    assert [a.attempt.artifact for a in again] == [a.attempt.artifact for a in attempts]


def test_a_run_folder_appears_whole_or_not_at_all(tmp_path):
    def dies(staged: RunPaths) -> None:
        staged.run_json.write_text("{}")
        raise _Died()

    with pytest.raises(_Died):
        create_run(tmp_path, "film", dies)
    assert not (tmp_path / "film").exists()  # the id is still free: start again under it
    paths = create_run(tmp_path, "film", lambda staged: staged.run_json.write_text("{}"))
    assert paths.run_json.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["film"]  # no staging folder left


def test_resume_removes_what_a_killed_process_left_half_written(tmp_path):
    paths = RunPaths(tmp_path / "run")
    kept = ["keyframes/s001/1.png", "clips/s001/1.mp4", "plan.json", "events.jsonl", ".lock"]
    left = [
        "keyframes/s001/2.part.png",
        "keyframes/s001/.2.part.png.download",
        "keyframes/s001/..2.part.png.download.x1y2z3.part",
        "clips/s001/.1.part.download.mp4",
        ".plan.json.abc123.tmp",
        ".assembly-k9/film.mp4",
    ]
    for name in kept + left:
        (paths.root / name).parent.mkdir(parents=True, exist_ok=True)
        (paths.root / name).write_bytes(b"x")
    removed = sweep_unfinished(paths)
    assert all((paths.root / name).exists() for name in kept)
    assert not any((paths.root / name).exists() for name in left)
    assert not (paths.root / ".assembly-k9").exists()
    assert ".assembly-k9" in removed
