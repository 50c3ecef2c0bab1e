"""Cast memory: characters with reference photos and identity embeddings, kept across films.

Stored under the director home (``DIRECTOR_HOME``, else ``$XDG_DATA_HOME/director``, else
``~/.local/share/director``): ``cast.sqlite`` holds the characters, their references, one
embedding per reference and face backend, and their voices (one per voice backend, or per
model of one); the reference images are copied beside it, so a cast survives the originals
being moved.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from director.errors import InputError, refuse_undecodable
from director.files import check_sqlite, sqlite_fault, write_bytes_atomic
from director.records import CastVoice, Character

_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,60}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS characters (
    name TEXT PRIMARY KEY, description TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL REFERENCES characters(name) ON DELETE CASCADE,
    path TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    ref_id INTEGER NOT NULL REFERENCES refs(id) ON DELETE CASCADE, backend TEXT NOT NULL,
    vector BLOB NOT NULL, PRIMARY KEY (ref_id, backend));
CREATE TABLE IF NOT EXISTS voices (
    name TEXT NOT NULL REFERENCES characters(name) ON DELETE CASCADE, provider TEXT NOT NULL,
    model TEXT NOT NULL, voice TEXT NOT NULL, PRIMARY KEY (name, provider, model));
"""


class ReferenceEmbedder(Protocol):
    """What the cast needs of a face backend: a name and one embedding per reference photo."""

    name: str

    def embed_reference(self, path: Path) -> np.ndarray:
        """The embedding of the one face in ``path``; InputError when there is not exactly one."""


def director_home() -> Path:
    explicit = os.environ.get("DIRECTOR_HOME")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "director"


class CastStore:
    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home) if home else director_home()
        self.db = self.home / "cast.sqlite"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError(
                f"The director home {self.home} is not a folder.",
                "Point DIRECTOR_HOME at a folder (or unset it to use the default).",
            ) from None
        check_sqlite(self.db, WHAT, FIX)
        try:
            conn = sqlite3.connect(self.db)
        except sqlite3.Error as exc:
            raise sqlite_fault(exc, self.db, WHAT, FIX) from None
        try:
            _prepare(conn, self.db)
            with conn:
                yield conn
        except sqlite3.Error as exc:
            raise sqlite_fault(exc, self.db, WHAT, FIX) from None
        finally:
            conn.close()

    def add(
        self,
        name: str,
        refs: Sequence[Path],
        backends: Sequence[ReferenceEmbedder],
        description: str = "",
        voices: Sequence[CastVoice] = (),
    ) -> Character:
        """Embed every reference with every backend, then store them in one transaction."""
        name = validate_name(name)
        description = refuse_undecodable(description, "The description")
        if not refs:
            raise InputError(f"No reference image for {name!r}.", "Pass at least one --ref IMG.")
        if self._exists(name):
            raise InputError(
                f"{name!r} is already in the cast.",
                f"Remove it first: director cast remove {name!r}.",
            )
        vectors = [{b.name: _embed(b, Path(r)) for b in backends} for r in refs]
        copies = [self._copy(name, Path(r)) for r in refs]
        try:
            self._insert(name, description, copies, vectors, voices)
        except BaseException:
            shutil.rmtree(self.home / "refs" / _folder(name), ignore_errors=True)
            raise
        return self.get(name)

    def _insert(
        self,
        name: str,
        description: str,
        copies: list[tuple[Path, str]],
        vectors: list[dict[str, np.ndarray]],
        voices: Sequence[CastVoice] = (),
    ) -> None:
        with self._connect() as conn:
            now = datetime.now(UTC).isoformat(timespec="seconds")
            conn.execute("INSERT INTO characters VALUES (?, ?, ?)", (name, description, now))
            _put_voices(conn, name, voices)
            for (path, sha), per_backend in zip(copies, vectors, strict=True):
                ref_id = conn.execute(
                    "INSERT INTO refs (name, path, sha256) VALUES (?, ?, ?)", (name, str(path), sha)
                ).lastrowid
                for backend, vector in per_backend.items():
                    blob = np.asarray(vector, dtype=np.float32).tobytes()
                    conn.execute("INSERT INTO embeddings VALUES (?, ?, ?)", (ref_id, backend, blob))

    def _copy(self, name: str, src: Path) -> tuple[Path, str]:
        data = src.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        folder = self.home / "refs" / _folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"{sha[:16]}{src.suffix.lower() or '.img'}"
        write_bytes_atomic(dest, data)
        return dest, sha

    def _exists(self, name: str) -> bool:
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM characters WHERE name = ?", (name,)).fetchone()
        return row is not None

    def get(self, name: str) -> Character:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT name, description FROM characters WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise InputError(
                    f"No character {name!r} in the cast.", "See the cast with: director cast list."
                )
            refs = conn.execute(
                "SELECT id, path FROM refs WHERE name = ? ORDER BY id", (name,)
            ).fetchall()
            embeddings = _embeddings(conn, [ref_id for ref_id, _ in refs])
        return Character(
            name=row[0], description=row[1], references=[p for _, p in refs], embeddings=embeddings
        )

    def voices(self, name: str) -> list[CastVoice]:
        """``name``'s voices, one per voice backend (or per model of one)."""
        self.get(name)  # raises when absent
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT provider, model, voice FROM voices WHERE name = ? ORDER BY provider, model",
                (name,),
            ).fetchall()
        return [CastVoice(provider=p, model=m, voice=v) for p, m, v in rows]

    def set_voices(self, name: str, voices: Sequence[CastVoice], clear: bool = False) -> None:
        """Give ``name`` these voices, each replacing its voice for the same backend (and
        model); ``clear`` forgets the others first."""
        self.get(name)
        with self._connect() as conn:
            if clear:
                conn.execute("DELETE FROM voices WHERE name = ?", (name,))
            _put_voices(conn, name, voices)

    def list(self) -> list[Character]:
        with self._connect() as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM characters ORDER BY name")]
        return [self.get(n) for n in names]

    def remove(self, name: str) -> None:
        self.get(name)  # raises when absent
        with self._connect() as conn:
            conn.execute("DELETE FROM characters WHERE name = ?", (name,))
        shutil.rmtree(self.home / "refs" / _folder(name), ignore_errors=True)


