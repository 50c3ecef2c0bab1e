"""The graph end to end on scripted backends: rerolls, the attempt cap, failures, the log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.memory.events import read_events
from director.records import (
    AttemptMade,
    CheckResult,
    CritiqueMade,
    DecisionMade,
    ErrorRaised,
    RunFinished,
)
from director.replay.workflow import write_workflow
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from director.tools.pricing import Cost, charge
from tests.conftest import make_plan


def _options(tmp_path, run_id="g", **extra):
    flags = {
        "logline": "Mara defends the last garden from robots",
        "minutes": 0.25,
        "size": "320x180",
        "max_attempts": 3,
        "runs_dir": str(tmp_path),
        "run_id": run_id,
        "yes": True,
        **extra,
    }
    return resolve(flags)


def _run(tmp_path, failures, run_id="g", critics=None):
    plan = make_plan(4)
    backends = {
        "planner": ScriptedPlanner(plan),
        "image": SolidImage(),
        "critics": critics or [ScriptedCritic(failures)],
    }
    return plan, start_run(_options(tmp_path, run_id), backends=backends)


def _decisions(events, shot_id, kind="keyframe"):
    return [
        (e.decision.action, e.decision.attempt)
        for e in events
        if isinstance(e, DecisionMade)
        and e.decision.shot_id == shot_id
        and e.decision.kind == kind
        and e.decision.action != "skip"
    ]


def test_rerolls_until_pass_then_caps_and_flags(tmp_path):
    plan, result = _run(tmp_path, {"s002": 1, "s003": 5})
    events = read_events(result.paths.events)
    assert _decisions(events, "s001") == [("accept", 1)]
    assert _decisions(events, "s002") == [("reroll", 1), ("accept", 2)]
    assert _decisions(events, "s003") == [
        ("reroll", 1),
        ("reroll", 2),
        ("accept-below-threshold", 3),
    ]
    assert result.flagged == ["s003"]
    seeds = [
        e.attempt.seed
        for e in events
        if isinstance(e, AttemptMade)
        and e.attempt.shot_id == "s003"
        and e.attempt.kind == "keyframe"
    ]
    assert len(set(seeds)) == 3
    assert all(
        (result.paths.root / e.attempt.artifact).is_file()
        for e in events
        if isinstance(e, AttemptMade)
    )
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    assert json.loads(result.paths.plan_json.read_text()) == plan.model_dump(mode="json")


def test_workflow_names_every_shot_and_every_failed_attempt(tmp_path):
    plan, result = _run(tmp_path, {"s002": 1, "s003": 5})
    text = result.paths.workflow.read_text(encoding="utf-8")
    for shot in plan.shots:
        assert f"#### {shot.id}" in text
    assert "s002 attempt 1 (seed" in text and "scripted failure 1 of 1" in text
    assert "s002: solved on the ladder (reseed); attempt 2 passed" in text
    assert "skip repair: no failed check is fixed by rewording" in text
    assert "| ladder rungs climbed | reseed 3 |" in text
    assert "Keyframe flagged below threshold" in text and "s003: not solved" in text
    assert "keyframes/s003/3.png" in text  # the chosen attempt is the closest one


def test_the_film_has_the_planned_duration(tmp_path):
    from director.tools.assemble.probe import probe

    plan, result = _run(tmp_path, {})
    info = probe(result.paths.film)
    assert info.video_codec == "h264" and (info.width, info.height) == (320, 180)
    assert abs(info.duration_s - plan.runtime_s) <= 0.02 * plan.runtime_s


class ExplodingCritic(ScriptedCritic):
    def check(self, image, shot, context):
        if shot.id == "s002":
            raise RuntimeError("critic crashed")
        return super().check(image, shot, context)


def test_a_failure_is_logged_and_leaves_no_film(tmp_path):
    with pytest.raises(RuntimeError, match="critic crashed"):
        _run(tmp_path, {}, critics=[ExplodingCritic({})])
    run = tmp_path / "g"
    events = read_events(run / "events.jsonl")
    assert isinstance(events[-1], RunFinished) and events[-1].status == "failed"
    assert any(isinstance(e, ErrorRaised) and "critic crashed" in e.message for e in events)
    assert not (run / "film.mp4").exists()


def test_a_copied_run_folder_replays_to_the_same_document(tmp_path):
    _, result = _run(tmp_path / "runs", {"s002": 2})
    original = result.paths.workflow.read_text(encoding="utf-8")
    copy = shutil.copytree(result.paths.root, tmp_path / "elsewhere" / "copy")
    (copy / "workflow.md").unlink()
    from director.memory.runs import RunPaths

    written = write_workflow(RunPaths(copy), html=True)
    assert (copy / "workflow.md").read_text(encoding="utf-8") == original
    page = written[1].read_text(encoding="utf-8")
    # the four keyframes, every shot's on one image, and s002's failed frame beside the kept one
    assert page.count('src="data:image/jpeg;base64,') == 6
    assert str(tmp_path) not in original


class AnchorSpy(ScriptedCritic):
    """Records the style anchors each shot's critique was given."""

    def __init__(self, failures):
        super().__init__(failures)
        self.anchors: dict[str, list[str]] = {}

    def check(self, image, shot, context):
        self.anchors.setdefault(shot.id, list(context.style_anchors))
        return super().check(image, shot, context)


