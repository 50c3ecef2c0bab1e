"""One ``director lora train``: every check that can refuse it, made before anything is written;
then the dataset folder and its captions, the training, the weights and the document."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from director.errors import InputError
from director.files import write_json_atomic
from director.tools.lora import dataset as ds
from director.tools.lora.train import Progress, Settings


@dataclass(frozen=True)
class Request:
    runs: list  # RunPaths
    images: Path | None
    base: str | None
    settings: Settings
    trigger: str | None = None
    out: Path | None = None
    device: str = "auto"
    captions_only: bool = False
    doc_lang: str | None = None


@dataclass
class Prepared:
    dataset: ds.Dataset
    out: Path
    trigger: str
    settings: Settings
    language: str
    edited: int = 0  # captions the user changed in the captions file
    base: Path | None = None
    pipeline_class: str = ""
    device: str = "cpu"
    fingerprint: dict[str, Any] = field(default_factory=dict)


def prepare(req: Request) -> Prepared:
    """Everything checked, nothing written: the device, the base model, the dataset (every
    image read), the output folder's checkpoints."""
    from director.tools.lora import train

    if bool(req.runs) == bool(req.images):
        raise InputError(
            "Name the training images one way: --from RUN (repeatable) or --images DIR.",
            "For example: director lora train --from RUN --base diffusers:/path/to/sdxl.",
        )
    if not req.captions_only:
        if not req.base:
            raise InputError(
                "Training needs a base model: --base diffusers:PATH.",
                "Pass the folder of a local SDXL pipeline.",
            )
        train.require_training()
        device = train.training_device(req.device)
        base, class_name = train.base_model(req.base)
    trigger = ds.check_trigger(req.trigger or default_trigger(req))
    if req.runs:
        items, language = ds.from_runs(req.runs, trigger)
        where = ", ".join(f"run {p.run_id}" for p in req.runs) + " (accepted keyframes)"
    else:
        items, language = ds.from_folder(req.images, trigger)
        where = str(req.images)
    out = (req.out or default_out(req)).expanduser().resolve()
    dataset, edited = ds.apply_edits(ds.build(items, language, where), out)
    settings = _fitted(req.settings)
    prepared = Prepared(dataset, out, trigger, settings, req.doc_lang or language, edited)
    if not req.captions_only:
        prepared.base, prepared.pipeline_class, prepared.device = base, class_name, device
        prepared.fingerprint = settings.fingerprint(str(base), dataset.sha256)
        train.check_resumable(out, prepared.fingerprint)
    return prepared


def _fitted(settings: Settings) -> Settings:
    """Checkpoint and sample intervals no longer than the training."""
    every = min(settings.checkpoint_every, settings.steps)
    sample_every = min(settings.sample_every, settings.steps) if settings.sample_every else 0
    return replace(settings, checkpoint_every=every, sample_every=sample_every)


def default_trigger(req: Request) -> str:
    """A rare word from the first run's id (or the folder's name). A generated run id is a
    date, a time and a hash: the hash alone names it, in fewer tokens than the digits."""
    name = req.runs[0].run_id if req.runs else Path(req.images).name
    generated = re.fullmatch(r"\d{8}-\d{6}-([0-9a-f]+)", name)
    if generated:
        return f"dir{generated[1]}style"
    word = re.sub(r"[^a-z0-9]+", "", name.lower())[:24]
    return f"{word or 'director'}style"


def default_out(req: Request) -> Path:
    if req.runs:
        return req.runs[0].root / "lora"
    folder = Path(req.images).expanduser().resolve()
    return folder.parent / f"{folder.name}-lora"


def write_dataset(p: Prepared) -> Path:
    p.out.mkdir(parents=True, exist_ok=True)
    return ds.write(p.dataset, p.out)


def run(p: Prepared, progress: Progress) -> tuple[Path, list[Path], dict[str, Any]]:
    """Train, then write the weights, ``training.json`` and the document; returns the weights,
    the document's pages and the record."""
    from director.tools.lora import train
    from director.tools.lora.document import write_document
    from director.tools.lora.save import write_lora

    progress(f"loading {p.base}")
    pipe = train.load(p.base, p.pipeline_class, p.device)
    items = p.dataset.items
    unet, state, report = train.train(
        pipe, items, p.settings, p.out, p.fingerprint, p.device, progress
    )
    from peft import get_peft_model_state_dict

    record = _record(p, state, report, noise=pipe.scheduler.config)
    weights = write_lora(p.out / record["weights"], get_peft_model_state_dict(unet), record)
    write_json_atomic(p.out / "training.json", record)
    pages = write_document(p.out, record, p.language)
    return weights, pages, record


def _record(p: Prepared, state: Any, report: dict[str, Any], noise: Any) -> dict[str, Any]:
    from director.tools.lora.train import TARGETS

    s = p.settings
    return {
        "trigger": p.trigger,
        "weights": f"{p.trigger}.safetensors",
        "base": str(p.base),
        "base_class": p.pipeline_class,
        "rank": s.rank,
        "alpha": s.alpha,
        "steps": state.step,
        "lr": s.lr,
        "resolution": s.resolution,
        "seed": s.seed,
        "images": len(p.dataset.items),
        "dataset_sha256": p.dataset.sha256,
        "target_modules": TARGETS,
        "gradient_checkpointing": s.gradient_checkpointing,
        "checkpoint_every": s.checkpoint_every,
        "sample_every": s.sample_every or s.steps,
        "sample_steps": s.sample_steps,
        "guidance": s.guidance,
        "prediction_type": noise.get("prediction_type", "epsilon"),
        "optimizer": report["optimizer"],
        "precision": report["precision"],
        "fixed_loss": report["fixed_loss"],
        "losses": state.losses,
        "samples": state.samples,
        "sample_prompts": report["sample_prompts"],
        "hardware": report["hardware"],
        "total_s": state.total_s,
        "train_s": state.train_s,
        "s_per_step": state.train_s / max(1, state.step),
        "peak_memory_gb": report["peak_memory_gb"],
        "resumed": state.resumed,
        "language": p.language,
        "dataset": [
            {"name": i.name, "origin": i.origin, "caption": i.caption, "sha256": i.sha256}
            for i in p.dataset.items
        ],
        "dropped": p.dataset.dropped,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
