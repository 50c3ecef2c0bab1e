"""One exception tree. Every message says what went wrong and how to fix it.

The CLI converts these to a one-line message and an exit code at the edge; library code raises
them and never prints.
"""

from __future__ import annotations


class DirectorError(Exception):
    """Base of every error director raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InputError(DirectorError):
    """Bad input from the user: a logline, an option, a path, a run id."""

    exit_code = 2


class ConfigError(InputError):
    """A configuration file or environment variable that cannot be used."""


class RunNotFound(InputError):
    """A run id or run folder that does not exist."""


class ToolMissing(DirectorError):
    """A program or package the requested work needs is not installed."""

    exit_code = 2


class BackendError(DirectorError):
    """A generator or critic failed in a way a retry will not fix."""


class AssemblyError(DirectorError):
    """ffmpeg failed while making clips or the film."""


class UnknownBackend(InputError):
    """A backend name that no installed package registers."""
