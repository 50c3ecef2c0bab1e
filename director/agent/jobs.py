"""The run's paid work, in one place: submitting, collecting, the ledger of what was already
done, and the budget.

Every job is logged before anything waits on it, and a request this run already sent is never
sent again (a node re-run after a crash collects the job it submitted). A result is collected
into the run folder under a temporary name and renamed whole, priced, and logged as an attempt.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from director.agent.context import RunContext
from director.agent.state import FilmState
from director.errors import BudgetExceeded, GenerationFailed, ModerationRejected
from director.memory.jobs import request_key
from director.memory.runs import sha256_file
from director.records import Attempt, AttemptMade, CostIncurred, JobSubmitted
from director.tools.base import Job

Submitted = tuple[Job, dict | None]  # a job, and the failure record of one the service refused


@dataclass
class Jobs:
    """The jobs service of one run's context."""

    ctx: RunContext

    def submit(self, backend, request, kind: str) -> Submitted:
        """Submit one job; a submission the service refuses (its content filter, a rejected
        input) is a failed generation, as in collect."""
        return self.submit_round(backend, [request], kind)[0]

    def submit_round(self, backend, requests: list, kind: str) -> list[Submitted]:
        """Submit candidates together (a backend that batches makes them in one pass), logging
        every job before anything waits on it; a request this run already sent is not sent
        again. A refusal fails the round's new requests."""
        found = [self.ctx.jobs.submitted(kind, request) for request in requests]
        missing = [request for request, job in zip(requests, found, strict=True) if job is None]
        if not missing:
            return [(job, None) for job in found]
        try:
            fresh = (
                backend.submit_many(missing) if len(missing) > 1 else [backend.submit(missing[0])]
            )
        except GenerationFailed as exc:
            return [
                (job, None) if job else refused(backend, request, exc)
                for request, job in zip(requests, found, strict=True)
            ]
        for job, request in zip(fresh, missing, strict=True):
            self._log_submitted(job, request, kind)
        queue = iter(fresh)
        return [(job or next(queue), None) for job in found]

    def collect(
        self,
        backend,
        job: Job,
        dest: Path,
        number: int,
        started: float,
        kind: str,
        failure: dict | None = None,
    ) -> tuple[Attempt, dict | None]:
        """Collect a job into ``dest`` and log it as an attempt, with its cost; a job collected
        before the node was interrupted is taken as logged. ``started`` is the wall-clock time
        the work began; ``failure`` a refusal already known at submission."""
        attempt = self.ctx.jobs.collected(job, self.ctx.paths.root)
        if attempt is not None:
            job.cost = attempt.cost
            return attempt, failure
        dest.parent.mkdir(parents=True, exist_ok=True)
        failure = failure or collect(backend, job, dest)
        self._log_cost(job, kind)
        attempt = self._attempt(job, kind, dest, time.time() - started, number, failure)
        self.ctx.log.append(AttemptMade(attempt=attempt))
        return attempt, failure

    def affordable(self, total: float) -> bool:
        budget = self.ctx.options.budget
        return budget is None or total <= budget + 1e-9

    def afford(self, spent: float, estimate: float | None, what: str) -> None:
        """Stop before a call the film needs would take the spend past --budget. A model with
        no known price runs when no budget is set: its cost events say the price is unknown."""
        budget = self.ctx.options.budget
        if budget is None:
            return
        if estimate is None:
            raise BudgetExceeded(
                f"--budget is set, but {what} uses a model with no known price.",
                'Set its price in the config file\'s [prices."PROVIDER:MODEL"] table, or run '
                "without --budget.",
            )
        if not self.affordable(spent + estimate):
            raise BudgetExceeded(
                f"The budget of ${budget:.2f} would be exceeded: ${spent:.2f} spent, and {what} "
                f"is estimated at ${estimate:.2f}.",
                "Raise --budget, or pick cheaper models; the run folder keeps everything made "
                "so far.",
            )

    def _log_submitted(self, job: Job, request, kind: str) -> None:
        self.ctx.log.append(
            JobSubmitted(
                shot_id=request.shot.id,
                kind=kind,
                job_id=job.id,
                backend=job.backend,
                model=job.model,
                job=job.model_dump(mode="json"),
                request_key=request_key(kind, request),
            )
        )

    def _log_cost(self, job: Job, kind: str) -> None:
        """A cost event for every paid call; a call to a model with no known price is logged
        with no amount and the reason, never a guessed figure."""
        unknown = job.params.get("cost_unknown", "")
        if job.cost or unknown:
            self.ctx.log.append(
                CostIncurred(
                    shot_id=job.request["shot"]["id"],
                    kind=kind,
                    backend=job.backend,
                    model=job.model,
                    amount=None if unknown else job.cost,
                    detail=unknown or str(job.params.get("cost_detail", "")),
                    job_id=job.id,
                )
            )

    def _attempt(
        self, job: Job, kind: str, dest: Path, seconds: float, number: int, failure: dict | None
    ) -> Attempt:
        """The logged record of a finished job; shot, seed and prompt come from its request.
        A failed generation has no artifact: its params say why."""
        request = job.request
        params = {**job.params, "failed": failure["reason"]} if failure else job.params
        return Attempt(
            shot_id=request["shot"]["id"],
            kind=kind,
            number=number,
            backend=job.backend,
            model=job.model,
            params=params,
            seed=request["seed"],
            prompt=request.get("prompt", ""),
            negative_prompt=request.get("negative_prompt", ""),
            artifact="" if failure else self.ctx.paths.rel(dest),
            sha256="" if failure else sha256_file(dest),
            seconds=round(seconds, 3),
            cost=job.cost,
            job_id=job.id,
        )


def collect(backend, job: Job, dest: Path) -> dict | None:
    """Collect a job's result into ``dest``; a generation that failed is returned as a record
    for the gate (the ladder climbs on it), anything else propagates."""
    part = dest.with_name(f"{dest.stem}.part{dest.suffix}")  # the suffix tells the format
    try:
        backend.collect(job, part)
    except GenerationFailed as exc:
        part.unlink(missing_ok=True)
        return failure_record(exc, job)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)  # a file under its real name is always whole
    return None


def refused(backend, request, exc: GenerationFailed) -> Submitted:
    job = Job.of(backend, request)
    return job, failure_record(exc, job)


def failure_record(exc: GenerationFailed, job: Job) -> dict:
    return {
        "check": "moderation" if isinstance(exc, ModerationRejected) else "generation",
        "reason": str(exc),
        "code": exc.code,
        "task_id": exc.task_id or job.id,
        "flagged": getattr(exc, "flagged", ""),
    }


def total(estimates: list[float | None]) -> float | None:
    """A round's estimated price; None when any candidate's model has no known price."""
    return None if any(e is None for e in estimates) else sum(estimates)


def committed(state: FilmState, prefetched: dict) -> float:
    """Spent so far, plus what submitted but uncollected keyframes are estimated to cost."""
    queued = (job for round_ in prefetched.values() for job in round_)
    return state.get("spent", 0.0) + sum(job.get("estimate", 0.0) for job in queued)


def queued_job(queued: dict) -> Submitted:
    """A prefetched job as it was kept in the state, with its refusal if it had one."""
    fields = {k: v for k, v in queued.items() if k not in ("estimate", "error")}
    return Job.model_validate(fields), queued.get("error")
