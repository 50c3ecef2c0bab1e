"""One LoRA training step of a real-size SDXL UNet: director's step beside a bare diffusers +
peft loop, with and without gradient checkpointing, in the same process.

The UNet is SDXL base's architecture (2.6 B parameters, from bench/real_size.py's config) with
random weights, built on the GPU in bfloat16: nothing is downloaded. Inputs are what a 1024x1024
image gives (latents 4x128x128, the two text encoders' 77x2048 embeddings, the 1280-wide pooled
embedding, the size conditioning). Each of the four runs builds a fresh UNet, takes --warmup
steps, then times --steps steps (synchronised, the loss read back as a training loop logs it)
and reads the peak GPU memory. director's step is ``director.tools.lora.train.train_step`` with
the adapter and optimizer director sets up; the bare one is bench/lora_bare.py. The goal:
director's seconds per step within 1.1x of the bare loop's.

    python bench/lora_step.py            # a CUDA GPU; about 2 minutes on an H100
    python bench/lora_step.py --tiny     # a small UNet on the CPU: the script's own check
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lora_bare  # noqa: E402
from bench.real_size import UNET  # noqa: E402

GOAL = 1.1
TINY_UNET = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    layers_per_block=1,
    block_out_channels=(32, 64),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(4, 8),
    transformer_layers_per_block=(1, 1),
    cross_attention_dim=64,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=80,
    norm_num_groups=8,
)


def build_unet(config: dict, device: str, dtype: torch.dtype) -> Any:
    import diffusers
    from diffusers import UNet2DConditionModel

    diffusers.utils.logging.set_verbosity_error()  # its note on casting a model built in code
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**config)
    return unet.to(dtype)


def schedule() -> Any:
    from diffusers import DDPMScheduler

    # SDXL base's training schedule.
    return DDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000
    )


def inputs(config: dict, resolution: int, device: str, dtype: torch.dtype) -> dict[str, Any]:
    side = resolution // 8
    pooled = config["projection_class_embeddings_input_dim"] - 6 * config["addition_time_embed_dim"]
    g = torch.Generator().manual_seed(1)
    made = {
        "latents": torch.randn(1, 4, side, side, generator=g),
        "embeds": torch.randn(1, 77, config["cross_attention_dim"], generator=g),
        "pooled": torch.randn(1, pooled, generator=g),
        "time_ids": torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]]),
    }
    return {k: v.to(device, dtype) for k, v in made.items()}


def director_runner(unet: Any, args: argparse.Namespace, checkpointing: bool, data: dict):
    from director.tools.lora.train import (
        Batch,
        Step,
        add_lora,
        optimizer_for,
        step_generator,
        train_step,
    )

    params = add_lora(unet, args.rank, float(args.rank), checkpointing)
    optimizer, name = optimizer_for(params, 1e-4, args.device)
    autocast = torch.bfloat16 if args.device.startswith("cuda") else None
    step = Step(unet, optimizer, schedule(), autocast)
    # director caches latents and embeddings in float32; autocast lowers them.
    batch = Batch(*(data[k].float() for k in ("latents", "embeds", "pooled", "time_ids")))
    counter = iter(range(1, 1_000_000))
    return (lambda: float(train_step(step, batch, step_generator(0, next(counter))))), name


def bare_runner(unet: Any, args: argparse.Namespace, checkpointing: bool, data: dict):
    unet, optimizer, name = lora_bare.setup(unet, args.rank, 1e-4, checkpointing)
    scheduler = schedule()
    return (lambda: lora_bare.step(unet, optimizer, scheduler, data)), name


def measure(kind: str, checkpointing: bool, args: argparse.Namespace) -> dict[str, Any]:
    cuda = args.device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32
    config = TINY_UNET if args.tiny else UNET
    unet = build_unet(config, args.device, dtype)
    data = inputs(config, args.resolution, args.device, dtype)
    make = director_runner if kind == "director" else bare_runner
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    one, optimizer = make(unet, args, checkpointing, data)
    losses = [one() for _ in range(args.warmup)]
    sync(cuda)
    start = time.perf_counter()
    losses += [one() for _ in range(args.steps)]
    sync(cuda)
    seconds = (time.perf_counter() - start) / args.steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    del unet, data, one
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return {
        "loop": kind,
        "gradient_checkpointing": checkpointing,
        "s_per_step": seconds,
        "peak_gib": peak,
        "optimizer": optimizer,
        "losses_finite": all(x == x and abs(x) != float("inf") for x in losses),
    }


def sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    lines = [header(args), f"{'':26}{'s/step':>10}{'peak GiB':>10}  optimizer"]
    for checkpointing in (True, False):
        runs = {r["loop"]: r for r in results if r["gradient_checkpointing"] == checkpointing}
        mode = "checkpointing on " if checkpointing else "checkpointing off"
        for kind in ("director", "bare"):
            r = runs[kind]
            peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "n/a"
            lines.append(f"{mode:17} {kind:8}{r['s_per_step']:10.4f}{peak:>10}  {r['optimizer']}")
            mode = ""
        ratio = runs["director"]["s_per_step"] / runs["bare"]["s_per_step"]
        met = "met" if ratio <= GOAL else "not met"
        lines.append(f"{'':17} director/bare {ratio:.3f} (goal <= {GOAL}: {met})")
    return lines


def header(args: argparse.Namespace) -> str:
    side = args.resolution // 8
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    size = "tiny UNet, float32" if args.tiny else "SDXL UNet (random weights), bfloat16"
    return (
        f"LoRA training step: {size}, rank {args.rank}, {args.resolution}x{args.resolution} "
        f"(latents {side}x{side}), {args.steps} timed steps after {args.warmup}, on {where}; "
        f"torch {torch.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a small UNet on the CPU")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=None, help="default 1024 (tiny: 64)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; tiny 3)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default=None, help="default cuda (tiny: cpu)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    args.resolution = args.resolution or (64 if args.tiny else 1024)
    args.steps = args.steps or (3 if args.tiny else 10)
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("No CUDA GPU is visible: run this on a GPU machine, or pass --tiny.")
    results = []
    for checkpointing in (True, False):
        for kind in ("director", "bare"):
            results.append(measure(kind, checkpointing, args))
            print(f"  measured {kind}, checkpointing {checkpointing}", file=sys.stderr, flush=True)
    lines = report(results, args)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "results": results, "report": lines}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
