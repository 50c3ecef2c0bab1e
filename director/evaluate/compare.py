"""Runs side by side (``director evaluate RUN --against RUN2 ...``), in a stated order."""

from __future__ import annotations

from typing import Any

from director.evaluate.measured import is_measured

RULE = (
    "Runs are ordered best first: a run with no copy-paste flag before one with any (a pasted "
    "reference scores highest on identity, so it must not win on it); then by identity Cross "
    "Similarity, highest first, a run where it was not measured after those where it was; then "
    "by CLIP prompt alignment, highest first; then by fewer keyframe attempts per shot."
)


def ordered(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluations in the order ``RULE`` states; ties keep the order given."""
    return sorted(evaluations, key=_key)


def _key(evaluation: dict[str, Any]) -> tuple:
    s = evaluation["summary"]
    return (
        bool(s["copy_paste_flagged"]),
        *_highest(s["identity_cross"]),
        *_highest(s["prompt_clipscore"]),
        s["attempts_per_shot"],
    )


def _highest(value: Any) -> tuple[int, float]:
    """Sorts measured values highest first and unmeasured ones last."""
    return (0, -float(value)) if is_measured(value) else (1, 0.0)


def table(evaluations: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The comparison table: one row per run, in the order given."""
    headers = [
        "rank",
        "run",
        "copy-paste flags",
        "identity cross",
        "identity self",
        "CLIPScore",
        "style (CLIP)",
        "style (colours)",
        "attempts/shot",
        "time s",
        "cost USD",
        "generated",
    ]
    rows = []
    for rank, e in enumerate(evaluations, start=1):
        s = e["summary"]
        rows.append(
            [
                str(rank),
                e["run_id"],
                str(len(s["copy_paste_flagged"])),
                cell(s["identity_cross"]),
                cell(s["identity_self"]),
                cell(s["prompt_clipscore"]),
                cell(s["style_clip"]),
                cell(s["style_colours"]),
                f"{s['attempts_per_shot']:.2f}",
                f"{s['seconds']:.0f}",
                f"{s['cost_usd']:.2f}",
                f"{s['generated_share']:.0%}",
            ]
        )
    return headers, rows


def cell(value: Any) -> str:
    """A metric as a table shows it: the number, or "not measured"."""
    if not is_measured(value):
        return "not measured"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
