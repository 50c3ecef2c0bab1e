"""The style LoRA a run uses, and what its file says about itself.

A LoRA is written ``PATH[:STRENGTH]`` (``--lora``, the style bible's ``lora``): a
``.safetensors`` file, or a folder holding one, at a strength from -4 to 4 (1 when not given).
On a ComfyUI server it may also be a NAME the server lists under ``models/loras``.

What a LoRA file says is read from its safetensors header, without loading a tensor: the base
model it was trained for, its rank, steps and trigger word (director's own ``director.*``
metadata, else kohya's ``ss_*`` and the ``modelspec.*`` keys), and the architecture its tensor
names belong to; its SHA-256 is taken once per file version. The training images a LoRA was made
from, when they lie beside it (a ``dataset`` folder), can anchor the style critic.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from director.errors import InputError
from director.text import is_chinese

MIN_STRENGTH, MAX_STRENGTH = -4.0, 4.0
HINT = (
    "Write the LoRA as PATH or PATH:STRENGTH (on a ComfyUI server also NAME[:STRENGTH]), "
    f"the strength from {MIN_STRENGTH:g} to {MAX_STRENGTH:g}, e.g. "
    "--lora ~/loras/ink.safetensors:0.8."
)
SUFFIX = ".safetensors"
# The file diffusers saves a LoRA under; a folder holding it names it.
DIFFUSERS_NAME = "pytorch_lora_weights.safetensors"
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_ANCHORS = 8  # training images used as style anchors: enough to cover the look

# Metadata keys, first found wins: director's own, then kohya's and the model spec's.
TRIGGER_KEYS = ("director.trigger", "modelspec.trigger_phrase", "ss_trigger", "trigger")
BASE_KEYS = ("director.base_model", "director.base", "modelspec.architecture", "ss_sd_model_name")
# Keys that tell the architecture, the most precise first.
ARCHITECTURE_KEYS = (
    "director.architecture",
    "modelspec.architecture",
    "ss_base_model_version",
    *BASE_KEYS,
)
RANK_KEYS = ("director.rank", "ss_network_dim")
STEPS_KEYS = ("director.steps", "ss_max_train_steps", "ss_steps")
# Names of architectures, as the pipeline families call them.
ARCHITECTURES = {"sdxl": "SDXL", "sd1": "Stable Diffusion 1.x", "flux": "FLUX", "wan": "Wan"}
# How a base model's name tells its architecture: model spec ("stable-diffusion-xl-v1-base/lora"),
# kohya ("sdxl_base_v1-0", "sd_v1", "flux1"), file names ("sd_xl_base_1.0") and pipeline classes.
BASE_PATTERNS = (
    ("flux", r"flux"),
    ("sdxl", r"sd_?xl|stable[-_ ]?diffusion[-_ ]?xl|(^|[^a-z])xl([^a-z]|$)"),
    ("wan", r"(^|[^a-z])wan"),
    ("sd1", r"sd_?v?1([^0-9]|$)|stable[-_ ]?diffusion[-_ ]?v1|sd15|v1-5"),
)
# How tensor names tell it: FLUX's double and single blocks, SDXL's second text encoder (or a
# UNet attention with more than one transformer block), SD 1.x's one text encoder, Wan's blocks.
KEY_PATTERNS = (
    ("flux", r"double_blocks|single_blocks|single_transformer_blocks"),
    (
        "sdxl",
        r"^lora_te[12]_|^text_encoder_2\.|^(lora_unet_|unet\.)\S*transformer_blocks[._][1-9]",
    ),
    ("sd1", r"^lora_te_"),
    ("wan", r"(^|[._])blocks[._]\d+[._](self_attn|cross_attn)"),
)


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA as a run names it: a local file (absolute path) or a server's name, and the
    strength it is applied at."""

    name: str
    strength: float = 1.0

    def __str__(self) -> str:
        return f"{self.name}:{self.strength:g}"

    @property
    def path(self) -> Path | None:
        """The local file, when the name is one."""
        path = Path(self.name).expanduser()
        return path if path.is_file() else None


