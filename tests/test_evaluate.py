"""``director evaluate`` on runs whose scores are known: a generator that pastes the reference,
one that pastes its mirror image, one that re-renders the face and one that draws a stranger,
each run through the real graph and gate; CLIP with a tiny random-weight model, checked against
what the gate recorded during the run."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image, ImageOps

from director.agent.configuration import resolve
from director.agent.runner import start_run
from director.errors import ToolMissing
from director.evaluate.compare import RULE
from director.evaluate.runs import evaluate_runs
from director.memory.events import read_events
from director.memory.runs import RunPaths
from director.records import CritiqueMade
from director.testing import ScriptedPlanner, local_job
from director.tools.base import ImageBackend, ImageRequest, Job
from tests.conftest import make_plan
from tests.test_cli import assert_clean_error, director
from tests.test_identity import re_render

LOGLINE = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
TOM = Path(__import__("insightface").__file__).parent / "data" / "images" / "Tom_Hanks_54745.png"


class Portrait(ImageBackend):
    """Draws the cast member's face as ``mode`` says: the reference's own pixels ("paste"), its
    mirror image ("mirror"), a re-render of it ("render") or another person ("stranger")."""

    name = "portrait"
    model = "controlled-v1"

    def __init__(self, photo: Path, mode: str) -> None:
        self.photo, self.mode = photo, mode

    def submit(self, request: ImageRequest) -> Job:
        return local_job(self, request)

    def collect(self, job: Job, dest: Path) -> None:
        request = ImageRequest.model_validate(job.request)
        face = Image.open(TOM if self.mode == "stranger" else self.photo).convert("RGB")
        if self.mode == "mirror":
            face = ImageOps.mirror(face)
        if self.mode == "render":
            face = re_render(Image.eval(face, lambda v: 30 + v * 0.8))
        frame = Image.new("RGB", (request.width, request.height), (60, 80, 70))
        face.thumbnail((request.width, request.height - 20))
        frame.paste(face, ((request.seed * 37) % (request.width - face.width + 1), 10))
        frame.save(dest)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> SimpleNamespace:
    from tests.test_clip_critic import TINY

    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("tiny-clip")
    config = folder / "tiny-clip.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    torch.save(open_clip.create_model("tiny-clip").state_dict(), folder / "tiny.pt")
    return SimpleNamespace(model=str(config), weights=str(folder / "tiny.pt"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_clip) -> SimpleNamespace:
    """Four finished runs of two shots each, one per drawing mode, in one runs folder."""
    root = tmp_path_factory.mktemp("evaluate")
    photo = root / "mara.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    made = {}
    for mode in ("paste", "mirror", "render", "stranger"):
        plan = make_plan(2)
        plan.bible.width, plan.bible.height = 640, 480
        options = resolve(
            {
                "logline": LOGLINE,
                "minutes": 0.25,
                "size": "640x480",
                "max_attempts": 2,
                "runs_dir": str(root / "runs"),
                "run_id": mode,
                "yes": True,
                "character": [f"Mara={photo}"],
                "clip_model": tiny_clip.model,
                "clip_weights": tiny_clip.weights,
                # random weights: the gate's CLIP checks pass, so only identity decides
                "threshold": ["min_clipscore=0", "min_style=-1"],
            }
        )
        backends = {"planner": ScriptedPlanner(plan), "image": Portrait(photo, mode)}
        made[mode] = start_run(options, backends=backends).paths
    return SimpleNamespace(root=root, photo=photo, **made)


@pytest.fixture(scope="module")
def compared(runs, tiny_clip) -> SimpleNamespace:
    """All four evaluated together, with the tiny CLIP, into a folder of their own."""
    out = runs.root / "compared"
    result = evaluate_runs(
        [runs.render, runs.paste, runs.mirror, runs.stranger],
        out,
        clip_model=tiny_clip.model,
        clip_weights=tiny_clip.weights,
    )
    by_id = {e["run_id"]: e for e in result.evaluations}
    return SimpleNamespace(out=out, result=result, by_id=by_id)


def mara(evaluation: dict) -> dict:
    return evaluation["characters"]["Mara"]


def test_the_reference_pasted_in_scores_as_itself_and_is_flagged(compared):
    paste = mara(compared.by_id["paste"])
    for shot in paste["shots"].values():
        assert shot["similarity"] > 0.9 and shot["passed"]
        assert shot["copy_paste"]["flagged"] and shot["copy_paste"]["pixel"] > 0.95
        assert shot["copy_paste"]["nearest"] == "reference mara.png"
    assert paste["cross"] > 0.9 and paste["self"] > 0.9
    assert compared.by_id["paste"]["summary"]["copy_paste_flagged"] == ["s001", "s002"]


def test_the_mirrored_reference_is_flagged_against_the_mirror(compared, runs):
    mirror = mara(compared.by_id["mirror"])
    for shot in mirror["shots"].values():
        assert shot["copy_paste"]["flagged"]
        assert shot["copy_paste"]["nearest"] == "mirror mara.png"
        assert shot["copy_paste"]["pixel"] > 0.95
    # The gate compares with the reference alone: it let the mirrored paste through.
    gate = [
        c
        for e in read_events(runs.mirror.events)
        if isinstance(e, CritiqueMade)
        for c in e.critique.checks
        if c.name == "copy_paste"
    ]
    assert gate and all(c.passed for c in gate)


def test_a_re_render_passes_identity_and_a_stranger_does_not(compared):
    render, stranger = mara(compared.by_id["render"]), mara(compared.by_id["stranger"])
    for shot in render["shots"].values():
        assert shot["passed"] and not shot["copy_paste"]["flagged"]
        assert shot["copy_paste"]["pixel"] < 0.9
    for shot in stranger["shots"].values():
        assert shot["similarity"] < stranger["threshold"] and not shot["passed"]
        assert not shot["copy_paste"]["flagged"]
    assert render["cross"] > render["threshold"] > stranger["cross"]


def test_cross_and_self_similarity_follow_vistorybench(compared):
    """One reference: Cross Similarity is the mean of the shots' similarity to it; Self
    Similarity the mean of the upper triangle of the shots' matrix; the matrix is symmetric."""
    for evaluation in compared.by_id.values():
        m = mara(evaluation)
        shots = [s["similarity"] for s in m["shots"].values()]
        assert m["cross"] == pytest.approx(np.mean(shots), abs=1e-3)
        values = np.array(m["matrix"]["values"])
        assert m["matrix"]["labels"] == ["ref mara.png", "s001", "s002"]
        assert np.allclose(values, values.T) and values[0, 0] == pytest.approx(1.0)
        assert m["self"] == pytest.approx(values[1, 2], abs=1e-3)
        assert values[0, 1:] == pytest.approx(shots, abs=1e-3)


