"""The film as an editor sees it, read from a run's plan.json and events.jsonl: one video track
of the title card, the accepted clip of every shot at its planned in and out points, the end
card; the planned transitions; beat markers; subtitles; the voice lines and the music the film
was assembled with; and each shot's record (prompt slots, seed, model, scores).

Times are whole frames at the film's rate and follow the assembly exactly (see
``director.tools.assemble.film``): every part starts where the film shows it, and a crossfade
or fade through black begins at the cut and lasts into the next part, blending the outgoing
clip's tail handle (the frames after its out point) with the incoming part's first frames.
Every writer of a format reads this one model, so the formats agree with each other and with
the film.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from director.errors import InputError
from director.files import read_json_object
from director.memory.events import read_events
from director.memory.runs import RESTORE, RunPaths
from director.records import (
    AssemblyStep,
    AttemptMade,
    CritiqueMade,
    DecisionMade,
    Plan,
    RunStarted,
)
from director.records.events import VoiceLineSpoken
from director.records.judging import Attempt, Critique
from director.tools.assemble.subtitles import SubtitleEvent, subtitle_events, timeline

ACCEPTED = ("accept", "accept-below-threshold")
NARRATOR = "Narrator"


@dataclass
class Item:
    """One part of the video track: a card or a shot's clip."""

    name: str
    kind: str  # "card" or "shot"
    source: Path  # the media in the run (a card's is drawn when the export is written)
    record_in: int  # first frame on the film's timeline
    frames: int  # frames on screen
    source_in: int = 0  # first frame of the media used
    media_frames: int | None = None  # length of the media, when known
    transition: str = "cut"  # into the next item
    transition_frames: int = 0  # overlap into the next item, taken from this item's tail handle
    metadata: dict[str, Any] = field(default_factory=dict)
    media: str = ""  # the media's path relative to the export folder, set when packaged

    @property
    def record_out(self) -> int:
        return self.record_in + self.frames


@dataclass
class Marker:
    frame: int
    name: str
    note: str


@dataclass
class Music:
    source: Path
    frames: int  # the film's length: the film loops the music to fill it
    media: str = ""
    media_frames: int | None = None  # the music file's length, once packaged

    def pieces(self) -> list[tuple[int, int]]:
        """(start on the timeline, frames) of each pass through the music, looped as the film
        loops it until the film ends."""
        step = self.media_frames or self.frames
        return [(start, min(step, self.frames - start)) for start in range(0, self.frames, step)]


@dataclass
class Voice:
    """One spoken line on a voice track, where the film plays it."""

    name: str  # shot, speaker and line: what an editor reads on the clip
    speaker: str  # the track it goes on: the character, or "Narrator"
    source: Path
    record_in: int  # the frame the line starts on
    frames: int  # its length, rounded up to whole frames
    scratch: bool  # a scratch voice, for timing only
    metadata: dict[str, Any] = field(default_factory=dict)
    media: str = ""

    @property
    def record_out(self) -> int:
        return self.record_in + self.frames


@dataclass
class Timeline:
    run_id: str
    title: str
    fps: int
    width: int
    height: int
    items: list[Item]
    markers: list[Marker]
    subtitles: list[SubtitleEvent]
    music: Music | None
    label: str
    plan: Plan  # what the cards are drawn from
    metadata: dict[str, Any] = field(default_factory=dict)
    voices: list[Voice] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return self.items[-1].record_out

    @property
    def shots(self) -> list[Item]:
        return [i for i in self.items if i.kind == "shot"]

    def voice_tracks(self) -> list[tuple[str, list[Voice]]]:
        """The lines as tracks: one per speaker (the narrator's first), in order of first line;
        lines of one speaker that overlap go on a further track of theirs."""
        tracks: list[tuple[str, list[Voice]]] = []
        for voice in sorted(self.voices, key=lambda v: (v.speaker != NARRATOR, v.record_in)):
            lane = next(
                (
                    t
                    for s, t in tracks
                    if s == voice.speaker and t[-1].record_out <= voice.record_in
                ),
                None,
            )
            if lane is None:
                tracks.append((voice.speaker, lane := []))
            lane.append(voice)
        scratch = any(v.scratch for v in self.voices)
        return [(f"{s} (scratch voice)" if scratch else s, t) for s, t in tracks]


def build_timeline(paths: RunPaths, command: str = "export") -> Timeline:
    """The run's film as a timeline; a run that has no film yet is a one-line input error that
    names the ``command`` the user ran."""
    plan = _plan(paths, command)
    events = read_events(paths.events)
    fps = _fps(paths, events)
    items = _items(plan, paths, events, fps, command)
    return Timeline(
        run_id=paths.run_id,
        title=plan.cards.title,
        fps=fps,
        width=plan.bible.width,
        height=plan.bible.height,
        items=items,
        markers=_beat_markers(plan, items),
        subtitles=subtitle_events(plan, fps),
        music=_music(paths, events, items[-1].record_out),
        label=plan.cards.label.strip(),
        plan=plan,
        metadata={
            "run_id": paths.run_id,
            "logline": plan.story.logline,
            "language": plan.story.language,
        },
        voices=_voices(plan, paths, events, fps),
    )


