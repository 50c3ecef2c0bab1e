"""The gate is whatever the critic registry holds: a critic a package registers through the
``director.critics`` entry points runs like a built-in, judging the attempts it declares."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from director.agent import gate
from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.errors import ConfigError, ToolMissing
from director.memory.events import read_events
from director.records import CheckResult, CritiqueMade
from director.testing import ScriptedPlanner, SolidImage
from director.tools.base import Critic
from director.tools.critics import registered, thresholds
from tests.conftest import make_plan

LOGLINE = "The last gardener defends her garden from the robots"

PLUGIN = '''
from director.records import CheckResult
from director.tools.base import Critic

CALLS = []


class Horizon(Critic):
    """Judges keyframes: a fixed tilt against a threshold the user may set."""

    name = "horizon"
    checks = ("horizon_level",)
    defaults = {"max_tilt": 2.0}
    judges = ("keyframe",)

    def __init__(self, max_tilt=2.0):
        self.max_tilt = max_tilt

    def check(self, image, shot, context):
        return [
            CheckResult.measured(
                "horizon_level", 0.5, self.max_tilt, f"tilted 0.5 degrees (max {self.max_tilt})",
                higher_is_better=False,
            )
        ]


class FrameProbe(Critic):
    """Judges the frames sampled from clips only, and counts what it is shown."""

    name = "frame_probe"
    checks = ("frame_probe",)
    judges = ("clip",)

    def check(self, image, shot, context):
        CALLS.append((shot.id, image.size))
        return [CheckResult.measured("frame_probe", 1.0, 0.5, "a frame was shown")]
'''


def _distribution(root: Path, module: str, entries: dict[str, str], source: str = PLUGIN) -> Path:
    """An installed distribution on disk: a module and the dist-info that registers its entry
    points, as pip leaves them in site-packages."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = "\n".join(f"{name} = {module}:{target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[director.critics]\n{lines}\n", encoding="utf-8")
    return root


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin package with a keyframe critic and a clips-only critic, importable here."""
    module = f"director_plugin_{uuid.uuid4().hex[:8]}"
    root = _distribution(
        tmp_path / "site", module, {"horizon": "Horizon", "frame_probe": "FrameProbe"}
    )
    monkeypatch.syspath_prepend(str(root))
    yield module, root
    sys.modules.pop(module, None)


def _options(tmp_path: Path, **flags):
    return resolve(
        {
            "logline": LOGLINE,
            "minutes": 0.25,
            "size": "320x180",
            "runs_dir": str(tmp_path / "runs"),
            "yes": True,
            **flags,
        }
    )


def test_a_plugin_critic_runs_in_the_gate_of_an_offline_director_run(plugin, tmp_path):
    _, root = plugin
    done = subprocess.run(
        [sys.executable, "-m", "director", "run", "-l", LOGLINE, "--minutes", "0.25"]
        + ["--size", "320x180", "--yes", "--runs-dir", "runs", "--threshold", "max_tilt=3"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    run = next((tmp_path / "runs").iterdir())
    critiques = [e.critique for e in read_events(run / "events.jsonl") if e.type == "critique"]
    keyframes = [{c.name: c for c in k.checks} for k in critiques if k.kind == "keyframe"]
    clips = [{c.name: c for c in k.checks} for k in critiques if k.kind == "clip"]
    assert keyframes and clips
    for checks in keyframes:
        assert checks["horizon_level"].threshold == 3.0 and checks["horizon_level"].passed
        assert "exposure" in checks and "frame_probe" not in checks
    for checks in clips:
        assert checks["frame_probe"].passed is True and "horizon_level" not in checks
    workflow = (run / "workflow.md").read_text(encoding="utf-8")
    assert "horizon_level" in workflow and "frame_probe" in workflow


def test_a_clips_only_critic_sees_every_sampled_frame_and_no_keyframe(plugin, tmp_path):
    module, _ = plugin
    backends = {"planner": ScriptedPlanner(make_plan(3)), "image": SolidImage()}
    result = start_run(_options(tmp_path), backends=backends)
    calls = sys.modules[module].CALLS
    critiques = [
        e.critique for e in read_events(result.paths.events) if isinstance(e, CritiqueMade)
    ]
    clip_frames = [
        len(c.details["frames"])
        for critique in critiques
        if critique.kind == "clip"
        for c in critique.checks
        if c.name == "frame_probe"
    ]
    assert len(clip_frames) == 3 and sum(clip_frames) == len(calls)
    assert all(size == (320, 180) for _, size in calls)
    keyframe_checks = {c.name for k in critiques if k.kind == "keyframe" for c in k.checks}
    assert "horizon_level" in keyframe_checks and "frame_probe" not in keyframe_checks


def test_plugin_thresholds_are_known_by_their_owner_and_checked_like_built_ins(plugin, tmp_path):
    table = thresholds.known()
    assert table["max_tilt"] == ("horizon", 2.0)
    assert table["min_sharpness"][0] == "technical" and table["max_flicker"][0] == "clipgate"
    assert thresholds.for_critic({"max_tilt": 4.0, "min_sharpness": 9.0}, "horizon") == {
        "max_tilt": 4.0
    }
    with pytest.raises(ConfigError, match="max_tilt"):
        thresholds.parse_flags(["max_tiltt=4"])
    built = gate.critics(_options(tmp_path, threshold=["max_tilt=4"]), SolidImage(), [])
    horizon = next(c for c in built if c.name == "horizon")
    assert horizon.max_tilt == 4.0


def test_the_built_ins_are_registered_and_ordered_before_plugins(plugin):
    names = list(registered.critic_classes())
    assert names[:5] == ["technical", "palette", "duplicate", "clip", "identity"]
    assert names[5:] == ["frame_probe", "horizon"]


def test_keyframe_and_clip_gates_split_the_critics_by_what_they_judge(plugin, tmp_path):
    options = _options(tmp_path)
    made = gate.for_run(options, SolidImage(), [], {})
    assert [c.name for c in made["critics"]] == [
        "technical",
        "palette",
        "duplicate",
        "clip",
        "horizon",
    ]
    assert [c.name for c in made["clip_gate"].critics] == ["frame_probe"]
    only_clips = gate.for_run(options, SolidImage(), [], {"critics": []})
    assert set(only_clips) == {"clip_gate"}


def test_a_cast_adds_identity_to_both_gates(tmp_path):
    from director.records import Character

    mara = Character(name="Mara", description="", references=["unused.png"])
    made = gate.for_run(_options(tmp_path), SolidImage(), [mara], {})
    identity = [c for c in made["critics"] if c.name == "identity"]
    assert len(identity) == 1 and made["clip_gate"].critics == identity
    assert "storyboard figures" in identity[0].reason  # SolidImage draws no faces


def test_a_plugin_that_cannot_be_imported_is_named_with_the_fix(tmp_path, monkeypatch):
    module = f"director_broken_{uuid.uuid4().hex[:8]}"
    root = _distribution(tmp_path, module, {"broken": "Missing"}, source="import no_such_pkg\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(ToolMissing, match="critics backend 'broken'.*Reinstall"):
        registered.critic_classes()


def test_a_plugin_that_judges_something_unknown_is_refused(tmp_path, monkeypatch):
    module = f"director_odd_{uuid.uuid4().hex[:8]}"
    source = textwrap.dedent(
        """
        from director.tools.base import Critic

        class Odd(Critic):
            name = "odd"
            checks = ("odd",)
            judges = ("audio",)

            def check(self, image, shot, context):
                return []
        """
    )
    root = _distribution(tmp_path, module, {"odd": "Odd"}, source=source)
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(ToolMissing, match="'odd'.*judges \\['audio'\\]"):
        registered.critic_classes()


class Blind(Critic):
    """A critic that can never run, as one without its weights."""

    name = "blind"
    checks = ("blind",)

    def check(self, image, shot, context):
        return self.not_run("not run: no weights for the blind check")


class SteadyClips:
    def check_clip(self, clip_path, shot, previous_clip_path, context):
        return [CheckResult.measured("flicker", 1.0, 5.0, "steady", higher_is_better=False)]


def test_a_keyframe_no_check_could_judge_is_not_judged_in_the_log_and_the_document(tmp_path):
    backends = {
        "planner": ScriptedPlanner(make_plan(2)),
        "image": SolidImage(),
        "critics": [Blind()],
        "clip_gate": SteadyClips(),
    }
    result = start_run(_options(tmp_path, max_attempts=1), backends=backends)
    verdicts = {
        (e.critique.kind, e.critique.shot_id): e.verdict
        for e in read_events(result.paths.events)
        if isinstance(e, CritiqueMade)
    }
    assert verdicts[("keyframe", "s001")] == "not judged"
    assert verdicts[("clip", "s001")] == "pass"
    text = result.paths.workflow.read_text(encoding="utf-8")
    assert "| not judged |" in text.replace("  ", " ")
    assert (  # the same reason for both shots, said once with the count
        "2 attempts not judged (s001 attempt 1, s002 attempt 1): no check could run; "
        "blind (not run: no weights for the blind check)" in text
    )


def test_a_plugin_critic_judges_a_single_image_in_director_critique_too(plugin, tmp_path):
    from PIL import Image

    from director.tools.critics.standalone import critique_image

    path = tmp_path / "frame.png"
    Image.new("RGB", (64, 36), (90, 120, 150)).save(path)
    checks = critique_image(path, thresholds={"max_tilt": 1.0})["checks"]
    assert checks["horizon_level"]["threshold"] == 1.0 and checks["horizon_level"]["passed"]
    assert "exposure" in checks and "frame_probe" not in checks
    assert "near_duplicate" not in checks  # nothing accepted to compare with
