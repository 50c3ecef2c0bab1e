"""Where the CLIP critic's model comes from: an architecture and a weights file, found offline.

The architecture (``--clip-model``) is an open_clip name (``ViT-B-32-quickgelu``), a ``.json``
model config in open_clip's format, or ``hf-hub:ORG/REPO`` already in the Hugging Face cache.
The weights are an explicit file (``--clip-weights``) or, when none is given, the files
open_clip itself would have downloaded for that architecture, looked for where it keeps them:
the Hugging Face Hub cache and open_clip's own cache (``~/.cache/clip``). Nothing is ever
downloaded, and nothing here imports torch or open_clip unless a name outside the default must
be looked up in open_clip's table of weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from director.errors import InputError, ToolMissing

# OpenAI's ViT-B/32 is the model CLIPScore was defined and reported with (Hessel et al. 2021),
# so its conventions hold for the default thresholds. OpenAI trained it with QuickGELU, which
# open_clip's "-quickgelu" architecture matches.
DEFAULT_MODEL = "ViT-B-32-quickgelu"
HUB_PREFIX = "hf-hub:"
# open_clip's file names in a Hub repo, safetensors first (open_clip's constants.py).
HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HUB_CONFIG = "open_clip_config.json"
CONFIG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")
INSTALL = "Install them with: pip install 'director[clip]'"
HOW_TO_FIX = (
    "Pass --clip-weights FILE (or set DIRECTOR_CLIP_WEIGHTS, or clip_weights in the config "
    f"file), or put open_clip's {DEFAULT_MODEL} 'openai' weights in the Hugging Face cache."
)


@dataclass(frozen=True)
class Pretrained:
    """One set of open_clip weights for a built-in architecture, as open_clip's table has it."""

    tag: str
    hub_repo: str = ""
    hub_file: str = ""
    url_file: str = ""
    quick_gelu: bool = False
    preprocess: tuple[tuple[str, object], ...] = ()


# open_clip's entry for ViT-B-32 "openai" (pretrained.py), so the default needs no import.
DEFAULT_PRETRAINED = Pretrained(
    tag="openai",
    hub_repo="timm/vit_base_patch32_clip_224.openai",
    url_file="ViT-B-32.pt",
    quick_gelu=True,
)


@dataclass(frozen=True)
class ClipSource:
    """What the critic builds: an open_clip architecture and the weights to load into it.

    ``arch`` is the name ``open_clip.create_model`` gets (after ``config`` is registered, for a
    ``.json`` model); ``weights`` is None when none were found, and ``looked`` says where."""

    model: str
    arch: str
    weights: str | None = None
    config: str | None = None
    explicit: bool = False
    quick_gelu: bool = False
    preprocess: tuple[tuple[str, object], ...] = ()
    looked: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The model as reasons name it: a config file by its name, not its whole path."""
        return Path(self.model).name if self.config else self.model

    def missing(self) -> str:
        """Why there are no weights, naming every place looked in."""
        if not self.looked:
            return f"no CLIP weights for the model config {self.label} (it names none to look for)"
        return f"no CLIP weights for {self.model} (looked in {'; '.join(self.looked)})"


def locate(model: str | None = None, weights: str | None = None) -> ClipSource:
    """The architecture ``model`` (default ``DEFAULT_MODEL``) and its weights: ``weights`` when
    given, else the first cached copy of weights open_clip publishes for it."""
    model = (model or "").strip() or DEFAULT_MODEL
    explicit = _explicit(weights)
    if model.startswith(HUB_PREFIX):
        return _hub_model(model, explicit)
    if model.lower().endswith(".json"):
        return _config_model(model, explicit)
    if explicit is not None:
        _known(model)
        return ClipSource(model=model, arch=model, weights=str(explicit), explicit=True)
    return _cached(model, _pretrained(model))


def hub_cache() -> Path:
    """The Hugging Face Hub cache, found the way ``huggingface_hub`` finds it."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    home = os.environ.get("HF_HOME") or str(Path(xdg) / "huggingface")
    return Path(home).expanduser() / "hub"


def clip_cache() -> Path:
    """open_clip's own download folder for weights published by URL (fixed in open_clip)."""
    return Path("~/.cache/clip").expanduser()


def hub_file(repo: str, names: tuple[str, ...], cache: Path | None = None) -> Path | None:
    """The first of ``names`` in a cached snapshot of ``repo``: the snapshot ``main`` points
    to first, then the others, newest first. Files still downloading are not in a snapshot."""
    for snapshot in _snapshots((cache or hub_cache()) / repo_folder(repo)):
        for name in names:
            if (snapshot / name).is_file():
                return snapshot / name
    return None


def repo_folder(repo: str) -> str:
    return "models--" + repo.replace("/", "--")


def _snapshots(folder: Path) -> Iterator[Path]:
    ref = folder / "refs" / "main"
    main = folder / "snapshots" / ref.read_text().strip() if ref.is_file() else None
    if main is not None and main.is_dir():
        yield main
    others = [p for p in (folder / "snapshots").glob("*") if p.is_dir() and p != main]
    yield from sorted(others, key=lambda p: p.stat().st_mtime, reverse=True)