WHAT = "The cast store"
FIX = (
    "Move the file aside (your reference photos are in the folder beside it) and add the "
    "cast again with director cast add."
)
COLUMNS = {
    "characters": {"name", "description", "created"},
    "refs": {"id", "name", "path", "sha256"},
    "embeddings": {"ref_id", "backend", "vector"},
    "voices": {"name", "provider", "model", "voice"},
}


def _put_voices(conn: sqlite3.Connection, name: str, voices: Sequence[CastVoice]) -> None:
    for v in voices:
        conn.execute(
            "INSERT OR REPLACE INTO voices VALUES (?, ?, ?, ?)",
            (name, v.provider, v.model, v.voice),
        )


def _prepare(conn: sqlite3.Connection, db: Path) -> None:
    """The store's tables made where missing, and those there checked to be the store's: a
    database of another program is refused, never written to."""
    for table, columns in COLUMNS.items():
        found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if found and not columns <= found:
            raise InputError(f"{WHAT} {db} is a database of another program.", FIX)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(_SCHEMA)


def _embeddings(conn: sqlite3.Connection, ref_ids: list[int]) -> dict[str, list[list[float]]]:
    found: dict[str, list[list[float]]] = {}
    for ref_id in ref_ids:
        rows = conn.execute(
            "SELECT backend, vector FROM embeddings WHERE ref_id = ? ORDER BY backend", (ref_id,)
        )
        for backend, blob in rows:
            vector = np.frombuffer(blob, dtype=np.float32)
            found.setdefault(backend, []).append([float(x) for x in vector])
    return found


def _embed(backend: ReferenceEmbedder, path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"Reference image {path} does not exist.", "Pass an existing image file.")
    return backend.embed_reference(path)


def _folder(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def validate_name(name: str) -> str:
    text = refuse_undecodable((name or "").strip(), "The character name")
    if not _NAME.match(text):
        raise InputError(
            f"Character name {name!r} cannot be used.",
            "Use 1-60 characters without slashes or control characters.",
        )
    return text


def character_summary(character: Character, voices: Sequence[CastVoice] = ()) -> dict[str, Any]:
    return {
        "name": character.name,
        "description": character.description,
        "references": character.references,
        "embeddings": {k: len(v) for k, v in character.embeddings.items()},
        "voices": [v.spec for v in voices],
    }
