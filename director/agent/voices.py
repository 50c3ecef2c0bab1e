"""The run's voices as paid work: every line a hosted voice speaks is priced against --budget
before the call, its task id logged before the run waits on the audio, and its cost logged
after. A line the budget cannot pay for, or that the service refuses (its content check, a
failed task), is logged as not spoken, and the film is assembled without it; a refusal that
no line can get past (a bad key, a spent quota, a voice the model does not have) stops the run
with its fix, and a resumed assembly speaks only the lines not yet paid for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from director.agent.context import RunContext
from director.errors import GenerationFailed
from director.records import CostIncurred, Language, Plan
from director.records.events import VoiceLineFailed, VoiceLineSpoken, VoiceTaskStarted
from director.text import is_chinese
from director.tools.base import VoiceBackend


class LineNotSpoken(Exception):
    """A line left out of the film; its reason is already in the log."""

    def __init__(self, shot_id: str) -> None:
        super().__init__(shot_id)
        self.shot_id = shot_id


class PaidVoice(VoiceBackend):
    """The run's voice backend with the budget and the log around each call."""

    def __init__(self, ctx: RunContext, inner: VoiceBackend, plan: Plan, spent: float) -> None:
        self.ctx, self.inner, self.spent = ctx, inner, spent
        self.name, self.model = inner.name, inner.model  # type: ignore[misc]
        self.scratch, self.voices = inner.scratch, inner.voices  # type: ignore[misc]
        self.shots = [s for s in plan.shots if s.line is not None and s.line.text.strip()]
        self.speaks = speakers_languages(self.shots, plan.story.language)
        self.paid: dict[str, tuple[float | None, str]] = {}  # shot id -> (cost, task id)
        self.left_out: set[str] = set()

    def voices_for(self, language: Language | None) -> tuple[str, ...]:
        return self.inner.voices_for(language)

    def voice_for(self, speaker: str | None, language: Language | None = None) -> str:
        """The speaker's voice among those of ``language``; when none is given, of the
        language the speaker's lines are in (so one voice serves all of a character's lines)."""
        found = language or self.speaks.get(_key(speaker), self.speaks.get(None))
        return self.inner.voice_for(speaker, found)

    def check_voice(self, voice: str, model: str = "") -> None:
        check = getattr(self.inner, "check_voice", None)
        if check is not None:
            check(voice, model)

    def estimate(self, text: str) -> float | None:
        return self.inner.estimate(text)

    def speak(self, text: str, *, voice: str, language: Language, dest: Path) -> float | None:
        shot_id = self._shot_of(text, Path(dest))
        if shot_id in self.paid and Path(dest).is_file():
            return self.paid[shot_id][0]  # spoken before a refused line left the film
        self._afford(shot_id, text, voice)
        self.ctx.progress.stage("voice", f"{shot_id} in {voice} ({self.name}:{self.model})")
        tasks: list[str] = []

        def started(task_id: str) -> None:
            tasks.append(task_id)
            self.ctx.log.append(
                VoiceTaskStarted(
                    shot_id=shot_id, backend=self.name, model=self.model, voice=voice,
                    task_id=task_id,
                )
            )  # fmt: skip

        self.inner.on_task = started
        try:
            cost = self.inner.speak(text, voice=voice, language=language, dest=dest)
        except GenerationFailed as exc:
            task = exc.task_id or (tasks[-1] if tasks else "")
            self._left_out(shot_id, text, voice, exc.message, exc.code or "Failed", task)
        finally:
            self.inner.on_task = None
        task = tasks[-1] if tasks else ""
        self.last_cost = self.inner.last_cost
        self._log_cost(shot_id, cost, task or f"voice-{Path(dest).stem}")
        self.paid[shot_id] = (cost, task)
        self.spent += cost or 0.0
        return cost

    def settled(self, event: VoiceLineSpoken) -> VoiceLineSpoken:
        """A spoken line's event with what this assembly paid for it: a line spoken before a
        refused one left the film is found on disk when the lines are placed again, but it
        was paid for here."""
        if event.shot_id not in self.paid:
            return event
        cost, task = self.paid[event.shot_id]
        update = {"cost": cost, "task_id": task}
        if "reused" in type(event).model_fields:
            update["reused"] = False
        return event.model_copy(update=update)

    def _shot_of(self, text: str, dest: Path) -> str:
        """The shot whose line this is: its text, in the file named after the shot's id."""
        found = [s.id for s in self.shots if s.line.text.strip() == text.strip()]
        named = [i for i in found if dest.name.startswith(f"{i}-") or dest.stem == i]
        return max(named or found or [dest.stem.split("-")[0]], key=len)

    def _afford(self, shot_id: str, text: str, voice: str) -> None:
        budget = self.ctx.options.budget
        if budget is None:
            return
        estimate = self.inner.estimate(text)
        if estimate is None:
            reason = (
                f"--budget is set, and {self.name}:{self.model} has no known price; set one "
                f'in the config file\'s [prices."{self.name}:{self.model}"] table'
            )
        elif self.spent + estimate > budget + 1e-9:
            reason = (
                f"the budget of ${budget:.2f} cannot pay for it: ${self.spent:.4f} spent, "
                f"the line is estimated at ${estimate:.4f}"
            )
        else:
            return
        self._left_out(shot_id, text, voice, reason, "Budget", "")

    def _left_out(self, shot_id, text, voice, reason: str, code: str, task_id: str) -> None:
        self.ctx.log.append(
            VoiceLineFailed(
                shot_id=shot_id, text=text, backend=self.name, model=self.model, voice=voice,
                reason=reason, code=code, task_id=task_id,
            )
        )  # fmt: skip
        self.left_out.add(shot_id)
        raise LineNotSpoken(shot_id)

    def _log_cost(self, shot_id: str, cost: float | None, job_id: str) -> None:
        """A cost event for every paid line; an unpriced one says why, never a guess."""
        billed: Any = self.inner.last_cost
        if billed is None or (not cost and billed.usd is not None):
            return  # an offline voice, or a call that cost nothing
        self.ctx.log.append(
            CostIncurred(
                shot_id=shot_id, kind="voice", backend=self.name, model=self.model,
                amount=cost, detail=billed.detail or billed.reason, job_id=job_id,
            )
        )  # fmt: skip


def speakers_languages(shots: list, default: Language) -> dict[str | None, Language]:
    """Each speaker's language (None: the narrator's): Mandarin when most of their lines are in
    Chinese script, else English; ``default`` for the narrator of a film with no narration."""
    counts: dict[str | None, list[bool]] = {}
    for shot in shots:
        line = shot.line
        speaker = line.speaker if line.kind == "dialogue" and line.speaker else None
        counts.setdefault(_key(speaker), []).append(is_chinese(line.text))
    found: dict[str | None, Language] = {None: default}
    found.update({k: "zh" if sum(v) * 2 > len(v) else "en" for k, v in counts.items()})
    return found


def _key(speaker: str | None) -> str | None:
    return speaker.strip().lower() if speaker else None


def without_lines(plan: Plan, shot_ids: set[str]) -> Plan:
    """The plan with the lines of ``shot_ids`` left out; the shots and their timing kept."""
    shots = [s.model_copy(update={"line": None}) if s.id in shot_ids else s for s in plan.shots]
    return plan.model_copy(update={"shots": shots})


def speak_within(plan: Plan, paid: PaidVoice, speak) -> list:
    """``speak(plan)`` (the lines placed and spoken), again without each line left out, until
    every other line is spoken; lines already spoken are found on disk, not paid again."""
    while True:
        try:
            return speak(without_lines(plan, paid.left_out))
        except LineNotSpoken:
            continue