def test_the_first_keyframe_that_passes_anchors_the_films_look(tmp_path):
    spy = AnchorSpy({"s001": 9})  # s001 never passes, so s002 sets the look
    _, result = _run(tmp_path, {}, critics=[spy])
    root = result.paths.root
    assert spy.anchors["s001"] == [] and spy.anchors["s002"] == []
    assert spy.anchors["s003"] == [str(root / "keyframes/s002/1.png")]
    assert spy.anchors["s004"] == spy.anchors["s003"]


def _lit(plan, lights):
    """The plan with each shot's environment in the light given for it."""
    shots = [
        s.model_copy(update={"prompt": s.prompt.model_copy(update={"environment": place})})
        for s, place in zip(plan.shots, lights, strict=True)
    ]
    return plan.model_copy(update={"shots": shots})


def _anchors_by_shot(tmp_path, plan, failures):
    spy = AnchorSpy(failures)
    backends = {"planner": ScriptedPlanner(plan), "image": SolidImage(), "critics": [spy]}
    result = start_run(_options(tmp_path), backends=backends)
    root = result.paths.root
    return {sid: [str(Path(a).relative_to(root)) for a in got] for sid, got in spy.anchors.items()}


def test_each_light_is_judged_against_its_own_first_clean_keyframe(tmp_path):
    # A day frame that set the film's look is no measure of a night scene's colours: the first
    # night shot is judged against the bible's palette (no anchors), later ones against it.
    plan = _lit(
        make_plan(6),
        [
            "a walled garden at dawn",
            "the garden gate at dawn",
            "the garden at night, moonlight",
            "the shed at night",
            "花园，深夜，月光",
            "the garden at dawn, ruins behind",
        ],
    )
    seen = _anchors_by_shot(tmp_path / "clean", plan, {})
    assert seen == {
        "s001": [],
        "s002": ["keyframes/s001/1.png"],
        "s003": [],
        "s004": ["keyframes/s003/1.png"],
        "s005": ["keyframes/s003/1.png"],  # night in Chinese is night too
        "s006": ["keyframes/s001/1.png"],
    }
    # A night keyframe flagged below threshold anchors nothing: the next night shot starts again.
    flagged = _anchors_by_shot(tmp_path / "flagged", plan, {"s003": 9})
    assert flagged["s004"] == [] and flagged["s005"] == ["keyframes/s004/1.png"]


def test_style_references_from_the_user_replace_the_films_own_anchor(tmp_path):
    from PIL import Image

    ref = tmp_path / "look.png"
    Image.new("RGB", (64, 36), (200, 120, 40)).save(ref)
    spy = AnchorSpy({})
    options = _options(tmp_path, style_ref=[str(ref)])
    start_run(
        options,
        backends={
            "planner": ScriptedPlanner(make_plan(4)),
            "image": SolidImage(),
            "critics": [spy],
        },
    )
    assert all(anchors == [str(ref)] for anchors in spy.anchors.values())


class FlickeringOnce:
    """A clip gate that fails the first clip of chosen shots on flicker, and records what it
    was asked to compare each clip with."""

    def __init__(self, shots):
        self.shots, self.seen, self.previous = set(shots), set(), {}

    def check_clip(self, clip_path, shot, previous_clip_path, context):
        from director.records import CheckResult

        self.previous[clip_path.name, shot.id] = previous_clip_path
        failing = shot.id in self.shots and shot.id not in self.seen
        self.seen.add(shot.id)
        return [
            CheckResult.measured(
                "flicker", 20.0 if failing else 1.0, 6.0, "measured", higher_is_better=False
            )
        ]


