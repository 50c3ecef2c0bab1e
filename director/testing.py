"""Scripted fakes that ship with director, for users' own tests and for director's.

- ``ScriptedPlanner`` returns a plan you wrote, so a test controls every shot.
- ``ScriptedCritic`` fails chosen attempts of chosen shots, so a test can drive the policy.
- ``SolidImage`` draws a flat-colour frame per seed: a fast image backend with real PNG output.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

from director.records import (
    BeatSheet,
    Cards,
    CheckResult,
    Language,
    Plan,
    Shot,
    Story,
    StyleBible,
)
from director.tools.base import Critic, CriticContext, ImageBackend, ImageRequest, Job, Planner


class ScriptedPlanner(Planner):
    """Plays back a complete plan, whatever the logline."""

    name = "scripted"

    def __init__(self, plan: Plan) -> None:
        if plan.bible is None or plan.cards is None or not plan.shots:
            raise ValueError("ScriptedPlanner needs a plan with a bible, cards and shots")
        self.plan = plan
        self.model = "playback"

    def develop(self, logline: str, *, language: Language, seed: int, cast=()) -> Story:
        return self.plan.story

    def beat_sheet(
        self, story: Story, *, structure: str, runtime_s: float, seed: int, note: str = ""
    ) -> BeatSheet:
        return self.plan.beat_sheet

    def bible(
        self, story, beat_sheet, *, width: int, height: int, seed: int
    ) -> tuple[StyleBible, Cards]:
        return self.plan.bible, self.plan.cards

    def shot_list(self, story, beat_sheet, bible, cards, *, seed: int) -> list[Shot]:
        return list(self.plan.shots)


class ScriptedCritic(Critic):
    """Fails the first ``failures[shot_id]`` attempts of each listed shot, passes the rest.

    A failing attempt scores below the threshold, each one closer than the last (as rerolls
    that help would), so the escalation ladder's "closest to passing" is the latest."""

    name = "scripted"
    checks: ClassVar[tuple[str, ...]] = ("scripted",)
    threshold = 0.9

    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = dict(failures)
        self.seen: dict[str, int] = {}

    def check(self, image, shot: Shot, context: CriticContext) -> list[CheckResult]:
        count = self.seen[shot.id] = self.seen.get(shot.id, 0) + 1
        failing = count <= self.failures.get(shot.id, 0)
        # 0.45, 0.65, 0.72, ... for failures: never nearer the threshold than 0.05
        score = self.threshold - 0.05 - 0.4 / count if failing else 1.0
        reason = f"scripted failure {count} of {self.failures.get(shot.id, 0)}" if failing else "ok"
        return [CheckResult.measured("scripted", score, self.threshold, reason)]


class SolidImage(ImageBackend):
    """A flat frame whose colour comes from the seed; real PNG files, no drawing cost."""

    name = "solid"
    model = "flat-v1"
    renders_faces = False

    def submit(self, request: ImageRequest) -> Job:
        return local_job(self, request)

    def collect(self, job: Job, dest: Path) -> None:
        from PIL import Image

        request = ImageRequest.model_validate(job.request)
        digest = hashlib.sha256(str(request.seed).encode()).digest()
        Image.new("RGB", (request.width, request.height), tuple(digest[:3])).save(dest)


def local_job(backend: ImageBackend, request: ImageRequest) -> Job:
    """The job record of a backend that renders in collect(): its id is the request's hash."""
    key = hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]
    return Job.of(backend, request, key, params={"seed": request.seed})
