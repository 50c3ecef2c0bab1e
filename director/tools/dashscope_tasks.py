"""DashScope's asynchronous task protocol, shared by the Wan image and video backends.

Every Wan call is a task: submit (``async_call``, header ``X-DashScope-Async: enable``), get a
task id at once, poll ``/tasks/{id}`` until SUCCEEDED or FAILED, download the result URL within
24 hours. The ``dashscope`` SDK speaks the protocol; this module adds what a film run needs
around it: the key and host from director's settings (never the SDK's import-time globals
alone), retries through ``hosted``, and one mapping from DashScope's codes to director's
errors. A FAILED task comes back as HTTP 200 with ``output.code``; it is a failed attempt
(GenerationFailed), a moderation refusal (ModerationRejected), never a crash. Local images are
sent inline, scaled into the sizes the models take.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from director.errors import (
    BackendError,
    DirectorError,
    GenerationFailed,
    InputError,
    ModerationRejected,
    ProviderError,
    ToolMissing,
)
from director.tools import hosted
from director.tools.pricing import PriceTable
from director.tools.providers import ENV, REGION_ENV, ProviderSettings, settings

PROVIDER = "dashscope"
INSTALL = "pip install 'director[dashscope]' (the dashscope SDK)."
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
MODERATION_CODES = ("DataInspectionFailed", "DataInspection", "IPInfringementSuspect")
KEY_CODES = ("InvalidApiKey", "InvalidApiKeyError")
SEED_LIMIT = 2**31  # seeds are 0..2147483647
# How far the service's clock may run behind ours when a lost answer's task is looked for.
CLOCK_SKEW_S = 120.0
MAX_INPUT_BYTES = 10 * 1024 * 1024  # images sent inline, decoded
T = TypeVar("T")
Faults = list[dict[str, Any]]


def require_sdk() -> None:
    """ToolMissing unless the dashscope SDK is installed; checked without importing it (slow)."""
    if importlib.util.find_spec("dashscope") is None:
        raise ToolMissing("The dashscope SDK is not installed.", INSTALL)


@dataclass
class DashScope:
    """One backend's connection to DashScope: key, host, retry and polling rules."""

    setting: str  # how the user picks a model, for messages: "--image dashscope:MODEL"
    retries: hosted.Retries = field(default_factory=hosted.Retries)
    polling: hosted.Polling = field(default_factory=hosted.Polling)
    request_timeout: float = 60.0
    download_timeout: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    # The run's [providers.dashscope] settings; none: the environment alone.
    provider: ProviderSettings | None = field(default=None, repr=False)
    # The run's price table (the config file's [prices] on the packaged one); none: packaged.
    prices: PriceTable | None = field(default=None, repr=False)
    # Task ids this process created: a listing that reconciles a lost answer leaves them out.
    created: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        require_sdk()
        self.provider = self.provider or settings(PROVIDER)
        self.provider.require_key()

    def collect(
        self,
        job: Any,
        dest: Path,
        fetch: Callable[[Any, Path, Faults], None],
        *,
        backend: str,
        kind: str,
    ) -> None:
        """Run ``fetch(job, dest, faults)`` for a job of this backend; the faults met on the
        way (retries, waits) stay in ``job.params`` only when there were any."""
        if job.backend != backend:
            raise BackendError(
                f"Job {job.id} belongs to the {job.backend!r} backend, not {backend}.",
                f"Collect it with the {job.backend!r} {kind} backend.",
            )
        faults = job.params.setdefault("faults", [])
        try:
            fetch(job, Path(dest), faults)
        finally:
            if not faults:
                job.params.pop("faults")

    @property
    def base_url(self) -> str:
        return (self.provider.base_url or "").rstrip("/")

    def redact(self, text: str) -> str:
        return self.provider.redact(str(text))

    def sdk(self) -> Any:
        """The dashscope module, pointed at the configured host.

        The SDK reads its host from the environment when it is imported and from the module
        attribute at request time; setting the attribute makes director's settings (config
        file, region) win. Its logger gets a handler that drops records: without one, Python
        prints the SDK's "Request failed" tracebacks on every retried network error.
        """
        import dashscope

        logger = logging.getLogger("dashscope")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        dashscope.base_http_api_url = self.base_url
        _no_blind_resend()
        return dashscope

    # --- submit -------------------------------------------------------------------------

    def submit(
        self, call: Callable[..., Any], *, model: str, what: str, faults: Faults, **kwargs: Any
    ) -> str:
        """Create a task with ``call`` (an SDK ``async_call``); returns its task id. Each
        retried failure is appended to ``faults`` (for the job's params, hence the run log).

        A try whose answer is lost after the request went out (a dropped connection, a read
        timeout, a 200 that carries no task id) may have created the task: before trying
        again, the account's task list is asked whether it did (``reconcile``), so a lost
        answer never pays twice."""
        key = self.provider.require_key()
        unsure: list[float] = []  # when the latest try whose outcome is unknown was sent

        def attempt() -> str:
            if unsure:
                found = self.reconcile(model, unsure.pop(), what=what, faults=faults)
                if found:
                    return found
            self.sdk()
            sent = time.time()
            try:
                rsp = call(model=model, api_key=key, request_timeout=self._timeout(), **kwargs)
            except OSError as exc:
                unsure.append(sent)
                raise hosted.Transient(
                    f"the answer to the {what} was lost ({type(exc).__name__})", throttled=False
                ) from exc
            if rsp.status_code == 200 and rsp.output and rsp.output.get("task_id"):
                return self._created(str(rsp.output["task_id"]))
            if int(rsp.status_code) == 200:  # accepted, but the answer cannot be read
                unsure.append(sent)
                raise hosted.Transient(
                    f"the {what} was answered 200 with no task id in it", throttled=False
                )
            raise self.refusal(rsp, model=model, what=what)

        try:
            return self.retrying(attempt, f"DashScope {what}", faults)
        except ProviderError:
            if not unsure:
                raise
            found = self.reconcile(model, unsure.pop(), what=what, faults=faults)
            if not found:
                raise
            return found

    def _created(self, task_id: str) -> str:
        self.created.add(task_id)
        return task_id

    def reconcile(self, model: str, sent: float, *, what: str, faults: Faults) -> str | None:
        """Whether a submission sent at ``sent`` (seconds since the epoch) whose answer was
        lost created a task: its id when the account's task list shows exactly one new task of
        ``model`` since then, None when it shows none (the request never landed: send it
        again). More than one is ambiguous: the run stops, saying which tasks they are."""
        listed = self._recent_tasks(model, sent)
        found = [t for t in listed if t not in self.created]
        if len(found) > 1:
            raise ProviderError(
                f"The answer to a DashScope {what} was lost, and {len(found)} tasks of {model} "
                f"were created since ({', '.join(found)}); director cannot tell which one is "
                "this run's, so it pays for none of them again.",
                "Check them in the Model Studio console; then resume the run (director resume "
                "RUN), which submits the shot once more.",
            )
        note = f"found task {found[0]}" if found else "no task was created: sent again"
        faults.append(
            {
                "what": f"DashScope {what}",
                "reason": f"the answer was lost; reconciled with the task list: {note}",
                "retry_in_s": 0,
            }
        )
        return self._created(found[0]) if found else None

    def _recent_tasks(self, model: str, sent: float) -> list[str]:
        """Ids of the account's tasks of ``model`` created from just before ``sent`` on. The
        listing takes a window of at most 24 hours in YYYYMMDDhhmmss, in a time zone the API
        reference leaves unsaid: a window of 12 hours either side of ``sent`` covers it in
        UTC and in Beijing time, and the tasks are then picked by their creation time."""
        from dashscope import ImageSynthesis  # any async API: the task list is the account's

        def stamp(seconds: float) -> str:
            return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))

        def listing() -> Any:
            self.sdk()
            rsp = ImageSynthesis.list(
                start_time=stamp(sent - 12 * 3600),
                end_time=stamp(sent + 12 * 3600),
                model_name=model,
                page_size=50,
                api_key=self.provider.require_key(),
            )
            if rsp.status_code == 200 and isinstance(rsp.output, dict):
                return rsp.output
            raise self.refusal(rsp, model=model, what="task listing")

        output = self.retrying(listing, "DashScope task listing", [])
        since = (sent - CLOCK_SKEW_S) * 1000
        return [
            str(item["task_id"])
            for item in output.get("data") or []
            if item.get("model_name") == model and float(item.get("gmt_create") or 0) >= since
        ]

    def retrying(self, call: Callable[[], T], what: str, faults: Faults) -> T:
        def note(reason: str, delay: float) -> None:
            faults.append({"what": what, "reason": reason, "retry_in_s": round(delay, 3)})

        return hosted.retrying(
            call,
            retries=self.retries,
            what=what,
            redact=self.redact,
            sleep=self.sleep,
            on_retry=note,
        )

    def _timeout(self) -> int:
        return max(1, round(self.request_timeout))

    # --- collect ------------------------------------------------------------------------

    def wait(
        self, fetch: Callable[..., Any], task_id: str, *, model: str, what: str, faults: Faults
    ) -> Any:
        """Poll until the task ends; the SUCCEEDED response, or the error its end maps to."""
        key = self.provider.require_key()

        def once() -> Any:
            self.sdk()
            rsp = fetch(task_id, api_key=key)
            if rsp.status_code == 200 and rsp.output is not None:
                return rsp
            raise self.refusal(rsp, model=model, what=what)

        rsp = hosted.poll_until(
            lambda: self.retrying(once, f"DashScope {what} {task_id}", faults),
            lambda r: r.output.get("task_status") in TERMINAL,
            polling=self.polling,
            task_id=task_id,
            what=f"DashScope {what}",
            sleep=self.sleep,
        )
        self.check_finished(rsp.output, task_id=task_id, what=what)
        return rsp

    def check_finished(self, output: Any, *, task_id: str, what: str) -> None:
        status = output.get("task_status")
        if status == "SUCCEEDED":
            return
        if status == "FAILED":
            raise self.task_failure(output.get("code") or "", output.get("message") or "", task_id)
        if status == "UNKNOWN":
            raise GenerationFailed(
                f"DashScope does not know {what} {task_id} (status UNKNOWN).",
                "Task ids expire after 24 hours; the shot is generated again.",
                code="TaskUnknown",
                task_id=task_id,
            )
        raise GenerationFailed(
            f"DashScope {what} {task_id} ended {status}.", code=str(status), task_id=task_id
        )

    def task_failure(self, code: str, message: str, task_id: str) -> GenerationFailed:
        text = self.redact(f"{code}: {message}" if message else code)
        if is_moderation(code):
            return ModerationRejected(
                f"DashScope's content check refused task {task_id} ({text}).",
                "The prompt is rewritten without the flagged wording and tried again.",
                code=code,
                task_id=task_id,
            )
        return GenerationFailed(
            f"DashScope task {task_id} failed ({text}).", code=code or "Failed", task_id=task_id
        )

    def download(self, url: str, dest: Path, *, max_bytes: int, what: str, faults: Faults) -> int:
        """The result at ``url`` into ``dest``, with the hosted download rules and retries."""
        allowed = [hosted.host_of(self.base_url)] if self.base_url else []

        def attempt() -> int:
            return hosted.download(
                url,
                dest,
                allowed_hosts=allowed,
                max_bytes=max_bytes,
                timeout=self.download_timeout,
            )

        return self.retrying(attempt, f"Download of the {what}", faults)

    # --- errors -------------------------------------------------------------------------

    def refusal(self, rsp: Any, *, model: str, what: str) -> Exception:
        """What a non-200 answer means: a Transient to retry, or the error to stop with."""
        status = int(rsp.status_code)
        code = str(getattr(rsp, "code", "") or "")
        message = self.redact(str(getattr(rsp, "message", "") or ""))
        text = f"HTTP {status} {code}: {message}".strip().rstrip(":")
        found = hosted.transient(status, code, text, getattr(rsp, "headers", None) or {})
        if found is not None:
            return found
        return self.stop_error(status, code, message, model=model, what=what)

    def stop_error(
        self, status: int, code: str, message: str, *, model: str, what: str
    ) -> DirectorError:
        key_var = ENV[PROVIDER][0]
        said = f"({code}: {message})" if code else f"(HTTP {status}: {message})"
        if status == 401 or code in KEY_CODES:
            return ProviderError(
                f"DashScope refused the API key {said}.",
                f"Set {key_var} (or api_key in [providers.dashscope]) to a valid key. Keys work "
                f"only in the region that issued them: {REGION_ENV} or region in the config "
                f"file chooses it (now {self.provider.region or 'beijing'}).",
            )
        if code == "Arrearage":
            return ProviderError(
                f"The DashScope account behind {key_var} is in arrears {said}.",
                "Top up the Alibaba Cloud account, then resume the run (director resume RUN).",
            )
        if status == 404 or code in ("ModelNotFound", "Model.NotFound") or _no_model(message):
            return ProviderError(
                f"DashScope has no model {model!r} for this key and region {said}.",
                f"Pick a model the region offers with {self.setting}, or check {REGION_ENV}.",
            )
        if status == 403 or code == "AccessDenied":
            return ProviderError(
                f"DashScope denied {what} with {model!r} {said}.",
                f"Enable {model} for the key in Model Studio, or pick another with {self.setting}.",
            )
        if is_moderation(code):
            return ModerationRejected(
                f"DashScope's content check refused the {what} {said}.",
                "The prompt is rewritten without the flagged wording and tried again.",
                code=code,
            )
        return GenerationFailed(
            f"DashScope refused the {what} {said}.",
            "The ladder tries the shot another way.",
            code=code or f"HTTP{status}",
        )


