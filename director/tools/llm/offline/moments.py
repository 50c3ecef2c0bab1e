"""What a beat becomes before its shots are written: the structure functions it stands for, how
many shots it gets and how long each is, and the moments (act, role, place, cycle) those shots
show; with the records for a moment and for a drafted shot."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from director.errors import InputError
from director.records import Beat, BeatSheet, Language, Line
from director.tools.llm.language import load_data
from director.tools.llm.offline.beats import _functions, _structure, resolve_structure
from director.tools.llm.offline.common import MAX_SHOT_CS, MIN_SHOT_CS
from director.tools.llm.offline.kit import _Kit


@dataclass
class _Moment:
    act: str
    role: str
    place: str
    cycle: int = 0
    core: bool = False


@dataclass
class _Draft:
    """A shot before its line and transition are decided."""

    moment: _Moment
    beat: Beat
    place: str
    duration_cs: int
    subject: str
    action: str
    environment: str
    size: str
    angle: str
    move: str
    characters: list[str]
    continuous: bool = False
    line: Line | None = None
    transition: str = "cut"
    transition_cs: int = 0


def _beat_functions(beat: Beat, sheet: BeatSheet, language: Language) -> tuple[list[str], bool]:
    """The structure functions a beat stands for, from its name; by position when unknown."""
    try:
        entries = _structure(resolve_structure(sheet.structure, language))
    except InputError:
        entries = []
    by_name = {e["name"][lang].lower(): e for e in entries for lang in ("en", "zh")}
    pieces = re.split(r"\s*[/／]\s*", beat.name)
    matched = [by_name[p.lower()] for p in pieces if p.lower() in by_name]
    if matched:
        return [e["function"] for e in matched], matched[-1]["fade_after"]
    return [_function_by_position(beat, sheet)], False


def _function_by_position(beat: Beat, sheet: BeatSheet) -> str:
    middle = (beat.start_s + beat.duration_s / 2) / max(sheet.total_s, 0.01)
    for limit, function in ((0.2, "qi"), (0.5, "cheng"), (0.8, "zhuan")):
        if middle < limit:
            return function
    return "he"


def _shot_count(shot_cs: int, functions: list[str], runtime_s: float) -> int:
    """Shots for a beat: its functions' pace (quicker in very short films), each 3-8 s."""
    if shot_cs < MIN_SHOT_CS:
        return 1
    pace = sum(_functions().get(f, {}).get("pace", 4.5) for f in functions) / len(functions)
    pace *= min(1.0, max(0.7, runtime_s / 60))
    low, high = math.ceil(shot_cs / MAX_SHOT_CS), shot_cs // MIN_SHOT_CS
    return min(max(round(shot_cs / (pace * 100)), low), high)


def _partition(total: int, n: int, rng: random.Random) -> list[int]:
    """``n`` shot lengths of 3-8 s (in centiseconds), varied, summing exactly to ``total``."""
    if n == 1:
        return [total]
    weights = [rng.uniform(0.75, 1.3) for _ in range(n)]
    parts = [min(MAX_SHOT_CS, max(MIN_SHOT_CS, round(total * w / sum(weights)))) for w in weights]
    diff, i = total - sum(parts), 0
    while diff:
        j = i % n
        room = MAX_SHOT_CS - parts[j] if diff > 0 else MIN_SHOT_CS - parts[j]
        step = min(diff, room) if diff > 0 else max(diff, room)
        parts[j] += step
        diff -= step
        i += 1
    return parts


def _moments(
    kit: _Kit, beat: Beat, functions: list[str], n: int, new_place: bool, ending: bool
) -> list[_Moment]:
    """The beat's moments: its script (core moments first when short), then cycles when long."""
    data = _functions()
    role = next((r for r, p in kit.places.items() if p == beat.location), "")
    first = [
        _Moment(m["act"], m["role"], role, 0, m.get("core", False))
        for f in functions
        for m in data.get(f, data["cheng"])["script"]
    ]
    first = [_fit(m) for m in first]
    if new_place and first[0].act != "establish" and n >= 3:
        first.insert(0, _Moment("establish", "establishing", role, 0, True))
    if n > len(first):
        cycles = data.get(functions[0], data["cheng"])["cycles"]
        chosen = first + _cycles(cycles, n - len(first), role)
    else:
        chosen = _select(first, n, ending)
    if new_place and chosen[0].role not in ("establishing", "wide"):
        chosen[0].role = "wide"
    if ending and n >= 3 and chosen[-1].act != "establish":
        # The final image answers the opening one: the home, wide, as the camera pulls away.
        chosen[-1] = _Moment("establish", "establishing", "home", chosen[-1].cycle)
    return chosen


def _fit(moment: _Moment) -> _Moment:
    """Swap acts that make no sense in the refuge (the force does not come indoors)."""
    if moment.place == "refuge":
        swap = {
            "arrive": "look",
            "strike": "react",
            "turn": "hope",
            "damage": "detail",
            "carry": "rest",
            "watch": "look",
        }
        moment.act = swap.get(moment.act, moment.act)
    elif moment.act == "rest":
        moment.act = "look"
    return moment


def _select(moments: list[_Moment], n: int, ending: bool) -> list[_Moment]:
    """Keep ``n`` moments in order: core moments first (spread out when too many).

    A one-shot beat keeps its first core moment, or its last at the end of the film."""
    cores = [i for i, m in enumerate(moments) if m.core] or list(range(len(moments)))
    if n == 1:
        return [moments[cores[-1] if ending else cores[0]]]
    if len(cores) >= n:
        picked = {cores[round(j * (len(cores) - 1) / max(n - 1, 1))] for j in range(n)}
    else:
        picked = set(cores)
        for i in range(len(moments)):
            if len(picked) < n:
                picked.add(i)
    return [moments[i] for i in sorted(picked)]


def _cycles(names: list[str], count: int, place: str) -> list[_Moment]:
    """Further moments for a long beat: cycles in turn, each opening on its place, time passing.

    Fewer than three moments left do not start a new cycle: they extend the current one."""
    cycles = load_data("structures.json")["cycles"]
    out: list[_Moment] = []
    k, previous = 0, place
    while len(out) < count:
        left = count - len(out)
        if left < 3:
            cycle = cycles[names[max(k - 1, 0) % len(names)]]
            where = cycle["place"] if k else place
            out += [_fit(_Moment(m["act"], m["role"], where, k)) for m in cycle["script"][-left:]]
            break
        k += 1
        cycle = cycles[names[(k - 1) % len(names)]]
        if cycle["place"] != previous:
            out.append(_Moment("establish", "establishing", cycle["place"], k))
        out += [_fit(_Moment(m["act"], m["role"], cycle["place"], k)) for m in cycle["script"]]
        previous = cycle["place"]
    return out[:count]
