"""Checkpoints shown to a human, and interactive approval with single-key choices.

Every screen ends with how to leave: Ctrl-C stops the run where it stands, resumable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from director.agent.approvals import BEAT_FIELDS, SLOTS, check_answer
from director.agent.checkpoints import Pending, human
from director.agent.progress import Progress
from director.errors import InputError

BEAT_KEYS = {"a": "approve", "e": "edit", "r": "regenerate", "x": "abort"}
SHOT_KEYS = {
    "a": "approve",
    "r": "reroll",
    "e": "edit",
    "j": "reject",
    "f": "replace",
    "s": "anchor",
    "x": "abort",
}
LABELS = {
    "approve": "[a]pprove",
    "edit": "[e]dit",
    "regenerate": "[r]egenerate with a note",
    "reroll": "[r]eroll a shot",
    "reject": "re[j]ect with a note",
    "abort": "e[x]it and abort the run",
    "anchor": "[s]tyle anchor",
    "replace": "your own [f]rame",
}


def describe(pending: Pending) -> str:
    """The checkpoint as text: what waits for approval."""
    p = pending.payload
    if p["checkpoint"] == "beats":
        lines = [f"Beat sheet of {p['title']!r} ({p['structure']}), {len(p['beats'])} beats:"]
        for b in p["beats"]:
            end = b["start_s"] + b["duration_s"]
            lines.append(f"  {b['id']}  {b['name']} ({b['start_s']:g}-{end:g} s): {b['summary']}")
            lines.append(f"        change: {b['change']}  location: {b['location']}")
        return "\n".join(lines + _notices(p))
    lines = [
        f"Beat {p['beat']} ({p['beat_name']}), {p['beat_number']} of {p['beats']}: {p['summary']}",
        f"Contact sheet: {pending.path(p['contact_sheet'])}",
    ]
    for shot in p["shots"]:
        mark = (
            f"  [below threshold: {', '.join(shot['failed']) or 'flagged'}]"
            if shot["flagged"]
            else ""
        )
        hand = "  (your own frame)" if shot.get("by_hand") else ""
        lines.append(f"  {shot['id']}  {shot['keyframe']}{hand}{mark}")
        changed = shot.get("changed", {})
        for slot, text in shot["prompt"].items():
            lines.append(f"        {slot}{_whose(slot, shot, changed)}: {text}")
    if p.get("anchor_choices"):
        anchor = p.get("style_anchor") or "none yet (the first keyframe accepted clean)"
        lines.append(f"Style anchor: {anchor}")
    lines += [f"Line too long: {said}" for said in p.get("line_flags") or []]
    return "\n".join(lines + _notices(p))


def _whose(slot: str, shot: dict, changed: dict) -> str:
    """Who wrote a slot's text, when not the planner: the human, or a change for the keyframe
    shown (a note's, or the gate's repair)."""
    if slot in shot["edited"]:
        return " (yours)"
    return f" (changed by {changed[slot]})" if slot in changed else ""


def _notices(payload: dict) -> list[str]:
    return [f"Note: {said}" for said in payload.get("notices") or []]


def how_to_approve(run_id: str, pending: Pending) -> str:
    """The commands that answer a waiting checkpoint, for deferred mode."""
    run = run_id
    if pending.payload["checkpoint"] == "beats":
        return (
            f"  director approve {run}                                  approve the beat sheet\n"
            f'  director approve {run} --edit BEAT --field summary="..."  edit a beat\n'
            f'  director approve {run} --regenerate --note "..."         a new beat sheet\n'
            f"  director approve {run} --abort                          stop the run\n"
            f"then: director resume {run}"
        )
    return (
        f"  director approve {run}                                   approve these keyframes\n"
        f"  director approve {run} --reroll SHOT                     a new keyframe for SHOT\n"
        f'  director approve {run} --edit SHOT --slot action="..."   rewrite a prompt slot\n'
        f'  director approve {run} --reject [--shot SHOT] --note "..."  redo, with a note\n'
        f'  director approve {run} --edit {pending.payload["beat"]} --field summary="..."   '
        "rewrite the beat: its shots planned again\n"
        f"  director approve {run} --replace SHOT=IMAGE              your own frame for SHOT\n"
        f"  director approve {run} --style-anchor SHOT|none          judge style against SHOT\n"
        f"  director approve {run} --abort                           stop the run\n"
        f"then: director resume {run}"
    )


class Asker:
    """Asks at each checkpoint on the terminal; the runner calls it with what is pending.
    Ctrl-C or Ctrl-D at any question stops the run where it stands, resumable."""

    def __init__(self, open_sheet: bool = False, progress: Progress | None = None) -> None:
        self.open_sheet = open_sheet
        self.progress = progress or Progress()

    def __call__(self, pending: Pending) -> dict[str, Any]:
        self.anchor: str | None = None  # a new style anchor, given with the decision
        self.root = pending.root or Path(".")  # the run folder, where a frame of yours goes
        with self.progress.paused():
            click.echo("\n" + describe(pending), err=True)
            if self.open_sheet and pending.payload.get("contact_sheet"):
                click.launch(str(pending.path(pending.payload["contact_sheet"])))
            while True:
                try:
                    answer = self._ask(pending.payload)
                except click.exceptions.Abort:  # Ctrl-C or Ctrl-D inside a click prompt
                    raise KeyboardInterrupt from None
                if answer is None:  # nothing changed: choose again
                    continue
                if self.anchor is not None:
                    answer["style_anchor"] = self.anchor
                try:  # a bad answer is asked again; it must never stop the run
                    return check_answer(pending.payload, human(answer))
                except InputError as exc:
                    click.echo(str(exc), err=True)

    def _ask(self, payload: dict) -> dict[str, Any] | None:
        beats = payload["checkpoint"] == "beats"
        keys = BEAT_KEYS if beats else SHOT_KEYS
        if not payload.get("anchor_choices"):  # judged against --style-ref images
            keys = {k: v for k, v in keys.items() if v != "anchor"}
        decision = _choose(keys)
        if decision == "anchor":
            choices = [*payload["anchor_choices"], "none"]
            self.anchor = _pick("Style anchor", choices, default=payload.get("style_anchor"))
            click.echo(f"Style anchor: {self.anchor}. Now the decision for this beat.", err=True)
            return None
        answer: dict[str, Any] = {"decision": decision}
        if decision == "edit":
            change = self._beat_edit(payload) if beats else self._slot_edit(payload)
            return {**answer, **change} if change else None
        if decision == "reroll":
            answer["shot"] = _pick("Shot", _shot_ids(payload))
        if decision == "replace":
            return self._frame(payload)
        if decision == "reject":
            ids = _shot_ids(payload)
            shot = click.prompt(
                f"Shot ({', '.join(ids)}; Enter: every shot of the beat)",
                type=click.Choice(["", *ids]),
                default="",
                show_choices=False,
                show_default=False,
                err=True,
            )
            answer.update({"shot": shot} if shot else {})
        if decision in ("regenerate", "reject"):
            answer["note"] = click.prompt("Note", err=True).strip()
        return answer

    def _beat_edit(self, payload: dict) -> dict[str, Any] | None:
        beat_id = _pick("Beat", [b["id"] for b in payload["beats"]])
        field = _pick("Field", list(BEAT_FIELDS), default="summary")
        beat = next(b for b in payload["beats"] if b["id"] == beat_id)
        text = _text(beat[field])
        return {"beat": beat_id, "field": field, "text": text} if text else None

    def _slot_edit(self, payload: dict) -> dict[str, Any] | None:
        """A shot's slot, or the beat itself (its shots are then planned again)."""
        shot_id = _pick("Shot (or the beat)", [*_shot_ids(payload), payload["beat"]])
        if shot_id == payload["beat"]:
            field = _pick("Field", list(BEAT_FIELDS), default="summary")
            text = _text(payload["beat_fields"][field])
            return {"beat": shot_id, "field": field, "text": text} if text else None
        slot = _pick("Slot", list(SLOTS), default="action")
        shot = next(s for s in payload["shots"] if s["id"] == shot_id)
        text = _text(shot["prompt"][slot])
        return {"shot": shot_id, "slot": slot, "text": text} if text else None

    def _frame(self, payload: dict) -> dict[str, Any] | None:
        """Your own frame for a shot: checked and copied into the run folder at once; a path
        that is not an image is said, and asked again."""
        from director.agent.approvals import stage_frame

        shot_id = _pick("Shot", _shot_ids(payload))
        path = click.prompt("Image (Enter: back)", default="", show_default=False, err=True)
        if not path.strip():
            return None
        try:
            staged = stage_frame(self.root, shot_id, path.strip())
        except InputError as exc:
            click.echo(str(exc), err=True)
            return None
        return {"decision": "replace", "shot": shot_id, **staged}


