"""Clips conditioned on the characters' reference photos: on every clip of a shot with a cast
member in frame (a reference-to-video model), or from the ladder's reference rung."""

from __future__ import annotations

from pathlib import Path

import skimage.data as skdata
from PIL import Image

from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.memory.events import read_events
from director.records import AttemptMade, CheckResult, DecisionMade
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from director.tools.base import ClipRequest
from director.tools.video.previz import PrevizVideo
from tests.conftest import make_plan


class ReferenceVideo(PrevizVideo):
    """Previz clips from a backend that takes reference photos; it records every request."""

    name = "refvideo"
    accepts_references = True

    def __init__(self, always: bool) -> None:
        super().__init__()
        self.references_always = always
        self.requests: list[ClipRequest] = []

    def submit(self, request: ClipRequest):
        self.requests.append(request)
        job = super().submit(request)
        job.params["references"] = list(request.references)
        return job


class IdentityClipGate:
    """Fails identity on the first ``failures`` clips of shot s001, passes everything else."""

    def __init__(self, failures: int) -> None:
        self.failures, self.seen = failures, 0

    def check_clip(self, clip_path, shot, previous, context) -> list[CheckResult]:
        failing = False
        if shot.id == "s001":
            self.seen += 1
            failing = self.seen <= self.failures
        check = CheckResult(
            name="identity",
            score=0.2 if failing else 0.9,
            threshold=0.4,
            passed=not failing,
            reason="Mara's face drifts" if failing else "ok",
        )
        return [check]


def _photo(tmp_path: Path) -> Path:
    photo = tmp_path / "mara.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    return photo


def _run(tmp_path: Path, video: ReferenceVideo, gate: IdentityClipGate | None = None):
    options = resolve(
        {
            "logline": "Mara defends the last garden from robots",
            "minutes": 0.25,
            "size": "320x180",
            "max_attempts": 6,
            "runs_dir": str(tmp_path),
            "run_id": "r",
            "yes": True,
            "character": [f"Mara={_photo(tmp_path)}"],
        }
    )
    backends = {
        "planner": ScriptedPlanner(make_plan(3)),
        "image": SolidImage(),
        "video": video,
        "critics": [ScriptedCritic({})],  # keyframes pass at once: the clips are under test
    }
    if gate is not None:
        backends["clip_gate"] = gate
    return start_run(options, backends=backends)


def test_a_reference_to_video_model_gets_the_cast_photos_on_every_clip(tmp_path):
    video = ReferenceVideo(always=True)
    result = _run(tmp_path, video)
    assert result.paths.film.exists()
    photo = str(tmp_path / "mara.png")
    assert len(video.requests) == 3
    assert all(r.references == [photo] and r.reference_names == ["Mara"] for r in video.requests)
    clips = [
        e.attempt
        for e in read_events(result.paths.events)
        if isinstance(e, AttemptMade) and e.attempt.kind == "clip"
    ]
    assert [c.params["references"] for c in clips] == [[photo]] * 3  # in the log, per shot


def test_the_ladders_reference_rung_conditions_a_clip_on_the_cast_photos(tmp_path):
    video = ReferenceVideo(always=False)
    result = _run(tmp_path, video, IdentityClipGate(failures=2 + 1))  # reseed, repair, then
    photo = str(tmp_path / "mara.png")
    s001 = [r for r in video.requests if r.shot.id == "s001"]
    assert [bool(r.references) for r in s001] == [False, False, False, True]
    assert s001[-1].references == [photo] and s001[-1].reference_strength == 0.6
    assert all(not r.references for r in video.requests if r.shot.id != "s001")
    rungs = [
        e.decision.rung
        for e in read_events(result.paths.events)
        if isinstance(e, DecisionMade)
        and e.decision.shot_id == "s001"
        and e.decision.kind == "clip"
    ]
    assert "references" in rungs


def test_a_backend_without_references_is_never_sent_them(tmp_path):
    video = ReferenceVideo(always=True)
    video.accepts_references = False
    _run(tmp_path, video, IdentityClipGate(failures=2))
    assert video.requests and all(not r.references for r in video.requests)
