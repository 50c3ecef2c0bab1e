"""Make the sample workflow document in this folder again, from a real offline run.

    python docs/sample/make.py

It runs ``director run`` on the embedded offline stack (no keys, no GPU, no network), writes the
document with ``director replay RUN --html``, and copies here workflow.md, workflow.html and
every file they link to, so the links work in place. To keep the repository small, the keyframes
are copied at half size in 256 colours and the film at a quarter of its size; the HTML page's
thumbnails are made from the full frames before that, as in any run. The run's log,
events.jsonl, comes too, so that a test can tell when the document's sections have changed
since the sample was made. Paths of the machine it was made on are taken out: the temporary
run folder's become relative, and the home folder is written ~.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOGLINE = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
RUN = ["--minutes", "0.25", "--size", "640x360", "--seed", "2075", "--yes"]
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")
KEPT = {"make.py"}
TEXT = {".md", ".html", ".jsonl", ".txt", ".json"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "sample"
        director("run", "--logline", LOGLINE, *RUN, "--runs-dir", tmp, "--run-id", "sample")
        director("replay", str(run), "--html")
        clear(HERE)
        for name in ("workflow.md", "workflow.html", "events.jsonl", *linked(run)):
            copy(run / name, HERE / name)
        # The machine's own folders, where the run was made, are no part of the sample.
        mine = {f"{run}/": "", tmp: "runs", str(Path.home()): "~"}
        for path in HERE.rglob("*"):
            if path.suffix in TEXT:
                text = path.read_text(encoding="utf-8")
                for old, new in mine.items():
                    text = text.replace(old, new)
                path.write_text(text, encoding="utf-8")
    size = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"{HERE}: {size // 1024} KB")


def director(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "director", *args], check=True)


def clear(folder: Path) -> None:
    for path in folder.iterdir():
        if path.name in KEPT:
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def linked(run: Path) -> list[str]:
    """The run's files the two pages link to, and the folder of files the document writes."""
    names = set()
    for page in ("workflow.md", "workflow.html"):
        for match in LINK.finditer((run / page).read_text(encoding="utf-8")):
            target = match[1] or match[2]
            if not re.match(r"[a-z]+:|#", target) and (run / target).is_file():
                names.add(target)
    names.update(str(p.relative_to(run)) for p in (run / "doc").rglob("*") if p.is_file())
    return sorted(names)


def copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".png":
        from PIL import Image

        with Image.open(source) as image:
            small = image.convert("RGB").reduce(2).quantize(256)
            small.save(target, optimize=True)
    elif source.suffix == ".mp4":
        from director.tools.assemble.ffmpeg_bin import ffmpeg_exe

        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-vf", "scale=iw/2:-2",
             "-c:v", "libx264", "-crf", "32", "-preset", "slow", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "48k", "-movflags", "+faststart", str(target)],
            check=True,
        )  # fmt: skip
    else:
        shutil.copyfile(source, target)


if __name__ == "__main__":
    main()
