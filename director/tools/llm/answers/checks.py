"""The checks every stage applies to an answer: ``AnswerError``, whose message tells the model what
to fix; the language the text must be written in; fields that must not be empty; and lengths
that must be usable numbers of seconds."""

from __future__ import annotations

import math

from director.records import Language
from director.tools.llm.language import detect_language


class AnswerError(ValueError):
    """An answer that parsed but cannot be used; the message tells the model what to fix."""


def check_language(texts: list[str], language: Language, what: str) -> None:
    if detect_language(" ".join(texts)) != language:
        wanted = "Simplified Chinese" if language == "zh" else "English"
        raise AnswerError(f"{what} must be written in {wanted}.")


def _said(value: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise AnswerError(f"{field}: must not be empty.")
    return text


def _usable(seconds: float) -> bool:
    return math.isfinite(seconds) and seconds > 0


def _cs(seconds: float) -> int:
    return round(seconds * 100)
