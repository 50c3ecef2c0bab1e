"""The files the workflow document shows or links, written into the run folder's ``doc/``: the
film's poster frame, every shot's accepted keyframe on one image, each problem's failed frame
beside the frame kept, the characters' reference photos, the full ffmpeg commands and a LoRA's
training notes; each ComfyUI attempt's graph is written by ``replay.comfyui``.

What each file holds is read from the log, and where it goes is fixed, so the document names
the same paths whether or not a file could be made (a film that is gone leaves the poster
made before it). A file that cannot be made never stops the document.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from director.errors import DirectorError
from director.files import atomic_file, write_text_atomic
from director.records import Attempt, Critique, Shot
from director.replay.comfyui import write_graphs
from director.replay.document import DOC
from director.replay.record import RunRecord
from director.replay.words import Words

POSTER = f"{DOC}/poster.jpg"
GRID = f"{DOC}/shots.jpg"
COMMANDS = f"{DOC}/ffmpeg-commands.txt"
LORA_NOTES = f"{DOC}/lora.md"
JPEG_QUALITY = 85


def reference_path(name: str, n: int) -> str:
    return f"{DOC}/references/{_slug(name)}-{n}.jpg"


def anchor_path(n: int) -> str:
    return f"{DOC}/style/anchor-{n}.jpg"


def problem_path(shot_id: str) -> str:
    return f"{DOC}/problems/{shot_id}.jpg"


def _slug(name: str) -> str:
    return re.sub(r"[^\w-]+", "-", name, flags=re.UNICODE).strip("-") or "character"


# --- what the files show, read from the record -------------------------------------------------


def poster_shot(r: RunRecord) -> tuple[Shot, float] | None:
    """The shot the poster is taken from (the first with a character, else the first) and the
    film time of its middle: the title card, the shots before it, half of it."""
    if not r.shots:
        return None
    shot = next((s for s in r.shots if s.characters), r.shots[0])
    before = sum(s.duration_s for s in r.shots[: r.shots.index(shot)])
    title = r.cards.title_s if r.cards else 0.0
    return shot, title + before + shot.duration_s / 2


def film_path(r: RunRecord) -> str | None:
    if r.finished is None or r.finished.status != "completed":
        return None
    return r.finished.outputs.get("film")


def references(r: RunRecord) -> list[tuple[str, int, str]]:
    """(character, 1-based number, source path) of every reference photo in the story."""
    people = r.story.protagonists if r.story else []
    return [(c.name, n, src) for c in people for n, src in enumerate(c.references, 1)]


def anchors(r: RunRecord) -> list[tuple[int, str]]:
    found = r.started.options.get("style_refs") if r.started else None
    return list(enumerate(found or [], 1))


@dataclass(frozen=True)
class Problem:
    """A shot's keyframe problem shown as pictures: the first attempt that failed the gate (or
    that a human sent back), and the attempt the film kept."""

    shot: Shot
    failed: Attempt
    critique: Critique | None
    kept: Attempt


def problem(r: RunRecord, shot: Shot) -> Problem | None:
    kept = r.chosen_keyframe(shot.id)
    if kept is None:
        return None
    sent_back = {n for n, _ in r.sent_back.get(shot.id, [])}
    for attempt in r.attempts(shot.id, "keyframe"):
        critique = r.critique(shot.id, "keyframe", attempt.number)
        failed = critique is not None and critique.verdict == "fail"
        if attempt.number != kept.number and (failed or attempt.number in sent_back):
            return Problem(shot, attempt, critique, kept)
    return None


def lora_spec(r: RunRecord) -> tuple[str, str | None] | None:
    """The run's ``--lora PATH[:STRENGTH]``: the path and the strength, if given."""
    spec = r.started.options.get("lora") if r.started else None
    if not spec:
        return None
    from director.errors import InputError
    from director.tools import style_lora

    try:  # read as --lora reads it (a negative strength too)
        parsed = style_lora.parse(str(spec))
    except InputError:  # a log from before the strength was checked: the spec as written
        return str(spec), None
    given = parsed.name != str(spec).strip()
    return parsed.name, f"{parsed.strength:g}" if given else None


def lora_notes_source(r: RunRecord) -> Path | None:
    """The ``lora.md`` training notes that sit beside the run's LoRA weights, if any."""
    spec = lora_spec(r)
    if spec is None:
        return None
    notes = Path(spec[0]).expanduser().parent / "lora.md"
    return notes if notes.is_file() else None


# --- writing them ------------------------------------------------------------------------------


def write_evidence(r: RunRecord, root: Path, lang: str) -> list[Path]:
    """Every file the document links, made from the record; those that cannot be made are
    left out (the document's page says what is missing)."""
    w = Words(lang)
    written = write_graphs(r, root)
    for make in (_poster, _grid, _references, _anchors, _commands, _lora_notes):
        written += _tolerant(make, r, root, w)
    for shot in r.shots:
        written += _tolerant(_problem, r, root, w, shot)
    return written


