"""A run's options, resolved once into a frozen ``RunOptions``: the option table of
``director.config`` (defaults, environment variables, ranges) with the checks only a tool can
make (the diffusers settings, the gate thresholds) composed on top.

``RunOptions`` is a pydantic record, kept out of ``director.config`` so that ``--help`` does not
import pydantic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from director.config import (
    OPTIONS,
    ConfigFile,
    Section,
    checked_approve,
    load_config_file,
    resolve_options,
    validate_logline,
)
from director.errors import InputError

__all__ = ["RunOptions", "resolve", "resolve_thresholds"]


def _limits(name: str) -> dict[str, float]:
    return OPTIONS[name].bounds()


class RunOptions(BaseModel):
    """Everything a run needs to know, resolved and checked once; recorded in run.json (a
    resumed run reads it back), so its field names are the run.json ``options`` keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    logline: str
    minutes: float = Field(**_limits("minutes"))
    structure: str | None
    seed: int
    width: int
    height: int
    max_attempts: int = Field(**_limits("max_attempts"))
    best_of: int = Field(default=1, **_limits("best_of"))
    max_run_attempts: int | None = Field(default=None, **_limits("max_run_attempts"))
    budget: float | None = Field(default=None, ge=0, description="spend cap for the run, USD")
    runs_dir: str
    run_id: str | None = None
    font: str | None = None
    music: str | None = None
    doc_lang: str | None = Field(
        default=None, description="language of the workflow document, en or zh; None: the film's"
    )
    voice: str = Field(default="none", description="voice backend for the lines, or none")
    narrator_voice: str | None = Field(
        default=None, description="the narrator's voice in the voice backend"
    )
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
    comfyui_url: str = "http://127.0.0.1:8188"
    comfyui_image_url: str | None = None
    comfyui_video_url: str | None = None
    comfyui_edit: str = "inpaint"
    comfyui_lora: str | None = Field(default=None, description="deprecated: the same as lora")
    lora: str | None = Field(
        default=None,
        description="the style LoRA, PATH:STRENGTH (NAME:STRENGTH on a ComfyUI server); it "
        "replaces the style bible's",
    )
    comfyui_timeout: float = Field(default=3600.0, gt=0)
    script: str | None = Field(
        default=None, description="the creator's script the run plans from (--script)"
    )
    beats: str | None = Field(
        default=None, description="the creator's beat outline the run plans from (--beats)"
    )
    diffusers: dict[str, Any] = Field(
        default_factory=dict,
        description="settings of the diffusers backends, when the run uses one (None: the "
        "backend's default)",
    )

    @property
    def runtime_s(self) -> float:
        return round(self.minutes * 60.0, 2)


def resolve(flags: dict[str, Any]) -> RunOptions:
    """Merge flags, environment, config file and defaults, then check: the config file is read
    once, and each table is handed to the part it configures."""
    file = load_config_file()
    values = resolve_options(flags, file)
    logline = validate_logline(flags.get("logline"))
    approve = checked_approve(flags)
    values["lora"] = _style_lora(values, flags)
    if values.get("doc_lang") is not None:
        from director.replay.words import checked_language

        checked_language(str(values["doc_lang"]))
    narrator = values.get("narrator_voice")
    if str(values["voice"]) == "none" and flags.get("narrator_voice") is None:
        narrator = None  # a config file's narrator, for runs with voices; this one has none
    check_voices(str(values["voice"]), narrator)
    return RunOptions(
        **{**values, "narrator_voice": narrator},
        logline=logline,
        run_id=flags.get("run_id"),
        yes=approve == "auto",
        approve=approve,
        cast=list(flags.get("cast") or []),
        characters=list(flags.get("character") or []),
        style_refs=_style_refs(flags.get("style_ref") or []) or _lora_anchors(values["lora"]),
        thresholds=_thresholds(file.section("thresholds"), flags.get("threshold") or []),
        diffusers=_diffusers(str(values["image"]), str(values["video"]), flags, file),
    )


