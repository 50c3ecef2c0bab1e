"""The config file on the ground floor: where it is and what it holds.

Every layer may read it through here (a backend its own table: ``[providers.NAME]``,
``[prices]``, ``[diffusers]``); ``director.agent.configuration`` adds the option table, the
precedence rules and the check of its top-level keys.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from director.errors import ConfigError


def config_path() -> Path:
    """``$DIRECTOR_CONFIG``, else ``$XDG_CONFIG_HOME/director/config.toml``."""
    explicit = os.environ.get("DIRECTOR_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "director" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file's TOML as a dict; {} when there is none (unless DIRECTOR_CONFIG names
    one that does not exist); a ConfigError that says what to fix when it cannot be read."""
    path = path or config_path()
    if not path.is_file():
        if os.environ.get("DIRECTOR_CONFIG"):
            raise ConfigError(
                f"DIRECTOR_CONFIG points to {path}, which does not exist.",
                "Fix the path or unset DIRECTOR_CONFIG.",
            )
        return {}
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"The config file {path} is not UTF-8 text (a TOML file is).",
            "Fix it, or move it away (DIRECTOR_CONFIG names another).",
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the config file {path}: {exc}.", "Fix the TOML or move the file away."
        ) from exc
