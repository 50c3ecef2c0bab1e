"""The ``director`` command. Subcommands live one module per command group and import their
heavy dependencies only when they run, so ``director --help`` stays fast."""

from __future__ import annotations

import os
import sys

import click

from director import __version__
from director.cli.approval import approve_command, resume_command, status_command
from director.cli.cast import cast_group
from director.cli.critique import critique_command
from director.cli.doctor import doctor_command
from director.cli.evaluate import evaluate_command
from director.cli.export import export_command
from director.cli.lora import lora_group
from director.cli.render import render_command
from director.cli.replay import replay_command, runs_command
from director.cli.run import run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="director")
def cli() -> None:
    """Turn a logline into a short film, and keep the record of how it was made."""


cli.add_command(run_command)
cli.add_command(status_command)
cli.add_command(approve_command)
cli.add_command(resume_command)
cli.add_command(replay_command)
cli.add_command(runs_command)
cli.add_command(cast_group)
cli.add_command(critique_command)
cli.add_command(doctor_command)
cli.add_command(export_command)
cli.add_command(lora_group)
cli.add_command(evaluate_command)
cli.add_command(render_command)


def terminal_safe(text: str) -> str:
    """``text`` as one line a terminal shows as it is: control characters (an escape sequence
    in a file name or a service's message) written as ``\\xNN``, undecodable bytes as U+FFFD."""
    import re

    from director.records import redact_urls

    text = redact_urls(text).replace("\n", " ")
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m[0]):02x}", text)
    return re.sub(r"[\ud800-\udfff]", "\ufffd", text)


def main() -> None:
    """Entry point: every error is one line and an exit code, never a traceback. Wrong input
    exits 2, a fault of the machine (permission denied, a full disk) 1; only what director
    itself got wrong is called a bug."""
    try:
        cli.main(standalone_mode=False)
    except BaseException as exc:  # noqa: BLE001 - the edge: each kind is sorted out below
        code, line = exit_line(exc)
        if line:
            click.echo(line, err=True)
        sys.exit(code)


def exit_line(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line ``exc`` deserves."""
    from director.errors import DirectorError, from_os_error

    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, click.exceptions.Abort):
        return 130, "Aborted."
    if isinstance(exc, KeyboardInterrupt):
        return 130, "Interrupted."
    if isinstance(exc, click.UsageError):
        see = f" See: {exc.ctx.command_path} --help" if exc.ctx else ""
        said = terminal_safe(exc.format_message()).rstrip(".")
        return exc.exit_code, f"error: {said}.{see}"
    if isinstance(exc, click.ClickException):
        return exc.exit_code, f"error: {terminal_safe(exc.format_message())}"
    if isinstance(exc, OSError) and (fault := from_os_error(exc)) is not None:
        exc = fault
    if _undecodable(exc):
        return 2, (
            "error: text given to director holds bytes that are not UTF-8 (near "
            f"{terminal_safe(repr(exc.object[max(exc.start - 20, 0) : exc.end + 20]))}). Type it "
            "again in a UTF-8 terminal, or set LANG to a UTF-8 locale (C.UTF-8)."
        )
    if isinstance(exc, DirectorError):
        # Ctrl-C is not an error: the run stopped where the user asked, and can carry on.
        said = "stopped" if exc.exit_code == 130 else "error"
        return exc.exit_code, f"{said}: {terminal_safe(str(exc))}"
    if os.environ.get("DIRECTOR_DEBUG"):
        raise exc
    return 1, (
        f"error: unexpected {type(exc).__name__}: {terminal_safe(str(exc))}. This is a bug in "
        "director; the run's events.jsonl has the error. Set DIRECTOR_DEBUG=1 for the "
        "traceback and please report it."
    )


def _undecodable(exc: BaseException) -> bool:
    """Text that came from the command line, the environment or a file name holding bytes
    that were not UTF-8 (Python keeps them as lone surrogates), stopped where it was written."""
    return (
        isinstance(exc, UnicodeEncodeError)
        and isinstance(exc.object, str)
        and any("\ud800" <= c <= "\udfff" for c in exc.object[exc.start : exc.end])
    )
