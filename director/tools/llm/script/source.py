"""Reading a script file: the checks every format shares (a readable file, UTF-8 text, not
empty, not too large), the format told from the name and the content, and the one-line error
that names the file and line of a problem."""

from __future__ import annotations

import re
from pathlib import Path

from director.errors import InputError

MAX_BYTES = 1_000_000  # a feature screenplay is about 200 kB
FORMATS = {
    ".fountain": "fountain",
    ".spmd": "fountain",
    ".md": "outline",
    ".markdown": "outline",
    ".json": "json",
    ".csv": "csv",
}
_SCENE = re.compile(r"^(int|ext|est|int\./ext|int/ext|i/e)[. ]", re.IGNORECASE)


def malformed(path: Path, line_no: int, problem: str, fix: str) -> InputError:
    """The error for a problem at one line of a script: ``FILE line N: problem. fix``."""
    return InputError(f"{path} line {line_no}: {problem}.", fix)


def read_script_text(path: Path, flag: str) -> str:
    """The file's text, refused (one line, naming ``flag``) when it cannot be a script."""
    if not path.is_file():
        raise InputError(f"{flag} {path} is not a file.", "Pass the path of your script file.")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(
                f"{flag} {path} is {size // 1000} kB; a script is at most {MAX_BYTES // 1000} kB.",
                "Pass the script of one short film.",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{flag} {path} cannot be read ({exc.strerror}).", "Check its permissions."
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_no = data[: exc.start].count(b"\n") + 1
        raise malformed(
            path, line_no, "is not UTF-8 text", "Save the file as UTF-8 (plain text)."
        ) from None
    if not text.strip():
        raise InputError(f"{flag} {path} is empty.", "Write your script in it first.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect_format(path: Path, text: str) -> str:
    """fountain, outline, json or csv: by extension, else by what the text looks like."""
    by_name = FORMATS.get(path.suffix.lower())
    if by_name:
        return by_name
    stripped = text.lstrip()
    lines = [line.strip() for line in text.splitlines()]
    if stripped.startswith(("[", "{")):
        return "json"
    if any(_SCENE.match(line) for line in lines):
        return "fountain"
    if any(line.startswith("#") for line in lines):
        return "outline"
    if "," in lines[0] and "action" in lines[0].lower():
        return "csv"
    raise InputError(
        f"{path}: cannot tell what kind of script this is.",
        "Name it .fountain (a screenplay), .md (a beat outline), .json or .csv (a shot list); "
        "see docs/scripts.md.",
    )
