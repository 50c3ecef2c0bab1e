"""Run options and how they are resolved.

Precedence: command-line flag, then environment variable, then the config file, then the
defaults below. The config file is TOML at ``$DIRECTOR_CONFIG`` or
``$XDG_CONFIG_HOME/director/config.toml`` (``~/.config/director/config.toml``), with the same
keys as the options (``runs_dir``, ``size``, ``max_attempts``, ...) at the top level, and
tables for the settings that belong to one part: ``[thresholds]``, ``[providers.NAME]``,
``[prices."PROVIDER:MODEL"]`` and ``[diffusers]`` (director.tools.diffusers_local).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from director.config import config_path, read_config
from director.errors import ConfigError, InputError
from director.records import clean_text

MAX_LOGLINE = 2000
MIN_MINUTES, MAX_MINUTES = 0.25, 20.0
MAX_BEST_OF = 16
APPROVE_MODES = ("ask", "defer", "auto")

# option -> environment variable
ENV_VARS = {
    "runs_dir": "DIRECTOR_RUNS_DIR",
    "size": "DIRECTOR_SIZE",
    "max_attempts": "DIRECTOR_MAX_ATTEMPTS",
    "best_of": "DIRECTOR_BEST_OF",
    "max_run_attempts": "DIRECTOR_MAX_RUN_ATTEMPTS",
    "budget": "DIRECTOR_BUDGET",
    "structure": "DIRECTOR_STRUCTURE",
    "seed": "DIRECTOR_SEED",
    "font": "DIRECTOR_FONT",
    "llm": "DIRECTOR_LLM",
    "image": "DIRECTOR_IMAGE",
    "video": "DIRECTOR_VIDEO",
    "insightface_root": "DIRECTOR_INSIGHTFACE_ROOT",
    "clip_weights": "DIRECTOR_CLIP_WEIGHTS",
    "clip_model": "DIRECTOR_CLIP_MODEL",
}

DEFAULTS: dict[str, Any] = {
    "minutes": 3.0,
    "structure": None,  # by language: qi-cheng-zhuan-he for Chinese, three-act for English
    "seed": 2075,
    "size": "1280x720",
    "max_attempts": 6,
    "best_of": 1,  # keyframe candidates made together per attempt round; the best is judged
    "max_run_attempts": None,  # 3 per shot (keyframe, clip, a retry) + one whole ladder
    "budget": None,  # USD; no cap on what hosted backends charge
    "runs_dir": "runs",
    "font": None,
    "music": None,
    "llm": "offline",
    "image": "previz",
    "video": "previz",
    "fps": 24,
    "thresholds": None,  # a [thresholds] table: gate thresholds by name (docs/critics.md)
    "providers": None,  # [providers.NAME] tables: keys and hosts, never part of run options
    "prices": None,  # [prices."PROVIDER:MODEL"] tables: USD prices over the packaged table
    "diffusers": None,  # a [diffusers] table: device, dtype, steps... (tools/diffusers_local)
    "insightface_root": None,  # ~/.insightface: packs are looked for in <root>/models/<pack>
    "clip_weights": None,  # the model's weights in the Hugging Face cache or ~/.cache/clip
    "clip_model": None,  # ViT-B-32-quickgelu, matching OpenAI's ViT-B/32 weights
}


class RunOptions(BaseModel):
    """Everything a run needs to know, resolved and validated; recorded in run.json."""

    model_config = ConfigDict(extra="forbid")

    logline: str
    minutes: float = Field(ge=MIN_MINUTES, le=MAX_MINUTES)
    structure: str | None
    seed: int
    width: int
    height: int
    max_attempts: int = Field(ge=1, le=50)
    best_of: int = Field(
        default=1, ge=1, le=MAX_BEST_OF, description="keyframe candidates made per round"
    )
    max_run_attempts: int | None = Field(
        default=None, ge=1, description="generations (keyframes and clips) per run"
    )
    budget: float | None = Field(default=None, ge=0, description="spend cap for the run, USD")
    runs_dir: str
    run_id: str | None = None
    font: str | None = None
    music: str | None = None
    llm: str
    image: str
    video: str
    fps: int = 24
    yes: bool = False
    approve: Literal["ask", "defer", "auto"] = Field(
        default="defer", description="how checkpoints are approved: asked, left waiting, or auto"
    )
    cast: list[str] = Field(default_factory=list, description="cast members from `director cast`")
    characters: list[str] = Field(default_factory=list, description="NAME=IMAGE references")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="gate thresholds that replace the defaults, by name"
    )
    style_refs: list[str] = Field(
        default_factory=list, description="images every keyframe's look is compared with"
    )
    insightface_root: str | None = Field(
        default=None, description="folder holding models/<pack> for the insightface backend"
    )
    clip_weights: str | None = Field(default=None, description="open_clip weights file")
    clip_model: str | None = Field(default=None, description="open_clip architecture")
    diffusers: dict[str, Any] = Field(
        default_factory=dict,
        description="settings of the diffusers backends, when the run uses one (None: the "
        "backend's default)",
    )

    @property
    def runtime_s(self) -> float:
        return round(self.minutes * 60.0, 2)


def load_config_file(path: Path | None = None) -> dict[str, Any]:
    """The config file, its top-level keys checked against the options."""
    path = path or config_path()
    data = read_config(path)
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"Unknown keys in {path}: {', '.join(unknown)}.",
            f"Known keys: {', '.join(sorted(DEFAULTS))}.",
        )
    return data


def resolve(flags: dict[str, Any]) -> RunOptions:
    """Merge flags, environment, config file and defaults, then validate."""
    file_values = load_config_file()
    merged: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        merged[key] = _pick(key, flags.get(key), file_values.get(key), default)
    merged.pop("providers")  # read by director.tools.providers, never recorded
    merged.pop("prices")  # read by director.tools.pricing
    merged.pop("diffusers")  # resolved with its own flags and variables by _diffusers
    width, height = parse_size(str(merged.pop("size")))
    logline = validate_logline(flags.get("logline"))
    return _build(merged, logline, width, height, flags)


def _pick(key: str, flag: Any, file_value: Any, default: Any) -> Any:
    if flag is not None:
        return flag
    env = ENV_VARS.get(key)
    if env and os.environ.get(env):
        return os.environ[env]
    return file_value if file_value is not None else default


def _build(merged: dict[str, Any], logline: str, w: int, h: int, flags: dict) -> RunOptions:
    minutes = _number(merged.pop("minutes"), "--minutes", float)
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise InputError(
            f"--minutes {minutes:g} is out of range.",
            f"Choose between {MIN_MINUTES:g} and {MAX_MINUTES:g} minutes.",
        )
    approve = "auto" if flags.get("yes") else flags.get("approve") or "defer"
    if approve not in APPROVE_MODES:
        raise InputError(f"--approve {approve} is not a mode.", f"Use one of: {APPROVE_MODES}.")
    attempts = _number(merged.pop("max_attempts"), "--max-attempts", int)
    if not 1 <= attempts <= 50:
        raise InputError(f"--max-attempts {attempts} is out of range.", "Choose 1 to 50.")
    return RunOptions(
        logline=logline,
        minutes=minutes,
        width=w,
        height=h,
        max_attempts=attempts,
        best_of=_best_of(merged.pop("best_of"), attempts),
        max_run_attempts=_positive(merged.pop("max_run_attempts"), "--max-run-attempts", int),
        budget=_positive(merged.pop("budget"), "--budget", float),
        seed=_number(merged.pop("seed"), "--seed", int),
        run_id=flags.get("run_id"),
        yes=approve == "auto",
        approve=approve,
        cast=list(flags.get("cast") or []),
        characters=list(flags.get("character") or []),
        style_refs=_style_refs(flags.get("style_ref") or []),
        thresholds=_thresholds(merged.pop("thresholds"), flags.get("threshold") or []),
        diffusers=_diffusers(str(merged["image"]), str(merged["video"]), flags),
        runs_dir=str(merged.pop("runs_dir")),
        **{k: (str(v) if v is not None and k != "fps" else v) for k, v in merged.items()},
    )


def _best_of(value: Any, max_attempts: int) -> int:
    best_of = _number(value, "--best-of", int)
    if not 1 <= best_of <= MAX_BEST_OF:
        raise InputError(f"--best-of {best_of} is out of range.", f"Choose 1 to {MAX_BEST_OF}.")
    if best_of > max_attempts:
        raise InputError(
            f"--best-of {best_of} is more than --max-attempts {max_attempts}: every candidate "
            "counts as an attempt.",
            f"Raise --max-attempts to at least {best_of}, or lower --best-of.",
        )
    return best_of


def _diffusers(image: str, video: str, flags: dict) -> dict[str, Any]:
    """The diffusers settings when the run uses a diffusers backend, checked before any run
    folder exists; their flags are refused on a run that uses none."""
    from director.registry import split_spec
    from director.tools import diffusers_local

    given = {name: flags.get(name) for name in diffusers_local.FLAGS}
    if "diffusers" in (split_spec(image)[0], split_spec(video)[0]):
        return diffusers_local.resolve_settings(given, from_flags=True)
    named = [f"--{name}" for name, value in given.items() if value is not None]
    if named:
        raise InputError(
            f"{', '.join(named)} set the diffusers backends, and this run uses none.",
            "Choose one with --image diffusers:/path/to/model (or --video), or drop the flag.",
        )
    return {}


def resolve_option(key: str, flag: Any = None) -> Any:
    """One option for commands other than run: flag, environment, config file, default."""
    return _pick(key, flag, load_config_file().get(key), DEFAULTS[key])


def resolve_thresholds(flags: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Thresholds for commands other than run: the config file's table, then the flags."""
    return _thresholds(load_config_file().get("thresholds"), list(flags))


