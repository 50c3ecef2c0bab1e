"""The model's replies read back: the JSON answer in a message, its errors, and the usage.

An answer may come fenced in Markdown, refused, empty or not JSON: each is an ``AnswerError``
that the planner shows the model once. A validation error is described in a line per field (at
most eight). The usage is read as the price table reads it, zero where a server reports none.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from director.tools.llm import answers as ans

A = TypeVar("A", bound=BaseModel)


def _parse(message: Any, answer: type[A]) -> A:
    if message is None:
        raise ans.AnswerError("the response held no answer.")
    if getattr(message, "refusal", None):
        raise ans.AnswerError(f"the model refused: {message.refusal}")
    text = _unfenced(getattr(message, "content", None) or "")
    if not text:
        raise ans.AnswerError("the answer was empty.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ans.AnswerError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
        ) from None
    return answer.model_validate(data)


def _unfenced(text: str) -> str:
    """The JSON inside a Markdown code fence, which models in JSON mode sometimes add."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]
        )
    return str(exc)


def _usage(response: Any) -> dict[str, Any]:
    """The usage as the price table reads it; servers that report none count zero."""
    usage = getattr(response, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None)
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        "prompt_tokens_details": {"cached_tokens": int(getattr(details, "cached_tokens", 0) or 0)},
    }


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
