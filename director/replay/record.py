"""Fold a run's event log into one record the workflow document is written from."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from director.records import (
    Approval,
    AssemblyStep,
    Attempt,
    AttemptMade,
    BeatSheet,
    BeatSheetPlanned,
    BiblePlanned,
    Cards,
    CheckResult,
    CostIncurred,
    Critique,
    CritiqueMade,
    Decision,
    DecisionMade,
    ErrorRaised,
    LLMCallMade,
    PlannerNotice,
    RunFinished,
    RunResumed,
    RunStarted,
    Shot,
    ShotListPlanned,
    ShotsReplanned,
    StageFinished,
    Story,
    StoryDeveloped,
    StyleBible,
)
from director.records.events import LineFitted, LoudnessMeasured, VoiceLineSpoken


@dataclass
class RunRecord:
    started: RunStarted | None = None
    finished: RunFinished | None = None
    story: Story | None = None
    beat_sheet: BeatSheet | None = None
    bible: StyleBible | None = None
    cards: Cards | None = None
    shots: list[Shot] = field(default_factory=list)
    planner: str = ""
    approvals: list[Approval] = field(default_factory=list)
    resumes: list[RunResumed] = field(default_factory=list)
    keyframes: dict[str, list[Attempt]] = field(default_factory=lambda: defaultdict(list))
    clips: dict[str, list[Attempt]] = field(default_factory=lambda: defaultdict(list))
    # (shot id, "keyframe" or "clip", attempt number) -> its critique
    critiques: dict[tuple[str, str, int], Critique] = field(default_factory=dict)
    decisions: dict[str, list[Decision]] = field(default_factory=lambda: defaultdict(list))
    assembly: list[AssemblyStep] = field(default_factory=list)
    costs: list[CostIncurred] = field(default_factory=list)
    llm_calls: list[LLMCallMade] = field(default_factory=list)
    errors: list[ErrorRaised] = field(default_factory=list)
    stops: list[ErrorRaised] = field(default_factory=list)  # Ctrl-C: stopped, not failed
    stages: dict[str, float] = field(default_factory=dict)
    # shot id -> (the keyframe attempt a human sent back, their approval): reroll, edit, reject
    sent_back: dict[str, list[tuple[int, Approval]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    notices: list[PlannerNotice] = field(default_factory=list)
    # the lines spoken in the film as last assembled, by shot id; and its sound measured
    voice_lines: dict[str, VoiceLineSpoken] = field(default_factory=dict)
    loudness: LoudnessMeasured | None = None
    doc_lang: str | None = None  # the document's language, as a resume last changed it
    line_fits: list[LineFitted] = field(default_factory=list)  # lines fitted or flagged

    def spoken(self) -> list[VoiceLineSpoken]:
        order = {s.id: i for i, s in enumerate(self.shots)}
        return sorted(
            self.voice_lines.values(), key=lambda e: (order.get(e.shot_id, 1e9), e.start_s)
        )

    def not_run(self, kind: str | None = None) -> dict[tuple[str, str], list[str]]:
        """Checks that did not run, by (check, reason): the shots of each attempt so skipped."""
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (shot_id, of_kind, _), critique in self.critiques.items():
            if kind in (None, of_kind):
                for c in critique.checks:
                    if c.passed is None:
                        found[(c.name, c.reason)].append(shot_id)
        return dict(found)

    def never_ran(self, kind: str) -> dict[str, str]:
        """The checks of one kind that ran on no attempt, each with its one reason (a check
        skipped for several reasons is not here: its rows say why)."""
        ran = {
            c.name
            for (_, of_kind, _), crit in self.critiques.items()
            if of_kind == kind
            for c in crit.checks
            if c.passed is not None
        }
        reasons: dict[str, set[str]] = defaultdict(set)
        for name, reason in self.not_run(kind):
            if name not in ran:
                reasons[name].add(reason)
        return {n: next(iter(r)) for n, r in reasons.items() if len(r) == 1}

    def final_decision(self, shot_id: str, kind: str = "keyframe") -> Decision | None:
        done = [d for d in self.ladder(shot_id, kind) if d.action not in ("reroll", "skip")]
        return done[-1] if done else None

    def ladder(self, shot_id: str, kind: str = "keyframe") -> list[Decision]:
        """The shot's decisions for one kind of attempt, in the order they were made."""
        return [d for d in self.decisions.get(shot_id, []) if d.kind == kind]

    def chosen_keyframe(self, shot_id: str) -> Attempt | None:
        decision = self.final_decision(shot_id)
        if decision is None:
            return None
        return next((a for a in self.keyframes[shot_id] if a.number == decision.attempt), None)

    def by_hand(self) -> list[tuple[Shot, Attempt]]:
        """The shots whose chosen keyframe the creator made (director approve --replace)."""
        found = [(s, self.chosen_keyframe(s.id)) for s in self.shots]
        return [(s, a) for s, a in found if a is not None and a.made_by == "human"]

    def thresholds(self) -> list[tuple[CheckResult, list[str]]]:
        """Each threshold as it was applied: one entry per check, threshold and direction seen
        (a threshold changed on resume is a second entry), with the shots it judged, in the
        order first met."""
        seen: dict[tuple, tuple[CheckResult, list[str]]] = {}
        for (shot_id, _, _), critique in self.critiques.items():
            for check in critique.checks:
                if check.threshold is None:
                    continue
                key = (check.name, check.threshold, check.higher_is_better)
                shots = seen.setdefault(key, (check, []))[1]
                if shot_id not in shots:
                    shots.append(shot_id)
        return list(seen.values())

    def check_names(self, kind: str | None = None) -> list[str]:
        names: dict[str, None] = {}
        for (_, of_kind, _), critique in self.critiques.items():
            if kind in (None, of_kind):
                names.update((c.name, None) for c in critique.checks)
        return list(names)

    def attempts(self, shot_id: str, kind: str = "keyframe") -> list[Attempt]:
        return (self.keyframes if kind == "keyframe" else self.clips).get(shot_id, [])

    def critique(self, shot_id: str, kind: str, number: int) -> Critique | None:
        return self.critiques.get((shot_id, kind, number))


