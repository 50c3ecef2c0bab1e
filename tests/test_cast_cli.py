"""`director cast` end to end with dlib's real weights and a real face photo."""

from __future__ import annotations

import json

import numpy as np
import skimage.data as skdata
from PIL import Image

from tests.test_cli import assert_clean_error, director


def _photos(tmp_path):
    face = Image.fromarray(skdata.astronaut())
    face.save(tmp_path / "astronaut.png")
    Image.new("RGB", (400, 300), (90, 120, 150)).save(tmp_path / "sky.png")
    pair = Image.new("RGB", (1024, 512))
    pair.paste(face, (0, 0))
    pair.paste(face, (512, 0))
    pair.save(tmp_path / "pair.png")
    (tmp_path / "notes.png").write_text("not an image")


def test_cast_add_list_show_remove(tmp_path):
    _photos(tmp_path)
    env = {"DIRECTOR_HOME": str(tmp_path / "home")}
    added = director(
        "cast",
        "add",
        "Eileen",
        "--ref",
        "astronaut.png",
        "--desc",
        "astronaut, short brown hair, orange flight suit",
        cwd=tmp_path,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    shown = director("cast", "show", "Eileen", "--json", cwd=tmp_path, env=env)
    summary = json.loads(shown.stdout)
    assert summary["embeddings"] == {"dlib": 1}
    assert summary["description"].startswith("astronaut")
    listed = json.loads(director("cast", "list", "--json", cwd=tmp_path, env=env).stdout)
    assert [c["name"] for c in listed] == ["Eileen"]
    removed = director("cast", "remove", "Eileen", cwd=tmp_path, env=env)
    assert removed.returncode == 0
    assert json.loads(director("cast", "list", "--json", cwd=tmp_path, env=env).stdout) == []


def test_cast_refuses_references_without_exactly_one_face(tmp_path):
    _photos(tmp_path)
    env = {"DIRECTOR_HOME": str(tmp_path / "home")}
    for ref, fragment in (
        ("sky.png", "face"),
        ("pair.png", "face"),
        ("notes.png", "notes.png"),
        ("missing.png", "missing.png"),
    ):
        result = director("cast", "add", "X", "--ref", ref, cwd=tmp_path, env=env)
        assert_clean_error(result, fragment)
    listed = director("cast", "list", "--json", cwd=tmp_path, env=env)
    assert json.loads(listed.stdout) == []


def test_stored_embedding_matches_the_photo(tmp_path):
    from director.memory.cast import CastStore
    from director.tools.critics.face_dlib import DlibFaces

    _photos(tmp_path)
    backend = DlibFaces()
    character = CastStore(tmp_path / "home").add("Eileen", [tmp_path / "astronaut.png"], [backend])
    stored = np.asarray(character.embeddings["dlib"][0])
    fresh = backend.embed_reference(tmp_path / "astronaut.png")
    assert backend.similarity(stored, fresh) > 0.99
