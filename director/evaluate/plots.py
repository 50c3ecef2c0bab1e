"""The report's figures, drawn with matplotlib (the ``report`` extra) into PNG files: per-shot
identity with the threshold, the similarity matrix of each character, per-slot CLIP alignment,
and attempts and cost per shot. Several runs draw one series each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from director.errors import ToolMissing
from director.evaluate.measured import is_measured

INSTALL = "Install it with: pip install 'director[report]'"


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ToolMissing("The evaluation's plots need matplotlib.", INSTALL) from exc
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def draw_all(evaluations: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Every figure the evaluations have data for, written into ``folder``."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    drawn: list[Path | None] = []
    for name in _characters(evaluations):
        drawn.append(identity_bars(plt, evaluations, name, folder))
        for evaluation in evaluations:
            drawn.append(similarity_matrix(plt, evaluation, name, folder, len(evaluations) > 1))
    drawn.append(slot_alignment(plt, evaluations, folder))
    drawn.append(effort(plt, evaluations, folder))
    return [p for p in drawn if p is not None]


def _characters(evaluations: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for e in evaluations:
        names.update((n, None) for n, c in e["characters"].items() if is_measured(c))
    return list(names)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _grouped(ax: Any, labels: list[str], series: list[tuple[str, list[float | None]]]) -> None:
    """Bars per label, one colour per series; an unmeasured value leaves its bar out."""
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series):
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(labels))]
        kept = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        ax.bar([x for x, _ in kept], [v for _, v in kept], width=width, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    if len(series) > 1:
        ax.legend(fontsize=8)


def identity_bars(plt: Any, evaluations: list[dict], name: str, folder: Path) -> Path | None:
    shots = _shot_ids(evaluations)
    series, threshold = [], None
    for e in evaluations:
        character = e["characters"].get(name)
        if character is None or not is_measured(character):
            continue
        threshold = character["threshold"]
        per = character["shots"]
        series.append((e["run_id"], [_value(per.get(s, {}), "similarity") for s in shots]))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(max(6, len(shots) * 0.5), 3.5))
    _grouped(ax, shots, series)
    ax.axhline(threshold, color="red", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    ax.set_ylabel("similarity to the references")
    ax.set_title(f"{name}: identity per shot")
    ax.legend(fontsize=8)
    return _save(plt, fig, folder / f"identity-{slug(name)}.png")


def similarity_matrix(
    plt: Any, evaluation: dict, name: str, folder: Path, several: bool
) -> Path | None:
    character = evaluation["characters"].get(name)
    if character is None or not is_measured(character):
        return None
    labels, values = character["matrix"]["labels"], character["matrix"]["values"]
    side = max(4, len(labels) * 0.45)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(values, cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_yticklabels(labels, fontsize=7)
    fig.colorbar(image, ax=ax)
    ax.set_title(f"{name}: similarity of references and shots ({evaluation['run_id']})", fontsize=9)
    suffix = f"-{slug(evaluation['run_id'])}" if several else ""
    return _save(plt, fig, folder / f"similarity-{slug(name)}{suffix}.png")


def slot_alignment(plt: Any, evaluations: list[dict], folder: Path) -> Path | None:
    measured = [e for e in evaluations if is_measured(e["summary"]["prompt_slots"])]
    if not measured:
        return None
    slots = ["prompt", "subject", "action", "environment", "camera", "style"]
    series = []
    for e in measured:
        s = e["summary"]
        values = [s["prompt_clipscore"], *(s["prompt_slots"].get(n) for n in slots[1:])]
        series.append((e["run_id"], [v if isinstance(v, float) else None for v in values]))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    _grouped(ax, slots, series)
    ax.set_ylabel("CLIPScore (mean over shots)")
    ax.set_title("Prompt alignment: whole prompt and each slot alone")
    return _save(plt, fig, folder / "alignment.png")


def effort(plt: Any, evaluations: list[dict], folder: Path) -> Path:
    shots = _shot_ids(evaluations)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, len(shots) * 0.5), 5), sharex=True)
    attempts = [(e["run_id"], _per_shot(e, shots, "attempts")) for e in evaluations]
    costs = [(e["run_id"], _per_shot(e, shots, "cost_usd")) for e in evaluations]
    _grouped(top, shots, attempts)
    _grouped(bottom, shots, costs)
    top.set_ylabel("keyframe attempts")
    top.yaxis.get_major_locator().set_params(integer=True)
    bottom.set_ylabel("cost (USD)")
    bottom.set_ylim(bottom=0)
    if not any(v for _, values in costs for v in values):
        bottom.set_ylim(0, 1)
        bottom.text(0.5, 0.5, "no paid calls", ha="center", va="center", transform=bottom.transAxes)
    top.set_title("Attempts and cost per shot")
    return _save(plt, fig, folder / "effort.png")


def _shot_ids(evaluations: list[dict]) -> list[str]:
    ids: dict[str, None] = {}
    for e in evaluations:
        ids.update((s["id"], None) for s in e["shots"])
    return list(ids)


def _per_shot(evaluation: dict, shots: list[str], key: str) -> list[float | None]:
    by_id = {s["id"]: s for s in evaluation["shots"]}
    return [by_id[s][key] if s in by_id else None for s in shots]


def _value(entry: dict, key: str) -> float | None:
    return entry.get(key) if is_measured(entry) else None