# --- the plan and the run's options ---------------------------------------------------------


def _plan(paths: RunPaths, command: str) -> Plan:
    if not paths.film.is_file() or not paths.plan_json.is_file():
        raise InputError(
            f"Run {paths.run_id} has no film yet, so there is nothing to {command}.",
            f"Finish it first (director resume {paths.run_id}), then {command} it.",
        )
    data = read_json_object(paths.plan_json, f"Run {paths.run_id}'s plan", RESTORE)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"Run {paths.run_id}'s plan {paths.plan_json} is not a plan.", RESTORE
        ) from exc
    if plan.cards is None or plan.bible is None or not plan.shots:
        raise InputError(
            f"Run {paths.run_id}'s plan has no shot list yet, so there is nothing to {command}.",
            f"Finish it first (director resume {paths.run_id}), then {command} it.",
        )
    return plan


def _fps(paths: RunPaths, events: list) -> int:
    """The film's rate, as the run was started with it (24 unless set)."""
    options = {}
    if paths.run_json.exists():
        options = read_json_object(paths.run_json, "The run's record", RESTORE).get("options", {})
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    fps = options.get("fps") or (started.options.get("fps") if started else None) or 24
    return int(fps)


# --- the video track ------------------------------------------------------------------------


def _items(plan: Plan, paths: RunPaths, events: list, fps: int, command: str) -> list[Item]:
    bounds = timeline(plan, fps)
    onscreen = [b - a for a, b in pairwise(bounds)]
    records = _shot_records(plan, events, paths, command)
    items = [
        Item("Title card", "card", Path("title"), bounds[0], onscreen[0], media_frames=onscreen[0])
    ]
    for i, shot in enumerate(plan.shots, start=1):
        record = records[shot.id]
        items.append(
            Item(
                name=f"{shot.id} {shot.prompt.action}".strip()[:80],
                kind="shot",
                source=paths.root / record["clip"]["artifact"],
                record_in=bounds[i],
                frames=onscreen[i],
                metadata=record,
            )
        )
    items.append(
        Item("End card", "card", Path("end"), bounds[-2], onscreen[-1], media_frames=onscreen[-1])
    )
    _transitions(plan, items, fps)
    return [item for item in items if item.frames > 0]


def _transitions(plan: Plan, items: list[Item], fps: int) -> None:
    """Each shot's planned transition into the next part, clamped as the assembly clamps it:
    never longer than the part it blends into."""
    for i, shot in enumerate(plan.shots, start=1):
        if shot.transition == "cut":
            continue
        frames = max(0, min(round(shot.transition_s * fps), items[i + 1].frames))
        if frames:
            items[i].transition, items[i].transition_frames = shot.transition, frames


def _shot_records(
    plan: Plan, events: list, paths: RunPaths, command: str
) -> dict[str, dict[str, Any]]:
    """Per shot: the accepted keyframe and clip attempts, the clip's critique, the decision."""
    attempts = {
        (e.attempt.shot_id, e.attempt.kind, e.attempt.number): e.attempt
        for e in events
        if isinstance(e, AttemptMade)
    }
    critiques = {
        (e.critique.shot_id, e.critique.kind, e.critique.attempt): e.critique
        for e in events
        if isinstance(e, CritiqueMade)
    }
    accepted: dict[tuple[str, str], Any] = {}
    for e in events:
        d = e.decision if isinstance(e, DecisionMade) else None
        if d is not None and d.shot_id and d.action in ACCEPTED and d.attempt is not None:
            accepted[(d.shot_id, d.kind)] = d  # the last word on a shot wins (a redo replaces it)
    records = {}
    for shot in plan.shots:
        clip = _accepted_attempt(shot.id, "clip", accepted, attempts, paths, command)
        keyframe = _accepted_attempt(
            shot.id, "keyframe", accepted, attempts, paths, command, required=False
        )
        decision = accepted.get((shot.id, "clip"))
        records[shot.id] = {
            "shot_id": shot.id,
            "beat_id": shot.beat_id,
            "prompt": shot.prompt.slots(),
            "negative_prompt": shot.prompt.render_negative(),
            "line": shot.line.model_dump(mode="json") if shot.line else None,
            "duration_s": shot.duration_s,
            "transition": shot.transition,
            "clip": _attempt_record(clip, critiques.get((shot.id, "clip", clip.number))),
            "keyframe": _attempt_record(
                keyframe, critiques.get((shot.id, "keyframe", keyframe.number))
            )
            if keyframe
            else None,
            "decision": {"action": decision.action, "by": decision.by, "reason": decision.reason}
            if decision
            else None,
        }
    return records


