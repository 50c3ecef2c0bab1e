"""``director lora``: make a style LoRA from a film's approved frames (or a folder of images)."""

from __future__ import annotations

from pathlib import Path

import click

from director.cli.options import resolve_runs_dir, runs_dir_option


@click.group("lora")
def lora_group() -> None:
    """Train a style LoRA and write its training document."""


@lora_group.command("train")
@click.option(
    "--from",
    "runs",
    multiple=True,
    metavar="RUN",
    help="A run whose accepted "
    "keyframes are the training images (repeatable): a run id or a run folder.",
)
@click.option(
    "--images",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="A folder of PNG/JPEG/WebP images instead; name.txt beside an image is its caption.",
)
@click.option(
    "--base",
    default=None,
    metavar="diffusers:PATH",
    help="The local SDXL pipeline folder to train on.",
)
@click.option(
    "--rank",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="LoRA rank: the adapter's width.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="LoRA alpha (the loaders scale by alpha/rank). Default: the rank.",
)
@click.option(
    "--steps",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Optimisation steps (batch size 1).",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-4,
    show_default=True,
    help="Learning rate.",
)
@click.option(
    "--resolution",
    type=click.IntRange(64, 2048),
    default=1024,
    show_default=True,
    help="Square training size in pixels (a multiple of 64).",
)
@click.option(
    "--trigger",
    default=None,
    metavar="WORD",
    help="The word that calls up the style. Default: 'dir' + the run id's hash + 'style' "
    "(a run you named: its name + 'style'; a folder: its name + 'style').",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Where the weights, checkpoints and document go. Default: RUN/lora, or "
    "DIR-lora beside --images DIR.",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(1),
    default=250,
    show_default=True,
    metavar="N",
    help="Write a resumable checkpoint every N steps.",
)
@click.option(
    "--sample-every",
    type=click.IntRange(0),
    default=None,
    metavar="N",
    help="Draw the sample prompts every N steps (0: only before and after). "
    "Default: at every checkpoint.",
)
@click.option(
    "--samples",
    type=click.IntRange(0, 8),
    default=4,
    show_default=True,
    help="How many captions to draw as samples.",
)
@click.option(
    "--sample-steps",
    type=click.IntRange(1, 200),
    default=25,
    show_default=True,
    help="Inference steps of each sample.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the LoRA's first weights, each step's draws and the samples.",
)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing", default=True, show_default=True
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (a CUDA GPU, else refuse), cuda, cuda:N, or cpu (tiny models only).",
)
@click.option(
    "--captions-only",
    is_flag=True,
    help="Write the dataset and captions.txt, then stop: edit the captions and run "
    "again without this flag.",
)
@click.option(
    "--doc-lang",
    type=click.Choice(["en", "zh"]),
    default=None,
    help="The training document's language. Default: the films' language.",
)
@runs_dir_option
def train_command(runs, images, base, rank, alpha, steps, lr, resolution, trigger, out,
                  checkpoint_every, sample_every, samples, sample_steps, seed,
                  gradient_checkpointing, device, captions_only, doc_lang, runs_dir) -> None:  # fmt: skip
    """Train a style LoRA on SDXL from RUN's accepted keyframes (or --images DIR).

    Captions come from each shot's subject, action, environment and camera, with the style
    replaced by the trigger word. Writes TRIGGER.safetensors (the layout ComfyUI's LoraLoader
    and diffusers' load_lora_weights read), lora.md and lora.html. Killed, it continues from
    its last checkpoint when run again with the same options.
    """
    from director.memory.runs import resolve_run
    from director.tools.lora import job
    from director.tools.lora.train import Settings

    if resolution % 64:
        raise click.BadParameter("must be a multiple of 64", param_hint="--resolution")
    settings = Settings(
        rank=rank, alpha=alpha or float(rank), steps=steps, lr=lr, resolution=resolution,
        seed=seed, checkpoint_every=checkpoint_every,
        sample_every=checkpoint_every if sample_every is None else sample_every,
        samples=samples, sample_steps=sample_steps, gradient_checkpointing=gradient_checkpointing,
    )  # fmt: skip
    folder = resolve_runs_dir(runs_dir) if runs else None
    request = job.Request(
        runs=[resolve_run(r, folder) for r in runs],
        images=Path(images).expanduser() if images else None,
        base=base, settings=settings, trigger=trigger,
        out=Path(out) if out else None, device=device, captions_only=captions_only,
        doc_lang=doc_lang,
    )  # fmt: skip
    prepared = job.prepare(request)
    captions = job.write_dataset(prepared)
    dropped = (
        f", {len(prepared.dataset.dropped)} duplicates left out" if prepared.dataset.dropped else ""
    )
    edited = f", {prepared.edited} captions as edited" if prepared.edited else ""
    click.echo(
        f"dataset: {len(prepared.dataset.items)} images{dropped}{edited}; captions: {captions}"
    )
    if captions_only:
        click.echo("Edit the captions, then run the same command without --captions-only.")
        return
    weights, pages, record = job.run(prepared, lambda line: click.echo(line, err=True))
    click.echo(f"{weights}")
    click.echo(f"  trigger: {record['trigger']}; {record['steps']} steps, rank {record['rank']}")
    for page in pages:
        click.echo(f"  {page}")