def _no_blind_resend() -> None:
    """Stop the SDK from sending a request again by itself after a dropped connection.

    dashscope 2.x resends once on any ConnectionError, taking it for a stale pooled
    connection that the service never read; but a connection dropped after the service read
    a submission (and created the task) raises the same error, and the resend creates, and
    bills, a second task. With one send, the error reaches ``DashScope.submit``, which asks the
    task list whether the first send landed before sending again."""
    from dashscope.api_entities import http_request

    if getattr(http_request, "_send_with_retry", None) is not None:
        http_request._send_with_retry = _send_once


def _send_once(send: Callable[[], Any]) -> Any:
    return send()


def is_moderation(code: str) -> bool:
    return any(code.startswith(c) for c in MODERATION_CODES)


def _no_model(message: str) -> bool:
    text = message.lower()
    return "model not exist" in text or "model not found" in text


def dashscope_seed(seed: int) -> int:
    return int(seed) % SEED_LIMIT


def bill(job: Any, usage: dict[str, Any], table: PriceTable | None = None) -> None:
    """Set ``job.cost`` from the usage DashScope reported and director's price table (``table``,
    the run's; none: the packaged one); a model without a price costs 0 here and
    ``cost_unknown`` says why (the budget refuses it earlier)."""
    from director.tools.pricing import bill as priced
    from director.tools.pricing import charge

    charge(job, priced(PROVIDER, job.model, usage, table=table))


