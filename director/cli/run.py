"""``director run``: logline in, film and workflow document out."""

from __future__ import annotations

import json

import click

from director.cli.options import (
    clip_model_option,
    clip_weights_option,
    diffusers_options,
    insightface_root_option,
    option,
    runs_dir_option,
    threshold_option,
)
from director.config import APPROVE_MODES


@click.command("run")
@click.option(
    "--logline",
    "-l",
    default=None,
    help="The story in one or two sentences (English or Chinese); with --script, taken from "
    "the script when not given.",
)
@click.option(
    "--script",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Plan from your own script: a Fountain screenplay (.fountain), a Markdown beat "
    "outline (.md) or a JSON/CSV shot list; your text is kept as written, director fills the "
    "rest (see docs/scripts.md). --minutes is ignored: the script's shots time the film.",
)
@click.option(
    "--beats",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="With --logline: a Markdown outline of your beats (## headings, optional bullets as "
    "shots); director plans the rest within --minutes.",
)
@option("minutes")
@option("structure")
@option("seed")
@option("size")
@option("max_attempts")
@option("best_of")
@option("max_run_attempts")
@option("budget")
@runs_dir_option
@click.option(
    "--run-id", default=None, help="Name of the run folder [default: time, logline and a hash]."
)
@click.option(
    "--cast",
    multiple=True,
    help="A cast member (see `director cast`) who plays in the film; the first is the lead.",
)
@click.option(
    "--character",
    multiple=True,
    metavar="NAME=IMG",
    help="A character and a reference photo with exactly one face; repeat for more.",
)
@option("llm")
@option("image")
@option("video")
@click.option(
    "--style-ref",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="IMG",
    help="An image whose look every keyframe must match (CLIP style check); repeat for more "
    "[default: the film's first keyframe that passes the gate].",
)
@threshold_option
@option("music")
@option("doc_lang", type=click.Choice(["en", "zh"]))
@option("voice")
@option("narrator_voice")
@option("font")
@diffusers_options
@option("lora")
@option("comfyui_url")
@option("comfyui_image_url")
@option("comfyui_video_url")
@option("comfyui_edit")
@option("comfyui_lora")
@option("comfyui_timeout")
@insightface_root_option
@clip_weights_option
@clip_model_option
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Approve the beat sheet and every beat's keyframes automatically (logged as "
    "automatic); the same as --approve auto.",
)
@click.option(
    "--approve",
    type=click.Choice(APPROVE_MODES),
    default=None,
    help="How checkpoints are approved: ask on the terminal, defer (stop and wait for "
    "`director approve`), or auto [default: ask on a terminal, else defer].",
)
@click.option("--open", "open_sheet", is_flag=True, help="Open each contact sheet when asked.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def run_command(**flags) -> None:
    """Develop a logline into a film: plan, keyframes, critique, clips, MP4, workflow.md.

    Example: director run --logline "In 2075 the last human on Earth tends a garden that robots
    keep bulldozing" --minutes 1 --yes
    """
    from director.agent.configuration import resolve
    from director.agent.progress import Progress, RichProgress
    from director.agent.runner import start_run

    quiet, as_json, open_sheet = flags.pop("quiet"), flags.pop("as_json"), flags.pop("open_sheet")
    flags["approve"] = approve_mode(flags["yes"], flags["approve"])
    script, beats = flags.pop("script"), flags.pop("beats")
    flags.update(from_script(script, beats, flags))
    options = resolve(flags)
    if options.comfyui_lora:
        click.echo(
            "Note: --comfyui-lora (DIRECTOR_COMFYUI_LORA, comfyui_lora) is deprecated; use --lora "
            "(DIRECTOR_LORA, lora), which also takes a .safetensors file.",
            err=True,
        )
    if script or beats:  # absolute, so a resumed run reads the same file
        update = {"script": _absolute(script), "beats": _absolute(beats)}
        options = options.model_copy(update=update)
    progress = Progress() if quiet or as_json else RichProgress()
    approver = asker_for(options.approve, open_sheet, progress)
    result = start_run(options, progress, approver=approver)
    report(result, as_json, quiet)


def from_script(script: str | None, beats: str | None, flags: dict) -> dict:
    """The logline and runtime a script gives the run, read (and checked) before anything is
    made: --logline wins over the script's own; a --script film is as long as its shots."""
    from director.errors import InputError

    if script and beats:
        raise InputError(
            "--script and --beats both give the plan.",
            "Pass --script for a whole script, or --logline with --beats for an outline.",
        )
    if not (script or beats):
        return {}
    from director.config import MAX_LOGLINE
    from director.tools.llm.language import detect_language
    from director.tools.llm.script import load_beats, load_script, script_runtime

    parsed = load_script(script) if script else load_beats(beats)
    logline = flags.get("logline") or parsed.logline or parsed.title or parsed.opening
    found = {"logline": logline[:MAX_LOGLINE]}
    if script:
        minutes = script_runtime(parsed, detect_language(logline)) / 60
        if minutes > 20:
            raise InputError(
                f"{script} times a film of {minutes:.1f} minutes; director makes up to 20.",
                "Shorten the script, or give its shots shorter lengths.",
            )
        found["minutes"] = str(max(0.25, round(minutes, 4)))
    return found


def _absolute(path: str | None) -> str | None:
    from pathlib import Path

    return str(Path(path).expanduser().resolve()) if path else None


def approve_mode(yes: bool, approve: str | None) -> str:
    """--yes, else --approve, else ask when a human is at a terminal and defer when not."""
    import sys

    if yes:
        return "auto"
    return approve or ("ask" if sys.stdin.isatty() else "defer")


def asker_for(mode: str, open_sheet: bool, progress=None):
    from director.cli.ask import Asker
    from director.errors import InputError

    if mode != "ask":
        return None
    if not has_terminal():  # refused before anything is written, not when the first key is read
        raise InputError(
            "--approve ask needs a terminal to ask on, and there is none.",
            "Use --approve defer (then `director approve` and `director resume`) or --yes.",
        )
    return Asker(open_sheet, progress)


def has_terminal() -> bool:
    """Keys are read from stdin when it is a terminal, else from the process's terminal."""
    import sys

    if sys.stdin.isatty():
        return True
    try:
        open("/dev/tty").close()
    except OSError:
        return False
    return True


def report(result, as_json: bool, quiet: bool) -> None:
    if as_json:
        click.echo(json.dumps(_summary(result), ensure_ascii=False, indent=2))
    elif result.waiting is not None:
        _print_waiting(result)
    elif not quiet:
        _print_result(result)


def _print_waiting(result) -> None:
    from director.cli.ask import describe, how_to_approve

    run_id = result.summary.run_id
    click.echo(f"Run {run_id} waits for approval of {result.waiting.label}.")
    click.echo(describe(result.waiting))
    click.echo("Answer with one of:\n" + how_to_approve(run_id, result.waiting))


def _summary(result) -> dict:
    s, paths = result.summary, result.paths
    return {
        "run_id": s.run_id,
        "status": "waiting for approval" if result.waiting else s.status,
        "waiting": result.waiting.payload if result.waiting else None,
        "seconds": s.seconds,
        "paths": {
            "run": str(paths.root),
            "film": str(paths.film) if paths.film.exists() else None,
            "srt": str(paths.srt),
            "plan": str(paths.plan_json),
            "events": str(paths.events),
            "workflow": str(paths.workflow),
            "contact_sheet": str(paths.contact_sheet),
        },
        "counts": {
            "shots": s.shots,
            "attempts": s.attempts,
            "rerolls": s.rerolls,
            "below_threshold": len(result.flagged),
        },
        "below_threshold": result.flagged,
        "long_lines": long_lines(paths.events),
        "unspoken_lines": unspoken_lines(paths.events),
        "cost": costs(paths.events),
    }


def _print_result(result) -> None:
    s, paths = result.summary, result.paths
    click.echo(
        f"Run {s.run_id} {s.status} in {s.seconds:.1f} s: {s.shots} shots, "
        f"{s.attempts} keyframe attempts, {s.rerolls} rerolls.",
        err=True,
    )
    if result.flagged:
        click.echo(f"Below threshold: {', '.join(result.flagged)} (see workflow.md).", err=True)
    if long := long_lines(paths.events):
        said = ", ".join(
            f"{e['shot_id']} ({e['duration_s']:g} s in {e['shot_s']:g} s)" for e in long
        )
        click.echo(
            f"Lines longer than their shots: {said}; lengthen the shot or cut the line.", err=True
        )
    if unspoken := unspoken_lines(paths.events):
        said = ", ".join(f"{e['shot_id']} ({e['code']})" for e in unspoken)
        click.echo(f"Lines not spoken: {said}; see workflow.md or events.jsonl.", err=True)
    spent = costs(paths.events)
    if spent["total"] or spent["unpriced"]:
        unpriced = f"; no known price for {', '.join(spent['unpriced'])}" * bool(spent["unpriced"])
        click.echo(
            f"Cost: ${spent['total']:.4f}, voices ${spent['voices']:.4f}{unpriced}.", err=True
        )
    if paths.film.exists():  # an aborted run has none
        click.echo(f"Film:     {paths.film}")
    click.echo(f"Workflow: {paths.workflow}")


def long_lines(events) -> list[dict]:
    """The spoken lines of the film as last assembled that run past their shots: flagged for
    the human, never cut off. Lines are logged before the film step that places them."""
    return [
        {k: r[k] for k in ("shot_id", "text", "duration_s", "shot_s")}
        for r in _before_last_film(events)
        if r.get("type") == "voice_line" and not r.get("fits", True)
    ]


def unspoken_lines(events) -> list[dict]:
    """The lines the film as last assembled went without: refused by the voice service or
    not affordable within --budget (logged before the film step that would have placed them)."""
    return [
        {k: r[k] for k in ("shot_id", "text", "code", "reason")}
        for r in _before_last_film(events)
        if r.get("type") == "voice_failed"
    ]


def _before_last_film(events) -> list[dict]:
    """The log's records between the film step before last and the last one: what the film
    as last assembled was made from. None when no film was assembled."""
    records = _records(events)
    films = [
        i for i, r in enumerate(records) if r.get("type") == "assembly" and r["step"] == "film"
    ]
    if not films:
        return []
    since = films[-2] if len(films) > 1 else -1
    return records[since + 1 : films[-1]]


def _records(events) -> list[dict]:
    try:
        return [json.loads(line) for line in events.read_text("utf-8").splitlines() if line]
    except (OSError, ValueError):
        return []


def costs(events) -> dict:
    """What the run has cost in USD, all of it and its voices' share (each paid job counted
    once), and the models whose calls had no known price."""
    total = voices = 0.0
    seen, unpriced = set(), set()
    for r in _records(events):
        if r.get("type") == "llm_call":
            total += r.get("cost") or 0.0
            if r.get("cost") is None:
                unpriced.add(f"{r['backend']}:{r['model']}")
        if r.get("type") != "cost" or (r.get("job_id") and r["job_id"] in seen):
            continue
        seen.add(r.get("job_id"))
        if r.get("amount") is None:
            unpriced.add(f"{r['backend']}:{r['model']}")
        total += r.get("amount") or 0.0
        voices += (r.get("amount") or 0.0) if r.get("kind") == "voice" else 0.0
    return {"total": round(total, 8), "voices": round(voices, 8), "unpriced": sorted(unpriced)}
