"""The diffusers backends' settings: the table, each value's check, and where it comes from.

Settings are resolved like every other option: a ``director run`` flag or a constructor
argument, then the ``DIRECTOR_DIFFUSERS_<NAME>`` environment variable, then the config file's
``[diffusers]`` table (handed in by the command that read the file), then the default. A run
resolves them once and hands them to its backends (``settings=``); a backend built without
them resolves its arguments and the environment alone:

- ``device`` (``--device``): ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; auto is the GPU when
  one is visible.
- ``dtype`` (``--dtype``): ``auto``, ``float32``, ``bfloat16`` or ``float16``; auto is float32
  on the CPU and bfloat16 on a GPU (float16 where bfloat16 is not supported).
- ``offload`` (``--offload``): keep the parts of the model not in use in RAM; off.
- ``steps`` (``--steps``) and ``guidance``: denoising steps and guidance scale; the model's own.
- ``max_batch`` (images): candidates made in one denoising pass; 4.
- ``config`` (images): the diffusers config folder of a single checkpoint file; the file's own
  folder.
- ``lora`` (images): a LoRA used when the style bible names none.
- ``attention``: the attention kernel. ``auto`` leaves the library's choice; ``_native_flash``,
  ``_native_cudnn``, ``_native_efficient`` or ``_native_math`` put one of torch's own kernels
  first for every attention call of the pipeline (the CUDA-only ones are refused on the CPU);
  any other diffusers attention backend (``flash``, ``sage``, ``flex``...) is set on the
  denoiser, which must be a model whose attention diffusers dispatches (FLUX and Wan, not
  SDXL's UNet).
- ``compile``: ``off``, ``on`` or a ``torch.compile`` mode (``reduce-overhead``,
  ``max-autotune``, ``max-autotune-no-cudagraphs``) for the denoiser; the first image or clip
  of each new shape pays for compiling; off.
- ``vae_decode``: ``full`` (the batch at once), ``sliced`` (one image or clip at a time) or
  ``tiled`` (one at a time, in overlapping tiles); ``auto`` tiles frames larger than a size
  the backend names (2048x2048 for keyframes, 832x480 for clips) and decodes the rest whole.

A bad value is refused with an ``InputError`` that names where it came from. The settings are
not secret: a run records them in run.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.config import Section
from director.errors import ConfigError, InputError

DTYPES = ("float32", "bfloat16", "float16")
ENV_PREFIX = "DIRECTOR_DIFFUSERS_"
TABLE = "diffusers"
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# Settings only the image backend takes.
IMAGE_ONLY = ("max_batch", "config", "lora")
# torch's own attention kernels, by the names diffusers gives them.
KERNELS = {
    "_native_flash": "FLASH_ATTENTION",
    "_native_cudnn": "CUDNN_ATTENTION",
    "_native_efficient": "EFFICIENT_ATTENTION",
    "_native_math": "MATH",
}
CUDA_KERNELS = ("_native_cudnn", "_native_efficient")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
VAE_DECODES = ("auto", "full", "sliced", "tiled")


def _device(value: Any) -> str:
    text = str(value).strip().lower()
    if not DEVICE.match(text):
        raise ValueError("use auto, cpu, cuda or cuda:N (e.g. cuda:1)")
    return text


def _dtype(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("auto", *DTYPES):
        raise ValueError(f"use one of: auto, {', '.join(DTYPES)}")
    return text


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in TRUE + FALSE:
        raise ValueError("use true or false (1 or 0 in the environment)")
    return text in TRUE


def _count(value: Any) -> int:
    try:  # through str, so that 2.5 and true are refused rather than truncated
        number = 0 if isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError("use a whole number, 1 or more")
    return number


def _scale(value: Any) -> float:
    try:
        number = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:  # also refuses NaN
        raise ValueError("use a number, 0 or more")
    return number


def _attention(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("auto", "native", *KERNELS) or text in _diffusers_backends():
        return text
    raise ValueError(
        f"use auto, one of torch's kernels ({', '.join(KERNELS)}) or a diffusers attention "
        "backend (flash, sage, flex...)"
    )


def _diffusers_backends() -> tuple[str, ...]:
    """The attention backends the installed diffusers knows; none without diffusers."""
    if importlib.util.find_spec("diffusers") is None:
        return ()
    from diffusers.models.attention_dispatch import AttentionBackendName

    return tuple(name.value for name in AttentionBackendName)


def _compile(value: Any) -> str:
    text = str(value).strip().lower()
    if text in COMPILE_MODES:
        return text
    try:
        return "default" if _switch(value) else "off"
    except ValueError:
        raise ValueError(
            f"use off, on or a torch.compile mode: {', '.join(COMPILE_MODES[1:])}"
        ) from None


def _vae_decode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in VAE_DECODES:
        raise ValueError(f"use one of: {', '.join(VAE_DECODES)}")
    return text


def _path(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("use the path of a file or folder")
    return str(Path(text).expanduser())


@dataclass(frozen=True)
class Setting:
    parse: Callable[[Any], Any]  # raises ValueError saying which values are accepted
    example: Any  # a good value, for messages
    flag: str = ""  # the ``director run`` flag, where there is one
    help: str = ""  # the flag's help
    shown_default: str = ""  # what None means, for the help
    kind: type = str  # what the flag takes: str, int, or bool (an on/off pair)
    metavar: str | None = None


SETTINGS: dict[str, Setting] = {
    "device": Setting(
        _device, "cuda", "device", "Where the diffusers backends run: auto, cpu, cuda or cuda:N",
        "auto, the GPU when one is visible", metavar="DEVICE",
    ),
    "dtype": Setting(
        _dtype, "bfloat16", "dtype",
        "Weight precision of the diffusers backends: auto, float32, bfloat16, float16",
        "auto: float32 on the CPU, bfloat16 on a GPU", metavar="DTYPE",
    ),
    "offload": Setting(
        _switch, True, "offload",
        "Keep the parts of a diffusers model not in use in RAM, for a model larger than the "
        "GPU's memory", "off", kind=bool,
    ),
    "steps": Setting(
        _count, 30, "steps", "Denoising steps of the diffusers backends", "the model's own",
        kind=int,
    ),
    "guidance": Setting(_scale, 5.0),
    "max_batch": Setting(_count, 2),
    "config": Setting(_path, "/path/to/config"),
    "lora": Setting(_path, "/path/to/style.safetensors"),
    "attention": Setting(_attention, "_native_cudnn"),
    "compile": Setting(_compile, "on"),
    "vae_decode": Setting(_vae_decode, "tiled"),
}  # fmt: skip
FLAGS = tuple(name for name, spec in SETTINGS.items() if spec.flag)


def help_text(name: str) -> str:
    """A flag's help with where else the setting comes from and what it is when unset."""
    spec = SETTINGS[name]
    where = f"env {ENV_PREFIX}{name.upper()}; config [{TABLE}] {name}; default {spec.shown_default}"
    return f"{spec.help} [{where}]."


