"""The platform record of the work done on ComfyUI: per shot, each attempt's workflow and key
parameters (models, LoRA and strength, sampler, scheduler, steps, cfg, seed, size, denoise),
with the exact graph it sent written beside the document, where ComfyUI loads it as it is."""

from __future__ import annotations

import json
from pathlib import Path

from director.files import write_text_atomic
from director.records import Attempt
from director.replay.document import Document, Para, Table
from director.replay.record import RunRecord
from director.replay.words import Words

FOLDER = "comfyui"
COLUMNS = (
    ("checkpoint", "models"),
    ("lora", "LoRA @ strength"),
    ("sampler_name", "sampler"),
    ("scheduler", "scheduler"),
    ("steps", "steps"),
    ("cfg", "cfg"),
    ("seed", "seed"),
    ("size", "size"),
    ("frames", "frames"),
    ("denoise", "denoise"),
)


def graph_path(attempt: Attempt) -> str:
    """Where an attempt's graph is written, relative to the run folder."""
    return f"{FOLDER}/{attempt.shot_id}-{attempt.kind}-{attempt.number}.json"


def on_comfyui(attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if isinstance(a.params.get("graph"), dict)]


def write_graphs(record: RunRecord, root: Path) -> list[Path]:
    """Each ComfyUI attempt's graph as an API-format file; the same log writes the same files."""
    written = []
    for table in (record.keyframes, record.clips):
        for attempts in table.values():
            for attempt in on_comfyui(attempts):
                path = root / graph_path(attempt)
                path.parent.mkdir(parents=True, exist_ok=True)
                text = json.dumps(attempt.params["graph"], indent=2, ensure_ascii=False)
                write_text_atomic(path, text + "\n")
                written.append(path)
    return written


def add_parameters(
    doc: Document, record: RunRecord, shot_id: str, kind: str, lang: str = "en"
) -> None:
    """The shot's ComfyUI attempts of one kind, as a table of their key parameters, with the
    fixed words in the document's language ``lang``."""
    attempts = on_comfyui(record.attempts(shot_id, kind))
    if not attempts:
        return
    w = Words(lang)
    named = w.raw("comfyui_headers")
    used = [name for name, _ in COLUMNS if any(name in _params(a) for a in attempts)]
    headers = [named["attempt"], named["workflow"], *[dict(COLUMNS)[n] for n in used]]
    headers.append(named["graph"])
    rows = [
        [
            str(a.number),
            str(a.params.get("workflow", "")),
            *[_cell(_params(a).get(n)) for n in used],
            graph_path(a),
        ]
        for a in attempts
    ]
    what = w(f"k_{kind}")
    said = w("comfyui_on", kind=what[:1].upper() + what[1:], server=_server(attempts[-1]))
    doc.add(Para(said), Table(headers, rows))


def _params(attempt: Attempt) -> dict:
    found = attempt.params.get("comfyui")
    return found if isinstance(found, dict) else {}


def _cell(value) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _server(attempt: Attempt) -> str:
    server = attempt.params.get("server") or {}
    parts = [str(server.get("url", ""))]
    if server.get("comfyui"):
        parts.append(f"ComfyUI {server['comfyui']}")
    if server.get("pytorch"):
        parts.append(f"PyTorch {server['pytorch']}")
    parts += [str(d) for d in server.get("devices") or []]
    return ", ".join(p for p in parts if p)
