"""``director status``, ``director approve`` and ``director resume``: runs that wait for a human,
and runs that stopped (a crash, Ctrl-C, a spent budget) and go on from their last checkpoint."""

from __future__ import annotations

import json

import click

from director.cli.options import option, resolve_runs_dir, runs_dir_option

FROM_STAGES = ("beats", "shots", "keyframes", "clips", "assembly")


def _paths(run: str, runs_dir: str | None):
    from director.memory.runs import resolve_run

    return resolve_run(run, resolve_runs_dir(runs_dir))


@click.command("status")
@click.argument("run")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(run: str, runs_dir: str | None, as_json: bool) -> None:
    """Where a run stands: finished, running, waiting for approval (and what), or stopped."""
    from director.agent.checkpoints import pending_of, snapshot
    from director.cli.ask import describe, how_to_approve
    from director.cli.run import long_lines
    from director.memory.lock import is_locked
    from director.memory.runs import summarise

    paths = _paths(run, runs_dir)
    summary = summarise(paths)
    state = snapshot(paths) if paths.checkpoints.exists() else None
    pending = pending_of(state, paths.root) if state is not None else None
    running = is_locked(paths.root)
    status = _status(summary.status, running, pending, state)
    long = long_lines(paths.events)
    if as_json:
        data = {
            "run_id": summary.run_id,
            "status": status,
            "waiting": pending.payload if pending else None,
            "next": list(state.next) if state is not None else [],
            "long_lines": long,
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"Run {summary.run_id}: {status}. {summary.logline}")
    if long:
        said = ", ".join(
            f"{e['shot_id']} ({e['duration_s']:g} s in {e['shot_s']:g} s)" for e in long
        )
        click.echo(f"Lines longer than their shots in the film: {said}.")
    if pending is not None and not running:
        click.echo(describe(pending))
        click.echo("Waiting for approval; answer with one of:\n" + how_to_approve(run, pending))
    elif status == "stopped":
        click.echo(f"Continue it with: director resume {run}")


def _status(logged: str, running: bool, pending, state) -> str:
    if running:
        return "running"
    if pending is not None:
        return "waiting for approval"
    if state is not None and (state.next or _saved_unfinished(state)):
        return "stopped"
    return logged


def _saved_unfinished(state) -> bool:
    """A step's work saved but not yet followed by a checkpoint (a process killed between)."""
    done = state.values.get("film") or state.values.get("aborted")
    saved = [task.name for task in state.tasks]
    return bool(saved) and not (done and saved == ["document"])


@click.command("approve")
@click.argument("run")
@click.option("--reroll", metavar="SHOT", help="Make a new keyframe for SHOT.")
@click.option(
    "--edit",
    metavar="SHOT|BEAT",
    help="Rewrite a slot of SHOT's prompt, or a BEAT (at its keyframes too: its shots are "
    "planned again from the new text).",
)
@click.option(
    "--slot",
    metavar="SLOT[=TEXT]",
    help='With --edit: the slot and its new text (action="..."); with --reject: the slot '
    "the note is about [default: action].",
)
@click.option("--field", metavar="FIELD=TEXT", help='With --edit BEAT: summary="..." etc.')
@click.option("--reject", is_flag=True, help="Redo the beat's keyframes (or --shot's) per --note.")
@click.option("--shot", metavar="SHOT", help="With --reject: only this shot.")
@click.option("--regenerate", is_flag=True, help="A new beat sheet, following --note.")
@click.option(
    "--note",
    default="",
    help="What is wrong, for --reject and --regenerate; with another decision, kept in the log.",
)
@click.option(
    "--replace",
    metavar="SHOT=IMAGE",
    help="At a beat's keyframes: your own frame for SHOT (retouched or made by hand), judged "
    "by the gate, logged as yours, and its clip made from it.",
)
@click.option("--abort", is_flag=True, help="Stop the run here for good (logged).")
@click.option(
    "--style-anchor",
    metavar="SHOT|none",
    help="At a beat's keyframes: judge the style of later keyframes against SHOT's; none: the "
    "next keyframe accepted clean sets it. Goes with any decision.",
)
@runs_dir_option
def approve_command(run: str, runs_dir: str | None, **choice) -> None:
    """Answer the checkpoint a run waits at (approve by default); then `director resume RUN`."""
    from director.agent.approvals import check_answer, stage_frame
    from director.agent.checkpoints import pending_of, record_answer, snapshot
    from director.errors import InputError
    from director.memory.lock import is_locked

    paths = _paths(run, runs_dir)
    if is_locked(paths.root):  # it asks on its own terminal, and would ignore this answer
        raise InputError(
            f"Run {paths.run_id} is running.",
            "Answer it where it runs, or wait until it stops: director status " + run,
        )
    pending = pending_of(snapshot(paths), paths.root) if paths.checkpoints.exists() else None
    if pending is None:
        raise InputError(
            f"Run {paths.run_id} is not waiting for approval.",
            f"See where it stands with: director status {run}",
        )
    answer = check_answer(pending.payload, _answer(pending.payload, choice))
    if answer["decision"] == "replace":
        answer.update(stage_frame(paths.root, answer["shot"], answer["image"]))
    previous = _recorded(paths, pending)
    record_answer(paths, pending, answer)
    click.echo(f"Recorded for {pending.label}: {_said(answer)}.")
    if previous:
        click.echo(f"It replaces the answer recorded before: {_said(previous)}.")
    if answer.get("decision") == "abort":
        click.echo(f"The run ends there when it resumes: director resume {run}")
    else:
        click.echo(f"Continue the run with: director resume {run}")