# --- images sent inline ------------------------------------------------------------------


@dataclass(frozen=True)
class SizeRule:
    """The output sizes a model accepts; ``fit`` finds the nearest one to a request."""

    min_side: int = 1
    max_side: int = 1 << 16
    min_pixels: int = 0
    max_pixels: int = 1 << 40
    max_aspect: float = math.inf
    step: int = 16

    def fit(self, width: int, height: int) -> tuple[int, int]:
        limit = min(self.max_aspect, self.max_side / self.min_side)
        aspect = min(max(width / height, 1 / limit), limit)
        area = min(max(width * height, self.min_pixels), self.max_pixels)
        w, h = math.sqrt(area * aspect), math.sqrt(area / aspect)
        grow = max(1.0, self.min_side / min(w, h))
        shrink = min(1.0, self.max_side / max(w * grow, h * grow))
        return self._snap(w * grow * shrink, h * grow * shrink)

    def _snap(self, w: float, h: float) -> tuple[int, int]:
        low = math.ceil(self.min_side / self.step) * self.step
        high = self.max_side // self.step * self.step
        sw = min(max(round(w / self.step) * self.step, low), high)
        sh = min(max(round(h / self.step) * self.step, low), high)
        while sw * sh > self.max_pixels and max(sw, sh) - self.step >= low:
            sw, sh = (sw - self.step, sh) if sw >= sh else (sw, sh - self.step)
        while sw * sh < self.min_pixels and min(sw, sh) + self.step <= high:
            sw, sh = (sw + self.step, sh) if sw <= sh else (sw, sh + self.step)
        return sw, sh