def test_copy_rate_reads_a_paste_among_renders_as_the_reference(runs, tmp_path):
    """CopyRate with the other shots: a face pasted among re-rendered ones is the reference
    (near 1); re-renders of one face, nearer each other than the reference, score below 0.5."""
    mixed = tmp_path / "runs" / "mixed"
    shutil.copytree(runs.render.root, mixed)
    pasted = next(Path(runs.paste.root / "keyframes" / "s001").glob("*.png"))
    chosen = _chosen(RunPaths(mixed), "s001")
    shutil.copy(pasted, mixed / chosen)
    result = evaluate_runs([RunPaths(mixed)], tmp_path / "out")
    shots = mara(result.evaluations[0])["shots"]
    assert shots["s001"]["copy_rate"] > 0.9
    assert shots["s001"]["copy_paste"]["flagged"] and not shots["s002"]["copy_paste"]["flagged"]
    renders = evaluate_runs([runs.render], tmp_path / "renders").evaluations[0]
    assert all(s["copy_rate"] < 0.5 for s in mara(renders)["shots"].values())


def _chosen(paths: RunPaths, shot_id: str) -> str:
    from director.replay.record import fold

    return fold(read_events(paths.events)).chosen_keyframe(shot_id).artifact


def test_against_orders_runs_by_the_stated_rule(compared):
    order = [e["run_id"] for e in compared.result.evaluations]
    assert order == ["render", "stranger", "paste", "mirror"]
    data = json.loads((compared.out / "evaluation.json").read_text())
    assert [e["run_id"] for e in data["runs"]] == order and data["order_rule"] == RULE
    text = (compared.out / "evaluation.md").read_text()
    assert "## Runs compared" in text
    rows = [
        line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 4 |")
    ]
    assert "render" in rows[0] and "mirror" in rows[1]


