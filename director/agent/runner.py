"""Start a run: check everything that can be checked up front, make the run folder, run the graph.

Bad input is refused before anything is written. Once the run folder exists, a failure is
logged (an ``error`` event and ``run_finished`` with status ``failed``) and no ``film.mp4`` is
left behind, so a failed run can never be mistaken for a good one.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from director import __version__, registry
from director.agent import gate
from director.agent.approvals import check_answer
from director.agent.cast import resolve_cast
from director.agent.checkpoints import (
    Pending,
    clear_answer,
    open_graph,
    pending_of,
    snapshot,
    take_answer,
)
from director.agent.configuration import RunOptions
from director.agent.context import RunContext
from director.agent.graph import recursion_limit
from director.agent.plan_edits import PlanEdit, edited_plan
from director.agent.progress import Progress
from director.agent.state import reset_clips, reset_shots
from director.errors import ConfigError, DirectorError, InputError, ProviderError, RunInterrupted
from director.memory.events import EventLog, read_events, repair
from director.memory.jobs import JobLedger
from director.memory.lock import RunLock
from director.memory.runs import (
    RunPaths,
    RunSummary,
    create_run,
    ensure_writable,
    new_run_id,
    summarise,
    sweep_unfinished,
    validate_run_id,
    working_seconds,
    write_json_atomic,
)
from director.records import (
    ApprovalPending,
    ErrorRaised,
    LLMCallMade,
    RunFinished,
    RunResumed,
    RunStarted,
    has_redacted_url,
    redact_urls,
)


@dataclass
class RunResult:
    paths: RunPaths
    summary: RunSummary
    flagged: list[str]
    waiting: Pending | None = None  # the checkpoint the run stopped at for a human


# Asks the human at a checkpoint; None leaves the run waiting (deferred approval).
Approver = Callable[[Pending], dict | None]


def start_run(
    options: RunOptions,
    progress: Progress | None = None,
    backends: dict | None = None,
    approver: Approver | None = None,
) -> RunResult:
    """Run the whole film, or up to the first checkpoint a human must approve. ``backends``
    replaces any of the configured planner, image, video or critics (library use and tests)."""
    progress = progress or Progress()
    backends = _backends(options, backends)
    runs_dir = ensure_writable(Path(options.runs_dir).expanduser().resolve())
    run_id = validate_run_id(options.run_id or new_run_id(options.logline, options.seed))
    # run.json and the first event are in the folder before it appears under the run's name
    paths = create_run(runs_dir, run_id, lambda staged: _record_start(options, staged, run_id))
    ctx = _context(options, paths, progress, backends)
    with RunLock(paths.root):
        return _drive(ctx, {}, approver)


def resume_run(
    paths: RunPaths,
    *,
    approve: str | None = None,
    from_stage: str | None = None,
    progress: Progress | None = None,
    backends: dict | None = None,
    approver: Approver | None = None,
    assembly: dict[str, Any] | None = None,
    doc_lang: str | None = None,
    servers: dict[str, str | None] | None = None,
) -> RunResult:
    """Continue a run from its last checkpoint: after a crash, a Ctrl-C, or a stop for approval.
    ``from_stage`` re-opens a stage: what comes after it is made again, what comes before kept;
    ``assembly`` changes options only assembly uses (music, font) for such a redo; ``servers``
    gives the ComfyUI servers new addresses (a server's address is no part of the film)."""
    progress = progress or Progress()
    with RunLock(paths.root):
        read_events(paths.events)  # a file that is no log is refused before anything is cut
        repaired = repair(paths.events)
        sweep_unfinished(paths)  # a killed process's half-written files; no one else writes here
        options = _resumed_options(paths, approve)
        options, changed = _changed_assembly(paths, options, assembly or {}, from_stage)
        options, changed = _changed_doc_lang(options, doc_lang, changed)
        options, changed = _moved_servers(options, servers or {}, changed)
        events = read_events(paths.events)
        backends = {**_resumed_backends(paths, options, backends), "jobs": JobLedger(events)}
        _record_servers(paths, changed)  # once the servers answered
        ctx = _context(options, paths, progress, backends)
        ctx.llm_spent = sum(e.cost or 0.0 for e in events if isinstance(e, LLMCallMade))
        ctx.before = working_seconds(events)
        state = snapshot(paths)
        waiting = pending_of(state, paths.root)
        edit = edited_plan(paths, state.values, from_stage)
        first, answer_taken = _resume_input(ctx, state, waiting, from_stage, approver, edit)
        if first is _STILL_WAITING:
            return _result(ctx, {}, waiting)
        ctx.log.append(
            RunResumed(
                from_stage=from_stage,
                waiting=waiting.label if waiting and not from_stage else "",
                log_repaired=repaired,
                changed={**changed, **_plan_changes(edit)},
            )
        )
        if edit is not None:
            write_json_atomic(paths.plan_json, edit.plan.model_dump(mode="json"))
        result = _drive(ctx, first, approver)
        if answer_taken:
            clear_answer(paths)
        return result


_STILL_WAITING = object()


def _plan_changes(edit: PlanEdit | None) -> dict[str, Any]:
    return {f"plan.json {k}": v for k, v in edit.changes.items()} if edit else {}


def _resume_input(ctx, state, waiting, from_stage, approver, edit: PlanEdit | None = None):
    """What to give the graph: a jump to a stage (with the human's edited plan, if any), a
    human's answer, or nothing (carry on)."""
    from langgraph.types import Command

    if from_stage:
        update = reopen(from_stage, state.values)
        if edit is not None:
            update["plan"] = edit.plan.model_dump(mode="json")
        return Command(goto=FROM[from_stage], update=update), False
    if waiting is not None:
        answer = take_answer(ctx.paths, waiting)
        if answer is None and approver is not None:
            answer = approver(waiting)
        if answer is None and ctx.options.yes:
            # resumed with --yes: the node runs again from its start and approves itself
            # (logged as automatic); the graph only needs some answer to go on
            answer = {"decision": "approve"}
        if answer is None:
            return _STILL_WAITING, False
        return Command(resume=check_answer(waiting.payload, answer)), True
    if not state.next:
        # A process killed after a node's writes were saved but before the checkpoint that
        # follows them leaves no next node, only that node's saved work: the graph applies it
        # and carries on (starting over would plan the film anew and pay for it again).
        saved = [task.name for task in state.tasks]
        done = state.values.get("film") or state.values.get("aborted")
        if done and saved in ([], ["document"]):
            raise InputError(
                f"Run {ctx.paths.run_id} has finished.",
                "To make part of it again, resume with --from beats|shots|keyframes|clips|"
                "assembly.",
            )
        if not saved and _finished(ctx.paths):
            raise InputError(
                f"Run {ctx.paths.run_id} has finished, and its checkpoints are gone.",
                "Its film and log are kept; start a new run to make the film again.",
            )
        if not saved:
            return {}, False  # stopped before its first checkpoint: start it over
    return None, False


def _finished(paths: RunPaths) -> bool:
    """Whether the log says the run ended (completed or aborted; a failed run is resumable):
    a finished run is never made again by a resume."""
    ends = [e.status for e in read_events(paths.events) if isinstance(e, RunFinished)]
    return bool(ends) and ends[-1] in ("completed", "aborted")


def _drive(ctx: RunContext, first, approver: Approver | None) -> RunResult:
    """Run the graph; at each checkpoint ask the approver, or stop there when there is none."""
    from langgraph.types import Command

    if hasattr(ctx.planner, "on_call"):
        ctx.planner.on_call = ctx.log_llm_call
    if hasattr(ctx.planner, "on_event"):  # a script's planner reports what it filled
        ctx.planner.on_event = ctx.log.append
    try:
        with open_graph(ctx.paths) as (graph, config):
            _log_synced_at_checkpoints(graph.checkpointer, ctx.log)
            config["recursion_limit"] = recursion_limit(
                ctx.options.runtime_s, ctx.options.max_attempts
            )
            values = graph.invoke(first, config, context=ctx, durability="sync")
            while waiting := _interrupted(values, ctx.paths.root):
                ctx.log.append(
                    ApprovalPending(
                        checkpoint=waiting.payload["checkpoint"],
                        beat_id=waiting.payload.get("beat"),
                        contact_sheet=waiting.payload.get("contact_sheet", ""),
                    )
                )
                answer = approver(waiting) if approver else None
                if answer is None:
                    return _result(ctx, values, waiting)
                answer = check_answer(waiting.payload, answer)
                values = graph.invoke(
                    Command(resume=answer), config, context=ctx, durability="sync"
                )
    except BaseException as exc:
        _record_failure(ctx, exc)
        if isinstance(exc, KeyboardInterrupt):
            _abort_jobs(ctx)
            raise RunInterrupted(
                f"Run {ctx.paths.run_id} stopped; everything up to its last checkpoint is kept.",
                f"Carry on with: director resume {ctx.paths.run_id}",
            ) from exc
        raise
    finally:
        ctx.progress.close()
        ctx.video.close()
    return _result(ctx, values, None)


def _abort_jobs(ctx: RunContext) -> None:
    """A run its user stopped stops its backends' work too (a ComfyUI server would render on
    for nothing); a backend that cannot be told is left be."""
    for backend in (ctx.image, ctx.video):
        abort = getattr(backend, "abort", None)
        if abort is not None:
            with contextlib.suppress(Exception):
                abort()


def _log_synced_at_checkpoints(saver, log: EventLog) -> None:
    """The log is grouped: what a step logged goes to disk before the checkpoint that ends the
    step is saved, so no saved checkpoint is ahead of its log (events a crash must not lose
    are on disk at once; see director.memory.events)."""
    put = saver.put

    def synced_put(*args, **kwargs):
        log.sync()
        return put(*args, **kwargs)

    saver.put = synced_put


def _interrupted(values: dict, root: Path) -> Pending | None:
    interrupts = values.get("__interrupt__") or ()
    return Pending(interrupts[0].id, interrupts[0].value, root) if interrupts else None


def _result(ctx: RunContext, values: dict, waiting: Pending | None) -> RunResult:
    return RunResult(
        paths=ctx.paths,
        summary=summarise(ctx.paths),
        flagged=values.get("flagged", []),
        waiting=waiting,
    )


def _backends(options: RunOptions, given: dict | None) -> dict:
    backends = {**_preflight(options, skip=set(given or {})), **(given or {})}
    cast = resolve_cast(options.cast, options.characters, options.insightface_root)
    # the critics the registry holds, built now: a missing model stops the run up front
    backends.update(gate.for_run(options, backends["image"], cast, given or {}))
    backends["cast"] = cast
    return backends


def _context(options: RunOptions, paths: RunPaths, progress: Progress, backends: dict):
    for key in ("image", "video"):  # backends that hear their work's progress report it
        if hasattr(backends.get(key), "progress"):
            backends[key].progress = progress.shot
    return RunContext(
        options=options,
        paths=paths,
        log=EventLog(paths.events, grouped=True),
        progress=progress,
        **backends,
    )


def _resumed_options(paths: RunPaths, approve: str | None) -> RunOptions:
    """The options the run was started with; only how approvals are given may change."""
    import json

    data = json.loads(paths.run_json.read_text(encoding="utf-8"))
    options = _with_credentials(RunOptions.model_validate(data["options"]))
    if approve is not None:
        options = options.model_copy(update={"approve": approve, "yes": approve == "auto"})
    return options


# What only assembly reads: changeable for its redo.
ASSEMBLY_OPTIONS = ("music", "font", "voice", "narrator_voice")


def _changed_assembly(
    paths: RunPaths, options: RunOptions, given: dict[str, Any], from_stage: str | None
) -> tuple[RunOptions, dict[str, Any]]:
    """``options`` with the assembly options ``given`` for a redo, checked as a new run's are
    and recorded in run.json (later resumes keep them); and what changed, [old, new] by name."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return options, {}
    flags = [f"--{k.replace('_', '-')}" for k in given]
    if from_stage is None:
        raise InputError(
            f"{', '.join(flags)} changes how the film is assembled, so it needs a stage to redo.",
            f"Resume with --from assembly: director resume {paths.run_id} --from assembly "
            + " ".join(f"{flag} ..." for flag in flags),
        )
    if given.get("voice") == "none" and "narrator_voice" not in given:
        given["narrator_voice"] = None  # no voices, so no narrator's
    updated = options.model_copy(update=given)
    check_assembly_inputs(updated)
    changed = {k: [getattr(options, k), v] for k, v in given.items() if getattr(options, k) != v}
    _record_options(paths, {k: new for k, (_, new) in changed.items()})
    return updated, changed


def _changed_doc_lang(
    options: RunOptions, doc_lang: str | None, changed: dict[str, Any]
) -> tuple[RunOptions, dict[str, Any]]:
    """A new language for the workflow document: no stage is redone for it (the document is
    written at the end, from the log), and it is recorded on the resume."""
    if doc_lang is None or doc_lang == options.doc_lang:
        return options, changed
    changed = {**changed, "doc_lang": [options.doc_lang, doc_lang]}
    return options.model_copy(update={"doc_lang": doc_lang}), changed


# The ComfyUI servers' addresses: changeable on any resume, recorded in run.json for the next.
SERVER_OPTIONS = ("comfyui_url", "comfyui_image_url", "comfyui_video_url")


def _moved_servers(
    options: RunOptions, given: dict[str, str | None], changed: dict[str, Any]
) -> tuple[RunOptions, dict[str, Any]]:
    """``options`` with the ComfyUI servers at the addresses ``given``, and what moved,
    [old, new] by name, added to ``changed``."""
    from director.tools.comfyui.client import check_url

    urls = {
        key: check_url(url, "--" + key.replace("_", "-"))
        for key, url in given.items()
        if key in SERVER_OPTIONS and url is not None
    }
    moved = {k: [getattr(options, k), v] for k, v in urls.items() if getattr(options, k) != v}
    return options.model_copy(update=urls), {**changed, **moved}


def _record_servers(paths: RunPaths, changed: dict[str, Any]) -> None:
    """New server addresses written to run.json, so later resumes find the servers too."""
    _record_options(paths, {k: new for k, (_, new) in changed.items() if k in SERVER_OPTIONS})


def _record_options(paths: RunPaths, values: dict[str, Any]) -> None:
    """Options changed on a resume, written to run.json so later resumes keep them."""
    if values:
        data = json.loads(paths.run_json.read_text(encoding="utf-8"))
        data["options"].update(values)
        write_json_atomic(paths.run_json, data)


def _resumed_backends(paths: RunPaths, options: RunOptions, given: dict | None) -> dict:
    """The run's backends, built as a new run's are; a ComfyUI server that is not where the run
    left it is one line that says how to give its new address on this resume."""
    from director.tools.comfyui.client import START_HINT

    try:
        return _backends(options, given)
    except ProviderError as exc:
        if exc.hint != START_HINT:
            raise
        raise ProviderError(
            exc.message,
            "Start ComfyUI there, or give the server's address now: "
            f"director resume {paths.run_id} --comfyui-url URL (--comfyui-image-url and "
            "--comfyui-video-url for separate servers; recorded for later resumes).",
        ) from None


def _with_credentials(options: RunOptions) -> RunOptions:
    """Options whose recorded backend URLs lost their credentials (never stored) get them back
    from the environment or config file, where the same setting holds them."""
    from director.config import resolve_option

    update = {}
    for key in ("llm", "image", "video"):
        recorded = str(getattr(options, key) or "")
        if not has_redacted_url(recorded):
            continue
        current = str(resolve_option(key) or "")
        if redact_urls(current) != recorded:
            variable = f"DIRECTOR_{key.upper()}"
            raise ConfigError(
                f"This run's --{key} names a URL with credentials, which director does not store.",
                f"Set {variable} (or {key} in the config file) to the same value, credentials "
                "included, and resume again.",
            )
        update[key] = current
    return options.model_copy(update=update) if update else options


# --resume --from STAGE: the node the stage starts at.
FROM = {
    "beats": "approve_beats",
    "shots": "shot_list",
    "keyframes": "keyframe",
    "clips": "animate",
    "assembly": "assemble",
}


def reopen(stage: str, values: dict) -> dict:
    """The state update that re-opens a stage: what it and later stages made is forgotten
    (still in the log and the run folder); attempt numbers carry on, so nothing is overwritten."""
    fresh = {"aborted": "", "film": ""}
    if stage in ("beats", "shots"):
        return {**fresh, "made": values.get("made", {})}
    if stage == "keyframes":
        return {**fresh, **reset_shots(values)}
    if stage == "clips":
        return {**fresh, **reset_clips(values)}
    return fresh


def _preflight(options: RunOptions, skip: set[str]) -> dict:
    """Everything that can fail before a run folder exists: tools, fonts, backends, music. The
    backends get their provider's settings from the config file, read once here."""
    from director.config import load_config_file
    from director.tools.assemble.ffmpeg_bin import check_ffmpeg
    from director.tools.llm.script import scripted

    check_structure(options)
    check_ffmpeg()
    check_assembly_inputs(options)
    file = load_config_file()
    loaders = {
        # a run from the creator's own script plans from it, asking this planner for the rest
        "planner": lambda: scripted(
            registry.load("planners", options.llm, file=file), options.script, options.beats
        ),
        "image": lambda: registry.load_for_run("image", options, file),
        "video": lambda: registry.load_for_run("video", options, file),
        # the critics and the clip gate need the cast and the image backend: see _backends
    }
    return {key: load() for key, load in loaders.items() if key not in skip}


def check_assembly_inputs(options: RunOptions) -> None:
    """What only assembly reads, checked before anything is made: the font, the music, the
    voices."""
    from director.agent.configuration import check_voices
    from director.tools.assemble.fonts import find_font

    check_voices(options.voice, options.narrator_voice)
    find_font(options.font)
    if options.music:
        check_music(Path(options.music).expanduser())


def check_music(path: Path) -> None:
    """Music is found out before anything is generated, not at assembly after every shot is
    paid for: a file, that ffmpeg reads, with an audio stream."""
    from director.errors import AssemblyError
    from director.tools.assemble.probe import probe

    if not path.is_file():
        raise InputError(f"--music {path} is not a file.", "Pass an audio file path.")
    try:
        info = probe(path)
    except AssemblyError:
        info = None
    if info is None or not info.audio_codec:
        raise InputError(
            f"--music {path} is not audio that ffmpeg can read.",
            "Pass an audio file (mp3, wav, m4a, flac, ogg) or a video with a sound track.",
        )


def _record_start(options: RunOptions, paths: RunPaths, run_id: str) -> None:
    """run.json and the run_started event, written into the run folder as it is made."""
    from director.config import section
    from director.tools.pricing import load_prices

    prices = load_prices(section("prices"))
    versions = {**package_versions(), "prices": prices.priced_on}
    if prices.overridden:
        versions["prices overridden"] = ", ".join(prices.overridden)
    # A URL's credentials (--llm openai-compatible:http://user:pass@host/v1#model) are never
    # recorded; a resume takes them from where they came from (see _with_credentials).
    recorded = json.loads(redact_urls(json.dumps(options.model_dump(mode="json"))))
    write_json_atomic(
        paths.run_json,
        {
            "run_id": run_id,
            "director": __version__,
            "options": recorded,
            "versions": versions,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    EventLog(paths.events).append(
        RunStarted(run_id=run_id, logline=options.logline, options=recorded, versions=versions)
    )


def _record_failure(ctx: RunContext, exc: BaseException) -> None:
    status = "aborted" if isinstance(exc, KeyboardInterrupt) else "failed"
    message = str(exc) if isinstance(exc, DirectorError) else f"{type(exc).__name__}: {exc}"
    ctx.log.append(ErrorRaised(stage="run", message=message, error_type=type(exc).__name__))
    ctx.log.append(RunFinished(status=status, seconds=ctx.elapsed()))
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