def _recorded(paths, pending) -> dict | None:
    """An answer recorded for this checkpoint and not yet taken by a resume."""
    from director.agent.checkpoints import take_answer
    from director.errors import InputError

    try:
        return take_answer(paths, pending)
    except InputError:  # unreadable: the new answer replaces it anyway
        return None


# Options that only mean something with a decision: given without it, they must not approve.
GOES_WITH = {"slot": ("edit", "reject"), "field": ("edit",), "shot": ("reject",)}


DECISIONS = ("reroll", "edit", "reject", "regenerate", "replace", "abort")


def _answer(payload: dict, c: dict) -> dict:
    from director.errors import InputError

    checkpoint = payload["checkpoint"]
    chosen = [k for k in DECISIONS if c.get(k)]
    if len(chosen) > 1:
        raise InputError(
            f"Choose one of --{' / --'.join(chosen)}.", "Give one decision per approval."
        )
    decision = chosen[0] if chosen else "approve"
    for flag, decisions in GOES_WITH.items():
        if c.get(flag) and decision not in decisions:
            raise InputError(
                f"--{flag} goes with --{' or --'.join(decisions)}, not with "
                f"{'an approval' if decision == 'approve' else f'--{decision}'}.",
                "Add the decision it belongs to, or leave it out.",
            )
    answer: dict = {"decision": decision}
    if c.get("note"):
        answer["note"] = c["note"]
    if decision == "reroll":
        answer["shot"] = c["reroll"]
    if decision == "edit":
        answer.update(_edit(payload, c))
    if decision == "replace":
        answer.update(_replace(c["replace"]))
    if decision == "reject":
        answer.update({k: v for k, v in (("shot", c.get("shot")), ("slot", c.get("slot"))) if v})
    if c.get("style_anchor"):
        if checkpoint == "beats":
            raise InputError(
                "--style-anchor applies at a beat's keyframes; the run waits at the beat sheet.",
                "Leave it out here, and give it when the run waits at a beat's keyframes.",
            )
        answer["style_anchor"] = c["style_anchor"].strip()
    return answer


def _edit(payload: dict, c: dict) -> dict:
    """--edit BEAT --field NAME=TEXT at the beat sheet or at the beat's keyframes,
    --edit SHOT --slot SLOT=TEXT at a beat's keyframes."""
    from director.errors import InputError

    beats = payload["checkpoint"] == "beats"
    shots = [s["id"] for s in payload.get("shots", [])]
    if not beats and c.get("field") and not c.get("slot") and c["edit"] not in shots:
        name, text = _assignment(c["field"], "beat")
        return {"beat": c["edit"], "field": name, "text": text}
    key, flag, other = ("beat", "field", "slot") if beats else ("shot", "slot", "field")
    if c.get(other):
        where = "at the beat sheet" if beats else f"to shot {c['edit']}"
        raise InputError(
            f"--{other} does not apply {where}.",
            f"Here --edit takes a {key.upper()} and --{flag} NAME=TEXT"
            + ("." if beats else f"; a beat takes --field: --edit {payload['beat']} --field ..."),
        )
    name, text = _assignment(c.get(flag), key)
    return {key: c["edit"], flag: name, "text": text}


def _replace(value: str) -> dict:
    """--replace SHOT=IMAGE: the shot, and the image's path as given."""
    from director.errors import InputError

    shot, sep, image = value.partition("=")
    if not sep or not shot.strip() or not image.strip():
        raise InputError(
            f"--replace {value!r} names no image.",
            "Give a shot and an image: --replace s002=frame.png",
        )
    return {"shot": shot.strip(), "image": image.strip()}