def test_a_clip_that_fails_its_gate_is_retried_on_the_ladder_and_the_retry_is_used(tmp_path):
    gate = FlickeringOnce({"s002"})
    plan = make_plan(4)
    backends = {
        "planner": ScriptedPlanner(plan),
        "image": SolidImage(),
        "critics": [ScriptedCritic({})],
        "clip_gate": gate,
    }
    result = start_run(_options(tmp_path), backends=backends)
    events = read_events(result.paths.events)
    assert _decisions(events, "s002", kind="clip") == [("reroll", 1), ("accept", 2)]
    clips = [e.attempt for e in events if isinstance(e, AttemptMade) and e.attempt.kind == "clip"]
    retried = [a for a in clips if a.shot_id == "s002"]
    assert [a.number for a in retried] == [1, 2] and retried[0].seed != retried[1].seed
    assert gate.previous["1.mp4", "s003"] == result.paths.root / "clips/s002/2.mp4"
    assembly = " ".join(" ".join(e.command) for e in events if e.type == "assembly")
    assert "clips/s002/2.mp4" in assembly and "clips/s002/1.mp4" not in assembly
    text = result.paths.workflow.read_text(encoding="utf-8")
    assert "s002 clip attempt 1" in text and "s002 clip: solved on the ladder (reseed)" in text


def test_configured_thresholds_reach_the_keyframe_and_clip_gates(tmp_path):
    from director.records import CritiqueMade

    options = _options(tmp_path, threshold=["min_sharpness=12.5", "max_flicker=7.5"])
    backends = {"planner": ScriptedPlanner(make_plan(4)), "image": SolidImage()}
    result = start_run(options, backends=backends)
    thresholds = {
        (e.critique.kind, c.name): c.threshold
        for e in read_events(result.paths.events)
        if isinstance(e, CritiqueMade)
        for c in e.critique.checks
    }
    assert thresholds["keyframe", "sharpness"] == 12.5
    assert thresholds["clip", "flicker"] == 7.5
    assert thresholds["keyframe", "contrast"] == 0.05  # the rest keep their defaults


class TroubledService(SolidImage):
    """Fails the first keyframe task of s002, refuses prompts with 'blood', and can fail all."""

    def __init__(self, always_fail=False):
        self.always_fail, self.failed_once, self.prompts = always_fail, False, []

    def collect(self, job, dest):
        from director.errors import GenerationFailed, ModerationRejected

        request = job.request
        self.prompts.append(request["prompt"])
        if self.always_fail or (request["shot"]["id"] == "s002" and not self.failed_once):
            self.failed_once = True
            raise GenerationFailed(
                "Task failed: InternalError", code="InternalError", task_id="t-9"
            )
        if "blood" in request["prompt"]:
            raise ModerationRejected("Refused by the content filter.", code="DataInspectionFailed")
        super().collect(job, dest)


def _troubled_plan():
    plan = make_plan(4)
    third = plan.shots[2]
    prompt = third.prompt.model_copy(update={"action": "wipes blood from the gate"})
    plan.shots[2] = third.model_copy(update={"prompt": prompt})
    return plan


def test_failed_tasks_and_refused_prompts_climb_the_ladder(tmp_path):
    service = TroubledService()
    backends = {
        "planner": ScriptedPlanner(_troubled_plan()),
        "image": service,
        "critics": [ScriptedCritic({})],
    }
    result = start_run(_options(tmp_path), backends=backends)
    events = read_events(result.paths.events)
    assert _decisions(events, "s002") == [("reroll", 1), ("accept", 2)]
    failed = [
        e.attempt for e in events if isinstance(e, AttemptMade) and e.attempt.shot_id == "s002"
    ]
    assert failed[0].artifact == "" and "InternalError" in failed[0].params["failed"]
    rewrite = [
        e.decision for e in events if isinstance(e, DecisionMade) and e.decision.shot_id == "s003"
    ][0]
    assert rewrite.rung == "repair" and "content filter" in rewrite.reason
    assert "red paint" in service.prompts[-2] and "blood" not in service.prompts[-2]
    submitted = [e for e in events if e.type == "job_submitted" and e.kind == "keyframe"]
    assert len(submitted) == 6  # every task id is logged before its result is waited for
    assert result.flagged == []


