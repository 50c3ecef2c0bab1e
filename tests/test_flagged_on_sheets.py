"""A shot accepted below threshold is marked on the film's contact sheet and on its beat's
approval sheet, and no other shot is."""

from __future__ import annotations

import numpy as np
from PIL import Image

from director.agent.runner import start_run
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from tests.conftest import make_plan
from tests.test_contact_sheet import cells, flag_pixels
from tests.test_graph import _options


def test_the_films_contact_sheet_marks_the_flagged_shot_only(tmp_path):
    plan = make_plan(4)
    never = {plan.shots[1].id: 99}  # the second shot never passes: accepted flagged
    backends = {
        "planner": ScriptedPlanner(plan),
        "image": SolidImage(),
        "critics": [ScriptedCritic(never)],
    }
    result = start_run(_options(tmp_path, "flags"), backends=backends)
    assert result.flagged == [plan.shots[1].id]
    pixels = np.asarray(Image.open(result.paths.contact_sheet).convert("RGB"))
    found = [flag_pixels(c) for c in cells(pixels, 4, columns=4, rows=1)]
    assert found[1] > 4 * 100
    assert found[0] == found[2] == found[3] == 0
