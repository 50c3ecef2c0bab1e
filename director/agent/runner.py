"""Start a run: check everything that can be checked up front, make the run folder, run the graph.

Bad input is refused before anything is written. Once the run folder exists, a failure is
logged (an ``error`` event and ``run_finished`` with status ``failed``) and no ``film.mp4`` is
left behind, so a failed run can never be mistaken for a good one.
"""

from __future__ import annotations

import platform
import sqlite3
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from director import __version__, registry
from director.agent.cast import identity_critic, resolve_cast
from director.agent.configuration import RunOptions
from director.agent.context import RunContext
from director.agent.graph import build_graph, recursion_limit
from director.agent.progress import Progress
from director.errors import DirectorError, InputError
from director.memory.events import EventLog
from director.memory.runs import (
    RunPaths,
    RunSummary,
    create_run,
    ensure_writable,
    new_run_id,
    summarise,
    validate_run_id,
    write_json_atomic,
)
from director.records import ErrorRaised, RunFinished, RunStarted
from director.tools.critics.thresholds import for_critic

CRITICS = ("technical", "palette", "duplicate")


@dataclass
class RunResult:
    paths: RunPaths
    summary: RunSummary
    flagged: list[str]


def start_run(
    options: RunOptions, progress: Progress | None = None, backends: dict | None = None
) -> RunResult:
    """Run the whole film. ``backends`` replaces any of the configured planner, image, video
    or critics (library use and tests)."""
    progress = progress or Progress()
    backends = {**_preflight(options, skip=set(backends or {})), **(backends or {})}
    cast = resolve_cast(options.cast, options.characters, options.insightface_root)
    identity = identity_critic(
        backends["image"],
        cast,
        options.insightface_root,
        for_critic(options.thresholds, "identity"),
    )
    if identity is not None:
        backends["critics"] = [*backends["critics"], identity]
    backends.setdefault("clip_gate", _clip_gate(identity, options.thresholds))
    runs_dir = ensure_writable(Path(options.runs_dir).expanduser().resolve())
    run_id = validate_run_id(options.run_id or new_run_id(options.logline, options.seed))
    paths = create_run(runs_dir, run_id)
    ctx = RunContext(
        options=options,
        paths=paths,
        log=EventLog(paths.events),
        progress=progress,
        cast=cast,
        **backends,
    )
    _record_start(ctx)
    if hasattr(ctx.planner, "on_call"):
        ctx.planner.on_call = ctx.log_llm_call
    try:
        state = _invoke(ctx)
    except BaseException as exc:
        _record_failure(ctx, exc)
        raise
    finally:
        progress.close()
        ctx.video.close()
    return RunResult(paths=paths, summary=summarise(paths), flagged=state.get("flagged", []))


def _clip_gate(identity, thresholds: dict[str, float]):
    """Clips are checked for flicker and continuity, and for identity on sampled frames."""
    from director.tools.critics.clipgate import ClipGate

    critics = [identity] if identity is not None else []
    return ClipGate(critics, **for_critic(thresholds, "clipgate"))


def _preflight(options: RunOptions, skip: set[str]) -> dict:
    """Everything that can fail before a run folder exists: tools, fonts, backends, music."""
    from director.tools.assemble.ffmpeg_bin import check_ffmpeg
    from director.tools.assemble.fonts import find_font

    if not options.yes:
        raise InputError(
            "The beat sheet and shots need approval, and interactive approval is not available "
            "in this version.",
            "Pass --yes to approve them automatically (logged as automatic).",
        )
    check_structure(options)
    check_ffmpeg()
    find_font(options.font)
    if options.music and not Path(options.music).expanduser().is_file():
        raise InputError(f"--music {options.music} is not a file.", "Pass an audio file path.")
    loaders = {
        "planner": lambda: registry.load("planners", options.llm),
        "image": lambda: registry.load("image", options.image),
        "video": lambda: registry.load("video", options.video),
        "critics": lambda: [
            *(
                registry.load("critics", name, **for_critic(options.thresholds, name))
                for name in CRITICS
            ),
            registry.load(
                "critics",
                "clip",
                model=options.clip_model,
                weights=options.clip_weights,
                **for_critic(options.thresholds, "clip"),
            ),
        ],
    }
    return {key: load() for key, load in loaders.items() if key not in skip}


def _invoke(ctx: RunContext) -> dict:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(ctx.paths.checkpoints, check_same_thread=False)
    try:
        graph = build_graph(SqliteSaver(conn))
        config = {
            "configurable": {"thread_id": ctx.paths.run_id},
            "recursion_limit": recursion_limit(ctx.options.runtime_s, ctx.options.max_attempts),
        }
        return graph.invoke({}, config, context=ctx, durability="sync")
    finally:
        conn.close()


def _record_start(ctx: RunContext) -> None:
    from director.tools.pricing import load_prices

    prices = load_prices()
    versions = {**package_versions(), "prices": prices.priced_on}
    if prices.overridden:
        versions["prices overridden"] = ", ".join(prices.overridden)
    options = ctx.options.model_dump(mode="json")
    write_json_atomic(
        ctx.paths.run_json,
        {
            "run_id": ctx.paths.run_id,
            "director": __version__,
            "options": options,
            "versions": versions,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    ctx.log.append(
        RunStarted(
            run_id=ctx.paths.run_id, logline=ctx.options.logline, options=options, versions=versions
        )
    )


def _record_failure(ctx: RunContext, exc: BaseException) -> None:
    status = "aborted" if isinstance(exc, KeyboardInterrupt) else "failed"
    message = str(exc) if isinstance(exc, DirectorError) else f"{type(exc).__name__}: {exc}"
    ctx.log.append(ErrorRaised(stage="run", message=message, error_type=type(exc).__name__))
    ctx.log.append(RunFinished(status=status, seconds=round(time.time() - ctx.started, 3)))
    ctx.paths.film.unlink(missing_ok=True)


def check_structure(options: RunOptions) -> None:
    from director.tools.llm.language import detect_language
    from director.tools.llm.offline import resolve_structure

    resolve_structure(options.structure, detect_language(options.logline))


def package_versions() -> dict[str, str]:
    found = {"director": __version__, "python": platform.python_version()}
    for name in ("langgraph", "pydantic", "pillow", "numpy", "imageio-ffmpeg", "ffmpeg-python"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
