"""The scripted fakes that ship with director keep the promises a user's test relies on."""

from __future__ import annotations

from director.records import CheckResult
from director.testing import ScriptedCritic
from director.tools.base import CriticContext
from tests.conftest import make_plan


def test_scripted_critic_scores_agree_with_its_verdicts_however_many_failures():
    plan = make_plan(2)
    shot, other = plan.shots[0], plan.shots[1]
    critic = ScriptedCritic({shot.id: 12})
    context = CriticContext(bible=plan.bible)
    results: list[CheckResult] = [critic.check(None, shot, context)[0] for _ in range(13)]
    failing, passing = results[:12], results[12]
    assert all(r.passed is False and r.score < r.threshold for r in failing)
    # each failure closer than the last, as the ladder's "closest to passing" expects
    assert [r.score for r in failing] == sorted({r.score for r in failing})
    assert passing.passed is True and passing.score >= passing.threshold
    assert [r.reason for r in (failing[6], passing)] == ["scripted failure 7 of 12", "ok"]
    assert critic.check(None, other, context)[0].passed is True