def test_a_shot_that_never_generates_stops_the_run_with_a_clear_error(tmp_path):
    from director.errors import BackendError

    backends = {
        "planner": ScriptedPlanner(make_plan(4)),
        "image": TroubledService(always_fail=True),
        "critics": [ScriptedCritic({})],
    }
    with pytest.raises(BackendError, match="s001: no attempt produced anything to use"):
        start_run(_options(tmp_path), backends=backends)
    events = read_events(tmp_path / "g" / "events.jsonl")
    assert events[-1].status == "failed"


class PaidImage(SolidImage):
    """A flat-frame generator that charges $0.25 a frame, like a hosted one."""

    def estimate(self, request):
        return 0.25

    def collect(self, job, dest):
        super().collect(job, dest)
        charge(job, Cost(0.25, detail="1 image"))


def test_every_paid_call_is_logged_and_the_budget_limits_retries_then_stops_the_run(tmp_path):
    from director.errors import BudgetExceeded
    from director.records import CostIncurred

    backends = {
        "planner": ScriptedPlanner(make_plan(4)),
        "image": PaidImage(),
        "critics": [ScriptedCritic({"s001": 9})],
    }
    with pytest.raises(BudgetExceeded, match=r"budget of \$0.60 would be exceeded: \$0.50 spent"):
        start_run(_options(tmp_path, budget=0.6), backends=backends)
    events = read_events(tmp_path / "g" / "events.jsonl")
    costs = [e for e in events if isinstance(e, CostIncurred)]
    assert [c.amount for c in costs] == [0.25] * 2 and costs[0].detail == "1 image"
    # s001 stopped retrying when one more attempt would have broken the budget
    s001 = [
        e.decision for e in events if isinstance(e, DecisionMade) and e.decision.shot_id == "s001"
    ]
    assert "budget cannot pay for another attempt" in s001[-1].reason and s001[-1].rung == "human"
    assert events[-1].status == "failed"
    assert not (tmp_path / "g" / "film.mp4").exists()
    from director.memory.runs import RunPaths

    text = write_workflow(RunPaths(tmp_path / "g"))[0].read_text(encoding="utf-8")
    assert "| cost (USD) | 0.50 |" in text and "| paid calls | 2 |" in text


class ConcurrentImage(SolidImage):
    """Records the order of submissions and collections; several may be in flight."""

    def __init__(self, in_flight):
        self.max_in_flight, self.calls = in_flight, []

    def submit(self, request):
        self.calls.append(("submit", request.shot.id, request.seed))
        return super().submit(request)

    def collect(self, job, dest):
        self.calls.append(("collect", job.request["shot"]["id"], job.request["seed"]))
        super().collect(job, dest)


def test_first_keyframes_of_later_shots_are_submitted_while_one_is_judged(tmp_path):
    def run(in_flight, run_id):
        image = ConcurrentImage(in_flight)
        backends = {
            "planner": ScriptedPlanner(make_plan(4)),
            "image": image,
            "critics": [ScriptedCritic({"s002": 1})],
        }
        result = start_run(_options(tmp_path, run_id), backends=backends)
        attempts = [
            (e.attempt.shot_id, e.attempt.number, e.attempt.sha256)
            for e in read_events(result.paths.events)
            if isinstance(e, AttemptMade) and e.attempt.kind == "keyframe"
        ]
        return image.calls, attempts

    calls, attempts = run(3, "three")
    assert [c[:2] for c in calls[:4]] == [
        ("submit", "s001"),
        ("submit", "s002"),
        ("submit", "s003"),
        ("collect", "s001"),
    ]
    assert sum(1 for c in calls if c[0] == "submit") == 5  # 4 first attempts and one reroll
    serial_calls, serial_attempts = run(1, "one")
    assert attempts == serial_attempts  # the same keyframes, in the same order in the log
    assert [c[0] for c in serial_calls[:2]] == ["submit", "collect"]


def test_a_budget_with_an_unpriced_model_stops_before_the_first_call(tmp_path):
    from director.errors import BudgetExceeded

    class Unpriced(PaidImage):
        def estimate(self, request):
            return None

    backends = {"planner": ScriptedPlanner(make_plan(4)), "image": Unpriced()}
    with pytest.raises(BudgetExceeded, match="no known price"):
        start_run(_options(tmp_path, budget=5.0), backends=backends)
    events = read_events(tmp_path / "g" / "events.jsonl")
    assert not [e for e in events if e.type == "job_submitted"]