def _accepted_attempt(
    shot_id: str,
    kind: str,
    accepted: dict,
    attempts: dict,
    paths: RunPaths,
    command: str,
    *,
    required: bool = True,
) -> Attempt | None:
    """The attempt the run accepted for a shot, else its latest one that left a file."""
    decision = accepted.get((shot_id, kind))
    found = attempts.get((shot_id, kind, decision.attempt)) if decision else None
    if found is None:
        made = [a for (s, k, _), a in attempts.items() if s == shot_id and k == kind]
        found = max(made, key=lambda a: a.number) if made else None
    if found is not None and (paths.root / found.artifact).is_file():
        return found
    if not required:
        return None
    raise InputError(
        f"Run {paths.run_id} has no {kind} on disk for shot {shot_id}, so director {command} "
        "cannot use it.",
        f"Finish or redo the run (director resume {paths.run_id}), then {command} it.",
    )


def _attempt_record(attempt: Attempt, critique: Critique | None) -> dict[str, Any]:
    record = {
        "attempt": attempt.number,
        "backend": attempt.backend,
        "model": attempt.model,
        "seed": attempt.seed,
        "prompt": attempt.prompt,
        "artifact": attempt.artifact,
        "sha256": attempt.sha256,
        "made_by": attempt.made_by,
        "params": attempt.params,
    }
    if critique is not None:
        record["verdict"] = critique.verdict
        record["scores"] = {
            c.name: {"score": c.score, "threshold": c.threshold, "passed": c.passed}
            for c in critique.checks
        }
    return record


# --- markers and music ----------------------------------------------------------------------


def _beat_markers(plan: Plan, items: list[Item]) -> list[Marker]:
    """One marker where each beat's first shot starts: the cut an editor looks for."""
    markers, seen = [], set()
    beats = {b.id: b for b in plan.beat_sheet.beats}
    for item in items:
        beat_id = item.metadata.get("beat_id")
        if item.kind != "shot" or beat_id in seen or beat_id not in beats:
            continue
        seen.add(beat_id)
        beat = beats[beat_id]
        markers.append(Marker(item.record_in, f"{beat.id} {beat.name}", beat.summary))
    return markers


def _music(paths: RunPaths, events: list, frames: int) -> Music | None:
    """The music of the film as last assembled: the ``-stream_loop`` input of its ffmpeg step."""
    steps = [e for e in events if isinstance(e, AssemblyStep) and e.step == "film"]
    if not steps:
        return None
    argv = steps[-1].command
    for i, arg in enumerate(argv[:-3]):
        if arg == "-stream_loop" and argv[i + 2] == "-i":
            path = Path(argv[i + 3])
            return Music(path if path.is_absolute() else paths.root / path, frames)
    return None


# --- voices ---------------------------------------------------------------------------------


def _voices(plan: Plan, paths: RunPaths, events: list, fps: int) -> list[Voice]:
    """The lines the film was last assembled with: each shot's last spoken line whose file is
    an input of the film's ffmpeg step, at the frame the film plays it."""
    steps = [e for e in events if isinstance(e, AssemblyStep) and e.step == "film"]
    if not steps:
        return []
    heard = {Path(a) for a in steps[-1].command}
    spoken = {e.shot_id: e for e in events if isinstance(e, VoiceLineSpoken)}
    shots = {s.id for s in plan.shots}
    voices = []
    for shot_id, line in spoken.items():
        path = Path(line.path)
        if shot_id not in shots or not ({path, paths.root / path} & heard):
            continue
        speaker = (line.speaker or "").strip() if line.kind == "dialogue" else ""
        speaker = speaker or NARRATOR
        voices.append(
            Voice(
                name=f"{shot_id} {speaker}: {line.text}"[:80],
                speaker=speaker,
                source=paths.root / path,
                record_in=round(line.start_s * fps),
                frames=max(1, math.ceil(line.duration_s * fps - 1e-6)),  # never cut short
                scratch=line.scratch,
                metadata={
                    "kind": "voice",
                    "shot_id": shot_id,
                    "line": line.kind,
                    "speaker": line.speaker,
                    "text": line.text,
                    "voice": line.voice,
                    "backend": line.backend,
                    "model": line.model,
                    "scratch": line.scratch,
                    "start_s": line.start_s,
                    "duration_s": line.duration_s,
                    "fits": line.fits,
                },
            )
        )
    return sorted(voices, key=lambda v: v.record_in)
