"""``director doctor``: what this installation can do, and what is missing with how to fix it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from director.config import ConfigFile


@dataclass
class Finding:
    area: str
    name: str
    ok: bool
    detail: str


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor_command(as_json: bool) -> None:
    """Check ffmpeg, fonts, backends and face models; say how to fix what is missing."""
    findings = [check() for check in CHECKS] + backend_findings()
    if as_json:
        click.echo(json.dumps([asdict(f) for f in findings], ensure_ascii=False, indent=2))
        return
    for f in findings:
        mark = "ok " if f.ok else "-- "
        click.echo(f"{mark} {f.area:<8} {f.name:<22} {f.detail}")


def _guard(area: str, name: str, probe: Callable[[], str]) -> Finding:
    from director.errors import DirectorError

    try:
        return Finding(area, name, True, probe())
    except DirectorError as exc:
        return Finding(area, name, False, str(exc))
    except ImportError as exc:
        return Finding(area, name, False, f"not installed ({exc.name}).")


def _ffmpeg() -> Finding:
    from director.tools.assemble.ffmpeg_bin import check_ffmpeg, ffmpeg_exe

    return _guard("tools", "ffmpeg", lambda: f"{check_ffmpeg()} ({ffmpeg_exe()})")


def _font() -> Finding:
    from director.tools.assemble.fonts import find_font

    return _guard("tools", "font", lambda: f"{find_font().family} ({find_font().path})")


def _dlib() -> Finding:
    def probe() -> str:
        from director.tools.critics.face_dlib import DlibFaces, model_folder

        DlibFaces()
        return f"identity critic usable; weights in {model_folder()}"

    return _guard("critics", "identity: dlib", probe)


def _insightface() -> Finding:
    from director.tools.critics.face_insightface import LICENCE

    def probe() -> str:
        from director.cli.options import resolve_insightface_root
        from director.tools.critics.face_insightface import InsightFaces

        backend = InsightFaces(resolve_insightface_root(None))
        backend.load()
        return f"identity critic usable, chosen over dlib; pack in {backend.folder}."

    finding = _guard("critics", "identity: insightface", probe)
    if LICENCE not in finding.detail:
        finding.detail = f"{finding.detail} Note: {LICENCE}"
    return finding


def _clip() -> Finding:
    def probe() -> str:
        from director.cli.options import resolve_clip
        from director.errors import ToolMissing
        from director.tools.critics.clip import ClipCritic
        from director.tools.critics.clip_weights import HOW_TO_FIX, INSTALL

        weights, model = resolve_clip(None, None)
        critic = ClipCritic(model, weights)
        if critic.unavailable:
            fix = HOW_TO_FIX if critic.source.weights is None else INSTALL
            message = f"{critic.unavailable}: the prompt and CLIP style checks are not run."
            raise ToolMissing(message, fix)
        return f"prompt and style checks usable: {critic.model}, weights {critic.source.weights}"

    return _guard("critics", "clip", probe)


def _lora() -> Finding:
    def probe() -> str:
        from pathlib import Path

        from director.config import resolve_option
        from director.tools import style_lora

        text = resolve_option("lora") or resolve_option("comfyui_lora")
        if not text:
            return "none set; director run --lora PATH[:STRENGTH] puts one on every keyframe"
        spec = style_lora.resolve(str(text), local_only=False)
        if not Path(spec.name).is_file():
            return f"{spec}: a LoRA's name on the ComfyUI server, looked up when a run starts"
        info = style_lora.read(Path(spec.name))
        return f"{info.summary()} at strength {spec.strength:g}, from {info.path.parent}"

    return _guard("style", "lora", probe)


CHECKS = (_ffmpeg, _font, _dlib, _insightface, _clip, _lora)
# Backends a check above already reports, with where it looked for their models.
REPORTED = {("critics", "clip"), ("critics", "identity")}


def backend_findings() -> list[Finding]:
    """Each backend loaded as a run would load it; the config file is read once for them all
    (a file that cannot be read is the one finding)."""
    from director import registry
    from director.config import load_config_file
    from director.errors import DirectorError

    try:
        file = load_config_file()
    except DirectorError as exc:
        return [Finding("config", "config file", False, str(exc))]
    found = []
    for kind in registry.KINDS:
        for name in sorted(registry.available(kind)):
            if (kind, name) in REPORTED:
                continue
            found.append(_guard(kind, name, lambda k=kind, n=name: _load(k, n, file)))
    return found


def _load(kind: str, name: str, file: ConfigFile | None = None) -> str:
    from director import registry
    from director.config import load_config_file

    file = file or load_config_file()
    if name == "diffusers":
        return _diffusers(kind, file)
    if name == "comfyui":
        return _comfyui(kind, file)
    backend = registry.load(kind, _configured(kind, name, file), file=file)
    model = getattr(backend, "model", "")
    text = f"usable{f' (model {model})' if model else ''}"
    if getattr(backend, "family", ""):
        text += f"; expects {backend.family}"
    return text + _unpriced(name, model, getattr(backend, "known_models", ()), file)


def _configured(kind: str, name: str, file: ConfigFile) -> str:
    """The backend with the model the environment or config file chooses for ``kind``, where
    it chooses this backend; else the backend's own default model."""
    from director import registry
    from director.config import resolve_option

    key = {"planners": "llm"}.get(kind, kind)
    if key not in ("llm", "image", "video"):
        return name
    provider, model = registry.split_spec(str(resolve_option(key, file=file) or ""))
    return f"{name}:{model}" if provider == name and model else name