def _thresholds(table: Any, flags: list[str]) -> dict[str, float]:
    """The config file's [thresholds] table, with --threshold flags on top."""
    from director.tools.critics import thresholds

    if table is not None and not isinstance(table, dict):
        raise ConfigError(
            f"thresholds in {config_path()} is not a table.",
            "Write it as a [thresholds] section with NAME = NUMBER lines.",
        )
    from_file = thresholds.validate(table or {}, str(config_path()))
    return {**from_file, **thresholds.parse_flags(flags)}


def _style_refs(paths: list[str]) -> list[str]:
    """Absolute paths of readable style references, so the run folder records where they were."""
    found = []
    for path in paths:
        image = Path(path).expanduser()
        if not image.is_file():
            raise InputError(
                f"Style reference {path} does not exist.", "Pass the path of a PNG or JPEG file."
            )
        found.append(str(image.resolve()))
    return found


def _positive(value: Any, name: str, kind: type) -> Any:
    """An optional cap: None stays None; anything else must be a number above zero."""
    if value is None:
        return None
    number = _number(value, name, kind)
    if number <= 0:
        raise InputError(f"{name} {value} must be above zero.", f"Pass a positive {kind.__name__}.")
    return number


def _number(value: Any, name: str, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name} {value!r} is not a number.", f"Pass a {kind.__name__}.") from exc
    if isinstance(number, float) and not math.isfinite(number):
        raise InputError(f"{name} {value!r} is not a finite number.", "Pass a number, e.g. 5.")
    return number


