"""bench/lora_step.py in its tiny mode on the CPU: both loops train, every figure is printed,
and the ratio is read against the goal. The real-size run needs a CUDA GPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_tiny_benchmark_times_both_loops_with_and_without_checkpointing(tmp_path):
    out = tmp_path / "lora_step.json"
    command = [sys.executable, "bench/lora_step.py", "--tiny", "--steps", "2", "--warmup", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*command, "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout
    assert "rank 16, 64x64 (latents 8x8)" in said
    assert len(re.findall(r"director/bare (\d+\.\d+) \(goal <= 1.1: (met|not met)\)", said)) == 2
    results = json.loads(out.read_text())["results"]
    assert {(r["loop"], r["gradient_checkpointing"]) for r in results} == {
        ("director", True),
        ("bare", True),
        ("director", False),
        ("bare", False),
    }
    assert all(r["s_per_step"] > 0 and r["losses_finite"] for r in results)
    assert all(r["optimizer"] == "AdamW" for r in results)  # no 8-bit Adam on the CPU
