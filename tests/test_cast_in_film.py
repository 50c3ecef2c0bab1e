"""Characters brought into a film: the plan uses them, and the gate judges their faces."""

from __future__ import annotations

import json
from pathlib import Path

import skimage.data as skdata
from PIL import Image

from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.memory.events import read_events
from director.records import Character, CritiqueMade, DecisionMade
from director.testing import ScriptedPlanner, local_job
from director.tools.base import ImageBackend, ImageRequest, Job
from director.tools.llm.offline import OfflinePlanner
from tests.conftest import make_plan
from tests.test_cli import director

LOGLINE = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"


def test_the_lead_is_the_cast_member_with_their_identity_block():
    mara = Character(name="Mara", description="a woman of seventy, grey braid, green wool coat")
    planner = OfflinePlanner()
    story = planner.develop(LOGLINE, language="en", seed=3, cast=[mara])
    assert story.protagonists[0].name == "Mara"
    assert story.protagonists[0].description == mara.description
    sheet = planner.beat_sheet(story, structure="three-act", runtime_s=60, seed=3)
    bible, cards = planner.bible(story, sheet, width=1280, height=720, seed=3)
    shots = planner.shot_list(story, sheet, bible, cards, seed=3)
    with_her = [s for s in shots if "Mara" in s.characters]
    assert with_her and all(s.prompt.subject.startswith(mara.description) for s in with_her)
    assert "Mara" in " ".join(b.summary for b in sheet.beats)


def test_previz_frames_record_identity_as_not_run_with_why(tmp_path):
    Image.fromarray(skdata.astronaut()).save(tmp_path / "eileen.png")
    result = director(
        "run",
        "--logline",
        LOGLINE,
        "--minutes",
        "0.25",
        "--yes",
        "--json",
        "--runs-dir",
        "runs",
        "--run-id",
        "c",
        "--character",
        "Eileen=eileen.png",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "c"
    plan = json.loads((run / "plan.json").read_text())
    lead = plan["story"]["protagonists"][0]
    assert lead["name"] == "Eileen" and lead["references"][0].endswith("eileen.png")
    identity = [
        c
        for e in read_events(run / "events.jsonl")
        if isinstance(e, CritiqueMade)
        for c in e.critique.checks
        if c.name == "identity"
    ]
    assert identity and all(c.passed is None for c in identity)
    assert any("storyboard figures, not faces" in c.reason for c in identity)


class PastedPhoto(ImageBackend):
    """A generator that cheats: it pastes the reference photo into every frame."""

    name = "paste"
    model = "cheat-v1"

    def __init__(self, photo: Path) -> None:
        self.photo = photo

    def submit(self, request: ImageRequest) -> Job:
        return local_job(self, request)

    def collect(self, job: Job, dest: Path) -> None:
        request = ImageRequest.model_validate(job.request)
        frame = Image.new("RGB", (request.width, request.height), (60, 80, 70))
        face = Image.open(self.photo).convert("RGB")
        face.thumbnail((request.width, request.height - 20))
        frame.paste(face, ((request.seed * 37) % (request.width - face.width + 1), 10))
        frame.save(dest)


def test_a_pasted_reference_passes_identity_but_is_caught_as_copy_paste(tmp_path):
    photo = tmp_path / "mara.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    plan = make_plan(4)
    plan.bible.width, plan.bible.height = 640, 480
    options = resolve(
        {
            "logline": LOGLINE,
            "minutes": 0.25,
            "size": "640x480",
            "max_attempts": 2,
            "runs_dir": str(tmp_path),
            "run_id": "p",
            "yes": True,
            "character": [f"Mara={photo}"],
        }
    )
    result = start_run(
        options, backends={"planner": ScriptedPlanner(plan), "image": PastedPhoto(photo)}
    )
    critiques = [
        e.critique for e in read_events(result.paths.events) if isinstance(e, CritiqueMade)
    ]
    checks = {c.name: c for c in critiques[0].checks}
    assert checks["identity"].passed is True
    assert checks["copy_paste"].passed is False
    keyframes = [c for c in critiques if c.kind == "keyframe"]
    assert len(keyframes) == 8  # every shot used both attempts
    clips = [c for c in critiques if c.kind == "clip"]
    assert len(clips) == 4 and all(c.verdict == "pass" for c in clips)
    assert all("copy_paste" not in {x.name for x in c.checks} for c in clips)
    assert sorted(result.flagged) == ["s001", "s002", "s003", "s004"]
    text = result.paths.workflow.read_text(encoding="utf-8")
    assert "copy_paste (Mara's face is the reference pasted in" in text


class Studio(ImageBackend):
    """A generator that climbs every rung: it takes references and edits. Its frames show the
    face too small to identify until the shot is framed closer, then a re-rendered face."""

    name = "studio"
    model = "ladder-v1"
    accepts_references = True
    edits = True

    def __init__(self, photo: Path) -> None:
        self.photo = photo
        self.requests: list[ImageRequest] = []

    def submit(self, request: ImageRequest) -> Job:
        self.requests.append(request)
        return local_job(self, request)

    def collect(self, job: Job, dest: Path) -> None:
        from tests.test_identity import re_render

        request = ImageRequest.model_validate(job.request)
        lifted = Image.eval(Image.open(self.photo).convert("RGB"), lambda v: 30 + v * 0.8)
        face = re_render(lifted)  # no pure black: the exposure check passes
        if request.shot.size != "medium-close-up":
            face = face.resize((face.width // 8, face.height // 8))
        frame = Image.new("RGB", (request.width, request.height), (60, 80, 70))
        frame.paste(face, (0, 0))
        frame.save(dest)


def test_the_ladder_climbs_rung_by_rung_until_a_closer_frame_passes(tmp_path):
    photo = tmp_path / "mara.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    plan = make_plan(1, shot_s=15.0)
    plan.bible.width, plan.bible.height = 640, 480
    options = resolve(
        {
            "logline": LOGLINE,
            "minutes": 0.25,
            "size": "640x480",
            "runs_dir": str(tmp_path),
            "run_id": "l",
            "yes": True,
            "character": [f"Mara={photo}"],
        }
    )
    studio = Studio(photo)
    result = start_run(options, backends={"planner": ScriptedPlanner(plan), "image": studio})
    decisions = [
        e.decision for e in read_events(result.paths.events) if isinstance(e, DecisionMade)
    ]
    steps = [(d.action, d.rung) for d in decisions if d.kind == "keyframe"]
    assert steps == [
        ("reroll", "reseed"),
        ("reroll", "repair"),
        ("reroll", "references"),
        ("skip", "edit"),
        ("reroll", "reframe"),
        ("accept", None),
    ]
    assert "face region" in decisions[3].reason  # no face found, so nothing to repaint
    first, repaired, referenced, reframed = studio.requests[0], *studio.requests[2:5]
    assert first.references == [] and first.shot.size == "medium"
    assert "face clearly visible" in repaired.prompt and "face clearly visible" not in first.prompt
    assert referenced.references == [str(photo.resolve())]
    assert referenced.reference_strength == 0.6
    assert reframed.shot.size == "medium-close-up" and "medium close-up" in reframed.prompt
    assert json.loads(result.paths.plan_json.read_text())["shots"][0]["size"] == "medium"
    assert result.flagged == []
