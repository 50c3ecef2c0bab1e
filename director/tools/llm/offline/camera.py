"""The camera and the cuts: each shot's size, angle and move from its moment, the film's last
move, and the transitions between shots (a crossfade where time passes inside a beat, a fade to
black after some beats, each checked against both shots' lengths, and a plain cut to end on)."""

from __future__ import annotations

import random

from director.tools.llm.offline.moments import _Draft, _Moment


def _size(role: str, position: float) -> str:
    sizes = {
        "establishing": ("extreme-wide", "wide"),
        "wide": ("wide", "full"),
        "medium": ("medium", "medium-close-up"),
        "close-up": ("medium-close-up", "close-up"),
        "reaction": ("medium-close-up", "close-up"),
        "insert": ("insert", "insert"),
    }
    wider, closer = sizes[role]
    return closer if position >= 0.5 else wider


def _angle(moment: _Moment, who: str, vulnerable: bool, rng: random.Random) -> str:
    """Low for the threatening force and the protagonist's stand; high when they are vulnerable."""
    if who == "force" or moment.act in ("defy", "rise"):
        return "low-angle"
    if moment.role == "establishing":
        return rng.choice(["birds-eye", "high-angle", "eye-level"])
    if moment.role == "insert":
        return rng.choice(["high-angle", "eye-level"])
    if who == "hero" and vulnerable and moment.role in ("wide", "medium"):
        return "high-angle"
    if moment.act == "react" and vulnerable and rng.random() < 0.3:
        return "dutch"
    if moment.act == "look":
        return "over-the-shoulder"
    return "eye-level"


def _move(moment: _Moment, size: str, previous: _Draft | None, rng: random.Random) -> str:
    """One move per shot, never the same size and move as the shot before."""
    options = {
        "establishing": ["pan-right", "pan-left", "tilt-down", "pull-out"],
        "wide": ["tracking", "pan-right", "pan-left", "static"],
        "medium": ["static", "push-in"],
        "close-up": ["push-in", "static"],
        "reaction": ["push-in", "static"],
        "insert": ["static", "tilt-down", "push-in"],
    }[moment.role]
    if moment.act == "arrive":
        options = ["tilt-up", "push-in", "static"]
    elif moment.act in ("walk", "carry"):
        options = ["tracking", "pan-left", "pan-right"]
    choices = [m for m in options if not previous or (previous.size, previous.move) != (size, m)]
    return rng.choice(choices or ["static"])


def _transitions(drafts: list[_Draft], fade_after: bool, rng: random.Random) -> None:
    """Cuts, a crossfade where time passes inside the beat, a fade to black after some beats."""
    for a, b in zip(drafts, drafts[1:], strict=False):
        if b.moment.cycle != a.moment.cycle:
            _set_transition(a, b, "crossfade", rng.choice([50, 60, 75]))
    if fade_after:
        drafts[-1].transition, drafts[-1].transition_cs = "fade-black", 100


def _finish_transitions(drafts: list[_Draft]) -> None:
    """Check each transition against both shots' lengths; the film ends on a plain cut."""
    for a, b in zip(drafts, drafts[1:], strict=False):
        if a.transition != "cut":
            _set_transition(a, b, a.transition, a.transition_cs)
        if a.transition != "cut" or a.place != b.place:
            b.continuous = False
    drafts[-1].transition, drafts[-1].transition_cs = "cut", 0


def _final_move(drafts: list[_Draft]) -> None:
    """The film's last shot pulls out; the shot before gives way if it pulled out the same."""
    last = drafts[-1]
    if last.moment.role == "insert":
        return
    last.move = "pull-out"
    if len(drafts) > 1 and (drafts[-2].size, drafts[-2].move) == (last.size, last.move):
        earlier = drafts[-3] if len(drafts) > 2 else None
        for move in ("static", "push-in", "pan-left"):
            if not earlier or (earlier.size, earlier.move) != (drafts[-2].size, move):
                drafts[-2].move = move
                break


def _set_transition(a: _Draft, b: _Draft, kind: str, cs: int) -> None:
    limit = int(0.4 * min(a.duration_cs, b.duration_cs))
    if cs > limit:
        kind, cs = ("crossfade", min(75, limit)) if limit >= 50 else ("cut", 0)
    a.transition, a.transition_cs = kind, cs
