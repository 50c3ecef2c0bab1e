"""The film's end: the clips still rendering collected, the lines spoken, the film assembled
with its sound mixed and its contact sheet, and the run's workflow document written from the
log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from director.agent.clips import finish_clips
from director.agent.context import RunContext
from director.agent.shots import flag_reasons
from director.agent.state import FilmState, plan_of
from director.records import AssemblyStep, Plan, RunFinished, StageFinished
from director.records.events import LoudnessMeasured, VoiceLineSpoken


def assemble(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["document"]]:
    from director.tools.assemble.film import assemble as assemble_film
    from director.tools.image.contact_sheet import contact_sheet, shot_tiles

    ctx = runtime.context
    plan = plan_of(state)
    work = finish_clips(ctx, state)
    ctx.progress.close()
    ctx.log.append(
        StageFinished(stage="shots", seconds=round(time.time() - state["stage_started"], 3))
    )
    with ctx.stage("assemble"):
        clips = {sid: ctx.paths.root / rel for sid, rel in work.clips.items()}
        music = Path(ctx.options.music) if ctx.options.music else None
        lines, spent = _placed_lines(ctx, plan, work.spent)
        result = assemble_film(
            plan,
            clips,
            ctx.paths.root,
            music=music,
            lines=lines,
            font=_font(ctx),
            on_step=lambda rec: _log_step(ctx, rec),
            on_progress=lambda seconds: ctx.progress.encoding(seconds, plan.runtime_s),
        )
        ctx.progress.close()
        _log_loudness(ctx, result)
        tiles = shot_tiles(plan.shots, ctx.paths.root, state["keyframes"], state.get("captions"))
        flagged = flag_reasons(state, work.flagged)
        contact_sheet(tiles, ctx.paths.contact_sheet, flagged=flagged)
    update = {**work.update(), "film": ctx.paths.rel(result.film), "spent": spent}
    return Command(goto="document", update=update)


def document(state: FilmState, runtime: Runtime[RunContext]) -> Command[Literal["__end__"]]:
    from director.replay.workflow import write_workflow

    ctx = runtime.context
    outputs = {name: ctx.paths.rel(path) for name, path in _outputs(ctx).items() if path.exists()}
    outputs["workflow"] = ctx.paths.rel(ctx.paths.workflow)
    status = "aborted" if state.get("aborted") else "completed"
    ctx.log.append(RunFinished(status=status, seconds=ctx.elapsed(), outputs=outputs))
    ctx.progress.stage("document")
    write_workflow(ctx.paths)  # after run_finished, so the document tells the run's end
    return Command(goto=END)


def _outputs(ctx: RunContext) -> dict[str, Path]:
    p = ctx.paths
    return {
        "film": p.film,
        "srt": p.srt,
        "plan": p.plan_json,
        "events": p.events,
        "contact_sheet": p.contact_sheet,
        "voice_stem": p.root / "voice.wav",
        "music_stem": p.root / "music.wav",
    }


def _placed_lines(ctx: RunContext, plan, spent: float) -> tuple[list, float]:
    """The plan's lines spoken by the run's voice backend (none unless --voice names one),
    each logged like a generation and paid within --budget (``spent`` so far); a line longer
    than its shot is logged as not fitting, a line left out as not spoken. Returns the placed
    lines and the spend with theirs."""
    from director import registry
    from director.agent.voices import PaidVoice, speak_within
    from director.tools.assemble.mix import PlacedLine
    from director.tools.voice.lines import speak_lines

    spec = getattr(ctx.options, "voice", "none") or "none"
    if registry.split_spec(spec)[0] == "none":
        return [], spent
    backend = PaidVoice(ctx, registry.load("voices", spec), plan, spent)
    casting = _casting(ctx)
    _say_unserved(ctx, plan, backend, casting)
    spoken = speak_within(
        plan,
        backend,
        lambda kept: speak_lines(kept, backend, ctx.paths.root, ctx.options.fps, casting),
    )
    for line in spoken:
        ctx.log.append(backend.settled(_voice_event(ctx, backend, line)))
    return [PlacedLine(line.path, line.start_s) for line in spoken], backend.spent


def _casting(ctx: RunContext):
    """The voices a human chose: the narrator's (--narrator-voice), and each cast member's
    from the cast store, read now, so a voice changed there is heard in a new assembly."""
    from director.tools.voice.casting import Casting

    voices = {}
    if ctx.options.cast:
        from director.memory.cast import CastStore

        store = CastStore()
        voices = {name: store.voices(name) for name in ctx.options.cast}
    return Casting.of(ctx.options.narrator_voice, voices)


def _say_unserved(ctx: RunContext, plan: Plan, backend, casting) -> None:
    """A cast member whose voices are all for other backends is heard in this one's automatic
    voice: said, with how to give them one here."""
    speakers = [s.line.speaker for s in plan.shots if s.line and s.line.kind == "dialogue"]
    for name, voices in casting.unserved(backend, speakers).items():
        ctx.progress.stage(
            "voices",
            f"{name}'s cast voice is for {', '.join(voices)}, not {backend.name}: the automatic "
            f"{backend.name} voice speaks their lines (give one: director cast voice {name} "
            f"{backend.name}:VOICE)",
        )


def _voice_event(ctx: RunContext, backend, line) -> VoiceLineSpoken:
    return VoiceLineSpoken(
        shot_id=line.shot.id,
        kind=line.shot.line.kind,
        speaker=line.shot.line.speaker,
        text=line.shot.line.text,
        backend=backend.name,
        model=backend.model,
        voice=line.voice,
        voice_from=line.chosen_by,
        reused=line.reused,
        scratch=backend.scratch,
        path=ctx.paths.rel(line.path),
        start_s=line.start_s,
        duration_s=line.duration_s,
        shot_s=line.shot.duration_s,
        fits=line.fits,
        cost=line.cost,
        seconds=line.seconds,
    )


def _log_loudness(ctx: RunContext, result) -> None:
    """Pass one's measurement and the finished film's own, against the target."""
    from director.tools.assemble.mix import measure_file

    measured = result.loudness
    if measured is None:
        return
    heard = measure_file(result.film, measured.target)
    ctx.log.append(
        LoudnessMeasured(
            target_i=measured.target.integrated,
            target_tp=measured.target.true_peak,
            input_i=measured.input_i,
            input_tp=measured.input_tp,
            input_lra=measured.input_lra,
            output_i=heard["integrated"],
            output_tp=heard["true_peak"],
        )
    )


def _font(ctx: RunContext):
    from director.tools.assemble.fonts import find_font

    return find_font(ctx.options.font)


def _log_step(ctx: RunContext, record) -> None:
    """Log an ffmpeg command with paths relative to the run folder, so the log travels."""
    root = f"{ctx.paths.root}/"
    command = ["ffmpeg", *(str(a).replace(root, "") for a in record.command[1:])]
    ctx.log.append(
        AssemblyStep(
            step=record.step,
            command=command,
            output=str(record.output).replace(root, ""),
            seconds=round(record.seconds, 3),
        )
    )