def _explicit(weights: str | None) -> Path | None:
    if not weights or not str(weights).strip():
        return None
    path = Path(str(weights).strip()).expanduser()
    if not path.is_file():
        raise InputError(
            f"The CLIP weights file {path} does not exist.",
            "Pass an open_clip weights file (.safetensors, .bin, .pt) with --clip-weights, "
            "DIRECTOR_CLIP_WEIGHTS or clip_weights in the config file.",
        )
    return path.resolve()


def _cached(model: str, candidates: list[Pretrained]) -> ClipSource:
    for p in candidates:
        found = _find(p)
        if found is not None:
            return ClipSource(
                model=model,
                arch=model,
                weights=str(found),
                quick_gelu=p.quick_gelu,
                preprocess=p.preprocess,
            )
    return ClipSource(model=model, arch=model, looked=_looked(candidates))


def _find(p: Pretrained) -> Path | None:
    if p.hub_repo:
        names = (_safe_name(p.hub_file), p.hub_file) if p.hub_file else HUB_FILES
        found = hub_file(p.hub_repo, tuple(n for n in names if n))
        if found is not None:
            return found
    if p.url_file and (clip_cache() / p.url_file).is_file():
        return clip_cache() / p.url_file
    return None


def _safe_name(name: str) -> str:
    """open_clip prefers a .safetensors twin of a .bin or .pth file on the Hub."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.safetensors" if dot and ext in ("bin", "pth") else ""


def _looked(candidates: list[Pretrained]) -> tuple[str, ...]:
    repos = [p.hub_repo for p in candidates if p.hub_repo]
    files = [p.url_file for p in candidates if p.url_file]
    places = []
    if repos:
        places.append(f"the Hugging Face cache {hub_cache()} for {', '.join(repos)}")
    if files:
        places.append(f"open_clip's cache {clip_cache()} for {', '.join(files)}")
    return tuple(places)


def _hub_model(model: str, explicit: Path | None) -> ClipSource:
    repo = model[len(HUB_PREFIX) :].strip("/")
    config = hub_file(repo, (HUB_CONFIG,))
    if config is None:
        if explicit is not None:
            raise InputError(
                f"--clip-model {model}: {HUB_CONFIG} of {repo} is not in the Hugging Face "
                f"cache {hub_cache()}.",
                "director never downloads models: fetch the repo into the cache first, or "
                "pass a .json model config.",
            )
        return ClipSource(model=model, arch=model, looked=(str(hub_cache() / repo_folder(repo)),))
    arch = f"local-dir:{config.parent}"
    found = explicit or hub_file(repo, HUB_FILES)
    if found is None:
        return ClipSource(model=model, arch=arch, looked=(str(config.parent),))
    return ClipSource(model=model, arch=arch, weights=str(found), explicit=explicit is not None)


def _config_model(model: str, explicit: Path | None) -> ClipSource:
    path = Path(model).expanduser()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--clip-model {path} cannot be read as a JSON model config ({exc}).",
            "Pass an open_clip architecture name or an open_clip model config file.",
        ) from exc
    if not isinstance(config, dict) or not all(k in config for k in CONFIG_KEYS):
        raise InputError(
            f"--clip-model {path} is not an open_clip model config.",
            f"An open_clip model config has the keys {', '.join(CONFIG_KEYS)}.",
        )
    weights = str(explicit) if explicit is not None else None
    resolved = str(path.resolve())
    return ClipSource(
        model=model, arch=path.stem, config=resolved, weights=weights, explicit=bool(weights)
    )


def _pretrained(model: str) -> list[Pretrained]:
    """Weights open_clip publishes for ``model``: the default's from the table above; any other
    architecture's from open_clip's own table (needs open_clip)."""
    if model == DEFAULT_MODEL:
        return [DEFAULT_PRETRAINED]
    _known(model)
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    return [
        _entry(tag, get_pretrained_cfg(model, tag)) for tag in list_pretrained_tags_by_model(model)
    ]


def _entry(tag: str, cfg: dict) -> Pretrained:
    # open_clip's convention: "org/repo/" names a repo, "org/repo/file" one file in it.
    repo, file = os.path.split(cfg.get("hf_hub") or "")
    keys = ("mean", "std", "interpolation", "resize_mode")
    return Pretrained(
        tag=tag,
        hub_repo=repo,
        hub_file=file,
        url_file=os.path.basename(cfg.get("url") or ""),
        quick_gelu=bool(cfg.get("quick_gelu", False)),
        preprocess=tuple((k, _frozen(cfg[k])) for k in keys if k in cfg),
    )


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def _known(model: str) -> None:
    """Refuse a name open_clip has no architecture for (needs open_clip, unless the default)."""
    if model == DEFAULT_MODEL:
        return
    try:
        import open_clip
    except ImportError as exc:
        raise ToolMissing(f"--clip-model {model} needs open_clip and torch.", INSTALL) from exc
    if model not in open_clip.list_models():
        raise InputError(
            f"--clip-model {model} is not an open_clip architecture.",
            f"Use one of open_clip.list_models() (the default is {DEFAULT_MODEL}), "
            "hf-hub:ORG/REPO from the Hugging Face cache, or a .json model config.",
        )