def test_clip_alignment_per_slot_matches_what_the_gate_measured(compared, runs):
    """The evaluation's CLIPScore of each accepted keyframe is the gate's, to the digit, and
    every slot, style included, is scored alone."""
    from director.replay.record import fold

    record = fold(read_events(runs.render.events))
    for shot in compared.by_id["render"]["shots"]:
        chosen = record.chosen_keyframe(shot["id"])
        gate = next(
            c
            for c in record.critique(shot["id"], "keyframe", chosen.number).checks
            if c.name == "prompt"
        )
        assert shot["prompt"]["clipscore"] == pytest.approx(gate.score, abs=1e-4)
        slots = shot["prompt"]["slots"]
        assert set(slots) == {"subject", "action", "environment", "camera", "style"}
        for name, score in gate.details["slots"].items():
            assert slots[name] == pytest.approx(score, abs=1e-4)
    summary = compared.by_id["render"]["summary"]
    assert set(summary["prompt_slots"]) == {"subject", "action", "environment", "camera", "style"}
    anchor = compared.by_id["render"]["style_anchors"]
    assert anchor["from"].startswith("shot s001's keyframe")
    first = compared.by_id["render"]["shots"][0]
    assert first["style_clip"]["score"] == pytest.approx(1.0, abs=1e-3)  # the anchor itself


def test_effort_and_generated_share_come_from_the_log(compared, runs):
    from director.replay.record import fold

    for run_id, evaluation in compared.by_id.items():
        record = fold(read_events(getattr(runs, run_id).events))
        for shot in evaluation["shots"]:
            made = record.attempts(shot["id"])
            assert shot["attempts"] == len(made) and shot["rerolls"] == len(made) - 1
            clips = record.attempts(shot["id"], "clip")
            assert shot["seconds"] == pytest.approx(sum(a.seconds for a in made + clips), abs=1e-3)
        assert evaluation["summary"]["generated_share"] == 1.0
    assert compared.by_id["stranger"]["summary"]["attempts"] == 4  # identity failed: rerolled
    assert compared.by_id["render"]["summary"]["attempts"] < 4


def test_plots_are_real_pngs(compared):
    names = {p.name for p in compared.result.written if p.suffix == ".png"}
    assert {"identity-Mara.png", "alignment.png", "effort.png"} <= names
    assert {f"similarity-Mara-{r}.png" for r in compared.by_id} <= names
    for path in compared.result.written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            with Image.open(path) as image:
                assert image.width > 300 and image.height > 200
    html = (compared.out / "evaluation.html").read_text()
    assert html.count("data:image/jpeg;base64,") >= len(names)


