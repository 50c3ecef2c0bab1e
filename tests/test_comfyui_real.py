"""Against a real ComfyUI server, when one is named: ``COMFYUI_URL=http://HOST:8188 pytest
tests/test_comfyui_real.py``. Weightless core nodes only (no model is needed): an empty image
saved, and an uploaded picture loaded, inverted and saved, through director's client."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from director.tools.comfyui.client import ComfyUI, prompt_id, saved_files

REAL_URL = os.environ.get("COMFYUI_URL")  # read before the tests clear the environment

pytestmark = pytest.mark.skipif(not REAL_URL, reason="set COMFYUI_URL to test a real server")


@pytest.fixture(autouse=True)
def network_guard():
    """This module talks to the server the user named, wherever it is."""
    yield None


def _run(server: ComfyUI, graph: dict, tmp_path, salt: str) -> Image.Image:
    pid = server.queue(graph, prompt_id(graph, salt))
    entry = server.wait(pid)
    records = saved_files(entry, [])
    assert records, entry
    server.fetch(records[0], tmp_path / "out.png")
    return Image.open(tmp_path / "out.png").convert("RGB")


def test_an_empty_image_is_made_and_fetched(tmp_path):
    server = ComfyUI(url=REAL_URL, timeout=120)
    assert "EmptyImage" in server.object_info() and server.versions()
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0xFF0000}},
        "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "director-test", "images": ["1", 0]}},
    }  # fmt: skip
    picture = _run(server, graph, tmp_path, salt=os.urandom(8).hex())
    assert picture.size == (64, 48) and picture.getpixel((10, 10)) == (255, 0, 0)


def test_an_uploaded_picture_comes_back_inverted(tmp_path):
    server = ComfyUI(url=REAL_URL, timeout=120)
    raw = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(raw, format="PNG")
    name = server.upload("probe.png", data=raw.getvalue())
    assert server.upload("probe.png", data=raw.getvalue()) == name  # content-addressed
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "director-test", "images": ["2", 0]}},
    }  # fmt: skip
    picture = _run(server, graph, tmp_path, salt=os.urandom(8).hex())
    assert picture.getpixel((5, 5)) == (245, 55, 225)
