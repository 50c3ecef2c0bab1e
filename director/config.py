"""Every option once, and how a command resolves them: on the ground floor.

Each option is one ``Option`` record: its name, type, default, environment variable, config
key, allowed range, and help text. The command-line flags are built from these
records (``director.cli.options``), and a command resolves them once: command-line flag, then
environment variable, then the config file, then the default.

The config file is TOML at ``$DIRECTOR_CONFIG`` or ``$XDG_CONFIG_HOME/director/config.toml``
(``~/.config/director/config.toml``), with the options' keys (``runs_dir``, ``size``,
``max_attempts``, ...) at the top level and tables for the settings of one part:
``[thresholds]``, ``[providers.NAME]``, ``[prices."PROVIDER:MODEL"]`` and ``[diffusers]``. It is
read and checked here (``load_config_file``), once per resolution; each table is handed, as a
``Section``, to the part it configures (``director.registry`` hands a backend its provider's
table and the prices). A part built without its table goes without it: the tools never open
the file, nor ask this module for a table.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from director.errors import ConfigError, InputError

MAX_LOGLINE = 2000
APPROVE_MODES = ("ask", "defer", "auto")


@dataclass(frozen=True)
class Option:
    """One option: where its value may come from, what it may be, and what it does."""

    name: str
    kind: type  # str, int or float: what the value is turned into
    default: Any
    help: str
    env: str | None = None  # the environment variable, where there is one
    flag: bool = True  # whether ``director run`` takes it as --NAME
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False  # an optional cap: None, or a number above zero
    unit: str = ""  # named in the range message ("minutes")
    shown_default: str | None = None  # the default as help shows it; {default} is the value
    metavar: str | None = None

    @property
    def key(self) -> str:
        """The config file's key."""
        return self.name

    @property
    def switch(self) -> str:
        """The command-line flag, as messages name it."""
        return "--" + self.name.replace("_", "-")

    def help_text(self) -> str:
        """The help with where the value comes from: ``[env VAR; default: VALUE]``."""
        shown = (self.shown_default or "{default}").format(default=_shown(self.default))
        where = f"env {self.env}; " if self.env else ""
        text = self.help.format(minimum=self.minimum, maximum=self.maximum)
        return f"{text} [{where}default: {shown}]."

    def check(self, value: Any) -> Any:
        """``value`` as this option's type and within its range; None stays None where the
        default is None."""
        if value is None and self.default is None:
            return None
        if self.kind is str:
            return str(value)
        number = checked_number(value, self.switch, self.kind)
        if self.positive and number <= 0:
            raise InputError(
                f"{self.switch} {value} must be above zero.",
                f"Pass a positive {self.kind.__name__}.",
            )
        if not _within(number, self.minimum, self.maximum):
            raise InputError(f"{self.switch} {number:g} is out of range.", self.range_hint())
        return number

    def range_hint(self) -> str:
        low, high = self.minimum, self.maximum
        if self.kind is int:
            return f"Choose {low:g} to {high:g}."
        unit = f" {self.unit}" if self.unit else ""
        return f"Choose between {low:g} and {high:g}{unit}."

    def bounds(self) -> dict[str, float]:
        """The range as pydantic's Field arguments, so the record checks what the flag does."""
        found = {"ge": self.minimum, "le": self.maximum, "gt": 0 if self.positive else None}
        return {name: value for name, value in found.items() if value is not None}


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _within(number: float, low: float | None, high: float | None) -> bool:
    return (low is None or number >= low) and (high is None or number <= high)


def checked_number(value: Any, name: str, kind: type) -> Any:
    """``value`` as ``kind`` (int or float), finite; an InputError naming ``name`` if not."""
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name} {value!r} is not a number.", f"Pass a {kind.__name__}.") from exc
    if isinstance(number, float) and not math.isfinite(number):
        raise InputError(f"{name} {value!r} is not a finite number.", "Pass a number, e.g. 5.")
    return number


def _options(*options: Option) -> dict[str, Option]:
    return {option.name: option for option in options}


