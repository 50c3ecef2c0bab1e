"""The escalation ladder: one fixed order of rungs, skips logged with reasons, caps respected."""

from __future__ import annotations

from director.agent.ladder import Backend, Limits, best_candidate, climb, repair_rules
from director.agent.policy import shot_seed
from director.records import CheckResult, Critique, ShotPrompt
from director.testing import ScriptedPlanner
from tests.conftest import make_plan, plain_shot

PREVIZ = Backend(name="previz")
CAPABLE = Backend(name="studio", accepts_references=True, edits=True, references=("/r/mara.png",))


def _check(name="exposure", passed=False, score=0.3, threshold=0.05, higher=False, **details):
    return CheckResult(
        name=name,
        score=score,
        threshold=threshold,
        passed=passed,
        reason=f"{name} reason",
        higher_is_better=higher,
        details=details,
    )


def _face_missing(name="identity"):
    return CheckResult(
        name=name, score=None, threshold=0.4, passed=False, reason="Mara's face not found"
    )


def _face(score=0.2, **details):
    return _check("identity", score=score, threshold=0.4, higher=True, **details)


def _critique(*checks, attempt=1, kind="keyframe"):
    return Critique(shot_id="s001", attempt=attempt, kind=kind, checks=list(checks))


def _cands(n, margins=None):
    margins = margins or [5.0] * n
    return [
        {"attempt": i + 1, "artifact": f"keyframes/s001/{i + 1}.png", "margin": m, "failed": ["x"]}
        for i, m in enumerate(margins)
    ]


def _climb(
    critique, *, n=1, rung=-1, variant=None, backend=PREVIZ, shot=None, cands=None, **limits
):
    return climb(
        critique,
        cands or _cands(n),
        shot or plain_shot(0, 4.0),
        rung=rung,
        variant=variant or {},
        backend=backend,
        limits=Limits(max_attempts=limits.pop("max_attempts", 6), **limits),
    )


def _actions(step):
    return [(d.action, d.rung) for d in step.decisions]


def test_a_passing_attempt_is_accepted_with_the_checks_named():
    ok = _check(passed=True, score=0.01)
    skipped = CheckResult(
        name="identity", score=None, threshold=None, passed=None, reason="not run: no face"
    )
    step = _climb(_critique(ok, skipped))
    assert _actions(step) == [("accept", None)] and step.variant is None
    assert step.final.reason == "all 1 checks passed (exposure); not run: identity"


def test_the_first_failure_tries_a_new_seed():
    step = _climb(_critique(_check()))
    assert _actions(step) == [("reroll", "reseed")] and step.rung == 0
    assert "exposure: exposure reason" in step.final.reason and step.variant == {}


def test_the_second_failure_repairs_the_slot_behind_the_failed_check():
    step = _climb(_critique(_check()), n=2, rung=0)
    phrase = repair_rules()["checks"]["exposure"]["en"]
    assert _actions(step) == [("reroll", "repair")]
    assert step.variant["slots"]["style"] == f"storyboard, {phrase}"
    assert step.variant["repaired"] == "style" and step.final.changes == step.variant
    assert step.final.by == "policy"


def test_repair_takes_clips_weakest_slot_first():
    prompt = _check(
        "prompt", score=0.4, threshold=0.6, higher=True, slots={"subject": 0.7, "action": 0.2}
    )
    step = _climb(_critique(prompt), n=2, rung=0)
    assert step.variant["repaired"] == "action"
    assert step.variant["slots"]["action"].endswith(repair_rules()["slots"]["action"]["en"])


def test_repair_writes_chinese_for_a_chinese_prompt():
    shot = plain_shot(0, 4.0)
    zh = ShotPrompt(
        subject="玛拉", action="等待", environment="花园", camera="中景", style="故事板"
    )
    shot = shot.model_copy(update={"prompt": zh})
    step = _climb(
        _critique(_check("sharpness", score=3.0, threshold=25, higher=True)), n=2, rung=0, shot=shot
    )
    assert step.variant["slots"]["camera"] == "中景，" + repair_rules()["checks"]["sharpness"]["zh"]


def test_a_planner_with_a_language_model_writes_the_repair():
    class Rewriter(ScriptedPlanner):
        def repair_slot(self, shot, slots, slot, failures):
            return f"{slots[slot]} in even daylight"

    step = climb(
        _critique(_check()),
        _cands(2),
        plain_shot(0, 4.0),
        rung=0,
        variant={},
        backend=PREVIZ,
        limits=Limits(max_attempts=6),
        planner=Rewriter(make_plan(1)),
    )
    assert (
        step.final.by == "llm" and step.variant["slots"]["style"] == "storyboard in even daylight"
    )


def test_repairs_accumulate_and_are_never_repeated():
    phrase = repair_rules()["checks"]["exposure"]["en"]
    variant = {"slots": {**plain_shot(0, 4).prompt.slots(), "style": f"storyboard, {phrase}"}}
    step = _climb(_critique(_check()), n=3, rung=0, variant=variant)
    skipped = step.decisions[0]
    assert (skipped.action, skipped.rung) == ("skip", "repair")
    assert "already in the prompt" in skipped.reason