@dataclass(frozen=True)
class LoraFile:
    """What a LoRA file says about itself."""

    path: Path
    sha256: str
    architecture: str  # a key of ARCHITECTURES, or "" when neither metadata nor names tell
    base: str = ""  # the base model the metadata names
    rank: int | None = None
    steps: int | None = None
    trigger: str = ""
    metadata: dict[str, str] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """One line: file, base, rank, trigger."""
        base = self.base or ARCHITECTURES.get(self.architecture, "") or "not recorded"
        parts = [
            f"base {base}",
            f"rank {self.rank}" if self.rank else "rank unknown",
            f"trigger {self.trigger!r}" if self.trigger else "no trigger word",
        ]
        if self.steps:
            parts.insert(2, f"{self.steps} steps")
        return f"{self.path.name} ({', '.join(parts)}; sha256 {self.sha256[:12]})"


# --- the spec -------------------------------------------------------------------------------


def parse(text: str, what: str = "The LoRA") -> LoraSpec:
    """``PATH[:STRENGTH]`` -> LoraSpec, the path as given. A colon inside a path (``C:/x``)
    belongs to the name; a strength that is not a number, or out of range, is refused."""
    spec = str(text).strip()
    name, sep, tail = spec.rpartition(":")
    if not sep or "/" in tail or "\\" in tail:  # no strength: a colon in a path is the name's
        return _named(spec, text, what)
    name = _named(name, text, what).name
    try:
        strength = float(tail)
    except ValueError:
        strength = math.nan
    if not math.isfinite(strength):
        raise InputError(
            f"{what} {text!r} has the strength {tail.strip()!r}, which is not a number.", HINT
        )
    if not MIN_STRENGTH <= strength <= MAX_STRENGTH:
        raise InputError(
            f"{what} {text!r} has the strength {strength:g}, outside "
            f"{MIN_STRENGTH:g} to {MAX_STRENGTH:g}.",
            HINT,
        )
    return LoraSpec(name, strength)


def _named(name: str, text: str, what: str) -> LoraSpec:
    if not name.strip():
        raise InputError(f"{what} {text!r} names no file.", HINT)
    return LoraSpec(name.strip())


def resolve(text: str, *, local_only: bool, what: str = "The LoRA") -> LoraSpec:
    """The spec with a local file's absolute path (a folder: the LoRA file in it), its header
    checked; a name that is no local file is refused where only files can be used
    (``local_only``), else kept as a server's name."""
    spec = parse(text, what)
    given = Path(spec.name).expanduser()
    if given.exists():
        path = lora_file(given, what)
        read(path)  # a file that is no LoRA is refused now, not at the first keyframe
        return LoraSpec(str(path.resolve()), spec.strength)
    if local_only:
        raise InputError(
            f"{what} file {spec.name} does not exist.",
            f"Pass the path of a {SUFFIX} LoRA, or a folder holding one. {HINT}",
        )
    return spec


def lora_file(path: Path, what: str = "The LoRA") -> Path:
    """The LoRA file ``path`` names: itself, or the one LoRA file its folder holds."""
    if path.is_file():
        return path
    named = path / DIFFUSERS_NAME
    if named.is_file():
        return named
    found = sorted(p for p in path.glob(f"*{SUFFIX}") if p.is_file())
    if len(found) == 1:
        return found[0]
    listed = ", ".join(p.name for p in found[:5]) or f"no {SUFFIX} file"
    raise InputError(
        f"{what} folder {path} holds {listed}; director needs one LoRA file there.",
        f"Pass the file itself: --lora {path}/NAME{SUFFIX}[:STRENGTH].",
    )


# --- the file -------------------------------------------------------------------------------


