"""One registry for every kind of backend, built-ins and plugins alike.

Backends are named ``PROVIDER`` or ``PROVIDER:MODEL`` on the command line. Each kind has an
entry-point group (``director.planners``, ``director.image``, ``director.video``,
``director.critics``, ``director.voices``); third-party packages add backends by declaring
entry points there.
The built-ins are declared in director's own pyproject and also listed here, so a source
checkout that is not installed still finds them.

A backend is handed its settings here, never reads the config file itself: one whose
constructor takes ``provider_settings`` gets its provider's (the environment, then the config
file's ``[providers.NAME]`` table), one that takes ``prices`` the price table with the config
file's ``[prices]`` on top; a diffusers backend of a run gets the run's resolved
``[diffusers]`` settings.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from director.errors import ToolMissing, UnknownBackend

if TYPE_CHECKING:
    from director.config import ConfigFile

KINDS = ("planners", "image", "video", "critics", "voices")

BUILTINS: dict[str, dict[str, str]] = {
    "planners": {
        "offline": "director.tools.llm.offline:OfflinePlanner",
        "openai": "director.tools.llm.openai_planner:OpenAIPlanner",
        "dashscope": "director.tools.llm.openai_planner:DashScopePlanner",
        "openai-compatible": "director.tools.llm.openai_planner:CompatiblePlanner",
    },
    "image": {
        "previz": "director.tools.image.previz:PrevizImage",
        "openai": "director.tools.image.openai_images:OpenAIImage",
        "dashscope": "director.tools.image.dashscope:DashScopeImage",
        "diffusers": "director.tools.image.diffusers_image:DiffusersImage",
        "comfyui": "director.tools.image.comfyui:ComfyUIImage",
    },
    "video": {
        "previz": "director.tools.video.previz:PrevizVideo",
        "dashscope": "director.tools.video.dashscope:DashScopeVideo",
        "diffusers": "director.tools.video.diffusers_video:DiffusersVideo",
        "comfyui": "director.tools.video.comfyui:ComfyUIVideo",
    },
    "critics": {
        "technical": "director.tools.critics.technical:TechnicalCritic",
        "palette": "director.tools.critics.palette:PaletteCritic",
        "duplicate": "director.tools.critics.duplicate:DuplicateCritic",
        "clip": "director.tools.critics.clip:ClipCritic",
        "identity": "director.tools.critics.identity:IdentityCritic",
    },
    "voices": {
        "scratch": "director.tools.voice.scratch:ScratchVoice",
        "openai": "director.tools.voice.openai_speech:OpenAISpeech",
        "dashscope": "director.tools.voice.dashscope:DashScopeVoice",
    },
}


def available(kind: str) -> dict[str, str]:
    """Provider name -> 'module:attr' for one kind, plugins overriding nothing built in."""
    found = {ep.name: ep.value for ep in entry_points(group=f"director.{kind}")}
    return {**found, **BUILTINS[kind]}


def classes(kind: str) -> dict[str, type]:
    """Provider name -> class for one kind, every installed backend imported: the built-ins in
    their order, then plugins by name. A plugin that cannot be imported is named, with the fix."""
    found = available(kind)
    names = [*BUILTINS[kind], *sorted(set(found) - set(BUILTINS[kind]))]
    return {name: _import_plugin(kind, name, found[name]) for name in names}


def split_spec(spec: str) -> tuple[str, str]:
    provider, _, model = spec.partition(":")
    return provider.strip().lower(), model.strip()


def load(kind: str, spec: str, *, file: ConfigFile | None = None, **kwargs: Any) -> Any:
    """Instantiate the backend named by ``spec`` ('provider' or 'provider:model'), with its
    provider's settings from the command's config file (``file``; read here when not given)
    where it takes them."""
    provider, model = split_spec(spec)
    target = available(kind).get(provider)
    if target is None:
        choices = ", ".join(sorted(available(kind)))
        raise UnknownBackend(
            f"No {kind} backend named {provider!r}.", f"Installed {kind} backends: {choices}."
        )
    cls = _import(target)
    kwargs = {**_handed(cls, provider, file), **kwargs}
    if not model or model == getattr(cls, "model", None):
        return cls(**kwargs)
    try:
        return cls(model=model, **kwargs)
    except TypeError as exc:  # the backend has one fixed model
        raise UnknownBackend(
            f"The {kind} backend {provider!r} has no model {model!r}.",
            f"Use {provider!r} or {provider}:{getattr(cls, 'model', '')}.",
        ) from exc


def load_for_run(kind: str, options: Any, file: ConfigFile | None = None) -> Any:
    """The run's image or video backend, built with the run's settings for it: a hosted
    backend takes its provider's settings from the command's config file (``file``), a
    diffusers backend the resolved ``[diffusers]`` settings of the run's options (flags
    included, and the recorded ones when a run is resumed), a ComfyUI backend its server and
    workflows."""
    spec = getattr(options, kind)
    provider = split_spec(spec)[0]
    if provider == "diffusers":
        lora = run_lora(options) if kind == "image" else None
        extra = {"lora": lora} if lora else {}
        return load(kind, spec, settings=dict(options.diffusers) or None, **extra)
    if provider == "comfyui":
        return load(kind, spec, **comfyui_settings(kind, options))
    return load(kind, spec, file=file)


def comfyui_settings(kind: str, options: Any) -> dict[str, Any]:
    """A ComfyUI backend's settings from resolved options (a run's, or doctor's): the server
    of its kind (or the shared one), the wait, and for keyframes the edit workflow and LoRA."""
    url = getattr(options, f"comfyui_{kind}_url", None) or options.comfyui_url
    found: dict[str, Any] = {"url": url, "timeout": options.comfyui_timeout}
    if kind == "image":
        edit = options.comfyui_edit
        found["edit_workflow"] = None if str(edit).strip().lower() == "none" else edit
        found["lora"] = run_lora(options)
    return found


def run_lora(options: Any) -> str | None:
    """The run's style LoRA: ``lora``, else the deprecated ``comfyui_lora`` (a run recorded
    before ``lora`` existed has only that)."""
    return getattr(options, "lora", None) or getattr(options, "comfyui_lora", None)


def _handed(cls: type, provider: str, file: ConfigFile | None) -> dict[str, Any]:
    """The settings a backend's constructor takes: ``provider_settings`` (the environment, then
    the config file's ``[providers.NAME]`` table) and ``prices`` (the packaged table with the
    config file's ``[prices]`` on top); nothing for one that takes neither."""
    try:
        takes = set(inspect.signature(cls).parameters) & {"provider_settings", "prices"}
    except (TypeError, ValueError):  # a class without a signature Python can read
        takes = set()
    if not takes:
        return {}
    from director.config import load_config_file
    from director.tools.pricing import load_prices
    from director.tools.providers import settings

    file = file or load_config_file()
    handed = {
        "provider_settings": lambda: settings(provider, file.section(f"providers.{provider}")),
        "prices": lambda: load_prices(file.section("prices")),
    }
    return {name: handed[name]() for name in sorted(takes)}


def _import_plugin(kind: str, name: str, target: str) -> Any:
    try:
        return _import(target)
    except Exception as exc:  # a broken plugin fails in any way its module can
        raise ToolMissing(
            f"The {kind} backend {name!r} ({target}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}.",
            "Reinstall the package that provides it, or uninstall it.",
        ) from exc


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
