"""bench/gpu.py's own parts on the CPU: the face pack of real_size (at a small width) through
insightface, the timing wrappers, and the goals in the report. The whole benchmark runs with
`python bench/gpu.py --tiny` (a minute or two)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("insightface")
pytest.importorskip("diffusers")

from bench import gpu, real_size  # noqa: E402
from director.tools.critics.face_insightface import InsightFaces  # noqa: E402


def test_the_face_pack_finds_its_one_face_in_any_frame(tmp_path):
    flops = real_size.face_pack(tmp_path, scale=0.125)
    assert flops["detector_gflops"] > 0 and flops["recogniser_gflops"] > 0
    faces = InsightFaces(tmp_path)
    rng = np.random.default_rng(0)
    first = faces.detect(rng.integers(0, 255, (480, 832, 3), dtype=np.uint8))
    other = faces.detect(rng.integers(0, 255, (480, 832, 3), dtype=np.uint8))
    assert len(first) == len(other) == 1
    assert first[0].box == other[0].box  # the fixed face, where the detector puts it
    assert first[0].embedding.shape == (512,)
    assert faces.similarity(first[0].embedding, other[0].embedding) < 0.999


def test_the_real_face_networks_have_their_published_cost():
    detector, recogniser = real_size.face_nets()
    import torch

    # SCRFD-10G: 10 G multiply-adds at 640x480, so about 13.3 G at 640x640; IResNet-50: 6.3 G.
    assert 25 < real_size.gflops(detector, torch.rand(1, 3, 640, 640)) < 30
    assert 12 < real_size.gflops(recogniser, torch.rand(1, 3, 112, 112)) < 13.5


class Thing:
    def work(self, x):
        return x * 2


def test_the_clock_counts_and_puts_everything_back():
    clock = gpu.Clock(lambda: None)
    thing = Thing()
    clock.wrap(Thing, "work", "class")
    clock.wrap(thing, "work", "instance")
    assert thing.work(3) == 6 and Thing().work(4) == 8
    assert clock.calls == {"class": 2, "instance": 1}
    assert clock["class"] > 0 and clock["instance"] > 0
    clock.undo()
    assert "work" not in vars(thing) and Thing.work.__name__ == "work"
    assert not hasattr(Thing.work, "__wrapped__")


def test_the_report_says_which_goals_are_met():
    results = {
        "machine": gpu.machine(False),
        "notes": ["flux skipped"],
        "phases": {
            "sdxl": {"best_of_k": {"size": "1024x1024", "ratio": 1.5}},
            "clip": {"rate_ratio": 9.6},
        },
    }
    text = gpu.report(results)
    assert "| SDXL best-of-4 / one image, 1024x1024 | 1.5 | <= 1.6 | met |" in text
    assert "| CLIP rate at batch 64 / batch 1 | 9.6 | >= 10 | missed |" in text
    assert "flux skipped" in text
