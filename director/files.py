"""File helpers every layer shares: outputs written whole, and the files a user hands over
(SQLite stores, JSON records) checked before they are trusted.

Outputs are written beside their destination and renamed onto it once whole and on disk
(fsynced), so a reader never sees half a file and a crash leaves the old one. ``tempfile.mkstemp``
creates files readable by their owner only (0600); an output renamed from one would keep that,
so a film's document, plan and keyframes could not be read from a shared folder or a web
server. Files made here get the permissions any new file gets under the user's umask, as
``film.mp4`` (written by ffmpeg) does.

A write the machine refuses (permission denied, a full disk) raises ``OSError`` naming the
destination, never the temporary file, and leaves nothing behind; the CLI turns it into one
line and exit 1.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from director.errors import InputError, SystemFault, from_os_error

_lock = threading.Lock()
_umask: int | None = None
SQLITE_HEADER = b"SQLite format 3\x00"
# What SQLite says when the machine, not the file, is at fault.
MACHINE_SAYS = (
    "readonly database",
    "disk I/O error",
    "database or disk is full",
    "database is locked",
    "unable to open database file",
)


def temp_beside(dest: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """An open temporary file in ``dest``'s folder, to be renamed onto ``dest`` when whole;
    its permissions are a new file's under the umask."""
    fd, tmp = tempfile.mkstemp(dir=Path(dest).parent, prefix=f".{Path(dest).name}.", suffix=suffix)
    os.fchmod(fd, 0o666 & ~umask())
    return fd, tmp


def umask() -> int:
    """The process's umask (read once: reading it means setting it)."""
    global _umask
    with _lock:
        if _umask is None:
            _umask = os.umask(0o022)
            os.umask(_umask)
        return _umask


@contextmanager
def atomic_file(dest: Path, suffix: str = ".tmp") -> Iterator[IO[bytes]]:
    """A binary file to write ``dest``'s new content into: when the block ends without an
    error it is flushed, fsynced and renamed onto ``dest``; on any error it is removed and
    ``dest`` is left as it was."""
    dest = Path(dest)
    try:
        fd, tmp = temp_beside(dest, suffix=suffix)
    except OSError as exc:
        raise _naming(exc, dest) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _naming(exc, dest) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _naming(exc: OSError, dest: Path) -> OSError:
    """The same error, about ``dest`` (a write to the temporary file beside it names no file,
    or the temporary one)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(dest))


def read_json_object(path: Path, what: str, hint: str) -> dict[str, Any]:
    """A JSON object from a UTF-8 file, or an InputError naming ``what`` and the fix."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {exc.start}).", hint) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} {path} is not valid JSON ({exc.msg}, line {exc.lineno}).", hint
        ) from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder, not a file.", hint) from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} holds {type(data).__name__}, not an object.", hint)
    return data


def check_sqlite(path: Path, what: str, hint: str) -> bool:
    """Whether ``path`` holds a SQLite database (False: it is empty or absent); an InputError
    naming ``what`` when it is anything else, before SQLite opens it (and might write to it)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a database file.", hint)
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return False
    if header and header != SQLITE_HEADER:
        raise InputError(
            f"{what} {path} cannot be read as a database (it is not a SQLite file).", hint
        )
    return bool(header)


def sqlite_fault(exc: sqlite3.Error, path: Path, what: str, hint: str) -> Exception:
    """What a SQLite error on ``path`` means for the user: the machine refused (read-only, full
    disk, locked: exit 1), or the file is not what it should be (exit 2)."""
    text = str(exc)
    if any(words in text for words in MACHINE_SAYS) and not Path(path).is_dir():
        return SystemFault(
            f"{what} {path} cannot be used: {text}.",
            "Check that the folder is writable and the disk has room, then try again.",
        )
    return InputError(f"{what} {path} cannot be read as a database ({text}).", hint)


def writable_folder(folder: Path, cannot: str, fix: str) -> Path:
    """``folder``, made if needed and proven writable before any work goes into it. When it is
    not, the error says ``cannot`` (with the system's reason) and ``fix``: a fault of the
    machine (a full disk) as such, anything else as the user's input."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        kind = SystemFault if isinstance(from_os_error(exc), SystemFault) else InputError
        raise kind(f"{cannot} ({exc.strerror or exc}).", fix) from exc
    return folder