class UnpricedImage(SolidImage):
    """A hosted-like generator whose model has no known price."""

    def estimate(self, request):
        return None

    def collect(self, job, dest):
        super().collect(job, dest)
        charge(job, Cost(None, reason="no price for solid:flat; set one in [prices]"))


def test_an_unpriced_model_runs_without_a_budget_and_its_costs_say_unknown(tmp_path):
    from director.memory.runs import RunPaths
    from director.records import CostIncurred
    from director.replay.workflow import write_workflow

    backends = {"planner": ScriptedPlanner(make_plan(2)), "image": UnpricedImage()}
    result = start_run(_options(tmp_path), backends=backends)
    assert result.paths.film.exists()
    events = read_events(result.paths.events)
    costs = [e for e in events if isinstance(e, CostIncurred)]
    made = [e for e in events if isinstance(e, AttemptMade) and e.attempt.kind == "keyframe"]
    assert len(costs) == len(made) >= 2 and all(c.amount is None for c in costs)
    assert all("no price for solid:flat" in c.detail for c in costs)
    text = write_workflow(RunPaths(tmp_path / "g"))[0].read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| cost (USD) |"))
    assert "unknown" in row and f"solid:flat-v1: {len(costs)} calls" in row


class RefusesAtSubmit(SolidImage):
    """A service whose filter refuses the prompt when it is submitted, before any task."""

    def submit(self, request):
        from director.errors import ModerationRejected

        if "blood" in request.prompt:
            raise ModerationRejected("Input data may contain inappropriate content.")
        return super().submit(request)


def test_a_prompt_refused_at_submission_is_rewritten_like_one_refused_later(tmp_path):
    backends = {
        "planner": ScriptedPlanner(_troubled_plan()),
        "image": RefusesAtSubmit(),
        "critics": [ScriptedCritic({})],
    }
    result = start_run(_options(tmp_path), backends=backends)
    events = read_events(result.paths.events)
    refused = [
        e.attempt
        for e in events
        if isinstance(e, AttemptMade)
        and e.attempt.shot_id == "s003"
        and e.attempt.kind == "keyframe"
    ]
    assert refused[0].artifact == "" and "inappropriate" in refused[0].params["failed"]
    assert _decisions(events, "s003") == [("reroll", 1), ("accept", 2)]
    assert "red paint" in refused[1].prompt


class BatchingImage(ConcurrentImage):
    """Makes a round of candidates in one call, as a local pipeline's batch does."""

    def __init__(self, in_flight=1):
        super().__init__(in_flight)
        self.batches = []

    def submit_many(self, requests):
        self.batches.append([(r.shot.id, r.seed) for r in requests])
        return [SolidImage.submit(self, r) for r in requests]


def test_best_of_k_makes_each_round_in_one_batch_and_the_best_candidate_counts(tmp_path):
    def run(in_flight, run_id):
        image = BatchingImage(in_flight)
        backends = {
            "planner": ScriptedPlanner(make_plan(4)),
            "image": image,
            # s001: candidate 1 fails; s002: the whole first round and candidate 4 fail
            "critics": [ScriptedCritic({"s001": 1, "s002": 4})],
        }
        options = _options(tmp_path, run_id, best_of=3, max_attempts=6)
        return image, read_events(start_run(options, backends=backends).paths.events)

    image, events = run(1, "k3")
    assert [len(b) for b in image.batches] == [3, 3, 3, 3, 3]
    assert not [c for c in image.calls if c[0] == "submit"]  # no candidate made on its own
    assert len({seed for batch in image.batches for _, seed in batch}) == 15
    assert _decisions(events, "s001") == [("accept", 2)]
    # the ladder decides on the round's closest candidate (scores rise: attempt 3), then the
    # first passing candidate of the second round is taken
    assert _decisions(events, "s002") == [("reroll", 3), ("accept", 5)]
    critiqued = [
        e.critique.attempt
        for e in events
        if isinstance(e, CritiqueMade) and e.critique.kind == "keyframe"
    ]
    assert critiqued.count(1) == 4 and 6 in critiqued  # every candidate is judged and logged
    plan = json.loads((tmp_path / "k3" / "plan.json").read_text())
    assert len(plan["shots"]) == 4
    workflow = (tmp_path / "k3" / "workflow.md").read_text(encoding="utf-8")
    assert "keyframes/s002/5.png" in workflow

    prefetching, prefetched_events = run(6, "k3-ahead")
    assert [len(b) for b in prefetching.batches] == [3, 3, 3, 3, 3]
    assert [b[0][0] for b in prefetching.batches[:2]] == ["s001", "s002"]  # one round ahead

    def attempts(log):
        return [
            (e.attempt.shot_id, e.attempt.number, e.attempt.sha256)
            for e in log
            if isinstance(e, AttemptMade)
        ]

    assert attempts(prefetched_events) == attempts(events)