def inline_image(path: str, rule: SizeRule) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """A local image as a data: URI within the model's input limits; its size as sent and as
    found on disk."""
    from PIL import Image

    file = Path(path)
    if not file.is_file():
        raise InputError(
            f"Image {file} does not exist.", "Render the image again, or fix its path."
        )
    from director.tools.critics.imaging import open_rgb

    picture = open_rgb(file)  # upright (EXIF orientation) and 8-bit, as the critics see it
    if picture is None:
        raise InputError(f"Image {file} cannot be read.", "Render the image again, or replace it.")
    source = picture.size
    size = within(rule, source)
    if size != source:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    return encode_image(picture), size, source


def within(rule: SizeRule, size: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled (aspect kept) just enough to satisfy the rule's side limits."""
    w, h = size
    scale = max(1.0, rule.min_side / min(w, h))
    scale = min(scale, rule.max_side / max(w, h))
    return (w, h) if scale == 1.0 else (round(w * scale), round(h * scale))


def encode_image(picture) -> str:
    """PNG when it fits the services' 10 MB input limit, else a high-quality JPEG."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=6)
    # Three quarters: the limit then holds whether the service counts the image or its base64.
    if buffer.tell() <= MAX_INPUT_BYTES * 3 // 4:
        return hosted.bytes_uri(buffer.getvalue(), "image/png")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=92)
    return hosted.bytes_uri(buffer.getvalue(), "image/jpeg")
