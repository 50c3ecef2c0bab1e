"""GPU benchmark of the diffusers image backend on a real-size SDXL with random weights.

Builds Stable Diffusion XL base at its published component sizes (UNet 2.6 B parameters, both
text encoders, the VAE) with random weights directly on the GPU, saves it as a pipeline folder
(no download: the tokenizers are the test suite's small local ones), then drives it through
``DiffusersImage`` exactly as a run does, with the backend's default steps and guidance:

(a) best-of-4 as one batch (``submit_many``) against one image, per frame size: the goal is a
    batch of 4 in at most 1.6x the time of one image;
(b) time to the first keyframe of a shot with the pipeline already loaded, against building a
    backend (loading the pipeline from disk) for the shot.

Every measurement uses a new prompt, so each includes one prompt encoding, as the first
attempt of a shot does. The folder is read back right after it was written, so per-shot loading
is timed with the files in the page cache: its best case.

    PYTHONPATH=. python bench/diffusers_batch.py [--sizes 1280x720,1024x1024] [--repeats 3]

Needs a CUDA GPU and the diffusers extra; about 8 GB of disk for the folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.real_size import build_sdxl, release
from director.tools.base import ImageRequest
from director.tools.image.diffusers_image import DiffusersImage
from tests.conftest import make_plan


def request(seed: int, width: int, height: int, take: int) -> ImageRequest:
    plan = make_plan(1)
    return ImageRequest(
        shot=plan.shots[0],
        bible=plan.bible,
        seed=seed,
        width=width,
        height=height,
        prompt=f"a woman in a green coat walks in the rain at night, film still, take {take}",
        negative_prompt="watermark",
    )


class Takes:
    """A new prompt for every measurement."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def timed(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def one(backend: DiffusersImage, size: tuple[int, int], take: int, out: Path) -> None:
    backend.generate(request(1000 + take, *size, take), out / f"one-{take}.png")


def batch(backend: DiffusersImage, size: tuple[int, int], take: int, out: Path, k: int) -> None:
    jobs = backend.submit_many([request(2000 + take * 10 + i, *size, take) for i in range(k)])
    for i, job in enumerate(jobs):
        backend.collect(job, out / f"batch-{take}-{i}.png")


def best_of_k(backend, sizes, k: int, repeats: int, out: Path, take: Takes) -> list[dict]:
    rows = []
    for size in sizes:
        one(backend, size, take(), out)  # warm-up: kernels for this shape
        batch(backend, size, take(), out, k)
        torch.cuda.reset_peak_memory_stats()
        singles = [timed(lambda s=size: one(backend, s, take(), out)) for _ in range(repeats)]
        batches = [timed(lambda s=size: batch(backend, s, take(), out, k)) for _ in range(repeats)]
        t1, tk = statistics.median(singles), statistics.median(batches)
        rows.append(
            {
                "size": f"{size[0]}x{size[1]}",
                "one_s": round(t1, 3),
                f"batch_{k}_s": round(tk, 3),
                "ratio": round(tk / t1, 3),
                "speedup_vs_sequential": round(k * t1 / tk, 3),
                "singles_s": [round(x, 3) for x in singles],
                "batches_s": [round(x, 3) for x in batches],
                "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def first_keyframe(loaded, folder: Path, size, repeats: int, out: Path, take: Takes) -> dict:
    warm = [timed(lambda: one(loaded, size, take(), out)) for _ in range(repeats)]
    cold, loads = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        backend = DiffusersImage(str(folder))
        loads.append(timed(lambda b=backend: b.pipeline))
        one(backend, size, take(), out)
        torch.cuda.synchronize()
        cold.append(time.perf_counter() - start)
        del backend
        release()
    row = {
        "size": f"{size[0]}x{size[1]}",
        "loaded_s": round(statistics.median(warm), 3),
        "loaded_per_shot_s": round(statistics.median(cold), 3),
        "load_only_s": round(statistics.median(loads), 3),
        "ratio": round(statistics.median(cold) / statistics.median(warm), 2),
        "loaded_runs_s": [round(x, 3) for x in warm],
        "per_shot_runs_s": [round(x, 3) for x in cold],
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1280x720,1024x1024,640x360")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None, help="where to save the model")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("This benchmark needs a CUDA GPU.")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    folder = args.folder or Path(tempfile.mkdtemp(prefix="sdxl-random-")) / "sdxl"
    out = Path(tempfile.mkdtemp(prefix="keyframes-"))
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)

    start = time.perf_counter()
    counts = build_sdxl(folder, torch.bfloat16)
    seconds = time.perf_counter() - start
    size_gb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9
    print(f"built and saved in {seconds:.1f} s: {counts} B params, {size_gb:.2f} GB", flush=True)

    backend = DiffusersImage(str(folder))
    load_s = timed(lambda: backend.pipeline)
    settings = backend.submit(request(0, *sizes[0], 0)).params
    steps, guidance = settings["steps"], settings["guidance"]
    print(f"loaded in {load_s:.1f} s; {backend.placement}; {steps} steps, cfg {guidance}")
    take = Takes()
    rows = best_of_k(backend, sizes, args.k, args.repeats, out, take)
    first = first_keyframe(backend, folder, sizes[0], args.repeats, out, take)
    figures = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "params_b": counts,
        "folder_gb": round(size_gb, 2),
        "steps": steps,
        "guidance": guidance,
        "best_of_k": rows,
        "first_keyframe": first,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    for row in rows:
        print(
            f"best-of-{args.k} {row['size']}: one {row['one_s']} s, batch {row[f'batch_{args.k}_s']} s,"
            f" ratio {row['ratio']}x (goal <= 1.6x), {row['speedup_vs_sequential']}x faster than"
            f" {args.k} one by one"
        )
    print(
        f"first keyframe {first['size']}: loaded {first['loaded_s']} s, loaded per shot "
        f"{first['loaded_per_shot_s']} s (load alone {first['load_only_s']} s), {first['ratio']}x"
    )


if __name__ == "__main__":
    main()
