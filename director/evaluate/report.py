"""The evaluation written out: ``evaluation.json`` (every number and every "not measured" with
its reason), ``evaluation.md`` and ``evaluation.html`` (the same document), and the plots in
``evaluation/``, all in one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from director.evaluate.compare import RULE, cell, table
from director.evaluate.measured import is_measured, reason
from director.files import writable_folder, write_json_atomic, write_text_atomic
from director.replay.document import (
    Bullets,
    Document,
    Figure,
    Heading,
    Para,
    Table,
    to_html,
    to_markdown,
)

JSON_NAME = "evaluation.json"
MARKDOWN_NAME = "evaluation.md"
HTML_NAME = "evaluation.html"
PLOTS = "evaluation"


def writable(folder: Path) -> Path:
    """The output folder, made if needed, proven writable before anything is measured."""
    return writable_folder(
        folder,
        f"Cannot write the evaluation to {folder}",
        "Pass --out with a folder you can write to.",
    )


def write_report(
    evaluations: list[dict[str, Any]], folder: Path, plots: list[Path], title: str
) -> list[Path]:
    """Write the JSON, Markdown and HTML into ``folder``; ``evaluations`` are in rank order,
    ``title`` the film's whose evaluation it is."""
    data = {"version": 1, "order_rule": RULE, "runs": evaluations}
    doc = document(evaluations, [p.relative_to(folder).as_posix() for p in plots], title)
    written = [folder / JSON_NAME, folder / MARKDOWN_NAME, folder / HTML_NAME]
    write_json_atomic(written[0], data)
    write_text_atomic(written[1], to_markdown(doc))
    write_text_atomic(written[2], to_html(doc, folder))
    return written


def document(evaluations: list[dict[str, Any]], plots: list[str], title: str) -> Document:
    several = len(evaluations) > 1
    doc = Document(title=f"{title}: evaluation" + (", runs compared" if several else ""))
    if several:
        headers, rows = table(evaluations)
        doc.add(Heading(2, "Runs compared"), Para(RULE), Table(headers, rows))
    for evaluation in evaluations:
        _run(doc, evaluation, several)
    if plots:
        doc.add(Heading(2, "Plots"), *(Figure(p, Path(p).stem.replace("-", " ")) for p in plots))
    return doc


def _run(doc: Document, e: dict[str, Any], several: bool) -> None:
    level = 3 if several else 2
    if several:
        doc.add(Heading(2, f"Run {e['run_id']}"))
    s = e["summary"]
    doc.add(Heading(level, "Summary"), Table(["measure", "value"], summary_rows(s)))
    for name, character in e["characters"].items():
        _character(doc, level, name, character)
    doc.add(Heading(level, "Shots"), Table(*_shot_table(e)))
    missing = not_measured_lines(e)
    if missing:
        doc.add(Heading(level, "Not measured"), Bullets(missing))
    anchors = e["style_anchors"]
    if anchors["images"]:
        names = ", ".join(Path(p).name for p in anchors["images"])
        doc.add(Para(f"Style anchors: {names} ({anchors['from']})."))


def summary_rows(s: dict[str, Any]) -> list[list[str]]:
    share = f"{s['generated_share']:.0%} (the brief requires {s['generated_share_required']:.0%})"
    rows = [
        ["shots (with an accepted keyframe)", f"{s['shots']} ({s['accepted']})"],
        ["identity: Cross Similarity (shots to references)", cell(s["identity_cross"])],
        ["identity: Self Similarity (shots to each other)", cell(s["identity_self"])],
        ["copy-paste flags", ", ".join(s["copy_paste_flagged"]) or "none"],
        ["CLIPScore, whole prompt", cell(s["prompt_clipscore"])],
    ]
    slots = s["prompt_slots"]
    if is_measured(slots):
        rows += [[f"CLIPScore, {n} slot alone", cell(v)] for n, v in slots.items()]
    rows += [
        ["style: CLIP similarity to the anchors", cell(s["style_clip"])],
        ["style: colour overlap with the anchors", cell(s["style_colours"])],
        ["keyframe attempts (rerolls)", f"{s['attempts']} ({s['rerolls']})"],
        ["generation time", f"{s['seconds']:.1f} s"],
        ["cost", f"{s['cost_usd']:.2f} USD"],
        ["generated share of screen time", share],
    ]
    return rows


def _character(doc: Document, level: int, name: str, c: dict[str, Any]) -> None:
    if not is_measured(c):
        doc.add(Heading(level, f"Identity: {name}"), Para(f"Not measured: {reason(c)}."))
        return
    rows = []
    for sid, shot in c["shots"].items():
        if not is_measured(shot):
            rows.append([sid, "not measured", "", "", "", reason(shot)])
            continue
        cp = shot["copy_paste"]
        rows.append(
            [
                sid,
                f"{shot['similarity']:.3f} {'ok' if shot['passed'] else 'LOW'}",
                f"{cp['pixel']:.3f} ({cp['nearest']})",
                "FLAGGED" if cp["flagged"] else "no",
                cell(shot["copy_rate"]),
                "",
            ]
        )
    doc.add(
        Heading(level, f"Identity: {name}"),
        Para(
            f"Face backend {c['backend']}, threshold {c['threshold']}; references: "
            f"{', '.join(c['references'])}. Cross Similarity {cell(c['cross'])}, Self "
            f"Similarity {cell(c['self'])}."
        ),
        Table(
            ["shot", "similarity", "pixel copy (nearest)", "copy-paste", "copy rate", "why"], rows
        ),
    )


def _shot_table(e: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "shot",
        "attempts",
        "rerolls",
        "time s",
        "cost USD",
        "CLIPScore",
        "style CLIP",
        "colours",
        "technical",
    ]
    rows = []
    for s in e["shots"]:
        rows.append(
            [
                s["id"],
                str(s["attempts"]),
                str(s["rerolls"]),
                f"{s['seconds']:.1f}",
                f"{s['cost_usd']:.2f}",
                _score(s["prompt"], "clipscore"),
                _score(s["style_clip"], "score"),
                _score(s["style_colours"], "score"),
                _technical(s["technical"]),
            ]
        )
    return headers, rows


def _score(value: dict[str, Any], key: str) -> str:
    return f"{value[key]:.3f}" if is_measured(value) else "not measured"


def _technical(value: dict[str, Any]) -> str:
    if not is_measured(value):
        return "not measured"
    failed = [n for n, c in value.items() if is_measured(c) and not c["passed"]]
    return "all passed" if not failed else "failed: " + ", ".join(failed)


def not_measured_lines(e: dict[str, Any]) -> list[str]:
    """Each metric not measured, with why, said once with the shots it applies to."""
    said: dict[str, list[str]] = {}
    for s in e["shots"]:
        for key in ("prompt", "style_clip", "style_colours", "technical"):
            if not is_measured(s[key]):
                said.setdefault(f"{key.replace('_', ' ')}: {reason(s[key])}", []).append(s["id"])
    for name, c in e["characters"].items():
        if not is_measured(c):
            said.setdefault(f"identity of {name}: {reason(c)}", [])
    if not e["characters"]:
        said.setdefault(f"identity: {reason(e['summary']['identity_cross'])}", [])
    return [f"{what} ({', '.join(shots)})" if shots else what for what, shots in said.items()]