def validate_logline(logline: str | None) -> str:
    """The logline, stripped of control characters (a terminal escape, a NUL); refused when
    empty, too long, or not text (bytes the shell could not decode)."""
    if any("\ud800" <= c <= "\udfff" for c in logline or ""):
        raise InputError(
            "The logline is not valid text: it holds bytes that are not UTF-8.",
            "Type it again in a UTF-8 terminal, or set LANG to a UTF-8 locale (C.UTF-8).",
        )
    text = clean_text(logline or "").strip()
    if not text:
        raise InputError(
            "The logline is empty.",
            'Pass --logline "A one-sentence story: who wants what, and what stands in the way".',
        )
    if len(text) > MAX_LOGLINE:
        raise InputError(
            f"The logline has {len(text)} characters; the limit is {MAX_LOGLINE}.",
            "Shorten it to one or two sentences.",
        )
    return text


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", text)
    if not match:
        raise InputError(f"--size {text!r} is not WIDTHxHEIGHT.", "Use e.g. --size 1280x720.")
    width, height = int(match[1]), int(match[2])
    if not (256 <= width <= 3840 and 144 <= height <= 3840) or width % 2 or height % 2:
        raise InputError(
            f"--size {width}x{height} is not usable for H.264 video.",
            "Use even numbers between 256x144 and 3840x3840, e.g. 1280x720.",
        )
    return width, height
