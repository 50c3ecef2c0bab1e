"""Text cleaning and redaction: what a record does to text where it enters, and what is done to
whatever is printed, logged or written out that may hold a URL with credentials."""

from __future__ import annotations

import re
from typing import Any

# Control characters text never needs (all of C0 but tab and newline, DEL, C1): a NUL breaks
# file names and ffmpeg's arguments, an escape sequence rewrites the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` without control characters (a carriage return becomes a newline) and with any
    lone surrogate (undecodable bytes from a shell) replaced by U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


# user:password@ in any URL (a proxy or a server of the user's own that takes basic auth).
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:'\"]+(?::[^/@\s'\"]*)?@")
REDACTED = "***"


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``: for whatever is
    printed, logged, written to run.json or checkpointed."""
    return _URL_CREDENTIALS.sub(rf"\g<1>{REDACTED}@", text)


def has_redacted_url(text: str) -> bool:
    return f"://{REDACTED}@" in text


def clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {k: clean_value(v) for k, v in value.items()}
    return value