def _unpriced(provider: str, model: str, known: tuple[str, ...], file: ConfigFile) -> str:
    """The models a hosted backend knows that have no price: they run, with costs logged as
    unknown, and a --budget refuses them until [prices] names one."""
    from director.tools.pricing import FREE_PROVIDERS, load_prices

    if provider in FREE_PROVIDERS:
        return ""
    table = load_prices(file.section("prices"))
    missing = [m for m in dict.fromkeys([model, *known]) if m and not table.find(provider, m)]
    if not missing:
        return ""
    return (
        f"; no known price for {', '.join(missing)}: their costs are logged as unknown and "
        f'--budget refuses them unless the config file sets [prices."{provider}:MODEL"]'
    )


def _diffusers(kind: str, file: ConfigFile) -> str:
    """The diffusers backends have no model of their own: installed and set up is all there is
    to check until one is named, and the configured one is loaded when it is."""
    from director import registry
    from director.config import resolve_option
    from director.tools import diffusers_local as local

    local.require_diffusers()
    settings = local.resolve_settings(section=file.section(local.TABLE))
    provider, model = registry.split_spec(str(resolve_option(kind, file=file) or ""))
    if provider == "diffusers" and model:
        backend = registry.load(kind, f"diffusers:{model}", settings=settings)
        where = backend.placement
        return f"usable (model {backend.model}; {where.device}, {where.dtype})"
    chosen = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
    return (
        f"installed ({_versions()}; {_gpu()}{f'; settings {chosen}' if chosen else ''}); "
        f"it needs a model to run: --{kind} diffusers:/path/to/model"
    )


def _comfyui(kind: str, file: ConfigFile) -> str:
    """The configured ComfyUI workflow loaded as a run loads it: the server is asked for its
    node list, and the node types, checkpoints and LoRAs the workflow needs are looked up."""
    from types import SimpleNamespace

    from director import registry
    from director.config import OPTIONS, resolve_option

    names = [name for name in OPTIONS if name.startswith("comfyui_")] + ["lora"]
    options = SimpleNamespace(**{n: OPTIONS[n].check(resolve_option(n, file=file)) for n in names})
    settings = registry.comfyui_settings(kind, options)
    backend = registry.load(kind, _configured(kind, "comfyui", file), **settings)
    found = backend.server.versions()
    where = ", ".join(
        [
            f"ComfyUI {found['comfyui']}" if found.get("comfyui") else "ComfyUI",
            *found.get("devices", []),
        ]
    )
    return (
        f"usable (workflow {backend.model} on {backend.server.url}: {where}); its nodes and "
        "models are on the server"
    )


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("diffusers", "torch"))


def _gpu() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return "no CUDA GPU visible, so it would run on the CPU"
