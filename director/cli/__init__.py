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


def terminal_safe(text: str) -> str:
    """``text`` as one line a terminal shows as it is: control characters (an escape sequence
    in a file name or a service's message) written as ``\\xNN``, undecodable bytes as U+FFFD."""
    import re

    from director.records import redact_urls

    text = redact_urls(text).replace("\n", " ")
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m[0]):02x}", text)
    return re.sub(r"[\ud800-\udfff]", "\ufffd", text)


def main() -> None:
    """Entry point: converts director's errors into one line and an exit code, never a traceback."""
    from director.errors import DirectorError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DirectorError as exc:
        # Ctrl-C is not an error: the run stopped where the user asked, and can carry on.
        said = "stopped" if exc.exit_code == 130 else "error"
        click.echo(f"{said}: {terminal_safe(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line, keep the traceback on request
        if os.environ.get("DIRECTOR_DEBUG"):
            raise
        click.echo(
            f"error: unexpected {type(exc).__name__}: {terminal_safe(str(exc))}. This is a bug "
            "in director; "
            "the run's events.jsonl has the error. Set DIRECTOR_DEBUG=1 for the "
            "traceback and please report it.",
            err=True,
        )
        sys.exit(1)