def fold(events: list) -> RunRecord:
    record = RunRecord()
    for event in events:
        _HANDLERS.get(type(event), _ignore)(record, event)
    return record


def _ignore(record: RunRecord, event) -> None:
    return None


def _started(r: RunRecord, e: RunStarted) -> None:
    r.started = e


def _finished(r: RunRecord, e: RunFinished) -> None:
    r.finished = e


def _story(r: RunRecord, e: StoryDeveloped) -> None:
    r.story, r.planner = e.story, e.backend


def _beats(r: RunRecord, e: BeatSheetPlanned) -> None:
    r.beat_sheet = e.beat_sheet


def _bible(r: RunRecord, e: BiblePlanned) -> None:
    r.bible, r.cards = e.bible, e.cards


def _shots(r: RunRecord, e: ShotListPlanned) -> None:
    r.shots = e.shots


def _attempt(r: RunRecord, e: AttemptMade) -> None:
    """A node re-run after a crash logs a failed attempt again: the later record stands."""
    target = r.keyframes if e.attempt.kind == "keyframe" else r.clips
    kept = [a for a in target[e.attempt.shot_id] if a.number != e.attempt.number]
    target[e.attempt.shot_id] = [*kept, e.attempt]


def _critique(r: RunRecord, e: CritiqueMade) -> None:
    r.critiques[(e.critique.shot_id, e.critique.kind, e.critique.attempt)] = e.critique


def _decision(r: RunRecord, e: DecisionMade) -> None:
    made = r.decisions[e.decision.shot_id or ""]
    if e.decision not in made:  # the same decision again: a node re-run after a crash
        made.append(e.decision)


def _approval(r: RunRecord, e: Approval) -> None:
    """A human's edit changes the plan the rest of the document shows."""
    r.approvals.append(e)
    _sent_back(r, e)
    if e.decision != "edit":
        return
    if (e.checkpoint == "beats" or not e.shot_id) and r.beat_sheet is not None:
        beats = [
            b.model_copy(update=e.changes) if b.id == e.beat_id else b for b in r.beat_sheet.beats
        ]
        r.beat_sheet = r.beat_sheet.model_copy(update={"beats": beats})
    elif e.shot_id:
        r.shots = [_edited(s, e.changes) if s.id == e.shot_id else s for s in r.shots]


