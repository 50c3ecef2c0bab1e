"""Cast memory with a stand-in face backend; the dlib backend is exercised in test_identity."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from director.errors import InputError
from director.memory.cast import CastStore, director_home


class ColourFaces:
    """Treats a flat black image as 'no face' and embeds anything else by its mean colour."""

    name = "colour"

    def embed_reference(self, path):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        if pixels.max() == 0:
            raise InputError(f"No face found in {path}.", "Use a photo with one visible face.")
        return pixels.mean(axis=(0, 1)) / 255.0


def _image(path, colour):
    Image.new("RGB", (32, 32), colour).save(path)
    return path


def test_add_show_list_remove(tmp_path):
    store = CastStore(tmp_path / "home")
    refs = [_image(tmp_path / "a.png", (200, 100, 50)), _image(tmp_path / "b.jpg", (10, 20, 30))]
    mara = store.add("Mara", refs, [ColourFaces()], description="seventy, grey braid")
    assert mara.description == "seventy, grey braid"
    assert len(mara.references) == 2 and all(
        p.startswith(str(tmp_path / "home")) for p in mara.references
    )
    assert np.allclose(mara.embeddings["colour"][0], [200 / 255, 100 / 255, 50 / 255], atol=1e-6)
    (tmp_path / "a.png").unlink()  # the cast keeps its own copies
    assert [c.name for c in CastStore(tmp_path / "home").list()] == ["Mara"]
    store.remove("Mara")
    assert store.list() == []
    assert not any((tmp_path / "home" / "refs").iterdir())


def test_a_reference_without_a_face_is_refused_and_nothing_is_stored(tmp_path):
    store = CastStore(tmp_path / "home")
    good = _image(tmp_path / "good.png", (90, 90, 90))
    bad = _image(tmp_path / "black.png", (0, 0, 0))
    with pytest.raises(InputError, match="No face found"):
        store.add("Mara", [good, bad], [ColourFaces()])
    assert store.list() == []


@pytest.mark.parametrize("name", ["", "  ", "a/b", "x" * 61, "tab\there"])
def test_bad_names(tmp_path, name):
    with pytest.raises(InputError, match="cannot be used"):
        CastStore(tmp_path).add(name, [_image(tmp_path / "a.png", (1, 2, 3))], [ColourFaces()])


def test_duplicates_missing_files_and_unknown_names(tmp_path):
    store = CastStore(tmp_path / "home")
    ref = _image(tmp_path / "a.png", (5, 5, 5))
    store.add("林晚", [ref], [ColourFaces()])
    with pytest.raises(InputError, match="already in the cast"):
        store.add("林晚", [ref], [ColourFaces()])
    with pytest.raises(InputError, match="does not exist"):
        store.add("Ilya", [tmp_path / "missing.png"], [ColourFaces()])
    with pytest.raises(InputError, match="No character 'Ilya'"):
        store.get("Ilya")
    with pytest.raises(InputError, match="at least one --ref"):
        store.add("Ilya", [], [ColourFaces()])


def test_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIRECTOR_HOME", str(tmp_path / "dh"))
    assert director_home() == tmp_path / "dh"
    monkeypatch.delenv("DIRECTOR_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert director_home() == tmp_path / "xdg" / "director"