def test_a_failure_words_cannot_fix_skips_repair_with_the_reason():
    small = _check("resolution", score=0.5, threshold=1.0, higher=True)
    step = _climb(_critique(small), n=2, rung=0)
    assert step.decisions[0].rung == "repair" and step.decisions[0].action == "skip"
    assert "no failed check is fixed by rewording" in step.decisions[0].reason


def test_rungs_the_backend_cannot_climb_are_skipped_and_logged():
    step = _climb(_critique(_face()), n=3, rung=1)
    skips = {d.rung: d.reason for d in step.decisions if d.action == "skip"}
    assert skips["references"] == "the previz backend takes no reference images"
    assert skips["edit"] == "the previz backend cannot edit an image"
    assert skips["reframe"] == "no face was missing or too small to judge"


def test_when_every_rung_is_spent_the_remaining_attempts_get_new_seeds():
    step = _climb(_critique(_face(face_px=200)), n=3, rung=1)
    assert _actions(step)[-1] == ("reroll", "reseed") and step.rung == 4
    again = _climb(_critique(_face(face_px=200)), n=4, rung=step.rung, variant=step.variant)
    assert _actions(again) == [("reroll", "reseed")]  # the skips are not logged twice


def test_reference_conditioning_starts_moderate_and_grows():
    step = _climb(_critique(_face(face_px=200)), n=3, rung=1, backend=CAPABLE)
    assert _actions(step) == [("reroll", "references")]
    assert step.variant["references"] == ["/r/mara.png"]
    assert step.variant["reference_strength"] == 0.6


def test_references_need_an_identity_or_style_failure_and_some_references():
    bare = Backend(name="studio", accepts_references=True)
    step = _climb(_critique(_face()), n=3, rung=1, backend=bare)
    assert step.decisions[0].reason == "no character in this shot has reference images"
    step = _climb(_critique(_check()), n=3, rung=1, backend=CAPABLE)
    assert step.decisions[0].reason == "no identity or style failure for references to fix"


def test_edit_repaints_the_failing_face_of_the_best_attempt():
    critique = _critique(_face(box=[100, 100, 200, 220], face_px=120))
    step = _climb(critique, cands=_cands(3, [4.0, 1.0, 2.0]), rung=2, backend=CAPABLE)
    assert _actions(step) == [("reroll", "edit")]
    assert step.variant["edit_source"] == "keyframes/s001/2.png"
    assert step.variant["edit_region"] == [75, 70, 225, 250]


def test_edit_is_skipped_when_the_failure_is_not_in_the_face():
    critique = _critique(_face(box=[1, 1, 50, 50], face_px=49), _check())
    step = _climb(critique, n=3, rung=2, backend=CAPABLE)
    assert step.decisions[0].rung == "edit" and step.decisions[0].action == "skip"


def test_a_missing_face_moves_the_camera_one_size_closer():
    step = _climb(_critique(_face_missing()), n=3, rung=3)
    assert _actions(step) == [("reroll", "reframe")]
    assert step.variant["size"] == "medium-close-up"
    assert step.variant["slots"]["camera"] == "medium close-up"
    assert (
        "face not found" in step.final.reason and "medium to medium-close-up" in step.final.reason
    )


def test_a_small_face_is_reframed_and_a_close_up_is_not():
    step = _climb(_critique(_face(face_px=40)), n=3, rung=3)
    assert step.variant["size"] == "medium-close-up"
    close = plain_shot(0, 4).model_copy(update={"size": "close-up"})
    step = _climb(_critique(_face(face_px=40)), n=3, rung=3, shot=close)
    assert step.decisions[0].reason == "the shot is already a close-up"


def test_clips_are_never_reframed():
    clip = Backend(name="previz", kind="clip")
    step = _climb(_critique(_face_missing(), kind="clip"), n=2, rung=3, backend=clip)
    assert step.decisions[0].reason == "a clip keeps the framing of its accepted keyframe"
    assert step.final.kind == "clip"


def test_the_shot_cap_hands_the_closest_attempt_to_the_human_and_flags_it():
    cands = _cands(3, [5.0, 0.5, 0.5])
    step = _climb(_critique(_check(), attempt=3), cands=cands, rung=1, max_attempts=3)
    assert _actions(step) == [("accept-below-threshold", "human")]
    assert step.flagged and step.chosen == 2 and step.final.attempt == 2
    assert step.final.by == "auto" and "cap of 3 attempts" in step.final.reason
    assert best_candidate(cands)["attempt"] == 2


def test_run_caps_on_attempts_and_cost_stop_the_climb():
    step = _climb(_critique(_check()), run_attempts_left=0)
    assert step.flagged and "run's cap on attempts" in step.final.reason
    step = _climb(_critique(_check()), cost_left=-0.01)
    assert step.flagged and "budget cannot pay for another attempt" in step.final.reason
    assert not _climb(_critique(_check()), run_attempts_left=1, cost_left=2.0).flagged