def check_voices(spec: str, narrator: str | None = None) -> None:
    """A voice backend that is installed, or none, and a narrator's voice it can have; found
    out before anything is made."""
    from director.registry import available, split_spec

    provider, model = split_spec(spec)
    if provider != "none" and provider not in available("voices"):
        choices = ", ".join(["none", *sorted(available("voices"))])
        raise InputError(f"--voice {spec}: no voice backend named {provider!r}.", f"Use {choices}.")
    if not narrator:
        return
    if provider == "none":
        raise InputError(
            f"--narrator-voice {narrator} needs voices, and the run has --voice none.",
            "Choose a voice backend with --voice (e.g. --voice scratch), or leave out "
            "--narrator-voice.",
        )
    from director.tools.voice.casting import backend_class

    backend_class(provider).check_voice(narrator, model)


def _style_lora(values: dict[str, Any], flags: dict) -> str | None:
    """The run's style LoRA (--lora, else the deprecated --comfyui-lora) as PATH:STRENGTH,
    the file checked now; a LoRA's NAME is kept for a ComfyUI server to look up. Only the
    diffusers and ComfyUI keyframe backends take one: the flag is refused on any other, the
    environment's or config file's LoRA left for the runs that use one."""
    from director.registry import split_spec
    from director.tools import style_lora

    text = values.get("lora") or values.get("comfyui_lora")
    if not text:
        return None
    provider = split_spec(str(values["image"]))[0]
    if provider not in LORA_BACKENDS:
        if flags.get("lora") or flags.get("comfyui_lora"):
            raise InputError(
                f"--lora sets the style LoRA of the diffusers and ComfyUI keyframe backends, "
                f"and this run makes its keyframes with {values['image']}.",
                "Choose --image diffusers:/path/to/model or --image comfyui:sdxl, or drop --lora.",
            )
        return None
    return str(style_lora.resolve(str(text), local_only=provider == "diffusers"))


# The keyframe backends that put a style LoRA on.
LORA_BACKENDS = ("diffusers", "comfyui")


def _lora_anchors(lora: str | None) -> list[str]:
    """The LoRA's training images, when they lie beside it: the style the LoRA learnt is the
    style the critic checks (unless --style-ref names other images)."""
    from director.tools import style_lora

    path = style_lora.parse(lora).path if lora else None
    return _style_refs([str(p) for p in style_lora.training_images(path)]) if path else []


def _diffusers(image: str, video: str, flags: dict, file: ConfigFile) -> dict[str, Any]:
    """The diffusers settings when the run uses a diffusers backend, checked before any run
    folder exists; their flags are refused on a run that uses none."""
    from director.registry import split_spec
    from director.tools import diffusers_local

    given = {name: flags.get(name) for name in diffusers_local.FLAGS}
    if "diffusers" in (split_spec(image)[0], split_spec(video)[0]):
        return diffusers_local.resolve_settings(
            given, from_flags=True, section=file.section(diffusers_local.TABLE)
        )
    named = [f"--{name}" for name, value in given.items() if value is not None]
    if named:
        raise InputError(
            f"{', '.join(named)} set the diffusers backends, and this run uses none.",
            "Choose one with --image diffusers:/path/to/model (or --video), or drop the flag.",
        )
    return {}


def resolve_thresholds(flags: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Thresholds for commands other than run: the config file's table, then the flags."""
    return _thresholds(load_config_file().section("thresholds"), list(flags))


def _thresholds(table: Section, flags: list[str]) -> dict[str, float]:
    """The config file's [thresholds] table, with --threshold flags on top."""
    from director.tools.critics import thresholds

    from_file = thresholds.validate(dict(table.values), table.path)
    return {**from_file, **thresholds.parse_flags(flags)}


def _style_refs(paths: list[str]) -> list[str]:
    """Absolute paths of readable style references, so the run folder records where they were."""
    from director.tools.critics.imaging import open_rgb

    found = []
    for path in paths:
        image = Path(path).expanduser()
        if not image.is_file():
            raise InputError(
                f"Style reference {path} does not exist.", "Pass the path of a PNG or JPEG file."
            )
        if open_rgb(image) is None:  # read as the critics read it: a bomb is refused unread
            raise InputError(
                f"Style reference {path} is not an image.", "Pass the path of a PNG or JPEG file."
            )
        found.append(str(image.resolve()))
    return found
