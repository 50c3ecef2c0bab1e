"""``director evaluate``'s work: check where it writes, read every run, load the models once,
measure each run, order them, draw the plots and write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.evaluate.compare import ordered
from director.evaluate.film import read_film
from director.evaluate.metrics import evaluate_film, load_models
from director.evaluate.plots import draw_all, pyplot
from director.evaluate.report import PLOTS, writable, write_report
from director.memory.runs import RunPaths


@dataclass
class Evaluated:
    evaluations: list[dict[str, Any]]  # best first, by compare.RULE
    written: list[Path]


def evaluate_runs(
    runs: list[RunPaths],
    out: Path,
    *,
    insightface_root: str | None = None,
    clip_model: str | None = None,
    clip_weights: str | None = None,
    thresholds: dict[str, float] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Evaluated:
    """Evaluate ``runs`` into ``out``. Bad input (an unwritable folder, a run without accepted
    keyframes, no matplotlib) is refused before any model is loaded."""
    writable(out)
    pyplot()
    films = [read_film(paths) for paths in runs]
    progress("loading the face and CLIP models")
    models = load_models(
        insightface_root=insightface_root,
        clip_model=clip_model,
        clip_weights=clip_weights,
        thresholds=thresholds or {},
        faces=any(film.cast for film in films),
    )
    evaluations = []
    for film in films:
        progress(f"measuring {film.run_id}: {len(film.accepted)} accepted keyframe(s)")
        evaluations.append(evaluate_film(film, models))
    ranked = ordered(evaluations)
    progress("drawing the plots")
    plots = draw_all(ranked, out / PLOTS)
    written = write_report(ranked, out, plots, films[0].title)
    return Evaluated(ranked, [*written, *plots])


__all__ = ["Evaluated", "evaluate_runs"]
