"""Keyframes the image backend still holds in memory are judged as handed over, without their
files being read back; a backend that holds none is judged from the run folder."""

from __future__ import annotations

from PIL import Image

from director.agent.runner import start_run
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from tests.conftest import make_plan
from tests.test_graph import _options


class HoldingImage(SolidImage):
    """Writes each frame and keeps it, as a local pipeline does after its batch."""

    def __init__(self) -> None:
        self.kept: dict[str, Image.Image] = {}
        self.given: list[Image.Image] = []

    def collect(self, job, dest):
        super().collect(job, dest)
        with Image.open(dest) as img:
            self.kept[job.id] = img.convert("RGB")

    def held(self, job):
        picture = self.kept.pop(job.id, None)
        if picture is not None:
            self.given.append(picture)
        return picture


class Seen(ScriptedCritic):
    def __init__(self) -> None:
        super().__init__({})
        self.images: list = []

    def check(self, image, shot, context):
        self.images.append(image)
        return super().check(image, shot, context)


def test_the_gate_judges_the_pictures_the_backend_handed_over(tmp_path):
    backend, seen = HoldingImage(), Seen()
    backends = {"planner": ScriptedPlanner(make_plan(3)), "image": backend, "critics": [seen]}
    start_run(_options(tmp_path, "held"), backends=backends)
    assert len(backend.given) == 3 and backend.kept == {}  # each given once, none left over
    assert len(seen.images) == 3
    # the very objects handed over: a file read back would be a new image
    assert all(any(img is given for given in backend.given) for img in seen.images)


def test_a_backend_that_holds_nothing_is_judged_from_the_run_folder(tmp_path):
    seen = Seen()
    backends = {"planner": ScriptedPlanner(make_plan(2)), "image": SolidImage(), "critics": [seen]}
    result = start_run(_options(tmp_path, "files"), backends=backends)
    assert len(seen.images) == 2
    for image in seen.images:
        assert image.mode == "RGB" and image.size == (320, 180)
    assert result.paths.root.joinpath("keyframes").is_dir()