BACKEND = "PROVIDER[:MODEL]"
OPTIONS: dict[str, Option] = _options(
    Option("minutes", float, 3.0, "Target runtime, {minimum:g} to {maximum:g}", minimum=0.25,
           maximum=20.0, unit="minutes"),
    Option(
        "structure", str, None,
        "Story structure: three-act, qi-cheng-zhuan-he (起承转合), save-the-cat",
        env="DIRECTOR_STRUCTURE",
        shown_default="qi-cheng-zhuan-he for a Chinese logline, three-act otherwise",
    ),
    Option("seed", int, 2075, "Base seed; same logline, options and seed give the same plan "
           "and keyframes", env="DIRECTOR_SEED", minimum=0, maximum=2**31 - 1),
    Option("size", str, "1280x720", "Frame size WIDTHxHEIGHT", env="DIRECTOR_SIZE"),
    Option(
        "max_attempts", int, 6,
        "Attempts per shot (keyframe, and clip) before the best one is taken and flagged",
        env="DIRECTOR_MAX_ATTEMPTS", minimum=1, maximum=50,
        shown_default="{default}, enough to climb every rung of the ladder",
    ),
    Option(
        "best_of", int, 1,
        "Keyframe candidates made together for each attempt (one batch on a local GPU, K tasks "
        "on a hosted service); the critics judge them all and the best one counts. Each "
        "candidate counts as an attempt and is paid for",
        env="DIRECTOR_BEST_OF", minimum=1, maximum=16, metavar="K",
    ),
    Option(
        "max_run_attempts", int, None,
        "Generations in the whole run, keyframes and clips; when spent, failing shots take "
        "their best attempt", env="DIRECTOR_MAX_RUN_ATTEMPTS", positive=True,
        shown_default="3 per shot (plus K-1 with --best-of K), plus --max-attempts",
    ),
    Option(
        "budget", float, None,
        "Spend cap for the run in USD: a retry it cannot pay for is not made (the shot takes "
        "its best attempt), and the run stops before a needed call would exceed it",
        env="DIRECTOR_BUDGET", positive=True, shown_default="no cap", metavar="USD",
    ),
    Option("runs_dir", str, "runs", "Folder that holds the runs", env="DIRECTOR_RUNS_DIR",
           shown_default="./runs"),
    Option("font", str, None, "Font file for titles and subtitles", env="DIRECTOR_FONT",
           shown_default="bundled Noto Sans CJK"),
    Option("music", str, None, "Audio file laid under the film, trimmed and faded"),
    Option("doc_lang", str, None, "Language of the workflow document: en or zh",
           env="DIRECTOR_DOC_LANG", shown_default="the film's language", metavar="en|zh"),
    Option("voice", str, "none", "Voices for narration and dialogue: none, scratch (offline "
           "and robotic, a scratch track for timing like previz), openai:gpt-4o-mini-tts, "
           "dashscope:qwen3-tts-flash or dashscope:cosyvoice-v2",
           env="DIRECTOR_VOICE", metavar=BACKEND),
    Option("narrator_voice", str, None, "The narrator's voice in the --voice backend (e.g. onyx "
           "for openai, m3 for scratch); a cast member's own is set with director cast add "
           "--voice", env="DIRECTOR_NARRATOR_VOICE", shown_default="the backend's first",
           metavar="VOICE"),
    Option("llm", str, "offline", "Planner: offline, openai:gpt-4.1-mini, dashscope:qwen-plus, "
           "or openai-compatible:URL#MODEL", env="DIRECTOR_LLM", metavar=BACKEND),
    Option("image", str, "previz", "Keyframe generator: previz, dashscope:wan2.2-t2i-flash, "
           "openai:gpt-image-1.5, diffusers:/path/to/model, or comfyui:sdxl (flux, or a "
           "workflow file)", env="DIRECTOR_IMAGE",
           metavar=BACKEND),
    Option("video", str, "previz", "Clip generator: previz, dashscope:wan2.2-i2v-flash, "
           "diffusers:/path/to/model, or comfyui:wan2.2-i2v (wan2.2-t2v, or a workflow file)", env="DIRECTOR_VIDEO", metavar=BACKEND),
    Option("fps", int, 24, "Frames per second of the film", flag=False, minimum=1, maximum=120),
    Option("lora", str, None, "Style LoRA for every keyframe, a .safetensors file (on a "
           "ComfyUI server also a LoRA's NAME there) at STRENGTH -4 to 4; replaces the style "
           "bible's lora", env="DIRECTOR_LORA", shown_default="the style bible's, else none",
           metavar="PATH[:STRENGTH]"),
    Option("comfyui_url", str, "http://127.0.0.1:8188", "ComfyUI server for --image "
           "comfyui:WORKFLOW and --video comfyui:WORKFLOW", env="COMFYUI_URL", metavar="URL"),
    Option("comfyui_image_url", str, None, "ComfyUI server for keyframes, when it is not the "
           "--comfyui-url one", env="DIRECTOR_COMFYUI_IMAGE_URL", shown_default="--comfyui-url",
           metavar="URL"),
    Option("comfyui_video_url", str, None, "ComfyUI server for clips, when it is not the "
           "--comfyui-url one", env="DIRECTOR_COMFYUI_VIDEO_URL", shown_default="--comfyui-url",
           metavar="URL"),
    Option("comfyui_edit", str, "inpaint", "ComfyUI workflow for the ladder's edit rung: a "
           "built-in name or an API-format file; none turns the rung off",
           env="DIRECTOR_COMFYUI_EDIT", metavar="WORKFLOW"),
    Option("comfyui_lora", str, None, "Deprecated: the same as --lora",
           env="DIRECTOR_COMFYUI_LORA", shown_default="none", metavar="NAME[:STRENGTH]"),
    Option("comfyui_timeout", float, 3600.0, "Seconds to wait for one ComfyUI prompt",
           env="DIRECTOR_COMFYUI_TIMEOUT", positive=True, unit="seconds", metavar="SECONDS"),
    Option(
        "insightface_root", str, None,
        "Folder whose models/<pack> holds an insightface model pack; with a pack there, "
        "identity uses insightface instead of dlib", env="DIRECTOR_INSIGHTFACE_ROOT",
        shown_default="~/.insightface",
    ),
    Option(
        "clip_weights", str, None,
        "open_clip weights file for the prompt and CLIP style checks",
        env="DIRECTOR_CLIP_WEIGHTS",
        shown_default="the model's weights in the Hugging Face cache or ~/.cache/clip, never "
        "downloaded",
    ),
    Option(
        "clip_model", str, None,
        "open_clip architecture of those weights: a name, hf-hub:ORG/REPO from the Hugging "
        "Face cache, or a .json model config", env="DIRECTOR_CLIP_MODEL",
        shown_default="ViT-B-32-quickgelu",
    ),
)  # fmt: skip