def read(path: Path) -> LoraFile:
    """What the LoRA file at ``path`` says, read once per version of the file."""
    path = Path(path).expanduser().resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(f"Cannot read the LoRA {path}: {exc.strerror}.", HINT) from None
    return _read(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _read(path: Path, _mtime: int, _size: int) -> LoraFile:
    from director.memory.runs import sha256_file

    tensors, metadata = header(path)
    down = [k for k in tensors if _is_down(k)]
    if not down:
        raise InputError(
            f"{path} holds no LoRA weights (no lora_down or lora_A tensors): it may be a whole "
            "model rather than a LoRA.",
            "Pass a LoRA trained with kohya, diffusers or `director lora train`.",
        )
    base = _first(metadata, BASE_KEYS)
    return LoraFile(
        path=path,
        sha256=sha256_file(path),
        architecture=architecture_of(
            [metadata.get(k, "") for k in ARCHITECTURE_KEYS], list(tensors)
        ),
        base=base,
        rank=_number(_first(metadata, RANK_KEYS)) or _rank(tensors, down),
        steps=_number(_first(metadata, STEPS_KEYS)),
        trigger=_first(metadata, TRIGGER_KEYS),
        metadata=metadata,
    )


def header(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A safetensors file's tensors (name -> dtype, shape, offsets) and its metadata."""
    bad = InputError(
        f"{path} is not a safetensors file (its header cannot be read).",
        f"Pass a LoRA saved as {SUFFIX}.",
    )
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise bad
            (length,) = struct.unpack("<Q", head)
            if not 2 <= length <= MAX_HEADER:
                raise bad
            data = json.loads(fh.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad from None
    except OSError as exc:
        raise InputError(f"Cannot read the LoRA {path}: {exc.strerror}.", HINT) from None
    if not isinstance(data, dict):
        raise bad
    metadata = data.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise bad
    return data, {str(k): str(v) for k, v in metadata.items()}


def _is_down(key: str) -> bool:
    return ".lora_down." in key or ".lora_A." in key or ".lora.down." in key


def _first(metadata: dict[str, str], keys: tuple[str, ...]) -> str:
    return next((metadata[k].strip() for k in keys if metadata.get(k, "").strip()), "")


def _number(text: str) -> int | None:
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def _rank(tensors: dict[str, Any], down: list[str]) -> int | None:
    """The most common first dimension of the down (A) matrices: the rank."""
    ranks = Counter(
        tensors[k]["shape"][0]
        for k in down
        if isinstance(tensors[k], dict) and tensors[k].get("shape")
    )
    return ranks.most_common(1)[0][0] if ranks else None


def architecture_of(names: list[str], keys: list[str]) -> str:
    """The architecture a LoRA was trained for, from the first of ``names`` (the metadata's
    base model, most precise first) that tells, else from the names of its tensors; "" when
    none tells."""
    for name in names:
        for arch, pattern in BASE_PATTERNS:
            if re.search(pattern, name.lower()):
                return arch
    joined = "\n".join(keys)
    for arch, pattern in KEY_PATTERNS:
        if re.search(pattern, joined, re.MULTILINE):
            return arch
    return ""


def check_architecture(info: LoraFile, family: str, model: str) -> None:
    """Refuse a LoRA trained for another architecture than the pipeline's, where it is known."""
    if info.architecture and family in ARCHITECTURES and info.architecture != family:
        raise InputError(
            f"The LoRA {info.path.name} was trained for {ARCHITECTURES[info.architecture]}, and "
            f"{model} is {ARCHITECTURES[family]}.",
            f"Use a LoRA trained for {ARCHITECTURES[family]}, or the base model it was made for.",
        )


# --- what the run does with it ----------------------------------------------------------------


def with_trigger(style: str, trigger: str) -> str:
    """The text (a prompt, or a style slot) with the trigger word first, once: left as it is
    when it holds it."""
    trigger = trigger.strip()
    if not trigger or re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", style, re.IGNORECASE):
        return style
    if not style.strip():
        return trigger
    return f"{trigger}{'，' if is_chinese(style) else ', '}{style}"


def training_images(path: Path) -> list[Path]:
    """The training images beside a LoRA file (its folder's ``dataset``), at most
    MAX_ANCHORS of them spread over the set; none when there is no such folder."""
    folder = path.parent / "dataset"
    if not folder.is_dir():
        return []
    found = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    if len(found) <= MAX_ANCHORS:
        return found
    step = len(found) / MAX_ANCHORS
    return [found[int(i * step)] for i in range(MAX_ANCHORS)]
