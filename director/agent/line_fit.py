"""Lines fitted to their shots at planning, before any keyframe is paid for: a spoken line
longer than its shot lengthens the shot within its beat, taking the time from the beat's other
shots (the beat, and so the film, keeps its length); a line the beat cannot make room for is
flagged for the human at the beat's checkpoint. A line is never cut off: one flagged plays on
into the next shot, and assembly flags it again with the voice's real length.

Bounds (FILMCRAFT.md, Pacing): no shot is made shorter than 3 s, the planners' shortest; none is
lengthened past 10 s, the long end of a contemplative film's holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from director.records import Plan, Shot
from director.records.events import LineFitted
from director.tools.voice.pace import spoken_seconds

MIN_SHOT_CS = 300
MAX_SHOT_CS = 1000
TAIL_CS = 30  # a breath after the line, before the cut


@dataclass
class Fit:
    """One line that did not fit its shot as planned, and what was done."""

    shot: Shot
    needed_cs: int
    planned_cs: int
    shot_cs: int = 0
    taken: dict[str, int] = field(default_factory=dict)
    said: str = ""

    @property
    def fits(self) -> bool:
        return self.shot_cs >= self.needed_cs

    def event(self) -> LineFitted:
        return LineFitted(
            shot_id=self.shot.id,
            beat_id=self.shot.beat_id,
            text=self.shot.line.text,
            needed_s=self.needed_cs / 100,
            planned_s=self.planned_cs / 100,
            shot_s=self.shot_cs / 100,
            taken={k: v / 100 for k, v in self.taken.items()},
            fits=self.fits,
            said=self.said,
        )


def needed_cs(shot: Shot) -> int:
    """The time a shot's line needs, in centiseconds: 0 for a shot with no line."""
    if shot.line is None or not shot.line.text.strip():
        return 0
    return round(spoken_seconds(shot.line.text) * 100) + TAIL_CS


def fit_lines(plan: Plan, run_id: str, beat_ids: list[str] | None = None) -> tuple[Plan, list[Fit]]:
    """The plan with its shots' lengths changed so its lines fit (only the beats named, or
    every beat), and each line that did not fit as planned; ``run_id`` names the run in what
    the human is told to do."""
    lengths = {s.id: _cs(s.duration_s) for s in plan.shots}
    fits: list[Fit] = []
    for beat in plan.beat_sheet.beats:
        if beat_ids is None or beat.id in beat_ids:
            fits += _fit_beat([s for s in plan.shots if s.beat_id == beat.id], lengths, run_id)
    shots = [
        s.model_copy(update={"duration_s": lengths[s.id] / 100})
        if lengths[s.id] != _cs(s.duration_s)
        else s
        for s in plan.shots
    ]
    return plan.model_copy(update={"shots": shots}), fits


def _fit_beat(shots: list[Shot], lengths: dict[str, int], run_id: str) -> list[Fit]:
    needs = {s.id: needed_cs(s) for s in shots}
    fits = []
    for shot in shots:
        if needs[shot.id] <= lengths[shot.id]:
            continue
        fit = Fit(shot, needs[shot.id], lengths[shot.id])
        _lengthen(fit, [s for s in shots if s.id != shot.id], needs, lengths, run_id)
        fit.shot_cs = lengths[shot.id]
        fits.append(fit)
    return fits


def _lengthen(
    fit: Fit, others: list[Shot], needs: dict[str, int], lengths: dict[str, int], run_id: str
) -> None:
    """Take what the line lacks from the other shots, each in proportion to what it can spare;
    when they cannot spare it all (or no shot may be that long), change nothing and say so."""
    sid, beat = fit.shot.id, fit.shot.beat_id
    lack = fit.needed_cs - lengths[sid]
    spare = {s.id: lengths[s.id] - max(MIN_SHOT_CS, needs[s.id]) for s in others}
    spare = {k: v for k, v in spare.items() if v > 0}
    needed = _s(fit.needed_cs)
    if fit.needed_cs > max(MAX_SHOT_CS, lengths[sid]):
        fit.said = (
            f"The line of {sid} needs about {needed} s spoken, longer than a shot may hold "
            f"({_s(MAX_SHOT_CS)} s); it plays on into the next shot. {_fix(run_id)}"
        )
        return
    if sum(spare.values()) < lack:
        fit.said = (
            f"The line of {sid} needs about {needed} s spoken and its shot has "
            f"{_s(lengths[sid])} s; the other shots of beat {beat} can spare only "
            f"{_s(sum(spare.values()))} s (each keeps {_s(MIN_SHOT_CS)} s and its own line's "
            f"time), so it plays on into the next shot. {_fix(run_id)}"
        )
        return
    fit.taken = _shares(lack, spare)
    for other, cs in fit.taken.items():
        lengths[other] -= cs
    lengths[sid] += lack
    given = ", ".join(f"{_s(cs)} s from {other}" for other, cs in fit.taken.items())
    fit.said = (
        f"The line of {sid} needs about {needed} s spoken: its shot was lengthened from "
        f"{_s(fit.planned_cs)} s to {_s(lengths[sid])} s, taking {given}; beat {beat} keeps "
        "its length."
    )


def _fix(run_id: str) -> str:
    return (
        f"Shorten the line: its text in plan.json, then director resume {run_id} --from "
        "assembly once the film is made."
    )


def _shares(total: int, spare: dict[str, int]) -> dict[str, int]:
    """``total`` split over the shots in proportion to what each can spare, never above it."""
    whole = sum(spare.values())
    shares = {k: min(v, total * v // whole) for k, v in spare.items()}
    for k in sorted(spare, key=lambda k: spare[k] - shares[k], reverse=True):
        extra = min(total - sum(shares.values()), spare[k] - shares[k])
        shares[k] += extra
    return {k: v for k, v in shares.items() if v > 0}


def _cs(seconds: float) -> int:
    return round(seconds * 100)


def _s(cs: int) -> str:
    return f"{cs / 100:g}"


def fitted(ctx, plan: Plan, beat_ids: list[str] | None = None) -> Plan:
    """The run's plan with its lines fitted and each fit logged, when the run speaks its lines
    (--voice); a silent run's lines are subtitles, timed to be read by the planner itself."""
    if not speaks(ctx):
        return plan
    plan, fits = fit_lines(plan, ctx.paths.run_id, beat_ids)
    for fit in fits:
        ctx.log.append(fit.event())
    return plan


def flagged(ctx, plan: Plan, beat_id: str) -> list[str]:
    """What the human is told at the beat's checkpoint: each line of the beat that still runs
    past its shot (fitting a fitted plan changes nothing and finds just these)."""
    if not speaks(ctx):
        return []
    return [f.said for f in fit_lines(plan, ctx.paths.run_id, [beat_id])[1]]


def speaks(ctx) -> bool:
    from director.registry import split_spec

    return split_spec(getattr(ctx.options, "voice", "none") or "none")[0] != "none"