def _replanned(r: RunRecord, e: ShotsReplanned) -> None:
    """A beat's shots planned again after a human edited the beat: they take its place."""
    at = next((i for i, s in enumerate(r.shots) if s.beat_id == e.beat_id), len(r.shots))
    rest = [s for s in r.shots if s.beat_id != e.beat_id]
    r.shots = [*rest[:at], *e.shots, *rest[at:]]


def _notice(r: RunRecord, e: PlannerNotice) -> None:
    if all(n.said != e.said for n in r.notices):
        r.notices.append(e)


def _sent_back(r: RunRecord, e: Approval) -> None:
    """The keyframes a human rerolled, edited or rejected: the latest attempt of each shot
    named (or of every shot of the beat), which is the one the human was shown."""
    if e.checkpoint != "keyframes" or e.decision not in ("reroll", "edit", "reject"):
        return
    shots = [e.shot_id] if e.shot_id else [s.id for s in r.shots if s.beat_id == e.beat_id]
    for shot_id in shots:
        made = [a.number for a in r.keyframes.get(shot_id, [])]
        if made:
            r.sent_back[shot_id].append((max(made), e))


def _error(r: RunRecord, e: ErrorRaised) -> None:
    (r.stops if e.error_type == "KeyboardInterrupt" else r.errors).append(e)


def _edited(shot: Shot, changes: dict) -> Shot:
    prompt = shot.prompt.model_copy(update=changes)
    edited = sorted({*shot.edited_slots, *changes})
    return shot.model_copy(update={"prompt": prompt, "edited_slots": edited})


def _cost(r: RunRecord, e: CostIncurred) -> None:
    """A node re-run after a crash may log a job's cost again: it was paid once."""
    if not e.job_id or all(c.job_id != e.job_id for c in r.costs):
        r.costs.append(e)


def _resumed(r: RunRecord, e: RunResumed) -> None:
    r.resumes.append(e)
    if "doc_lang" in e.changed:
        r.doc_lang = e.changed["doc_lang"][1]
    r.finished = None  # a resumed run is finished again only by a later run_finished


def _line_fitted(r: RunRecord, e: LineFitted) -> None:
    """A shot lengthened at planning for its line, with the time taken from its beat's other
    shots; the same fit logged again by a node re-run after a crash is applied once."""
    key = e.model_dump(exclude={"seq", "ts"})
    if any(f.model_dump(exclude={"seq", "ts"}) == key for f in r.line_fits):
        return
    r.line_fits.append(e)
    change = {sid: -taken for sid, taken in e.taken.items()}
    change[e.shot_id] = e.shot_s - e.planned_s
    r.shots = [
        s.model_copy(update={"duration_s": round(s.duration_s + change[s.id], 2)})
        if change.get(s.id)
        else s
        for s in r.shots
    ]


def _stage(r: RunRecord, e: StageFinished) -> None:
    r.stages[e.stage] = r.stages.get(e.stage, 0.0) + e.seconds


_HANDLERS = {
    RunStarted: _started,
    RunFinished: _finished,
    StoryDeveloped: _story,
    BeatSheetPlanned: _beats,
    BiblePlanned: _bible,
    ShotListPlanned: _shots,
    ShotsReplanned: _replanned,
    PlannerNotice: _notice,
    AttemptMade: _attempt,
    CritiqueMade: _critique,
    DecisionMade: _decision,
    StageFinished: _stage,
    Approval: _approval,
    RunResumed: _resumed,
    AssemblyStep: lambda r, e: r.assembly.append(e),
    CostIncurred: _cost,
    LLMCallMade: lambda r, e: r.llm_calls.append(e),
    ErrorRaised: _error,
    VoiceLineSpoken: lambda r, e: r.voice_lines.__setitem__(e.shot_id, e),
    LoudnessMeasured: lambda r, e: setattr(r, "loudness", e),
    LineFitted: _line_fitted,
}
