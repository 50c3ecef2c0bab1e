"""What the backends on OpenAI-compatible APIs share: the client, error messages and prices.

The ``openai`` SDK does the HTTP work and the retrying: 429 and 5xx answers and dropped
connections are retried ``max_retries`` times with backoff, honouring the server's Retry-After.
What is left when the retries are spent becomes a ``ProviderError`` that names the setting to
fix; a content-filter refusal becomes ``ModerationRejected``. Error texts from the service pass
through ``scrub`` first: services quote a rejected key back in their messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from director.errors import ModerationRejected, ProviderError, ToolMissing

DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT_S = 180.0
CONNECT_TIMEOUT_S = 10.0
# Error codes and types with which OpenAI and DashScope's compatible mode report a refusal by
# their content filters.
MODERATION_CODES = {
    "content_policy_violation",
    "moderation_blocked",
    "data_inspection_failed",
    "datainspectionfailed",
}
_KEYLIKE = re.compile(r"\b(sk|key)[-_][A-Za-z0-9_\-\*\.]{4,}", re.IGNORECASE)
_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Endpoint:
    """Where calls go and which settings fix them, for messages that say how."""

    service: str  # how messages name the service: "OpenAI", "DashScope (compatible mode)"
    api_key: str
    base_url: str | None
    key_variable: str  # the variable (or config entry) holding the key
    url_setting: str  # how to change the host

    @property
    def where(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    @property
    def named(self) -> str:
        """The service and where it is, for messages ("OpenAI at https://...")."""
        return self.service if self.where in self.service else f"{self.service} at {self.where}"

    def scrub(self, text: str) -> str:
        """``text`` without the key or anything shaped like one; shortened."""
        text = text.replace(self.api_key, "***") if self.api_key else text
        return _KEYLIKE.sub("***", text)[:_MESSAGE_CHARS]


def openai_endpoint(found: Any) -> Endpoint:
    """OpenAI's endpoint from the provider settings ``found`` (a ProviderSettings): the key,
    or the error that says where to put one, and the host."""
    return Endpoint(
        service="OpenAI",
        api_key=found.require_key(),
        base_url=found.base_url,
        key_variable="OPENAI_API_KEY (or api_key in [providers.openai])",
        url_setting="OPENAI_BASE_URL",
    )


def make_client(endpoint: Endpoint, *, max_retries: int, timeout: float) -> Any:
    """An ``openai.OpenAI`` client for ``endpoint`` with explicit retries and timeouts."""
    try:
        import openai
    except ImportError as exc:
        raise ToolMissing(
            "The openai package is not installed.",
            "Install it with: pip install 'director[openai]'",
        ) from exc
    return openai.OpenAI(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        max_retries=max_retries,
        timeout=openai.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
    )


def is_moderation(exc: Exception) -> bool:
    """Whether an SDK error is a content-filter refusal."""
    status = getattr(exc, "status_code", None)
    if status not in (400, 403):
        return False
    marks = {str(getattr(exc, "code", "") or "").lower(), str(getattr(exc, "type", "") or "")}
    return bool(marks & MODERATION_CODES) or "safety system" in service_message(exc).lower()


def service_message(exc: Exception) -> str:
    """The service's own error message, without the SDK's wrapping (which quotes the body)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(getattr(exc, "message", "") or type(exc).__name__)


def failure(
    exc: Exception,
    endpoint: Endpoint,
    *,
    model: str,
    what: str,
    spec: str,
    retries: int,
    task_id: str = "",
) -> Exception:
    """The DirectorError for an SDK error that the SDK's own retries did not cure."""
    import openai

    status = getattr(exc, "status_code", None)
    if is_moderation(exc):
        return ModerationRejected(
            f"The content filter of {endpoint.service} refused the {what}: "
            f"{endpoint.scrub(service_message(exc))}",
            "Reword the prompt without the flagged content.",
            code=str(getattr(exc, "code", "") or "content_policy"),
            task_id=task_id,
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        # The message is left out on purpose: services quote the rejected key in it.
        return ProviderError(
            f"{endpoint.service} refused the API key (HTTP {status}).",
            f"Set {endpoint.key_variable} to a valid key for {endpoint.where}.",
        )
    if isinstance(exc, openai.NotFoundError):
        return ProviderError(
            f"{endpoint.service} has no model {model!r} at {endpoint.where} (HTTP 404).",
            f"Choose a model the account can use ({spec}:MODEL), or check {endpoint.url_setting}.",
        )
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return ProviderError(
            f"{endpoint.service} still answered HTTP {status} to the {what} after {retries} "
            f"retries: {endpoint.scrub(service_message(exc))}",
            "Wait a while and resume the run, or check the account's rate limits and quota.",
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            f"Could not reach {endpoint.named} after {retries} retries ({type(exc).__name__}).",
            f"Check the network and {endpoint.url_setting}, then resume the run.",
        )
    return ProviderError(
        f"{endpoint.service} refused the {what} (HTTP {status}): "
        f"{endpoint.scrub(service_message(exc))}",
        f"Check the model ({spec}:MODEL) and {endpoint.url_setting}.",
    )


def priced(
    provider: str, model: str, usage: dict[str, Any], table: Any = None
) -> tuple[float | None, str]:
    """What a call cost in USD from the run's price table (``table``; none: the packaged one),
    and what was billed; None and the reason when it has no price for the model (never a
    guess)."""
    from director.tools.pricing import bill

    cost = bill(provider, model, usage, table=table)
    return cost.usd, cost.detail or cost.reason
