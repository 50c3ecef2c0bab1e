"""Every bad input gets one clear line: a table of wrong flags, files, environment values and
run folders across every command, each built in the test.

The rule each case holds the CLI to: input the user gave that is wrong exits 2; a fault of the
machine (permission denied, a full disk) exits 1; either way the answer is one line, with no
traceback and never "unexpected" or "bug"; and no file the user already had (the run folders,
the cast store, the inputs) is changed, nor anything left behind in them.

The CLI runs in this process (its ``main``, as the ``director`` script calls it), against a copy
of two real runs made once for the module: a finished offline film and a deferred run waiting
at a beat's keyframes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import os
import resource
import shutil
import signal
import struct
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

LOGLINE = "A keeper and a robot tend the last garden"
SMALL = ("--minutes", "0.25", "--size", "320x180")
# A run that stops at its first checkpoint when nothing is wrong: a case that fails to refuse
# its bad input costs a fraction of a second, not a whole film.
RUN = ("run", "--logline", LOGLINE, *SMALL, "--approve", "defer", "-q")
# The same, leaving --size and --minutes to the environment or the config file.
RUN_UNSIZED = ("run", "--logline", LOGLINE, "--approve", "defer", "-q")
# New files a command may leave in the user's folders: the run's lock (an empty flock target).
ALLOWED_NEW = {".lock"}
WORDS_OF_A_BUG = ("Traceback", "unexpected", "This is a bug", " bug ")


# --- running the CLI in this process --------------------------------------------------------


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def invoke(argv: list[str], cwd: Path, env: dict[str, str]) -> Result:
    """``director ARGV`` as the console script runs it: the same exit code and output. Python
    warnings are printed as a subprocess would print them, so an extra line counts."""
    from director.cli import main

    out, err = _terminal(), _terminal()
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = ["director", *argv]
    code = 0
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.simplefilter("default")
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        for warning in caught:
            err.write(f"{warning.category.__name__}: {warning.message}\n")
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.argv = saved_argv
    return Result(code, _written(out), _written(err))


def _terminal() -> io.TextIOWrapper:
    """An output stream that refuses what a UTF-8 terminal's would (text that is not UTF-8)."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


def _written(stream: io.TextIOWrapper) -> str:
    return stream.buffer.getvalue().decode("utf-8")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment (the test's isolation already applied) without any director
    setting or provider key."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DIRECTOR_", "OPENAI_", "DASHSCOPE_"))
    }
    return {**keep, **extra}


# --- the files a case starts from -----------------------------------------------------------


def png_bytes(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """A PNG whose header says ``width`` x ``height``; the pixels given (or a token few)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(pixels if pixels is not None else b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def encoded(fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    data = np.random.default_rng(7).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, fmt)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header says ``width`` x ``height``."""
    data = bytearray(encoded("JPEG"))
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encoded("BMP", (2, 2)))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(encoded("GIF", (2, 2)))
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen
    at = data.index(b"\x2c")  # the image descriptor
    data[at + 5 : at + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def sqlite_of_another_program() -> bytes:
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "other.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE characters (id INTEGER, photo BLOB)")
        conn.execute("CREATE TABLE checkpoints (x TEXT)")
        conn.commit()
        conn.close()
        return path.read_bytes()


def face_png() -> bytes:
    """A photo of one face (scikit-image's astronaut): a reference the face backends take."""
    from skimage.data import astronaut

    buffer = io.BytesIO()
    Image.fromarray(astronaut()).save(buffer, "PNG")
    return buffer.getvalue()


GARBAGE = bytes(range(256)) * 8
LATIN1 = "Café, crème brûlée, señor: written in Latin-1\n".encode("latin-1")
GOOD_PNG = encoded("PNG", (64, 64))