def resolve_settings(
    given: Mapping[str, Any] | None = None,
    *,
    from_flags: bool = False,
    section: Section | None = None,
) -> dict:
    """Every setting, checked: from ``given`` (flags, or a backend's arguments), else
    ``DIRECTOR_DIFFUSERS_<NAME>``, else the ``[diffusers]`` table handed in as ``section``
    (none: no table), else None (the backend's default)."""
    given = given or {}
    table = _checked_table(section or Section(TABLE))
    resolved = {}
    for name in SETTINGS:
        value, source = _first_set(name, given.get(name), table, from_flags)
        resolved[name] = None if value is None else _parsed(name, value, source)
    return resolved


def backend_settings(resolved: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict:
    """A backend's settings: ``resolved`` (a run's, already checked) with the backend's own
    arguments ``given`` checked on top; without ``resolved``, the arguments, then the
    environment (``resolve_settings`` with no table)."""
    if resolved is None:
        return resolve_settings(given)
    chosen = {name: resolved.get(name) for name in SETTINGS}
    for name, value in given.items():
        if value is not None:
            chosen[name] = _parsed(name, value, f"the argument {name}")
    return chosen


def how_to_set(name: str, value: Any) -> str:
    """Every way to give a setting ``value``, for the fix part of a message."""
    flag = SETTINGS[name].flag
    if isinstance(value, bool):
        toml, env = str(value).lower(), str(int(value))
        ways = [f"--{flag}" if value else f"--no-{flag}"] if flag else []
    else:
        toml = json.dumps(value) if isinstance(value, str) else str(value)
        env = str(value)
        ways = [f"--{flag} {value}"] if flag else []
    ways += [f"{name} = {toml} in the config file's [{TABLE}] table"]
    return f"{', '.join(ways)} or {ENV_PREFIX}{name.upper()}={env}"


def _first_set(name: str, given: Any, table: dict, from_flags: bool) -> tuple[Any, str]:
    if given is not None:
        flag = SETTINGS[name].flag
        return given, f"--{flag}" if from_flags and flag else f"the argument {name}"
    env = ENV_PREFIX + name.upper()
    if os.environ.get(env, "").strip():
        return os.environ[env], env
    if table.get(name) is not None:
        return table[name], f"{name} in the config file's [{TABLE}] table"
    return None, ""


def _parsed(name: str, value: Any, source: str) -> Any:
    try:
        return SETTINGS[name].parse(value)
    except ValueError as exc:
        raise InputError(
            f"The diffusers setting {name} is {value!r} (from {source}): {exc}.",
            f"For example: {how_to_set(name, SETTINGS[name].example)}.",
        ) from None


def _checked_table(section: Section) -> dict:
    table = dict(section.values)
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"Unknown keys in the [{TABLE}] table of {section.path}: {', '.join(unknown)}.",
            f"Known keys: {', '.join(SETTINGS)}.",
        )
    return table
