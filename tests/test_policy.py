from director.agent.policy import best_candidate, decide, shot_seed
from director.records import CheckResult, Critique


def _critique(passed: bool, attempt: int = 1) -> Critique:
    check = CheckResult(
        name="exposure",
        score=0.02 if passed else 0.3,
        threshold=0.05,
        passed=passed,
        reason="30% clipped",
        higher_is_better=False,
    )
    return Critique(shot_id="s001", attempt=attempt, checks=[check])


def _cand(attempt, margin):
    return {
        "attempt": attempt,
        "artifact": f"k/{attempt}.png",
        "seed": attempt,
        "margin": margin,
        "verdict": "fail",
        "failed": ["exposure"],
    }


def test_a_passing_critique_is_accepted():
    d = decide(_critique(True), [_cand(1, 0.0)], max_attempts=4)
    assert (d.action, d.attempt, d.by) == ("accept", 1, "policy")


def test_a_failure_with_attempts_left_is_rerolled_with_the_reason():
    d = decide(_critique(False), [_cand(1, 5.0)], max_attempts=2)
    assert d.action == "reroll" and "exposure: 30% clipped" in d.reason


def test_when_attempts_run_out_the_closest_attempt_is_taken_and_flagged():
    cands = [_cand(1, 5.0), _cand(2, 0.5), _cand(3, 0.5)]
    d = decide(_critique(False, 3), cands, max_attempts=3)
    assert d.action == "accept-below-threshold" and d.attempt == 2
    assert "flagged below threshold" in d.reason
    assert best_candidate(cands)["attempt"] == 2


def test_seeds_differ_per_shot_and_attempt():
    seeds = {shot_seed(2075, shot, attempt) for shot in range(50) for attempt in range(5)}
    assert len(seeds) == 250
