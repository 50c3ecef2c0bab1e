"""Checkpoints shown to a human, and interactive approval with single-key choices.

Every screen ends with how to leave: Ctrl-C stops the run where it stands, resumable.
"""

from __future__ import annotations

from typing import Any

import click

from director.agent.approvals import BEAT_FIELDS, SLOTS
from director.agent.checkpoints import Pending, human

BEAT_KEYS = {"a": "approve", "e": "edit", "r": "regenerate", "x": "abort"}
SHOT_KEYS = {"a": "approve", "r": "reroll", "e": "edit", "j": "reject", "x": "abort"}
LABELS = {
    "approve": "[a]pprove",
    "edit": "[e]dit",
    "regenerate": "[r]egenerate with a note",
    "reroll": "[r]eroll a shot",
    "reject": "re[j]ect with a note",
    "abort": "e[x]it and abort the run",
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
        return "\n".join(lines)
    lines = [
        f"Beat {p['beat']} ({p['beat_name']}), {p['beat_number']} of {p['beats']}: {p['summary']}",
        f"Contact sheet: {p['contact_sheet']}",
    ]
    for shot in p["shots"]:
        mark = (
            f"  [below threshold: {', '.join(shot['failed']) or 'flagged'}]"
            if shot["flagged"]
            else ""
        )
        lines.append(f"  {shot['id']}  {shot['keyframe']}{mark}")
        for slot, text in shot["prompt"].items():
            edited = " (yours)" if slot in shot["edited"] else ""
            lines.append(f"        {slot}{edited}: {text}")
    return "\n".join(lines)


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
        f"  director approve {run} --abort                           stop the run\n"
        f"then: director resume {run}"
    )


class Asker:
    """Asks at each checkpoint on the terminal; the runner calls it with what is pending."""

    def __init__(self, open_sheet: bool = False) -> None:
        self.open_sheet = open_sheet

    def __call__(self, pending: Pending) -> dict[str, Any]:
        click.echo("\n" + describe(pending), err=True)
        if self.open_sheet and pending.payload.get("contact_sheet"):
            click.launch(pending.payload["contact_sheet"])
        beats = pending.payload["checkpoint"] == "beats"
        keys = BEAT_KEYS if beats else SHOT_KEYS
        decision = _choose(keys)
        answer: dict[str, Any] = {"decision": decision}
        if beats and decision == "edit":
            answer.update(self._beat_edit(pending))
        elif not beats and decision in ("reroll", "edit"):
            answer["shot"] = _pick("Shot", [s["id"] for s in pending.payload["shots"]])
            if decision == "edit":
                answer.update(self._slot_edit(pending, answer["shot"]))
        elif decision in ("regenerate", "reject"):
            if decision == "reject":
                ids = [s["id"] for s in pending.payload["shots"]]
                shot = _pick("Shot (Enter: every shot of the beat)", ["", *ids], default="")
                answer.update({"shot": shot} if shot else {})
            answer["note"] = click.prompt("Note", err=True).strip()
        return human(answer)

    def _beat_edit(self, pending: Pending) -> dict[str, Any]:
        beat_id = _pick("Beat", [b["id"] for b in pending.payload["beats"]])
        field = _pick("Field", list(BEAT_FIELDS), default="summary")
        beat = next(b for b in pending.payload["beats"] if b["id"] == beat_id)
        return {"beat": beat_id, "field": field, "text": _text(beat[field])}

    def _slot_edit(self, pending: Pending, shot_id: str) -> dict[str, Any]:
        slot = _pick("Slot", list(SLOTS), default="action")
        shot = next(s for s in pending.payload["shots"] if s["id"] == shot_id)
        return {"slot": slot, "text": _text(shot["prompt"][slot])}


def _choose(keys: dict[str, str]) -> str:
    menu = "  ".join(LABELS[v] for v in keys.values())
    click.echo(f"{menu}   (Ctrl-C: stop here, resumable)", err=True)
    while True:
        key = click.getchar().lower()
        if key in ("\x03", "\x04"):
            raise KeyboardInterrupt
        if key in keys:
            click.echo(f"> {keys[key]}", err=True)
            return keys[key]


def _pick(label: str, choices: list[str], default: str | None = None) -> str:
    return click.prompt(
        label, type=click.Choice(choices), default=default, show_choices=True, err=True
    )


def _text(current: str) -> str:
    """New text: typed inline (Enter keeps the current one), or written in $EDITOR."""
    click.echo(f"Now: {current}", err=True)
    click.echo("[i]nline or [v] in $EDITOR?", err=True)
    while (key := click.getchar().lower()) not in ("i", "v"):
        if key in ("\x03", "\x04"):
            raise KeyboardInterrupt
    if key == "v":
        edited = click.edit(current)
        return (edited or current).strip()
    return click.prompt("New text", default=current, err=True).strip()