# Input files every case finds in its ``in`` folder (a directory and a missing file besides).
IMAGES: dict[str, bytes] = {
    # Decompression bombs: tiny files that declare more pixels than a machine holds.
    "bomb.png": png_bytes(100_000, 100_000),
    "bomb-100mp.png": png_bytes(10_000, 10_000),  # over Pillow's warning, under its error
    "bomb.jpg": jpeg_claiming(65_000, 65_000),
    "bomb.bmp": bmp_claiming(50_000, 50_000),
    "bomb.gif": gif_claiming(65_535, 65_535),
    # Images that are not whole, or not images at all.
    "zero.png": png_bytes(0, 0),
    "truncated.png": GOOD_PNG[: len(GOOD_PNG) // 2],
    "truncated.jpg": encoded("JPEG", (64, 64))[:300],
    "garbage.png": GARBAGE,
    "empty.png": b"",
    "text.png": b"this is a text file with an image's name\n",
    "page.jpg": b"<!doctype html><html><body>404 Not Found</body></html>\n",
}
# Cases name them by these keys; ``dir.png`` is a folder, ``missing.png`` does not exist and
# ``huge.png`` is a PNG of more bytes than any reference photo needs (made sparse per case).
BAD_IMAGES = [*IMAGES, "dir.png", "missing.png", "huge.png"]
HUGE_BYTES = 257 * 1024 * 1024  # over the 256 MiB director reads


@dataclass
class Sandbox:
    """One case's world: the user's runs, cast store, config folder and input files."""

    root: Path

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def inputs(self) -> Path:
        return self.root / "in"

    @property
    def config(self) -> Path:
        return self.root / "config" / "director" / "config.toml"

    def arg(self, text: str) -> str:
        for key, path in (("{runs}", self.runs), ("{home}", self.home), ("{in}", self.inputs)):
            text = text.replace(key, str(path))
        return text.replace("{root}", str(self.root))


def run_file(name: str, run: str = "done") -> Callable[[Sandbox], Path]:
    return lambda s: s.runs / run / name


# --- what a case does to the sandbox before the command -------------------------------------


def put(where: Callable[[Sandbox], Path] | str, data: bytes | str) -> Callable[[Sandbox], None]:
    """Write ``data`` at a path (replacing a folder there); a str path is relative to the
    sandbox's root."""

    def prepare(s: Sandbox) -> None:
        path = where(s) if callable(where) else s.root / where
        if path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return prepare


def as_folder(where: Callable[[Sandbox], Path]) -> Callable[[Sandbox], None]:
    def prepare(s: Sandbox) -> None:
        path = where(s)
        path.unlink(missing_ok=True)
        path.mkdir(parents=True)
        (path / "keep").write_text("a folder where a file belongs\n")

    return prepare


def removed(where: Callable[[Sandbox], Path]) -> Callable[[Sandbox], None]:
    return lambda s: where(s).unlink()


def truncated_to_half(where: Callable[[Sandbox], Path]) -> Callable[[Sandbox], None]:
    def prepare(s: Sandbox) -> None:
        path = where(s)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return prepare


def config(text: str | bytes) -> Callable[[Sandbox], None]:
    return put(lambda s: s.config, text)


def read_only(*where: Callable[[Sandbox], Path]) -> Callable[[Sandbox], None]:
    """The folders (and all they hold) or files made read-only."""

    def prepare(s: Sandbox) -> None:
        for make in where:
            top = make(s)
            for path in sorted([top, *top.rglob("*")], key=lambda p: -len(p.parts)):
                path.chmod(0o555 if path.is_dir() else 0o444)

    return prepare


def both(*steps: Callable[[Sandbox], None]) -> Callable[[Sandbox], None]:
    def prepare(s: Sandbox) -> None:
        for step in steps:
            step(s)

    return prepare


# --- the machine's faults ---------------------------------------------------------------------


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root write where a mode forbids.
_OVERRIDES = (1 << 1) | (1 << 2) | (1 << 3)


@contextlib.contextmanager
def permissions_apply() -> Iterator[None]:
    """File modes bind this thread even when it runs as root (whose capabilities would let it
    write anywhere): the override capabilities are dropped from its effective set and restored
    after."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip("cannot read this process's capabilities")
    saved = data[0].effective
    data[0].effective = saved & ~_OVERRIDES
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip("cannot drop root's file-permission override here")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


@contextlib.contextmanager
def disk_full(limit: int = 4096) -> Iterator[None]:
    """Writes that would make any file larger than ``limit`` bytes fail (EFBIG), as on a full
    disk; the signal that would kill the process is ignored, so the write returns the error."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


FAULTS = {"": contextlib.nullcontext, "read-only": permissions_apply, "disk-full": disk_full}


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``director ARGV`` after ``prepare``, with ``env`` set: exits ``code``, and its one line
    holds ``says``. Code 0 (``doctor``) means a report that names the problem instead."""

    id: str
    argv: tuple[str, ...]
    says: str = ""
    code: int = 2
    prepare: Callable[[Sandbox], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    fault: str = ""
    xfail: str = ""

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=self.xfail)] if self.xfail else []
        return pytest.param(self, id=self.id, marks=marks)


IMAGE_USES = {
    "cast-add": ("cast", "add", "Nora", "--ref", "{img}"),
    "critique": ("critique", "{img}"),
    "critique-ref": ("critique", "{in}/good.png", "--ref", "{img}"),
    "critique-style-ref": ("critique", "{in}/good.png", "--style-ref", "{img}"),
    "run-character": (*RUN, "--character", "Nora={img}"),
    "run-style-ref": (*RUN, "--style-ref", "{img}"),
}
# What the one line says of each bad image.
IMAGE_SAYS = {
    "bomb": "pixels",
    "huge": "bytes",
    "dir": "",
    "missing": "",
}


def image_cases() -> list[Case]:
    cases = []
    for use, argv in IMAGE_USES.items():
        for name in BAD_IMAGES:
            kind = name.split(".")[0].split("-")[0]
            prepare = _huge_png if name == "huge.png" else None
            cases.append(
                Case(
                    f"{use}:{name}",
                    tuple(a.replace("{img}", f"{{in}}/{name}") for a in argv),
                    says=IMAGE_SAYS.get(kind, name),
                    prepare=prepare,
                )
            )
    return cases


def _huge_png(s: Sandbox) -> None:
    path = s.inputs / "huge.png"
    with open(path, "wb") as fh:
        fh.write(png_bytes(64, 64))
        fh.truncate(HUGE_BYTES)  # sparse: nothing is written, the size is what counts


# Broken contents of a run's files.
BROKEN = {
    "binary": lambda where: put(where, GARBAGE),
    "empty": lambda where: put(where, b""),
    "latin1": lambda where: put(where, LATIN1),
    "half": truncated_to_half,
    "folder": as_folder,
    "missing": removed,
}


def garbled(where: Callable[[Sandbox], Path]) -> Callable[[Sandbox], None]:
    """A line in the middle that is not an event (a torn last line is a crash's, and skipped)."""

    def prepare(s: Sandbox) -> None:
        path = where(s)
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join([*lines[:2], b"{not an event\n", *lines[2:]]))

    return prepare


JSON_SHAPES = {"list": b"[1, 2, 3]\n", "string": b'"a run"\n', "nulls": b'{"options": null}\n'}
# Each run file, the commands that read it, and the ways it is broken that they must refuse.
READERS = {
    "events.jsonl": (
        [("status", "done"), ("status", "wait"), ("replay", "done"), ("resume", "wait")],
        ["binary", "latin1", "folder", "garbled"],
    ),
    "run.json": (
        [("resume", "wait"), ("resume", "done", "--from", "assembly")],
        ["binary", "empty", "latin1", "half", "folder", "missing", *JSON_SHAPES],
    ),
    "checkpoints.sqlite": (
        [("status", "done"), ("status", "wait"), ("approve", "wait"), ("resume", "wait")],
        ["binary", "latin1", "half", "folder"],
    ),
}
BREAKS = {
    **BROKEN,
    "garbled": garbled,
    **{shape: (lambda data: lambda where: put(where, data))(d) for shape, d in JSON_SHAPES.items()},
}


def run_folder_cases() -> list[Case]:
    cases = [
        Case(
            f"{' '.join(command)}:{name}:{how}",
            command,
            prepare=BREAKS[how](run_file(name, command[1] if len(command) > 1 else "done")),
        )
        for name, (commands, hows) in READERS.items()
        for command in commands
        for how in hows
    ]
    waiting: dict[str, str] = {}
    cases = [replace(c, xfail=waiting.get(c.id, "")) for c in cases]
    return [
        *cases,
        Case("runs:events.jsonl:binary", ("runs",), prepare=put(run_file("events.jsonl"), GARBAGE)),
        Case("runs:events.jsonl:garbled", ("runs",), prepare=garbled(run_file("events.jsonl"))),
        Case(
            "replay done:events.jsonl:empty",
            ("replay", "done"),
            prepare=put(run_file("events.jsonl"), b""),
        ),
        Case(
            "status done:run.json:binary",
            ("status", "done"),
            says="run.json",
            prepare=put(run_file("run.json"), GARBAGE),
        ),
        Case(
            "replay done:run.json:list",
            ("replay", "done"),
            says="run.json",
            prepare=put(run_file("run.json"), b"[]"),
        ),
        Case(
            "approve wait:checkpoints.sqlite:empty",
            ("approve", "wait"),
            says="not waiting",
            prepare=put(run_file("checkpoints.sqlite", "wait"), b""),
        ),
        Case(
            "approve wait:checkpoints.sqlite:missing",
            ("approve", "wait"),
            says="not waiting",
            prepare=removed(run_file("checkpoints.sqlite", "wait")),
        ),
        Case(
            "status wait:checkpoints.sqlite:another-program",
            ("status", "wait"),
            says="checkpoints",
            prepare=put(run_file("checkpoints.sqlite", "wait"), sqlite_of_another_program()),
        ),
    ]


def cast_store_cases() -> list[Case]:
    db = lambda s: s.home / "cast.sqlite"  # noqa: E731
    commands = [
        ("cast", "list"),
        ("cast", "show", "Mara"),
        ("cast", "remove", "Mara"),
        ("cast", "add", "Nora", "--ref", "{in}/face.png"),
        (*RUN, "--cast", "Mara"),
        ("critique", "{in}/good.png", "--cast", "Mara"),
    ]
    broken = {
        "binary": put(db, GARBAGE),
        "half": truncated_to_half(db),
        "another-program": put(db, sqlite_of_another_program()),
        "folder": as_folder(db),
    }
    return [
        Case(f"{' '.join(c[:2]) if c[0] == 'cast' else c[0]}:cast.sqlite:{how}", c, prepare=p)
        for c in commands
        for how, p in broken.items()
    ]


def options_cases() -> list[Case]:
    flags = [
        ("budget-nan", ("--budget", "nan"), "finite"),
        ("budget-inf", ("--budget", "inf"), "finite"),
        ("budget-minus-inf", ("--budget", "-inf"), "finite"),
        ("budget-negative", ("--budget", "-1"), "above zero"),
        ("budget-zero", ("--budget", "0"), "above zero"),
        ("budget-word", ("--budget", "lots"), "lots"),
        ("budget-overflow", ("--budget", "1e999"), "finite"),
        ("minutes-nan", ("--minutes", "nan"), "finite"),
        ("minutes-inf", ("--minutes", "inf"), "finite"),
        ("minutes-negative", ("--minutes", "-3"), "out of range"),
        ("seed-huge", ("--seed", "1" + "0" * 40), "--seed"),
        ("seed-float", ("--seed", "1.5"), "--seed"),
        ("size-zero", ("--size", "0x0"), "--size"),
        ("size-huge", ("--size", "99999x99999"), "--size"),
        ("size-odd", ("--size", "321x181"), "--size"),
        ("size-negative", ("--size", "-320x180"), "--size"),
        ("size-word", ("--size", "big"), "--size"),
        ("max-attempts-zero", ("--max-attempts", "0"), "--max-attempts"),
        ("max-attempts-huge", ("--max-attempts", "1000"), "--max-attempts"),
        ("best-of-zero", ("--best-of", "0"), "--best-of"),
        ("best-of-huge", ("--best-of", "99"), "--best-of"),
        ("max-run-attempts-zero", ("--max-run-attempts", "0"), "--max-run-attempts"),
        ("max-run-attempts-negative", ("--max-run-attempts", "-1"), "--max-run-attempts"),
        ("structure", ("--structure", "five-act"), "five-act"),
        ("run-id-slash", ("--run-id", "a/b"), "not safe"),
        ("run-id-dot", ("--run-id", ".hidden"), "not safe"),
        ("run-id-taken", ("--run-id", "done"), "already exists"),
        ("run-id-surrogates", ("--run-id", "run-\udcff"), "not safe"),
        ("logline-surrogates", ("--logline", "A keeper \udcff\udcfe tends"), "not valid text"),
        ("logline-empty", ("--logline", "  \t "), "empty"),
        ("logline-control-only", ("--logline", "\x00\x07\x1b"), "empty"),
        ("cast-unknown", ("--cast", "Nobody"), "Nobody"),
        ("character-no-equals", ("--character", "Nora"), "NAME=IMAGE"),
        ("character-no-name", ("--character", "={in}/good.png"), "name"),
        ("character-no-image", ("--character", "Nora="), "NAME=IMAGE"),
        ("character-surrogate-name", ("--character", "N\udcffra={in}/good.png"), "name"),
        ("threshold-unknown", ("--threshold", "nope=1"), "nope"),
        ("threshold-not-a-pair", ("--threshold", "min_sharpness"), "NAME=NUMBER"),
        ("threshold-word", ("--threshold", "min_sharpness=high"), "NAME=NUMBER"),
        ("threshold-nan", ("--threshold", "min_sharpness=nan"), "finite"),
        ("threshold-inf", ("--threshold", "min_sharpness=inf"), "finite"),
        ("music-missing", ("--music", "{in}/missing.mp3"), "missing.mp3"),
        ("music-empty", ("--music", "{in}/empty.png"), "empty.png"),
        ("music-image", ("--music", "{in}/good.png"), "good.png"),
        ("music-folder", ("--music", "{in}/dir.png"), "dir.png"),
        ("font-missing", ("--font", "{in}/missing.ttf"), "missing.ttf"),
        ("font-garbage", ("--font", "{in}/garbage.png"), "garbage.png"),
        ("font-empty", ("--font", "{in}/empty.png"), "empty.png"),
        ("llm-unknown", ("--llm", "nope"), "nope"),
        ("image-unknown", ("--image", "nope:model"), "nope"),
        ("video-unknown", ("--video", "nope"), "nope"),
        ("device-without-diffusers", ("--device", "cuda:0"), "--device"),
        ("diffusers-missing-model", ("--image", "diffusers:{in}/no-model"), "no-model"),
        ("diffusers-bad-device", ("--image", "diffusers:{in}", "--device", "tpu"), "tpu"),
        ("clip-weights-missing", ("--clip-weights", "{in}/missing.pt"), "missing.pt"),
        ("clip-weights-folder", ("--clip-weights", "{in}/dir.png"), "dir.png"),
        ("insightface-root-file", ("--insightface-root", "{in}/good.png"), "good.png"),
        ("runs-dir-file", ("--runs-dir", "{in}/good.png"), "good.png"),
        ("runs-dir-under-file", ("--runs-dir", "{in}/good.png/runs"), "good.png"),
        ("approve-mode", ("--approve", "sometimes"), "sometimes"),
    ]
    cases = [Case(f"run:{name}", (*RUN, *argv), says=says) for name, argv, says in flags]
    cases.append(Case("run:no-logline", ("run", "--yes"), says="--logline"))
    return cases


# Every DIRECTOR_* setting with a value that cannot be used: the command and what the line says.
ENV_CASES = [
    ("DIRECTOR_BUDGET", "nan", RUN, "finite"),
    ("DIRECTOR_BUDGET", "inf", RUN, "finite"),
    ("DIRECTOR_BUDGET", "-1", RUN, "above zero"),
    ("DIRECTOR_BUDGET", "some", RUN, "some"),
    ("DIRECTOR_SIZE", "huge", RUN_UNSIZED, "--size"),
    ("DIRECTOR_SIZE", "1e9x1e9", RUN_UNSIZED, "--size"),
    ("DIRECTOR_SIZE", "99999x99999", RUN_UNSIZED, "--size"),
    ("DIRECTOR_SEED", "nan", RUN, "--seed"),
    ("DIRECTOR_SEED", "seven", RUN, "--seed"),
    ("DIRECTOR_MAX_ATTEMPTS", "0", RUN, "--max-attempts"),
    ("DIRECTOR_MAX_ATTEMPTS", "many", RUN, "--max-attempts"),
    ("DIRECTOR_MAX_ATTEMPTS", "inf", RUN, "--max-attempts"),
    ("DIRECTOR_BEST_OF", "99", RUN, "--best-of"),
    ("DIRECTOR_BEST_OF", "two", RUN, "--best-of"),
    ("DIRECTOR_MAX_RUN_ATTEMPTS", "-1", RUN, "--max-run-attempts"),
    ("DIRECTOR_MAX_RUN_ATTEMPTS", "nan", RUN, "--max-run-attempts"),
    ("DIRECTOR_STRUCTURE", "five-act", RUN, "five-act"),
    ("DIRECTOR_FONT", "{in}/missing.ttf", RUN, "missing.ttf"),
    ("DIRECTOR_FONT", "{in}/garbage.png", RUN, "garbage.png"),
    ("DIRECTOR_LLM", "nope", RUN, "nope"),
    ("DIRECTOR_IMAGE", "nope", RUN, "nope"),
    ("DIRECTOR_VIDEO", "nope", RUN, "nope"),
    ("DIRECTOR_CLIP_WEIGHTS", "{in}/missing.pt", RUN, "missing.pt"),
    (
        "DIRECTOR_CLIP_WEIGHTS",
        "{in}/missing.pt",
        ("critique", "{in}/good.png", "--prompt", "a garden"),
        "missing.pt",
    ),
    (
        "DIRECTOR_CLIP_MODEL",
        "no-such-architecture",
        ("critique", "{in}/good.png", "--prompt", "a garden"),
        "no-such-architecture",
    ),
    (
        "DIRECTOR_INSIGHTFACE_ROOT",
        "{in}/good.png",
        ("cast", "add", "Nora", "--ref", "{in}/good.png"),
        "good.png",
    ),
    (
        "DIRECTOR_INSIGHTFACE_ROOT",
        "{in}/good.png",
        ("critique", "{in}/good.png", "--ref", "{in}/good.png"),
        "good.png",
    ),
    ("DIRECTOR_RUNS_DIR", "{in}/good.png", RUN, "good.png"),
    ("DIRECTOR_RUNS_DIR", "{in}/good.png", ("runs",), "good.png"),
    ("DIRECTOR_RUNS_DIR", "{in}/good.png", ("status", "done"), "done"),
    ("DIRECTOR_RUNS_DIR", "{in}/good.png", ("replay", "done"), "done"),
    ("DIRECTOR_RUNS_DIR", "{in}/good.png", ("resume", "wait"), "wait"),
    ("DIRECTOR_RUNS_DIR", "{in}/good.png", ("approve", "wait"), "wait"),
    ("DIRECTOR_HOME", "{in}/good.png", ("cast", "list"), "not a folder"),
    (
        "DIRECTOR_HOME",
        "{in}/good.png",
        ("cast", "add", "Nora", "--ref", "{in}/good.png"),
        "not a folder",
    ),
    ("DIRECTOR_HOME", "{in}/good.png", ("cast", "show", "Mara"), "not a folder"),
    ("DIRECTOR_HOME", "{in}/good.png", ("cast", "remove", "Mara"), "not a folder"),
    ("DIRECTOR_HOME", "{in}/good.png", (*RUN, "--cast", "Mara"), "not a folder"),
    ("DIRECTOR_HOME", "{in}/good.png/below", ("cast", "list"), "not a folder"),
    ("DIRECTOR_CONFIG", "{in}/missing.toml", RUN, "missing.toml"),
    ("DIRECTOR_CONFIG", "{in}/missing.toml", ("runs",), "missing.toml"),
    ("DIRECTOR_CONFIG", "{in}/dir.png", ("runs",), "dir.png"),
    ("DIRECTOR_CONFIG", "{in}/garbage.png", ("status", "done"), "garbage.png"),
    ("DIRECTOR_CONFIG", "{in}/garbage.png", ("critique", "{in}/good.png"), "garbage.png"),
    ("DIRECTOR_FFMPEG", "{in}/missing-ffmpeg", RUN, "missing-ffmpeg"),
    ("DIRECTOR_FFMPEG", "{in}/garbage.png", RUN, "garbage.png"),
    ("DIRECTOR_DIFFUSERS_DEVICE", "tpu", (*RUN, "--image", "diffusers:{in}"), "tpu"),
    ("DIRECTOR_DIFFUSERS_STEPS", "nan", (*RUN, "--image", "diffusers:{in}"), "steps"),
    ("DIRECTOR_DIFFUSERS_DTYPE", "float8", (*RUN, "--image", "diffusers:{in}"), "float8"),
    ("DIRECTOR_DIFFUSERS_OFFLOAD", "maybe", (*RUN, "--image", "diffusers:{in}"), "maybe"),
]


def env_cases() -> list[Case]:
    cases, seen = [], set()
    for name, value, argv, says in ENV_CASES:
        label = f"env:{name}={value.replace('{in}/', '')}:{' '.join(argv[:2])}"
        label = label if label not in seen else f"{label}#{len(seen)}"
        seen.add(label)
        cases.append(Case(label, argv, says=says, env={name: value}))
    return cases


def config_file_cases() -> list[Case]:
    bad = {
        "binary": (GARBAGE, "UTF-8"),
        "latin1": (b'size = "320x180" # ' + LATIN1, "UTF-8"),
        "not-toml": ("size = = 3\n[[", "TOML"),
        "unknown-key": ('colour = "red"\n', "colour"),
        "budget-nan": ("budget = nan\n", "finite"),
        "budget-inf": ("budget = inf\n", "finite"),
        "budget-negative": ("budget = -5\n", "above zero"),
        "minutes-nan": ("minutes = nan\n", "finite"),
        "size-number": ("size = 5\n", "--size"),
        "max-attempts-word": ('max_attempts = "many"\n', "--max-attempts"),
        "thresholds-number": ("thresholds = 3\n", "thresholds"),
        "threshold-word": ('[thresholds]\nmin_sharpness = "high"\n', "min_sharpness"),
        "threshold-nan": ("[thresholds]\nmin_sharpness = nan\n", "finite"),
        "threshold-unknown": ("[thresholds]\nnope = 1\n", "nope"),
        "prices-word": ('[prices."dashscope:wan2.2-t2i-flash"]\nimage = "free"\n', "prices"),
        "runs-dir-file": ('runs_dir = "in/good.png"\n', "good.png"),
    }
    cases = [
        Case(
            f"config:{how}:run",
            RUN_UNSIZED,
            says=says,
            prepare=config(text),
        )
        for how, (text, says) in bad.items()
    ]
    for how in ("binary", "not-toml"):
        text, says = bad[how]
        for argv in (
            ("runs",),
            ("status", "done"),
            ("replay", "done"),
            ("critique", "{in}/good.png"),
        ):
            cases.append(Case(f"config:{how}:{argv[0]}", argv, says=says, prepare=config(text)))
        cases.append(
            Case(f"config:{how}:doctor", ("doctor",), says=says, code=0, prepare=config(text))
        )
    cases.append(
        Case(
            "config:folder:run",
            RUN,
            says="config.toml",
            prepare=as_folder(lambda s: s.config),
        )
    )
    return cases


def run_reference_cases() -> list[Case]:
    """Runs named by what is not a run, and commands given what does not fit the run."""
    refs = {
        "unknown": ("nope", "nope"),
        "a-file": ("{in}/good.png", "good.png"),
        "a-folder": ("{in}", "in"),
        "escape": ("../../etc", "etc"),
        "surrogates": ("run-\udcff", "run-"),
        "events-file": ("{runs}/done/events.jsonl", "events.jsonl"),
    }
    cases = [
        Case(f"{cmd}:run={how}", (cmd, ref), says=says)
        for cmd in ("status", "replay", "resume", "approve")
        for how, (ref, says) in refs.items()
    ]
    cases += [
        Case("resume:finished", ("resume", "done"), says="finished"),
        Case(
            "resume:music-without-from",
            ("resume", "done", "--music", "{in}/good.png"),
            says="--from",
        ),
        Case(
            "resume:music-not-audio",
            ("resume", "done", "--from", "assembly", "--music", "{in}/good.png"),
            says="good.png",
        ),
        Case(
            "resume:font-garbage",
            ("resume", "done", "--from", "assembly", "--font", "{in}/missing.ttf"),
            says="missing.ttf",
        ),
        Case("resume:from-nowhere", ("resume", "done", "--from", "credits"), says="credits"),
        Case("approve:finished", ("approve", "done"), says="not waiting"),
        Case(
            "approve:two-decisions",
            ("approve", "wait", "--reroll", "s001", "--abort"),
            says="Choose one",
        ),
        Case("approve:slot-alone", ("approve", "wait", "--slot", "action=x"), says="--slot"),
        Case("approve:edit-no-slot", ("approve", "wait", "--edit", "s001"), says="--slot"),
        Case(
            "approve:edit-field-here",
            ("approve", "wait", "--edit", "s001", "--field", "summary=x"),
            says="--field",
        ),
        Case("approve:reroll-unknown-shot", ("approve", "wait", "--reroll", "s999"), says="s999"),
        Case(
            "approve:edit-unknown-slot",
            ("approve", "wait", "--edit", "s001", "--slot", "mood=x"),
            says="mood",
        ),
        Case(
            "approve:note-surrogates",
            ("approve", "wait", "--reject", "--note", "too \udcff dark"),
            says="UTF-8",
        ),
        Case(
            "approve:edit-surrogates",
            ("approve", "wait", "--edit", "s001", "--slot", "action=\udcff"),
            says="UTF-8",
        ),
        Case(
            "approve:answer-binary",
            ("resume", "wait"),
            says="approval.json",
            prepare=put(run_file("approval.json", "wait"), GARBAGE),
        ),
        Case(
            "approve:answer-list",
            ("resume", "wait"),
            says="approval.json",
            prepare=put(run_file("approval.json", "wait"), b"[]\n"),
        ),
        Case(
            "approve:answer-folder",
            ("resume", "wait"),
            says="approval.json",
            prepare=as_folder(run_file("approval.json", "wait")),
        ),
        Case(
            "cast:add-surrogate-name",
            ("cast", "add", "N\udcffra", "--ref", "{in}/good.png"),
            says="name",
        ),
        Case(
            "cast:add-surrogate-desc",
            ("cast", "add", "Nora", "--ref", "{in}/face.png", "--desc", "grey \udcff coat"),
            says="UTF-8",
        ),
        Case("cast:add-taken", ("cast", "add", "Mara", "--ref", "{in}/good.png"), says="already"),
        Case("cast:add-no-face", ("cast", "add", "Nora", "--ref", "{in}/good.png"), says="no face"),
        Case(
            "cast:add-slash-name",
            ("cast", "add", "a/b", "--ref", "{in}/good.png"),
            says="cannot be used",
        ),
        Case("cast:show-unknown", ("cast", "show", "Nobody"), says="Nobody"),
        Case("cast:remove-unknown", ("cast", "remove", "Nobody"), says="Nobody"),
        Case("cast:voice-unknown", ("cast", "voice", "Nobody", "scratch:f4"), says="Nobody"),
        Case("cast:voice-provider", ("cast", "voice", "Mara", "nope:x"), says="no voice backend"),
        Case("critique:size-word", ("critique", "{in}/good.png", "--size", "big"), says="--size"),
        Case(
            "critique:cast-and-ref",
            ("critique", "{in}/good.png", "--cast", "Mara", "--ref", "{in}/good.png"),
            says="--cast",
        ),
        Case(
            "critique:cast-unknown",
            ("critique", "{in}/good.png", "--cast", "Nobody"),
            says="Nobody",
        ),
        Case(
            "critique:threshold-nan",
            ("critique", "{in}/good.png", "--threshold", "min_sharpness=nan"),
            says="finite",
        ),
        Case(
            "critique:prompt-surrogates",
            ("critique", "{in}/good.png", "--prompt", "a \udcff garden"),
            says="UTF-8",
        ),
        Case("runs:runs-dir-file", ("runs", "--runs-dir", "{in}/good.png"), says="good.png"),
    ]
    cases += [
        Case(f"export:run={how}", ("export", ref, "--to", "otio"), says=says)
        for how, (ref, says) in refs.items()
    ]
    cases += [
        Case("export:unknown-format", ("export", "done", "--to", "avid"), says="avid"),
        Case("export:no-format", ("export", "done"), says="--to"),
        Case(
            "export:out-is-a-file",
            ("export", "done", "--to", "edl", "--out", "{in}/good.png"),
            says="is a file",
        ),
        Case("export:no-film-yet", ("export", "wait", "--to", "xml"), says="no film yet"),
    ]
    cases += [
        Case("render:no-clean", ("render", "done"), says="--clean"),
        Case("render:unknown-run", ("render", "nope", "--clean"), says="No run 'nope'"),
        Case("render:no-film-yet", ("render", "wait", "--clean"), says="film"),
        Case(
            "lora:unknown-run",
            ("lora", "train", "--from", "nope", "--base", "diffusers:/x", "--device", "cpu"),
            says="No run 'nope'",
        ),
        Case(
            "lora:no-base-model",
            ("lora", "train", "--images", "{in}", "--base", "diffusers:/x", "--device", "cpu"),
            says="No diffusers model at /x",
        ),
    ]
    cases += [
        Case(f"evaluate:run={how}", ("evaluate", ref), says=says)
        for how, (ref, says) in refs.items()
    ]
    cases += [
        Case("evaluate:against-unknown", ("evaluate", "done", "--against", "nope"), says="nope"),
        Case(
            "evaluate:out-is-a-file",
            ("evaluate", "done", "--out", "{in}/good.png"),
            says="good.png",
        ),
        Case(
            "evaluate:threshold-nan",
            ("evaluate", "done", "--threshold", "min_sharpness=nan"),
            says="finite",
        ),
    ]
    return cases


def fault_cases() -> list[Case]:
    """The machine says no: exit 1, one line naming the file, no word of a bug."""
    done, wait = (lambda s: s.runs / "done"), (lambda s: s.runs / "wait")
    home = lambda s: s.home  # noqa: E731
    refs = lambda s: s.home / "refs"  # noqa: E731
    return [
        Case(
            "replay:read-only-run",
            ("replay", "done"),
            says="workflow.md",
            code=1,
            prepare=read_only(done),
            fault="read-only",
        ),
        Case(
            "replay:read-only-document",
            ("replay", "done"),
            says="workflow.md",
            code=1,
            prepare=both(read_only(run_file("workflow.md")), read_only(done)),
            fault="read-only",
        ),
        Case(
            "replay-html:read-only-run",
            ("replay", "done", "--html"),
            says="done",
            code=1,
            prepare=read_only(done),
            fault="read-only",
        ),
        Case("replay:disk-full", ("replay", "done"), says="workflow.md", code=1, fault="disk-full"),
        Case(
            "approve:read-only-run",
            ("approve", "wait"),
            says="wait",
            code=1,
            prepare=read_only(wait),
            fault="read-only",
        ),
        Case(
            "approve:disk-full",
            ("approve", "wait", "--note", "n" * 8000),
            says="approval.json",
            code=1,
            fault="disk-full",
        ),
        Case(
            "resume:read-only-run",
            ("resume", "wait"),
            says="wait",
            code=1,
            prepare=read_only(wait),
            fault="read-only",
        ),
        Case(
            "run:read-only-runs-folder",
            RUN,
            says="runs",
            code=1,
            prepare=read_only(lambda s: s.runs),
            fault="read-only",
        ),
        Case(
            "cast-add:read-only-home",
            ("cast", "add", "Nora", "--ref", "{in}/face.png"),
            says="home",
            code=1,
            prepare=both(read_only(refs), read_only(home)),
            fault="read-only",
        ),
        Case(
            "cast-remove:read-only-home",
            ("cast", "remove", "Mara"),
            says="cast",
            code=1,
            prepare=both(read_only(refs), read_only(home)),
            fault="read-only",
        ),
        Case(
            "cast-add:disk-full",
            ("cast", "add", "Nora", "--ref", "{in}/face.png"),
            says="home",
            code=1,
            fault="disk-full",
        ),
        Case(
            "cast-list:unreadable-store",
            ("cast", "list"),
            says="cast.sqlite",
            code=1,
            prepare=both(lambda s: (s.home / "cast.sqlite").chmod(0)),
            fault="read-only",
        ),
        Case(
            "status:unreadable-log",
            ("status", "done"),
            says="events.jsonl",
            code=1,
            prepare=lambda s: (s.runs / "done" / "events.jsonl").chmod(0),
            fault="read-only",
        ),
        Case(
            "critique:unreadable-image",
            ("critique", "{in}/good.png"),
            says="good.png",
            code=1,
            prepare=lambda s: (s.inputs / "good.png").chmod(0),
            fault="read-only",
        ),
    ]


def doctor_cases() -> list[Case]:
    """doctor reports what is wrong instead of stopping: exit 0, the problem named."""
    return [
        Case(
            "doctor:env:DIRECTOR_HOME=file",
            ("doctor",),
            says="",
            code=0,
            env={"DIRECTOR_HOME": "{in}/good.png"},
        ),
        Case(
            "doctor:env:DIRECTOR_FFMPEG=missing",
            ("doctor",),
            says="missing-ffmpeg",
            code=0,
            env={"DIRECTOR_FFMPEG": "{in}/missing-ffmpeg"},
        ),
        Case(
            "doctor:env:DIRECTOR_FONT=garbage",
            ("doctor",),
            says="garbage.png",
            code=0,
            env={"DIRECTOR_FONT": "{in}/garbage.png"},
        ),
        Case(
            "doctor:env:DIRECTOR_INSIGHTFACE_ROOT=file",
            ("doctor",),
            says="good.png",
            code=0,
            env={"DIRECTOR_INSIGHTFACE_ROOT": "{in}/good.png"},
        ),
        Case(
            "doctor:env:DIRECTOR_CLIP_WEIGHTS=missing",
            ("doctor",),
            says="missing.pt",
            code=0,
            env={"DIRECTOR_CLIP_WEIGHTS": "{in}/missing.pt"},
        ),
        Case(
            "doctor:env:DIRECTOR_CONFIG=missing",
            ("doctor",),
            says="missing.toml",
            code=0,
            env={"DIRECTOR_CONFIG": "{in}/missing.toml"},
        ),
    ]


CASES = [
    *image_cases(),
    *run_folder_cases(),
    *cast_store_cases(),
    *options_cases(),
    *env_cases(),
    *config_file_cases(),
    *run_reference_cases(),
    *fault_cases(),
    *doctor_cases(),
]


# --- the runs and cast store every case starts from --------------------------------------------


class FakeEmbedder:
    """A face backend's name and a fixed vector: the cast store's rows without a face model."""

    name = "dlib"

    def embed_reference(self, path: Path) -> np.ndarray:
        return np.linspace(0.0, 1.0, 128, dtype=np.float32)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A finished offline run (``done``), a run waiting at beat 1's keyframes (``wait``), a cast
    store holding Mara, and the input files: made once, copied for each case."""
    root = tmp_path_factory.mktemp("world")
    env = clean_env(
        XDG_CONFIG_HOME=str(root / "config"),
        DIRECTOR_HOME=str(root / "home"),
        HOME=str(tmp_path_factory.mktemp("user-home")),
        HF_HUB_CACHE=str(tmp_path_factory.mktemp("no-hub-cache")),
    )
    for argv in (
        (*RUN, "--yes", "--run-id", "done"),
        (*RUN, "--run-id", "wait"),
        ("approve", "wait"),
        ("resume", "wait"),
    ):
        made = invoke(list(argv), root, env)
        assert made.code == 0, made.stderr
    from director.memory.cast import CastStore

    (root / "in").mkdir()
    (root / "in" / "good.png").write_bytes(GOOD_PNG)
    (root / "in" / "face.png").write_bytes(face_png())
    CastStore(root / "home").add("Mara", [root / "in" / "good.png"], [FakeEmbedder()], "grey braid")
    for name, data in IMAGES.items():
        (root / "in" / name).write_bytes(data)
    (root / "in" / "dir.png").mkdir()
    return root


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.stat().st_size < HUGE_BYTES
    }


def restore_modes(root: Path) -> None:
    """Make every file and folder of a case writable again, so it can be checked and removed."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_a_bad_input_is_one_line_and_changes_nothing(case: Case, world: Path, tmp_path: Path):
    sandbox = Sandbox(tmp_path / "case")
    shutil.copytree(world, sandbox.root, symlinks=True)
    if case.prepare is not None:
        case.prepare(sandbox)
    before = digests(sandbox.root)
    env = clean_env(XDG_CONFIG_HOME=str(sandbox.root / "config"), DIRECTOR_HOME=str(sandbox.home))
    env.update({k: sandbox.arg(v) for k, v in case.env.items()})
    argv = [sandbox.arg(a) for a in case.argv]
    with FAULTS[case.fault]():
        result = invoke(argv, sandbox.root, env)
    restore_modes(sandbox.root)
    after = digests(sandbox.root)

    shown = f"exit {result.code}\nstdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-3000:]}"
    said = result.stdout + result.stderr
    assert not any(word in said for word in WORDS_OF_A_BUG), shown
    assert result.code == case.code, shown
    if case.code == 0:
        assert case.says in said, shown
    else:
        assert len(result.lines) == 1, shown
        assert case.says in result.lines[0], shown
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    added = sorted(k for k in set(after) - set(before) if Path(k).name not in ALLOWED_NEW)
    assert not changed, f"changed or removed: {changed}\n{shown}"
    assert not added, f"left behind: {added}\n{shown}"


def test_reading_a_run_writes_nothing_even_where_nothing_can_be_written(world, tmp_path):
    """status, runs and the checks approve makes read a run without writing to it: they work
    on a read-only run folder and leave no file behind (SQLite's index files included)."""
    sandbox = Sandbox(tmp_path / "case")
    shutil.copytree(world, sandbox.root, symlinks=True)
    read_only(lambda s: s.runs)(sandbox)
    before = digests(sandbox.root)
    env = clean_env(XDG_CONFIG_HOME=str(sandbox.root / "config"), DIRECTOR_HOME=str(sandbox.home))
    with permissions_apply():
        results = [
            invoke(argv, sandbox.root, env)
            for argv in (["status", "wait", "--json"], ["status", "done"], ["runs", "--json"])
        ]
        refused = invoke(["approve", "done"], sandbox.root, env)
    restore_modes(sandbox.root)
    assert [r.code for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert '"waiting for approval"' in results[0].stdout
    assert "Run done: completed." in results[1].stdout
    assert refused.code == 2 and "not waiting for approval" in refused.stderr
    assert digests(sandbox.root) == before


def test_a_keyframe_that_cannot_be_shown_is_named_on_the_page_not_a_failure(world, tmp_path):
    """replay --html on a run whose keyframes were replaced by a non-image and a decompression
    bomb: the page is written, each says its image cannot be shown, the files are untouched."""
    sandbox = Sandbox(tmp_path / "case")
    shutil.copytree(world, sandbox.root, symlinks=True)
    first, second = sorted((sandbox.runs / "done" / "keyframes").rglob("*.png"))[:2]
    first.write_bytes(GARBAGE)
    second.write_bytes(IMAGES["bomb.png"])
    env = clean_env(XDG_CONFIG_HOME=str(sandbox.root / "config"), DIRECTOR_HOME=str(sandbox.home))
    result = invoke(["replay", "done", "--html"], sandbox.root, env)
    assert result.code == 0, result.stderr
    page = (sandbox.runs / "done" / "workflow.html").read_text(encoding="utf-8")
    for path in (first, second):
        shown = path.relative_to(sandbox.runs / "done").as_posix()
        assert f"missing or unreadable image: {shown}" in page
    assert first.read_bytes() == GARBAGE and second.read_bytes() == IMAGES["bomb.png"]


def test_the_table_covers_every_command():
    from director.cli import cli

    named = {c.argv[0] for c in CASES} | {" ".join(c.argv[:2]) for c in CASES}
    for name, command in cli.commands.items():
        assert name in named, name
        for sub in getattr(command, "commands", {}):
            assert f"{name} {sub}" in named, f"{name} {sub}"
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
