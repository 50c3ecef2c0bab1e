"""The film's cast: from the cast store (``--cast``) and from reference photos (``--character``)."""

from __future__ import annotations

from pathlib import Path

from director.errors import InputError
from director.records import Character


def resolve_cast(
    cast: list[str], characters: list[str], insightface_root: str | None = None
) -> list[Character]:
    """Characters in order of appearance on the command line; references checked for one face
    by the face backend the run uses."""
    found: dict[str, Character] = {}
    if cast:
        from director.memory.cast import CastStore

        store = CastStore()
        for name in cast:
            found[name] = store.get(name)
    for spec in characters:
        name, image = _parse(spec)
        _one_face(image, insightface_root)
        current = found.get(name) or Character(name=name, description="")
        refs = [*current.references, str(image.resolve())]
        found[name] = current.model_copy(update={"references": refs})
    return list(found.values())


def _parse(spec: str) -> tuple[str, Path]:
    from director.memory.cast import validate_name

    name, sep, path = spec.partition("=")
    if not sep or not path.strip():
        raise InputError(
            f"--character {spec!r} is not NAME=IMAGE.", "Write it as --character Mara=mara.jpg."
        )
    return validate_name(name), Path(path.strip()).expanduser()


def _one_face(image: Path, insightface_root: str | None = None) -> None:
    from director.tools.critics.face_choice import choose_face_backend

    if not image.is_file():
        raise InputError(f"Reference image {image} does not exist.", "Pass an existing image file.")
    choose_face_backend(insightface_root).embed_reference(image)