def test_seeds_differ_per_shot_and_attempt():
    seeds = {shot_seed(2075, shot, attempt) for shot in range(50) for attempt in range(7)}
    assert len(seeds) == 350


def test_a_clip_repairs_only_the_slots_its_prompt_is_made_of():
    clip = Backend(name="previz", kind="clip")
    step = _climb(_critique(_face(), kind="clip"), n=2, rung=0, backend=clip)
    rule = repair_rules()["checks"]["identity"]["clip"]
    assert step.variant["repaired"] == "action" and step.variant["slots"]["action"].endswith(
        rule["en"]
    )
    flicker = _check("flicker", score=20.0, threshold=6.0)
    step = _climb(_critique(flicker, kind="clip"), n=2, rung=0, backend=clip)
    assert step.variant["repaired"] == "camera"
    style = _check("style_palette", score=0.1, threshold=0.5, higher=True)
    step = _climb(_critique(style, kind="clip"), n=2, rung=0, backend=clip)
    assert step.decisions[0].action == "skip" and step.decisions[0].rung == "repair"


def test_a_clip_failing_only_on_its_first_frame_is_not_retried():
    clip = Backend(name="previz", kind="clip")
    jump = _check("continuity", score=0.3, threshold=0.6, higher=True)
    step = _climb(_critique(jump, kind="clip"), n=1, backend=clip)
    assert _actions(step) == [("accept-below-threshold", "human")] and step.flagged
    assert "a clip starts on its keyframe, so no new clip can fix continuity" in step.final.reason
    both = _critique(jump, _check("flicker", score=20.0, threshold=6.0), kind="clip")
    assert _actions(_climb(both, n=1, backend=clip)) == [("reroll", "reseed")]


def _refused(flagged=""):
    return CheckResult(
        name="moderation",
        score=None,
        threshold=None,
        passed=False,
        reason="Refused by the content filter",
        details={"flagged": flagged} if flagged else {},
    )


def test_a_refused_prompt_is_rewritten_without_the_flagged_wording_first():
    shot = plain_shot(0, 4).model_copy(
        update={"prompt": plain_shot(0, 4).prompt.model_copy(update={"action": "draws a gun"})}
    )
    step = _climb(_critique(_refused()), shot=shot, rung=0)
    assert _actions(step) == [("reroll", "repair")] and step.rung == 0
    assert step.variant["slots"]["action"] == "draws a tool"
    named = _climb(_critique(_refused("waits")), rung=0)
    assert named.variant["slots"]["action"] == ""
    zh = ShotPrompt(
        subject="玛拉", action="擦去鲜血", environment="花园", camera="中景", style="故事板"
    )
    step = _climb(_critique(_refused()), shot=shot.model_copy(update={"prompt": zh}))
    assert step.variant["slots"]["action"] == "擦去红色颜料"


def test_a_refusal_with_nothing_to_soften_goes_to_the_human_at_once():
    step = _climb(_critique(_refused()), rung=-1)
    assert _actions(step) == [("accept-below-threshold", "human")] and step.flagged
    assert "not sent again unchanged" in step.final.reason
    assert "no language-model planner" in step.final.reason


class Rewriter(ScriptedPlanner):
    """A language-model planner that rewrites a slot when asked, recording the request."""

    def __init__(self):
        super().__init__(make_plan(1))
        self.asked = []

    def repair_slot(self, shot, slots, slot, failures):
        self.asked.append((slot, failures))
        return "kneels beside a seedling, hands open"


def test_a_refusal_with_nothing_to_soften_is_rewritten_by_a_language_model_planner():
    planner = Rewriter()
    step = climb(
        _critique(_refused()),
        _cands(1),
        plain_shot(0, 4.0),
        rung=-1,
        variant={},
        backend=PREVIZ,
        limits=Limits(max_attempts=6),
        planner=planner,
    )
    assert _actions(step) == [("reroll", "repair")] and step.final.by == "llm"
    assert step.variant["slots"]["action"] == "kneels beside a seedling, hands open"
    assert planner.asked[0][0] == "action" and "content filter" in planner.asked[0][1][0]


def test_attempts_that_produced_nothing_are_never_chosen():
    cands = [
        {"attempt": 1, "artifact": "", "margin": 1.0},
        {"attempt": 2, "artifact": "", "margin": 1.0},
    ]
    step = _climb(_critique(_refused(), attempt=2), cands=cands, max_attempts=2)
    assert (
        step.chosen is None and step.flagged and "no attempt produced an image" in step.final.reason
    )
    assert best_candidate(cands) is None


def test_an_attempt_no_check_could_judge_is_accepted_not_rerolled():
    critique = _critique(
        CheckResult.not_run("clipscore", "no CLIP weights"),
        CheckResult.not_run("identity", "no face expected in this shot"),
    )
    assert critique.verdict == "not judged"
    step = _climb(critique)
    assert step.variant is None and not step.flagged
    assert step.final.action == "accept" and step.final.attempt == 1
    assert "not judged" in step.final.reason and "no CLIP weights" in step.final.reason