def _assignment(value: str | None, key: str) -> tuple[str, str]:
    from director.errors import InputError

    flag = "--field" if key == "beat" else "--slot"
    if not value or "=" not in value:
        raise InputError(
            f"--edit needs {flag} NAME=TEXT.",
            f'For example: {flag} {"summary" if key == "beat" else "action"}="the new text"',
        )
    name, _, text = value.partition("=")
    return name.strip(), text


def _said(answer: dict) -> str:
    parts = [answer["decision"]]
    for key in ("beat", "shot", "field", "slot"):
        if answer.get(key):
            parts.append(f"{key} {answer[key]}")
    if answer.get("source"):
        parts.append(f"your frame {answer['source']}")
    if answer.get("text"):
        parts.append(f"text {answer['text']!r}")
    if answer.get("note"):
        parts.append(f"note {answer['note']!r}")
    if answer.get("style_anchor"):
        parts.append(f"style anchor {answer['style_anchor']}")
    return ", ".join(parts)


@click.command("resume")
@click.argument("run")
@click.option(
    "--from",
    "from_stage",
    type=click.Choice(FROM_STAGES),
    default=None,
    help="Re-open a stage: it and what follows are made again, what precedes it is kept.",
)
@click.option(
    "--approve",
    type=click.Choice(["ask", "defer", "auto"]),
    default=None,
    help="How checkpoints are approved from here on [default: ask on a terminal, else defer].",
)
@click.option("--yes", "-y", is_flag=True, help="Approve every checkpoint from here on.")
@click.option("--open", "open_sheet", is_flag=True, help="Open each contact sheet when asked.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option(
    "--music", default=None, help="With --from: new music under the film (recorded as a change)."
)
@click.option(
    "--font", default=None, help="With --from: a new font for cards and subtitles (recorded)."
)
@click.option(
    "--doc-lang",
    type=click.Choice(["en", "zh"]),
    default=None,
    help="The workflow document's language from here on (recorded) [default: as the run had it].",
)
@click.option(
    "--voice",
    default=None,
    metavar="PROVIDER[:MODEL]",
    help="With --from: new voices for the lines, or none (recorded); lines already spoken in "
    "the same voice are reused.",
)
@click.option(
    "--narrator-voice",
    default=None,
    metavar="VOICE",
    help="With --from: a new narrator's voice in the --voice backend (recorded).",
)
@option(
    "comfyui_url",
    help="The ComfyUI server's address from here on, when it moved "
    "(recorded in run.json; prompts it never had are queued there again).",
)
@option("comfyui_image_url", help="The keyframes' ComfyUI server from here on (recorded).")
@option("comfyui_video_url", help="The clips' ComfyUI server from here on (recorded).")
@runs_dir_option
def resume_command(run: str, runs_dir: str | None, **flags) -> None:
    """Continue a run from its last checkpoint (after a crash, Ctrl-C, or a stop for approval)."""
    from director.agent.progress import Progress, RichProgress
    from director.agent.runner import SERVER_OPTIONS, resume_run
    from director.cli.run import approve_mode, asker_for, report

    paths = _paths(run, runs_dir)
    mode = (
        approve_mode(flags["yes"], flags["approve"]) if flags["yes"] or flags["approve"] else None
    )
    quiet = flags["quiet"] or flags["as_json"]
    progress = Progress() if quiet else RichProgress()
    result = resume_run(
        paths,
        approve=mode,
        from_stage=flags["from_stage"],
        progress=progress,
        approver=asker_for(mode or _started_mode(paths), flags["open_sheet"], progress),
        assembly=_assembly_flags(flags),
        doc_lang=flags.get("doc_lang"),
        servers={k: flags.get(k) for k in SERVER_OPTIONS},
    )
    report(result, flags["as_json"], flags["quiet"])


def _assembly_flags(flags: dict) -> dict:
    """--music and --font as given, their paths made absolute (the run reads them later);
    --voice and --narrator-voice as given."""
    from pathlib import Path

    given = {k: flags.get(k) for k in ("music", "font")}
    found = {k: str(Path(v).expanduser().resolve()) if v else None for k, v in given.items()}
    return {**found, **{k: flags.get(k) for k in ("voice", "narrator_voice")}}


def _started_mode(paths) -> str:
    """A resumed run asks on a terminal unless it was started with --yes."""
    from director.cli.run import approve_mode

    data = json.loads(paths.run_json.read_text(encoding="utf-8"))
    mode = data["options"].get("approve", "defer")
    return "auto" if mode == "auto" else approve_mode(False, None)