def test_best_of_more_than_the_attempt_cap_is_refused(tmp_path):
    from director.errors import InputError

    with pytest.raises(InputError, match="--best-of 4 is more than --max-attempts 3"):
        _options(tmp_path, best_of=4)


class BlurryTwice(ScriptedCritic):
    """Fails sharpness on a shot's first two keyframes, so the ladder repairs the camera slot."""

    def check(self, image, shot, context):
        count = self.seen[shot.id] = self.seen.get(shot.id, 0) + 1
        failing = count <= self.failures.get(shot.id, 0)
        return [
            CheckResult(
                name="sharpness",
                score=10.0 if failing else 90.0,
                threshold=40.0,
                passed=not failing,
                reason="soft" if failing else "ok",
            )
        ]


def test_a_clip_is_prompted_with_the_slots_its_keyframe_was_repaired_with(tmp_path):
    backends = {
        "planner": ScriptedPlanner(make_plan(4)),
        "image": SolidImage(),
        "critics": [BlurryTwice({"s002": 2})],
    }
    result = start_run(_options(tmp_path, "repaired"), backends=backends)
    events = read_events(result.paths.events)
    assert _decisions(events, "s002") == [("reroll", 1), ("reroll", 2), ("accept", 3)]
    clips = {
        e.attempt.shot_id: e.attempt.prompt
        for e in events
        if isinstance(e, AttemptMade) and e.attempt.kind == "clip"
    }
    assert "sharp focus, crisp detail" in clips["s002"]
    assert "sharp focus, crisp detail" not in clips["s001"]
    plan = json.loads((tmp_path / "repaired" / "plan.json").read_text())
    assert "sharp focus" not in plan["shots"][1]["prompt"]["camera"]  # the plan is untouched


class CutOffPlanner(ScriptedPlanner):
    """Counts its calls; the process 'dies' in the given call (raised out of the node after
    the calls before it were answered and logged)."""

    def __init__(self, plan, die_in: str | None = None):
        super().__init__(plan)
        self.calls: list[str] = []
        self.die_in = die_in

    def _call(self, name):
        self.calls.append(name)
        if name == self.die_in:
            raise SystemExit(f"killed in {name}")

    def develop(self, *args, **kwargs):
        self._call("develop")
        return super().develop(*args, **kwargs)

    def beat_sheet(self, *args, **kwargs):
        self._call("beat_sheet")
        return super().beat_sheet(*args, **kwargs)

    def shot_list(self, *args, **kwargs):
        self._call("shot_list")
        return super().shot_list(*args, **kwargs)


@pytest.mark.parametrize("die_in", ["beat_sheet", "shot_list"])
def test_a_planning_answer_already_logged_is_not_asked_for_again(tmp_path, die_in):
    from director.agent.runner import resume_run
    from director.memory.runs import RunPaths

    plan = make_plan(2)
    backends = {"image": SolidImage(), "critics": [ScriptedCritic({})]}
    first = CutOffPlanner(plan, die_in=die_in)
    with pytest.raises(SystemExit):
        start_run(_options(tmp_path), backends={**backends, "planner": first})
    again = CutOffPlanner(plan)
    result = resume_run(RunPaths(tmp_path / "g"), backends={**backends, "planner": again})
    assert result.paths.film.exists()
    assert again.calls == [die_in, *({"beat_sheet": ["shot_list"]}.get(die_in, []))]
    events = read_events(result.paths.events)
    for kind in ("story_developed", "beat_sheet_planned", "shot_list_planned"):
        assert sum(e.type == kind for e in events) == 1, kind