# Tables of the config file, each handed to the part it configures.
TABLES = {
    "thresholds": "Write it as a [thresholds] section with NAME = NUMBER lines.",
    "providers": "Write [providers.NAME] sections with api_key, base_url or region.",
    "prices": 'Write [prices."PROVIDER:MODEL"] sections, e.g. per_image = 0.02.',
    "diffusers": "Write it as a [diffusers] section with NAME = VALUE lines.",
}


# --- the config file ------------------------------------------------------------------------


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
    import tomllib  # only when a command reads the file, not for --help

    path = path or config_path()
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"The config file {path} is not a file.",
            "Move it away, or name a TOML file with DIRECTOR_CONFIG.",
        )
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


@dataclass(frozen=True)
class Section:
    """One table of the config file, handed to the part it configures: its values, and the
    file they came from, for messages."""

    name: str  # "diffusers", "prices", "providers.openai"
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)  # may hold keys
    path: str = "the config file"


@dataclass(frozen=True)
class ConfigFile:
    """The config file, read and checked: its top-level option values and its tables."""

    path: Path
    values: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def section(self, name: str) -> Section:
        """A table (``providers.NAME`` for one provider's), empty where the file has none."""
        top, _, sub = name.partition(".")
        values = self.tables.get(top) or {}
        if sub:
            values = values.get(sub) or {}
        return Section(name, values, str(self.path))


def load_config_file(path: Path | None = None) -> ConfigFile:
    """The config file, its top-level keys checked against the options and its tables checked
    to be tables."""
    path = path or config_path()
    data = read_config(path)
    known = set(OPTIONS) | set(TABLES)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"Unknown keys in {path}: {', '.join(unknown)}.",
            f"Known keys: {', '.join(sorted(known))}.",
        )
    for name, fix in TABLES.items():
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise ConfigError(f"{name} in {path} is not a table.", fix)
    values = {k: v for k, v in data.items() if k in OPTIONS}
    tables = {k: data[k] for k in TABLES if data.get(k) is not None}
    return ConfigFile(path, values, tables)


def section(name: str) -> Section:
    """A table of the config file, for a command that needs that one table only."""
    return load_config_file().section(name)


# --- resolution -----------------------------------------------------------------------------


def pick(name: str, flag: Any = None, file: ConfigFile | None = None) -> Any:
    """One option's raw value: flag, then environment, then config file, then default."""
    option = OPTIONS[name]
    if flag is not None:
        return flag
    if option.env and os.environ.get(option.env):
        return os.environ[option.env]
    file_value = (file or load_config_file()).values.get(option.key)
    return file_value if file_value is not None else option.default


def resolve_option(name: str, flag: Any = None, file: ConfigFile | None = None) -> Any:
    """One option for commands other than run: flag, environment, config file, default."""
    return pick(name, flag, file)


def resolve_options(flags: Mapping[str, Any], file: ConfigFile) -> dict[str, Any]:
    """Every option of the table, picked and checked: size split into width and height, the
    attempt caps checked against each other."""
    values = {name: option.check(pick(name, flags.get(name), file)) for name, option in
              OPTIONS.items()}  # fmt: skip
    values["width"], values["height"] = parse_size(str(values.pop("size")))
    if values["best_of"] > values["max_attempts"]:
        best_of, attempts = values["best_of"], values["max_attempts"]
        raise InputError(
            f"--best-of {best_of} is more than --max-attempts {attempts}: every candidate "
            "counts as an attempt.",
            f"Raise --max-attempts to at least {best_of}, or lower --best-of.",
        )
    return values


def checked_approve(flags: Mapping[str, Any]) -> str:
    """--yes, else --approve, else defer; refused when not a mode."""
    approve = "auto" if flags.get("yes") else flags.get("approve") or "defer"
    if approve not in APPROVE_MODES:
        raise InputError(f"--approve {approve} is not a mode.", f"Use one of: {APPROVE_MODES}.")
    return approve


def validate_logline(logline: str | None) -> str:
    """The logline, stripped of control characters (a terminal escape, a NUL); refused when
    empty, too long, or not text (bytes the shell could not decode)."""
    if any("\ud800" <= c <= "\udfff" for c in logline or ""):
        raise InputError(
            "The logline is not valid text: it holds bytes that are not UTF-8.",
            "Type it again in a UTF-8 terminal, or set LANG to a UTF-8 locale (C.UTF-8).",
        )
    from director.records import clean_text  # pydantic: not imported for --help

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