def test_absent_clip_weights_are_not_measured_with_why(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("DIRECTOR_CLIP_WEIGHTS", "DIRECTOR_CLIP_MODEL"):
        monkeypatch.delenv(name, raising=False)
    result = evaluate_runs([runs.render], tmp_path / "out")
    e = result.evaluations[0]
    for shot in e["shots"]:
        assert "no CLIP weights" in shot["prompt"]["not_measured"]
        assert "no CLIP weights" in shot["style_clip"]["not_measured"]
        assert isinstance(shot["style_colours"]["score"], float)  # needs no weights
    assert "no CLIP weights" in e["summary"]["prompt_clipscore"]["not_measured"]
    assert not (tmp_path / "out" / "evaluation" / "alignment.png").exists()
    text = (tmp_path / "out" / "evaluation.md").read_text()
    assert "## Not measured" in text and "no CLIP weights" in text
    assert " 0.000 " not in text.split("## Shots")[1].split("## Not measured")[0]


def test_an_absent_face_model_is_not_measured_with_why(runs, tmp_path, monkeypatch):
    from director.tools.critics import face_dlib, faces

    def missing():
        raise ToolMissing("The dlib face backend needs the dlib package.", face_dlib.INSTALL)

    monkeypatch.setattr(face_dlib, "_models", missing)
    monkeypatch.setattr(faces, "_REFERENCE_FACES", faces.OrderedDict())
    result = evaluate_runs([runs.paste], tmp_path / "out")
    e = result.evaluations[0]
    assert "dlib" in mara(e)["not_measured"]
    assert "dlib" in e["summary"]["identity_cross"]["not_measured"]
    assert e["summary"]["copy_paste_flagged"] == []


def test_previz_identity_is_not_measured_with_the_gates_reason(tmp_path):
    Image.fromarray(skdata.astronaut()).save(tmp_path / "eileen.png")
    made = director(
        "run",
        "--logline",
        LOGLINE,
        "--minutes",
        "0.25",
        "--yes",
        "--runs-dir",
        "runs",
        "--run-id",
        "v",
        "--character",
        "Eileen=eileen.png",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    result = director("evaluate", "v", "--runs-dir", "runs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "runs" / "v" / "evaluation.json").read_text())
    why = data["runs"][0]["characters"]["Eileen"]["not_measured"]
    assert "storyboard figures, not faces" in why
    workflow = (tmp_path / "runs" / "v" / "workflow.md").read_text()
    section = re.split(r"\n## (?:\d+\. )?Evaluation\n", workflow)[1]
    assert "storyboard figures" in section and "(evaluation.md)" in section
    assert "workflow.md" in result.stdout and "evaluation.json" in result.stdout
    # A copied run folder replays with the section, read from its own evaluation.json.
    moved = tmp_path / "elsewhere" / "v"
    shutil.copytree(tmp_path / "runs" / "v", moved)
    shutil.rmtree(tmp_path / "runs")
    replayed = director("replay", "v", "--runs-dir", "elsewhere", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    again = (moved / "workflow.md").read_text()
    assert re.search(r"\n## (?:\d+\. )?Evaluation\n", again) and "(evaluation.md)" in again


def test_out_elsewhere_leaves_the_run_folder_alone(runs, tmp_path):
    before = runs.render.workflow.read_text()
    result = director(
        "evaluate", str(runs.render.root), "--out", str(tmp_path / "report"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report" / "evaluation.json").is_file()
    assert runs.render.workflow.read_text() == before
    assert not (runs.render.root / "evaluation.json").exists()


def test_bad_inputs_are_one_line_each(runs, tmp_path):
    assert_clean_error(
        director("evaluate", "nope", "--runs-dir", str(tmp_path), cwd=tmp_path), "No run 'nope'"
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_clean_error(
        director("evaluate", str(runs.paste.root), "--out", str(blocker / "sub"), cwd=tmp_path),
        "Cannot write the evaluation to",
    )
    early = tmp_path / "early"
    shutil.copytree(runs.paste.root, early)
    lines = (early / "events.jsonl").read_text().splitlines(keepends=True)
    planned = next(i for i, line in enumerate(lines) if '"shot_list_planned"' in line)
    (early / "events.jsonl").write_text("".join(lines[: planned + 1]))
    assert_clean_error(
        director("evaluate", str(early), cwd=tmp_path), "has no accepted keyframe to evaluate"
    )
    assert_clean_error(
        director("evaluate", str(runs.paste.root), "--against", "gone", cwd=tmp_path),
        "No run 'gone'",
    )


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    import sys

    from director.evaluate.plots import pyplot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ToolMissing, match=r"pip install 'director\[report\]'"):
        pyplot()


def test_the_workflow_section_is_in_the_films_language(runs, tmp_path):
    from director.replay.document import Document, to_markdown
    from director.replay.evaluation import _evaluation, documenting
    from director.replay.record import fold

    run = tmp_path / "render"
    shutil.copytree(runs.render.root, run)
    evaluate_runs([RunPaths(run)], run)
    record = fold(read_events(run / "events.jsonl"))
    texts = {}
    for lang in ("en", "zh"):
        story = record.story.model_copy(update={"language": lang})
        doc = Document(title="t")
        with documenting(run):
            _evaluation(doc, dataclasses.replace(record, story=story))
        texts[lang] = to_markdown(doc)
    assert "## Evaluation" in texts["en"] and "identity: Cross Similarity" in texts["en"]
    assert "## 评测" in texts["zh"] and "交叉相似度" in texts["zh"]
    cross = json.loads((run / "evaluation.json").read_text())["runs"][0]["summary"]
    assert f"{cross['identity_cross']:.3f}" in texts["zh"]
    doc = Document(title="t")
    _evaluation(doc, record)  # no folder given: where the run was made, never evaluated
    assert doc.blocks == []
