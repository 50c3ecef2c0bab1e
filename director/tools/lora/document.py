"""The training document: ``lora.md`` and ``lora.html`` beside the weights, in the film's
language, written from the training's record (``training.json``).

It shows what a jury needs to judge the LoRA: the dataset (a numbered contact sheet and a table
of each image's source and caption), the hyperparameters, the hardware and the time taken, the
loss curve, and a grid of the same prompts drawn with the same seeds before training, at the
checkpoints and after, so the style the LoRA adds is seen rather than claimed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from director import prompts
from director.files import write_text_atomic
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


def words_for(language: str) -> dict[str, Any]:
    """The document's fixed words in ``language`` (English for one it is not written in), from
    the packaged ``prompts/document/lora.json``."""
    table = prompts.read_json("document", "lora.json")
    return table.get(language, table["en"])


def write_document(out: Path, record: dict[str, Any], language: str) -> list[Path]:
    """The plot, the grid, the contact sheet and the two pages; returns the pages."""
    words = words_for(language)
    loss_plot(record["losses"], out / "loss.png", words, record.get("fixed_loss") or {})
    rows = sample_rows(record, words)
    if rows:
        sample_grid(out, rows, out / "samples.png")
    contact_sheet(out, [d["name"] for d in record["dataset"]], out / "dataset.png")
    doc = build(record, words, bool(rows))
    pages = [out / "lora.md", out / "lora.html"]
    write_text_atomic(pages[0], to_markdown(doc))
    write_text_atomic(pages[1], to_html(doc, out))
    return pages


def build(record: dict[str, Any], words: dict[str, Any], grid: bool) -> Document:
    w = words
    doc = Document(w["title"].format(trigger=record["trigger"]))
    doc.add(Heading(2, w["overview"]), Para(w["intro"].format(**_named(record))))
    doc.add(Bullets([f"{w['weights']}: {record['weights']}", *_meta_lines(record)]))
    doc.add(Heading(2, w["dataset"]), Para(w["dataset_intro"]))
    doc.add(Figure("dataset.png", w["sheet"]))
    rows = [
        [str(i), f"dataset/{d['name']}", d["origin"], d["caption"]]
        for i, d in enumerate(record["dataset"], start=1)
    ]
    doc.add(Table(w["cols_dataset"], rows))
    if record.get("dropped"):
        said = "; ".join(f"{origin} ({why})" for origin, why in record["dropped"])
        doc.add(Para(w["dropped"].format(items=said)))
    doc.add(Heading(2, w["hyper"]), Table(w["cols_kv"], _named_rows(_hyper_rows(record), w)))
    hardware = _named_rows(_hardware_rows(record, w), w)
    doc.add(Heading(2, w["hardware"]), Table(w["cols_kv"], hardware))
    doc.add(Heading(2, w["loss"]), Figure("loss.png", w["loss_alt"]))
    fixed = record.get("fixed_loss") or {}
    if fixed.get("after") is not None:
        doc.add(
            Para(w["fixed"].format(before=_num(fixed.get("before")), after=_num(fixed["after"])))
        )
    if grid:
        doc.add(Heading(2, w["samples"]), Para(w["samples_intro"].format(**record)))
        doc.add(Figure("samples.png", w["grid_alt"]))
        doc.add(Bullets([f"{i}. {p}" for i, p in enumerate(record["sample_prompts"], start=1)]))
    doc.add(Heading(2, w["files"]), Bullets(_files(record)))
    return doc


def _named(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "base": Path(record["base"]).name,
        "images": record["images"],
        "steps": record["steps"],
        "trigger": record["trigger"],
        "weights": record["weights"],
    }


def _meta_lines(record: dict[str, Any]) -> list[str]:
    return [
        f"trigger: {record['trigger']}",
        f"base: {record['base']}",
        f"dataset sha256: {record['dataset_sha256']}",
    ]


def _named_rows(rows: list[list[str]], w: dict[str, Any]) -> list[list[str]]:
    """Each row's name in the document's language."""
    keys = w.get("keys", {})
    return [[keys.get(name, name), value] for name, value in rows]


def _hyper_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        ["rank / alpha", f"{r['rank']} / {_num(r['alpha'])}"],
        ["target modules", ", ".join(r["target_modules"])],
        ["steps", str(r["steps"])],
        ["learning rate", f"{r['lr']:g}"],
        ["batch size", "1"],
        ["resolution", f"{r['resolution']}x{r['resolution']}"],
        ["optimizer", r["optimizer"]],
        ["precision", r["precision"]],
        ["gradient checkpointing", "on" if r["gradient_checkpointing"] else "off"],
        ["noise schedule", f"DDPM, {r['prediction_type']} prediction"],
        ["seed", str(r["seed"])],
        ["checkpoint every", f"{r['checkpoint_every']} steps"],
        ["samples", f"{len(r['sample_prompts'])} prompts every {r['sample_every']} steps"],
    ]


def _hardware_rows(r: dict[str, Any], w: dict[str, Any]) -> list[list[str]]:
    hw = r["hardware"]
    rows = [
        ["device", f"{hw['name']} ({hw['device']})"],
        ["software", f"torch {hw['torch']}, diffusers {hw['diffusers']}, peft {hw['peft']}"],
        ["training time", _duration(r["total_s"])],
        ["time per step", f"{r['s_per_step']:.3f} s"],
        ["peak memory", f"{r['peak_memory_gb']:.2f} GiB"],
    ]
    if r.get("resumed"):
        rows.append(["resumed", w["resumed"].format(steps=", ".join(map(str, r["resumed"])))])
    return rows


def _files(r: dict[str, Any]) -> list[str]:
    return [
        r["weights"],
        "captions.txt",
        "dataset/",
        "training.json",
        "checkpoints/",
        "samples/",
        "loss.png",
        "samples.png",
        "dataset.png",
    ]


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


# --- pictures ---------------------------------------------------------------------------------


def loss_plot(
    losses: list[float], path: Path, words: dict[str, Any], fixed: dict[str, Any]
) -> Path:
    """The per-step loss, its moving average and the fixed-noise loss before and after, as a
    PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    font = _font_properties()
    steps = np.arange(1, len(losses) + 1)
    window = max(2, len(losses) // 20) if len(losses) >= 4 else 1
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    ax.plot(steps, losses, color="#9bb7d4", linewidth=0.8, label="loss")
    ax.plot(steps[window - 1 :], smooth, color="#1f4e79", linewidth=1.8, label=f"mean of {window}")
    if fixed.get("before") is not None and fixed.get("after") is not None:
        ends = [0, len(losses)], [fixed["before"], fixed["after"]]
        ax.plot(*ends, "o--", color="#c0392b", linewidth=1, label="fixed-noise loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(words["loss_alt"], fontproperties=font)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _font_properties() -> Any:
    from matplotlib.font_manager import FontProperties

    from director.tools.assemble.fonts import find_font

    return FontProperties(fname=str(find_font().path))


def sample_rows(record: dict[str, Any], words: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, images) of each step that has samples, in step order."""
    rows = []
    last = max((int(s) for s in record.get("samples", {})), default=None)
    for step in sorted(record.get("samples", {}), key=int):
        n = int(step)
        label = words["before"] if n == 0 else words["after"] if n == last else words["step"]
        rows.append((label.format(step=n), record["samples"][step]))
    return rows


def sample_grid(out: Path, rows: list[tuple[str, list[str]]], path: Path, cell: int = 256) -> Path:
    """Rows of samples under their step's label, one column per prompt, as a PNG."""
    from PIL import Image, ImageDraw

    from director.tools.assemble.fonts import pil_font

    columns = max(len(images) for _, images in rows)
    label_w, head_h, pad = 150, 32, 4
    grid = Image.new(
        "RGB", (label_w + columns * (cell + pad), head_h + len(rows) * (cell + pad)), "white"
    )
    draw = ImageDraw.Draw(grid)
    font = pil_font(18)
    for c in range(columns):
        draw.text(
            (label_w + c * (cell + pad) + cell // 2, head_h // 2), str(c + 1), "black", font, "mm"
        )
    for r, (label, images) in enumerate(rows):
        y = head_h + r * (cell + pad)
        draw.text((8, y + cell // 2), label, "black", font, "lm")
        for c, name in enumerate(images):
            with Image.open(out / name) as img:
                tile = img.convert("RGB").resize((cell, cell))
            grid.paste(tile, (label_w + c * (cell + pad), y))
    grid.save(path, format="PNG")
    return path


def contact_sheet(out: Path, names: list[str], path: Path, cell: int = 160) -> Path:
    """The dataset's images as numbered thumbnails, six to a row."""
    from PIL import Image, ImageDraw

    from director.tools.assemble.fonts import pil_font

    columns = min(6, len(names))
    rows = -(-len(names) // columns)
    label_h, pad = 24, 6
    sheet = Image.new(
        "RGB", (columns * (cell + pad) + pad, rows * (cell + label_h + pad) + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    font = pil_font(16)
    for i, name in enumerate(names):
        x = pad + (i % columns) * (cell + pad)
        y = pad + (i // columns) * (cell + label_h + pad)
        with Image.open(out / "dataset" / name) as img:
            thumb = img.convert("RGB")
            thumb.thumbnail((cell, cell))
        sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        draw.text((x + cell // 2, y + cell + label_h // 2), str(i + 1), "black", font, "mm")
    sheet.save(path, format="PNG")
    return path
