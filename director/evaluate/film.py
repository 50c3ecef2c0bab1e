"""What an evaluation reads from a run folder: the plan as the log left it, each shot's accepted
keyframe, the cast's reference images and the style anchors the gate compared with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from director.errors import InputError
from director.memory.events import read_events
from director.memory.runs import RunPaths
from director.records import Attempt, Shot
from director.replay.record import RunRecord, fold


@dataclass(frozen=True)
class ShotFrame:
    """A shot and the keyframe the film kept for it (None when the run accepted none)."""

    shot: Shot
    attempt: Attempt | None
    path: Path | None


@dataclass
class Film:
    paths: RunPaths
    record: RunRecord
    frames: list[ShotFrame]
    cast: dict[str, list[str]] = field(default_factory=dict)
    anchors: list[str] = field(default_factory=list)
    anchors_from: str = ""

    @property
    def run_id(self) -> str:
        return self.paths.run_id

    @property
    def title(self) -> str:
        story = self.record.story
        return story.title if story else self.run_id

    @property
    def accepted(self) -> list[ShotFrame]:
        return [f for f in self.frames if f.path is not None]

    def option(self, name: str, default=None):
        started = self.record.started
        return started.options.get(name, default) if started else default


def read_film(paths: RunPaths) -> Film:
    """The run as an evaluation sees it; refuses a run that has no accepted keyframe."""
    record = fold(read_events(paths.events))
    if record.started is None:
        raise InputError(
            f"{paths.events} holds no run to evaluate (it is empty or lost its first event).",
            "Restore events.jsonl from a copy of the run folder.",
        )
    frames = [_frame(paths, record, shot) for shot in record.shots]
    film = Film(paths=paths, record=record, frames=frames)
    if not film.accepted:
        raise InputError(
            f"Run {paths.run_id} has no accepted keyframe to evaluate.",
            f"Approve or resume it first: director resume {paths.run_id}.",
        )
    film.cast = {
        c.name: list(c.references)
        for c in (record.story.protagonists if record.story else [])
        if c.references
    }
    film.anchors, film.anchors_from = style_anchors(film)
    return film


def _frame(paths: RunPaths, record: RunRecord, shot: Shot) -> ShotFrame:
    attempt = record.chosen_keyframe(shot.id)
    if attempt is None:
        return ShotFrame(shot, None, None)
    path = paths.root / attempt.artifact
    return ShotFrame(shot, attempt, path if path.is_file() else None)


def style_anchors(film: Film) -> tuple[list[str], str]:
    """The images the run's style check compared with, and where they came from: the
    ``--style-ref`` images; else the keyframe a human chose as the anchor at a checkpoint; else
    the first keyframe accepted clean, as the gate takes it."""
    given = [str(p) for p in film.option("style_refs", []) or []]
    if given:
        return given, "the run's --style-ref images"
    by_id = {f.shot.id: f for f in film.frames}
    chosen = [
        a.changes["style_anchor"]
        for a in film.record.approvals
        if isinstance(a.changes.get("style_anchor"), str)
    ]
    if chosen and chosen[-1] in by_id and by_id[chosen[-1]].path is not None:
        return [str(by_id[chosen[-1]].path)], f"shot {chosen[-1]}'s keyframe, chosen by a human"
    for shot_id, decision in _accepted_in_order(film.record):
        frame = by_id.get(shot_id)
        if decision == "accept" and frame is not None and frame.path is not None:
            return [str(frame.path)], f"shot {shot_id}'s keyframe, the first accepted clean"
    return [], ""


def _accepted_in_order(record: RunRecord) -> list[tuple[str, str]]:
    """(shot id, final keyframe action) in the order the shots were decided."""
    done = []
    for shot in record.shots:
        decision = record.final_decision(shot.id)
        if decision is not None:
            done.append((shot.id, decision.action))
    return done
