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


class ProviderError(BackendError):
    """A hosted service refused or failed a call after the retries it deserves: a bad key, a
    model the account cannot use, a host that stays down. The run stops; the message names the
    setting to fix."""

    exit_code = 2


class GenerationFailed(DirectorError):
    """One generation failed (a task the service marked FAILED, an empty result): the
    escalation ladder treats it like a failed critique and climbs."""

    def __init__(self, message: str, hint: str = "", *, code: str = "", task_id: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.task_id = task_id


class ModerationRejected(GenerationFailed):
    """The service's content filter refused the prompt or an input image; ``flagged`` holds
    the wording it named, when it names any, so the prompt can be rewritten without it."""

    def __init__(self, message: str, hint: str = "", *, flagged: str = "", **kw: str) -> None:
        super().__init__(message, hint, **kw)
        self.flagged = flagged


class BudgetExceeded(DirectorError):
    """The next call the film needs would spend more than ``--budget`` allows. The run stops
    before making it; the run folder keeps everything made so far."""


class AssemblyError(DirectorError):
    """ffmpeg failed while making clips or the film."""


class UnknownBackend(InputError):
    """A backend name that no installed package registers."""


class RunInterrupted(DirectorError):
    """Ctrl-C during a run: everything up to the last checkpoint is kept."""

    exit_code = 130


class SystemFault(DirectorError):
    """The machine refused what the user's input was fine for: permission denied, a full disk,
    a read-only file system. Exit 1; the message names the file."""


# What an OSError's errno says: the machine's fault (exit 1), or a path the user gave that
# does not fit (exit 2). Anything else is left to be reported as a defect.
MACHINE_ERRNOS = {
    "EACCES",
    "EPERM",
    "ENOSPC",
    "EDQUOT",
    "EROFS",
    "EFBIG",
    "EIO",
    "EMFILE",
    "ENFILE",
    "ENOMEM",
    "EBUSY",
    "ETXTBSY",
}
PATH_ERRNOS = {"ENOENT", "ENOTDIR", "EISDIR", "ENAMETOOLONG", "ELOOP", "EEXIST"}


def from_os_error(exc: OSError) -> DirectorError | None:
    """The one line an OSError deserves, with its exit code: SystemFault for the machine's
    refusals, InputError for a path that does not fit; None when its errno is neither."""
    import errno as codes

    name = codes.errorcode.get(exc.errno or 0, "")
    where = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or str(exc)
    if name in MACHINE_ERRNOS:
        hint = {
            "EACCES": "Check the file's and its folder's permissions.",
            "EPERM": "Check the file's and its folder's permissions.",
            "EROFS": "Use a folder on a writable file system.",
        }.get(name, "Free some space (or raise the limit) and try again.")
        return SystemFault(f"Cannot use{where}: {reason}.", hint)
    if name in PATH_ERRNOS:
        return InputError(f"Cannot use{where}: {reason}.", "Check the path.")
    return None


def refuse_undecodable(text: str, what: str) -> str:
    """``text`` as given, or an InputError when it holds bytes that were not UTF-8 (Python keeps
    them from the command line, the environment or a file name as lone surrogates)."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        raise InputError(
            f"{what} is not valid text: it holds bytes that are not UTF-8.",
            "Type it again in a UTF-8 terminal, or set LANG to a UTF-8 locale (C.UTF-8).",
        )
    return text
