"""File helpers every layer shares: temporary files that become outputs.

``tempfile.mkstemp`` creates files readable by their owner only (0600); an output renamed from
one would keep that, so a film's document, plan and keyframes could not be read from a shared
folder or a web server. Files made here get the permissions any new file gets under the
user's umask, as ``film.mp4`` (written by ffmpeg) does.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_umask: int | None = None


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