def _tolerant(make, *args) -> list[Path]:
    try:
        return make(*args)
    except (DirectorError, OSError, ValueError, subprocess.SubprocessError):
        return []


def _poster(r: RunRecord, root: Path, w: Words) -> list[Path]:
    from director.tools.assemble.ffmpeg_bin import ffmpeg_exe

    film, found = film_path(r), poster_shot(r)
    if film is None or found is None or not (root / film).is_file():
        return []
    dest = root / POSTER
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(".poster.tmp.jpg")
    command = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-ss", f"{found[1]:.3f}"]
    command += ["-i", str(root / film), "-frames:v", "1", "-q:v", "3", "-update", "1", str(tmp)]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            return []
        tmp.replace(dest)
    finally:  # a failed frame grab or rename leaves no half-made poster behind
        tmp.unlink(missing_ok=True)
    return [dest]


def _grid(r: RunRecord, root: Path, w: Words) -> list[Path]:
    from director.tools.image.contact_sheet import Tile, shot_caption

    tiles, flagged = [], {}
    for shot in r.shots:
        chosen = r.chosen_keyframe(shot.id)
        if chosen is None:
            continue
        band = int(chosen.params.get("caption_px", 0) or 0)
        tiles.append(Tile(root / chosen.artifact, shot.id, shot_caption(shot), band))
        decision = r.final_decision(shot.id)
        if decision is not None and decision.action == "accept-below-threshold":
            critique = r.critique(shot.id, "keyframe", chosen.number)
            flagged[shot.id] = [c.name for c in critique.failed] if critique else []
    if not tiles:
        return []
    return [_sheet(tiles, root / GRID, columns=4, thumb_width=320, flagged=flagged)]


def _problem(r: RunRecord, root: Path, w: Words, shot: Shot) -> list[Path]:
    from director.tools.image.contact_sheet import Tile

    found = problem(r, shot)
    if found is None:
        return []
    failed_label, kept_label = (
        f"{shot.id} #{found.failed.number}",
        f"{shot.id} #{found.kept.number}",
    )
    names = [c.name for c in found.critique.failed] if found.critique else []
    kept_critique = r.critique(shot.id, "keyframe", found.kept.number)
    tiles = [
        Tile(
            root / found.failed.artifact,
            failed_label,
            w("failed_caption", n=found.failed.number, checks=w.join(names))
            if names
            else w("sent_caption", n=found.failed.number),
            int(found.failed.params.get("caption_px", 0) or 0),
        ),
        Tile(
            root / found.kept.artifact,
            kept_label,
            w(
                "kept_caption",
                n=found.kept.number,
                verdict=w.named("verdicts", kept_critique.verdict)
                if kept_critique
                else w("not_critiqued"),
            ),
            int(found.kept.params.get("caption_px", 0) or 0),
        ),
    ]
    dest = root / problem_path(shot.id)
    return [_sheet(tiles, dest, columns=2, thumb_width=400, flagged={failed_label: names})]


def _sheet(tiles, dest: Path, **layout) -> Path:
    """A contact sheet of ``tiles``, kept as a JPEG (a fraction of the PNG's size)."""
    from PIL import Image

    from director.tools.image.contact_sheet import contact_sheet

    dest.parent.mkdir(parents=True, exist_ok=True)
    png = dest.with_name(f".{dest.stem}.tmp.png")
    try:
        contact_sheet(tiles, png, **layout)
        with Image.open(png) as img:
            _save_jpeg(img.convert("RGB"), dest)
    finally:
        png.unlink(missing_ok=True)
    return dest


def _save_jpeg(img, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(dest) as fh:
        img.save(fh, format="JPEG", quality=JPEG_QUALITY, optimize=True)


def _copy_image(source: str, dest: Path, width: int = 512) -> list[Path]:
    from director.tools.critics.imaging import open_rgb

    img = open_rgb(Path(source).expanduser()) if Path(source).expanduser().is_file() else None
    if img is None:
        return []
    img.thumbnail((width, width * 2))
    _save_jpeg(img, dest)
    return [dest]


def _references(r: RunRecord, root: Path, w: Words) -> list[Path]:
    written = []
    for name, n, source in references(r):
        written += _copy_image(source, root / reference_path(name, n))
    return written


def _anchors(r: RunRecord, root: Path, w: Words) -> list[Path]:
    written = []
    for n, source in anchors(r):
        written += _copy_image(source, root / anchor_path(n))
    return written


def _commands(r: RunRecord, root: Path, w: Words) -> list[Path]:
    if not r.assembly:
        return []
    parts = [
        f"# {step.step} -> {step.output} ({step.ts[:19].replace('T', ' ')})\n"
        + " ".join(quote(a) for a in step.command)
        for step in r.assembly
    ]
    dest = root / COMMANDS
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(dest, "\n\n".join(parts) + "\n")
    return [dest]


def quote(arg: str) -> str:
    return shlex.quote(str(arg))


def _lora_notes(r: RunRecord, root: Path, w: Words) -> list[Path]:
    source = lora_notes_source(r)
    if source is None:
        return []
    dest = root / LORA_NOTES
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return [dest]