def _shot_ids(payload: dict) -> list[str]:
    return [s["id"] for s in payload["shots"]]


def _choose(keys: dict[str, str]) -> str:
    menu = "  ".join(LABELS[v] for v in keys.values())
    click.echo(f"{menu}   (Ctrl-C: stop here, resumable)", err=True)
    decision = keys[_key(keys)]
    click.echo(f"> {decision}", err=True)
    return decision


def _key(keys) -> str:
    """One key press among ``keys``; Ctrl-C and Ctrl-D stop the run (the terminal is raw)."""
    while True:
        key = click.getchar().lower()
        if key in ("\x03", "\x04"):
            raise KeyboardInterrupt
        if key in keys:
            return key


def _pick(label: str, choices: list[str], default: str | None = None) -> str:
    return click.prompt(
        label, type=click.Choice(choices), default=default, show_choices=True, err=True
    )


def _text(current: str) -> str | None:
    """New text, typed inline or written in $EDITOR; None when it is empty or unchanged."""
    click.echo(f"Now: {current}", err=True)
    click.echo("[i]nline (Enter keeps it) or [v] in $EDITOR?", err=True)
    if _key("iv") == "v":
        text = _in_editor(current)
    else:
        text = click.prompt("New text", default=current, err=True)
    text = (text or "").strip()
    if not text or text == current.strip():
        click.echo("Unchanged.", err=True)
        return None
    return text


def _in_editor(current: str) -> str | None:
    try:
        return click.edit(current)  # None when the editor closed without saving
    except click.ClickException as exc:  # no editor, or it failed
        click.echo(f"{exc.format_message()}; type the text instead.", err=True)
        return click.prompt("New text", default=current, err=True)
