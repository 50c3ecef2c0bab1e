"""The insightface backend through insightface's real FaceAnalysis, on a tiny pack built here.

The pack holds two hand-made ONNX models that insightface's model zoo routes by their signature:
a detector with nine outputs (SCRFD: strides 8, 16 and 32, two anchors, keypoints) and a
recogniser with a [N, 3, 112, 112] input and a 512-d output (ArcFace). The detector's "face" is a
magenta square filling one 32 px cell of its input: its score is a sigmoid of how magenta the
cell is, so a photo without the square has no face, and its box and five keypoints sit at fixed
offsets from the cell. The recogniser is a random-weight convolution and matrix product of the
aligned crop, so different crops give different embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import skimage.data as skdata
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from director.errors import InputError, ToolMissing
from director.tools.critics.face_choice import choose_face_backend, usable_face_backends
from director.tools.critics.face_insightface import LICENCE, InsightFaces, providers

PACK = "buffalo_l"  # the default pack name, so defaults find the tiny pack
STRIDES = (8, 16, 32)
CELL = 32  # the stride whose cells the detector scores
FACE = 128  # side of the face box the detector reports, in detector pixels
MAGENTA = (255, 0, 255)
# insightface's ArcFace template: eyes, nose tip, mouth corners in a 112 px crop.
ARCFACE = np.array(
    [[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]],
    dtype=np.float32,
)
OPSET = [helper.make_opsetid("", 17)]


def _tensor(name: str, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def _save(graph, path: Path) -> None:
    # IR 8 loads in every onnxruntime that insightface 2.1 supports.
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _level(stride: int) -> tuple[list, list]:
    """Score, box and keypoint outputs of one stride, as insightface's SCRFD reads them: rows
    are (cell, anchor) in row-major order, distances in units of the stride from the cell's
    top-left corner. Only the 32 px level can fire; the others score every cell 0."""
    p, centre, half = f"p{stride}", CELL / 2, FACE / 2
    box = np.array([half - centre, half - centre, half + centre, half + centre]) / stride
    kps = (ARCFACE * FACE / 112 - half + centre).reshape(-1) / stride
    inits = [
        _tensor(f"box{stride}", np.tile(box, 2)[None]),
        _tensor(f"kps{stride}", np.tile(kps, 2)[None]),
    ]
    nodes = [
        helper.make_node(
            "AveragePool", ["magenta"], [p], kernel_shape=[stride] * 2, strides=[stride] * 2
        ),
        helper.make_node("Transpose", [p], [f"{p}t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [f"{p}t", "column"], [f"{p}c"]),
        helper.make_node("Mul", [f"{p}c", "zero"], [f"{p}z"]),
    ]
    if stride == CELL:
        nodes += [
            helper.make_node("Sub", [f"{p}c", "level"], [f"{p}d"]),
            helper.make_node("Mul", [f"{p}d", "gain"], [f"{p}g"]),
            helper.make_node("Sigmoid", [f"{p}g"], [f"{p}s"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", [f"{p}z"], [f"{p}s"]))
    nodes += [
        helper.make_node("Concat", [f"{p}s", f"{p}z"], [f"{p}a"], axis=1),  # second anchor: 0
        helper.make_node("Reshape", [f"{p}a", "column"], [f"score_{stride}"]),
        helper.make_node("Add", [f"{p}z", f"box{stride}"], [f"{p}b"]),
        helper.make_node("Reshape", [f"{p}b", "four"], [f"bbox_{stride}"]),
        helper.make_node("Add", [f"{p}z", f"kps{stride}"], [f"{p}k"]),
        helper.make_node("Reshape", [f"{p}k", "ten"], [f"kps_{stride}"]),
    ]
    return nodes, inits


def write_detector(path: Path) -> None:
    # SCRFD's input is normalised RGB; magenta-ness is min(R, B) - G, about 2 for pure magenta
    # and below 0.3 for every 32 px cell of the photos used here.
    nodes = [
        helper.make_node("Split", ["input.1", "thirds"], ["r", "g", "b"], axis=1),
        helper.make_node("Min", ["r", "b"], ["rb"]),
        helper.make_node("Sub", ["rb", "g"], ["magenta"]),
    ]
    inits = [
        _tensor("thirds", [1, 1, 1], np.int64),
        _tensor("column", [-1, 1], np.int64),
        _tensor("four", [-1, 4], np.int64),
        _tensor("ten", [-1, 10], np.int64),
        _tensor("level", 1.0),
        _tensor("gain", 10.0),
        _tensor("zero", 0.0),
    ]
    for stride in STRIDES:
        more_nodes, more_inits = _level(stride)
        nodes, inits = nodes + more_nodes, inits + more_inits
    outputs = [
        helper.make_tensor_value_info(f"{kind}_{s}", TensorProto.FLOAT, [f"n{s}", width])
        for kind, width in (("score", 1), ("bbox", 4), ("kps", 10))
        for s in STRIDES
    ]
    image = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])
    _save(helper.make_graph(nodes, "scrfd", [image], outputs, inits), path)


def write_recogniser(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Conv", ["data", "kernel"], ["features"], strides=[8, 8], name="conv"),
        helper.make_node("Flatten", ["features"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "weights"], ["fc1"], name="gemm"),
    ]
    inits = [
        _tensor("kernel", rng.normal(0, 0.1, (4, 3, 8, 8))),
        _tensor("weights", rng.normal(0, 0.05, (4 * 14 * 14, 512))),
    ]
    crop = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])
    embedding = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", 512])
    _save(helper.make_graph(nodes, "arcface", [crop], [embedding], inits), path)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("insightface")
    folder = root / "models" / PACK
    folder.mkdir(parents=True)
    write_detector(folder / "det_tiny.onnx")
    write_recogniser(folder / "rec_tiny.onnx")
    return root


@pytest.fixture(scope="module")
def backend(root) -> InsightFaces:
    return InsightFaces(root, PACK)


def photo(source: np.ndarray, *cells: tuple[int, int], size=(640, 640)) -> np.ndarray:
    """A photo at ``size`` with a magenta square on each 32 px detector cell (column, row)."""
    image = np.array(Image.fromarray(source).resize(size), dtype=np.uint8)
    side = CELL * size[0] // 640
    for col, row in cells:
        image[row * side : (row + 1) * side, col * side : (col + 1) * side] = MAGENTA
    return image


def expected_box(col: int, row: int, scale: float = 1.0) -> tuple[int, ...]:
    x, y = col * CELL + CELL / 2, row * CELL + CELL / 2
    box = (x - FACE / 2, y - FACE / 2, x + FACE / 2, y + FACE / 2)
    return tuple(round(v * scale) for v in box)


def save(image: np.ndarray, path: Path) -> Path:
    Image.fromarray(image).save(path)
    return path


def test_detect_finds_the_face_where_the_detector_put_it(backend):
    faces = backend.detect(photo(skdata.astronaut(), (10, 9)))
    assert [f.box for f in faces] == [expected_box(10, 9)]
    face = faces[0]
    assert face.embedding.shape == (512,)
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    # The aligned crop is RGB: the square, at the centre of the box, is magenta in it.
    assert face.chip.shape == (112, 112, 3) and face.chip.dtype == np.uint8
    assert tuple(face.chip[56, 56]) == MAGENTA


def test_a_wide_frame_is_scaled_to_the_detector_and_back(backend):
    # 1280x720 enters the detector at 640x360: the box comes back at twice the size.
    frame = photo(skdata.astronaut(), (5, 3), size=(1280, 720))
    assert [f.box for f in backend.detect(frame)] == [expected_box(5, 3, scale=2.0)]


def test_the_same_image_is_the_same_face_and_another_image_is_not(backend):
    astronaut = photo(skdata.astronaut(), (10, 9))
    again = backend.detect(astronaut.copy())[0]
    first = backend.detect(astronaut)[0]
    coffee = backend.detect(photo(skdata.coffee(), (10, 9)))[0]
    assert backend.similarity(first.embedding, again.embedding) == pytest.approx(1.0, abs=1e-6)
    other = backend.similarity(first.embedding, coffee.embedding)
    assert other < 0.9
    assert backend.similarity(first.embedding, -first.embedding) == pytest.approx(-1.0, abs=1e-6)


def test_reference_face_refuses_no_face_and_two_faces(backend, tmp_path):
    plain = save(photo(skdata.astronaut()), tmp_path / "plain.png")
    pair = save(photo(skdata.astronaut(), (3, 3), (15, 15)), tmp_path / "pair.png")
    assert backend.detect(photo(skdata.astronaut())) == []
    with pytest.raises(InputError, match="no face"):
        backend.reference_face(plain)
    with pytest.raises(InputError, match="2 faces"):
        backend.reference_face(pair)
    one = save(photo(skdata.astronaut(), (10, 9)), tmp_path / "one.png")
    assert backend.embed_reference(one).shape == (512,)


def test_a_missing_pack_names_the_folder_and_downloads_nothing(tmp_path):
    with pytest.raises(ToolMissing) as caught:
        InsightFaces(tmp_path, "buffalo_l")
    folder = tmp_path / "models" / "buffalo_l"
    assert str(folder) in str(caught.value)
    assert "never downloads" in caught.value.hint and "non-commercial" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


def test_without_the_package_insightface_says_what_to_install(root, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    hidden = {"insightface"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n in hidden else real(n, *a)
    )
    with pytest.raises(ToolMissing, match="insightface and onnxruntime") as caught:
        InsightFaces(root)
    assert "pip install 'director[insightface]'" in caught.value.hint
    assert choose_face_backend(root).name == "dlib"


def test_a_pack_without_a_detector_is_a_tool_missing_error(tmp_path):
    folder = tmp_path / "models" / "half"
    folder.mkdir(parents=True)
    write_recogniser(folder / "rec.onnx")
    with pytest.raises(ToolMissing, match="no face detector"):
        InsightFaces(tmp_path, "half").load()


def test_choose_insightface_with_a_pack_and_dlib_without(root, tmp_path):
    assert choose_face_backend(root).name == "insightface"
    assert choose_face_backend(tmp_path).name == "dlib"
    assert choose_face_backend(root, "antelopev2").name == "dlib"
    assert [b.name for b in usable_face_backends(root)] == ["insightface", "dlib"]
    assert [b.name for b in usable_face_backends(tmp_path)] == ["dlib"]


def test_another_pack_is_chosen_by_name(root, tmp_path):
    folder = tmp_path / "models" / "buffalo_sc"
    folder.mkdir(parents=True)
    for model in (root / "models" / PACK).glob("*.onnx"):
        (folder / model.name).write_bytes(model.read_bytes())
    chosen = choose_face_backend(tmp_path, "buffalo_sc")
    assert chosen.name == "insightface" and chosen.folder == folder
    assert [f.box for f in chosen.detect(photo(skdata.astronaut(), (4, 4)))] == [expected_box(4, 4)]


def test_cuda_comes_first_only_where_onnxruntime_has_it(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert providers() == ["CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: with_cuda)
    assert providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _doctor() -> dict:
    from director.cli.doctor import doctor_command

    result = CliRunner().invoke(doctor_command, ["--json"])
    assert result.exit_code == 0, result.output
    found = {(f["area"], f["name"]): f for f in json.loads(result.output)}
    return found[("critics", "identity: insightface")]


def test_doctor_reports_insightface_and_always_its_licence(root, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRECTOR_INSIGHTFACE_ROOT", str(tmp_path))
    missing = _doctor()
    assert not missing["ok"]
    assert str(tmp_path / "models" / "buffalo_l") in missing["detail"]
    assert missing["detail"].count(LICENCE) == 1
    monkeypatch.setenv("DIRECTOR_INSIGHTFACE_ROOT", str(root))
    found = _doctor()
    assert found["ok"], found["detail"]
    assert str(root / "models" / PACK) in found["detail"]
    assert LICENCE in found["detail"]


def test_insightface_root_flag_beats_environment_beats_config(root, tmp_path, monkeypatch):
    from director.agent.configuration import resolve
    from director.cli.options import resolve_insightface_root

    config = tmp_path / "config.toml"
    config.write_text('insightface_root = "from-config"\n')
    monkeypatch.setenv("DIRECTOR_CONFIG", str(config))
    monkeypatch.delenv("DIRECTOR_INSIGHTFACE_ROOT")
    logline = {"logline": "A gardener defends her garden."}
    assert resolve(logline).insightface_root == "from-config"
    assert resolve_insightface_root(None) == "from-config"
    monkeypatch.setenv("DIRECTOR_INSIGHTFACE_ROOT", "from-env")
    assert resolve(logline).insightface_root == "from-env"
    assert resolve_insightface_root(None) == "from-env"
    assert resolve({**logline, "insightface_root": "from-flag"}).insightface_root == "from-flag"
    assert resolve_insightface_root("from-flag") == "from-flag"


def test_run_checks_character_references_with_the_chosen_backend(root, tmp_path, monkeypatch):
    """The astronaut without a square is a face to dlib and none to the tiny pack: which error a
    run stops on shows which backend ``--insightface-root`` chose."""
    from director.cli.run import run_command

    save(photo(skdata.astronaut()), tmp_path / "astronaut.png")
    (tmp_path / "blocker").write_text("a file where the runs folder should go")
    args = ["--logline", "An astronaut comes home.", "--yes", "--runs-dir", "blocker/runs"]
    args += ["--character", f"Eileen={tmp_path / 'astronaut.png'}"]
    monkeypatch.chdir(tmp_path)
    with_pack = CliRunner().invoke(run_command, [*args, "--insightface-root", str(root)])
    assert isinstance(with_pack.exception, InputError), with_pack.output
    assert "shows no face" in with_pack.exception.message
    monkeypatch.setenv("DIRECTOR_INSIGHTFACE_ROOT", str(root))
    without = CliRunner().invoke(run_command, [*args, "--insightface-root", str(tmp_path)])
    assert "Cannot write to the runs folder" in str(without.exception)


def test_critique_and_cast_add_use_the_pack_under_the_root(root, tmp_path, monkeypatch):
    from director.cli.cast import cast_group
    from director.cli.critique import critique_command
    from director.memory.cast import CastStore

    ref = save(photo(skdata.astronaut(), (17, 1)), tmp_path / "astronaut.png")
    monkeypatch.setenv("DIRECTOR_INSIGHTFACE_ROOT", str(root))
    judged = CliRunner().invoke(critique_command, [str(ref), "--ref", str(ref), "--json"])
    assert judged.exit_code == 0, judged.output
    identity = json.loads(judged.output)["checks"]["identity"]
    assert identity["passed"] is True and "insightface" in identity["reason"]
    assert identity["threshold"] == InsightFaces.threshold
    monkeypatch.delenv("DIRECTOR_INSIGHTFACE_ROOT")
    monkeypatch.setenv("DIRECTOR_HOME", str(tmp_path / "home"))
    added = CliRunner().invoke(
        cast_group, ["add", "Eileen", "--ref", str(ref), "--insightface-root", str(root)]
    )
    assert added.exit_code == 0, added.output
    stored = CastStore(tmp_path / "home").get("Eileen").embeddings
    assert {name: len(v) for name, v in stored.items()} == {"dlib": 1, "insightface": 1}
    assert len(stored["insightface"][0]) == 512
