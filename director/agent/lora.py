"""The style LoRA of a run's keyframes: ``--lora`` replaces the style bible's ``lora``; the
trigger word the LoRA file carries leads every shot's prompt as sent, once (where the LoRA's
training captions put it, in the first 77-token text window, the one SDXL's pooled embedding
reads); and
the choice is logged (and said) when the keyframes start.

Only image backends that put a LoRA on (``takes_lora``) get one; for the others the bible's
``lora`` stays a note in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from director.agent.context import RunContext
from director.errors import InputError
from director.records import Plan, Shot, StyleBible, StyleLoraChosen
from director.tools import style_lora


@dataclass(frozen=True)
class Chosen:
    """The LoRA the keyframes use, whose choice it is, and its file, when it is one here."""

    spec: style_lora.LoraSpec
    source: str  # "--lora" or "style bible"
    file: style_lora.LoraFile | None

    @property
    def trigger(self) -> str:
        return self.file.trigger if self.file else ""


def chosen(ctx: RunContext, plan: Plan) -> Chosen | None:
    """--lora, else the style bible's LoRA, where the image backend puts one on."""
    bible = plan.bible.lora if plan.bible else None
    text = ctx.options.lora or bible
    if not text or not ctx.image.takes_lora:
        return None
    spec = style_lora.parse(text)
    return Chosen(spec, "--lora" if ctx.options.lora else "style bible", _file(spec))


def _file(spec: style_lora.LoraSpec) -> style_lora.LoraFile | None:
    """The LoRA's file, when it is one here; a missing or bad one is the backend's to refuse
    (with the request that names it)."""
    path = Path(spec.name).expanduser()
    if not path.exists():
        return None
    try:
        return style_lora.read(style_lora.lora_file(path))
    except InputError:
        return None


def bible_for(ctx: RunContext, plan: Plan) -> StyleBible | None:
    """The bible a keyframe request carries: the plan's, naming --lora when it is given."""
    if plan.bible is None or not ctx.options.lora or not ctx.image.takes_lora:
        return plan.bible
    return plan.bible.model_copy(update={"lora": ctx.options.lora})


def prompt_for(ctx: RunContext, plan: Plan, shot: Shot) -> str:
    """The shot's prompt as sent, led by the LoRA's trigger word, once: the training captions
    put the trigger first, in the first 77-token text window, so the prompt does too."""
    lora = chosen(ctx, plan)
    if lora is None or not lora.trigger:
        return shot.prompt.render()
    return style_lora.with_trigger(shot.prompt.render(), lora.trigger)


def log_choice(ctx: RunContext, plan: Plan) -> None:
    """Log and say which LoRA the keyframes use, and what was done with its trigger word."""
    lora = chosen(ctx, plan)
    if lora is None:
        return
    replaced = plan.bible.lora if plan.bible and lora.source == "--lora" else None
    info = lora.file
    anchors = _anchors(ctx, info)
    ctx.log.append(
        StyleLoraChosen(
            lora=str(lora.spec),
            source=lora.source,
            strength=lora.spec.strength,
            replaced=replaced or "",
            file=str(info.path) if info else "",
            sha256=info.sha256 if info else "",
            base=info.base if info else "",
            rank=info.rank if info else None,
            trigger=lora.trigger,
            style_anchors=anchors,
        )
    )
    ctx.progress.stage("style LoRA", _said(lora, replaced, anchors))


def _anchors(ctx: RunContext, info: style_lora.LoraFile | None) -> int:
    """How many of the style anchors are the LoRA's training images."""
    if info is None:
        return 0
    training = {str(p.resolve()) for p in style_lora.training_images(info.path)}
    return sum(1 for ref in ctx.options.style_refs if ref in training)


def _said(lora: Chosen, replaced: str | None, anchors: int) -> str:
    name = lora.file.path.name if lora.file else lora.spec.name
    parts = [f"{name} at {lora.spec.strength:g}, from {lora.source}"]
    if replaced:
        parts.append(f"replacing the style bible's {replaced}")
    if lora.trigger:
        parts.append(f"trigger word {lora.trigger!r} leads every shot's prompt")
    if anchors:
        parts.append(f"{anchors} of its training images anchor the style check")
    return "; ".join(parts)
