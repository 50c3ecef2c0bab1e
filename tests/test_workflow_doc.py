"""The workflow document a jury reads: its sections in the order they grade, in the film's
language (or --doc-lang's), with the evidence it links written beside it; every check that did
not run says why, a repeated sentence is said once with its count, times are to the second."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import skimage.data as skdata
from PIL import Image

from director.agent.configuration import resolve
from director.agent.runner import resume_run, start_run
from director.memory.events import read_events
from director.memory.runs import RunPaths
from director.records import RunResumed
from director.replay.document import Figure, Video, md_slug
from director.replay.record import fold
from director.replay.words import _table
from director.replay.workflow import build_document, write_workflow
from director.testing import ScriptedCritic, ScriptedPlanner, SolidImage
from tests.conftest import make_plan
from tests.test_cli import director

EN = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
ZH = "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园"
SECTIONS_EN = [
    "The film",
    "Creative process",
    "How consistency was solved: characters and style",
    "Models and key parameters",
    "Problems met and how they were solved",
    "Human decisions",
    "Generated and made by hand",
]
SECTIONS_ZH = ["成片", "创作过程", "一致性如何实现：角色与风格", "模型与关键参数"]
SLOTS = ("- subject:", "- action:", "- environment:", "- camera:")
MILLISECONDS = re.compile(r"\d\d:\d\d:\d\d[.,]\d|\d{4}-\d\d-\d\dT\d\d")


def sections(text: str) -> list[str]:
    """The numbered level-2 headings, without their numbers."""
    return [m.group(1) for m in re.finditer(r"^## \d+\. (.+)$", text, flags=re.M)]


def section(text: str, title: str) -> str:
    start = re.search(rf"^## \d+\. {re.escape(title)}$", text, flags=re.M)
    assert start, title
    end = re.search(r"^## ", text[start.end() :], flags=re.M)
    return text[start.end() : start.end() + end.start()] if end else text[start.end() :]


def linked(text: str) -> list[str]:
    """Every file the Markdown links or shows, relative to the run folder."""
    found = re.findall(r"\]\(([^)#]+)\)", text)
    found += re.findall(r"\b(doc/[\w./-]+\.(?:txt|md|jpg))", text)
    return sorted({f for f in found if not f.startswith("http")})


def prose_lines(text: str) -> list[str]:
    """Paragraphs and bullets: the sentences a reader reads; tables, headings, figures and a
    table's label ('Keyframe attempts:') aside, and a shot's prompt slots (shots may share a
    camera)."""
    return [
        line
        for line in text.splitlines()
        if line.strip()
        and not line.startswith(("|", "#", "!", "[!", "```", *SLOTS))
        and not line.endswith(":")
    ]


@pytest.fixture(scope="module")
def previz_run(tmp_path_factory) -> Path:
    """A previz run with scratch voices, as a user makes it."""
    cwd = tmp_path_factory.mktemp("previz")
    args = ["run", "--logline", EN, "--minutes", "0.25", "--size", "320x180", "--yes"]
    args += ["--voice", "scratch", "--runs-dir", "runs", "--run-id", "p", "-q"]
    result = director(*args, cwd=cwd, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return cwd / "runs" / "p"


def test_a_previz_run_reads_in_the_order_a_jury_grades(previz_run):
    text = (previz_run / "workflow.md").read_text(encoding="utf-8")
    found = sections(text)
    assert found[: len(SECTIONS_EN)] == SECTIONS_EN
    assert found[-1] == "Appendix: the full record of every shot"
    assert "Voices and sound" in found
    contents = text.split("## Contents")[1].split("\n## ")[0]
    links = [re.fullmatch(r"- \[(.+)\]\(#(.+)\)", line) for line in contents.strip().splitlines()]
    assert [m[1] for m in links] == [f"{n}. {title}" for n, title in enumerate(found, 1)]
    # Each links to its heading as Markdown renderers (GitHub's rule) name it.
    assert links[2][2] == "3-how-consistency-was-solved-characters-and-style"
    assert [m[2] for m in links] == [md_slug(m[1]) for m in links]
    film = section(text, "The film")
    assert "[![The Last Garden: the film" in film and "](doc/poster.jpg)](film.mp4)" in film
    assert "previz: storyboard frames drawn by director's deterministic renderer" in film

    process = section(text, "Creative process")
    events = read_events(previz_run / "events.jsonl")
    record = fold(events)
    attempts = sum(len(v) for v in record.keyframes.values())
    said = process.split("\n\n")[1]
    assert f"three-act story of {len(record.beat_sheet.beats)} beats" in said
    assert f"{len(record.shots)} shots" in said and f"{attempts} attempts" in said
    assert f"0 human decisions; {len(record.approvals)} checkpoints approved automatically." in said
    assert re.search(r"Wall time (\d+ min )?\d+ s; cost USD 0\.00\.", said)

    consistency = section(text, "How consistency was solved: characters and style")
    assert "No reference photos were given" in consistency
    assert (
        "Style suffix, the style slot of every shot's prompt: " + record.bible.suffix in consistency
    )
    assert "No LoRA" in consistency
    assert "style_colours (at least 0.55)" in consistency
    assert "![The accepted keyframe of each of the" in consistency


def test_every_check_that_did_not_run_says_why_once(previz_run):
    text = (previz_run / "workflow.md").read_text(encoding="utf-8")
    record = fold(read_events(previz_run / "events.jsonl"))
    reasons = {(name, why) for (name, why) in record.not_run()}
    models = section(text, "Models and key parameters")
    table = models.split("### Checks that did not run, and why")[1]
    for name, why in reasons:
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        assert why.removeprefix("not run: ") in row
    appendix = section(text, "Appendix: the full record of every shot")
    never = record.never_ran("keyframe")
    assert all(f"| {name} |" in table for name in never)
    header = next(line for line in appendix.splitlines() if line.startswith("| attempt |"))
    assert all(f"| {name} |" not in header for name in never)
    assert "not run |" not in appendix  # a cell that says "not run" says why
    assert "not run: no accepted keyframes to compare with yet" in appendix  # near_duplicate, s001


def test_no_sentence_is_repeated_and_times_are_to_the_second(previz_run):
    text = (previz_run / "workflow.md").read_text(encoding="utf-8")
    repeated = [line for line, n in Counter(prose_lines(text)).items() if n > 1]
    assert repeated == []
    assert "style: the style bible's suffix" not in text
    assert "checks passed (" not in text  # the policy's sentence, said once with its count
    assert re.search(r"accept: every check that ran passed \(\d+ attempts\)\.", text)
    assert not MILLISECONDS.search(text)
    assert not re.search(r"\d+\.\d+ s \|", section(text, "Models and key parameters"))
    totals = section(text, "Creative process").split("### Totals")[1]
    assert all(
        re.search(r"\| (\d+ min )?\d+ s \|$", line)
        for line in totals.splitlines()
        if line.startswith("| time")
    )
    assert "ffmpeg -hide_banner" not in text  # the commands are in a file


def test_the_files_the_document_links_are_there(previz_run):
    text = (previz_run / "workflow.md").read_text(encoding="utf-8")
    files = linked(text)
    assert {"film.mp4", "doc/poster.jpg", "doc/shots.jpg", "doc/ffmpeg-commands.txt"} <= set(files)
    for name in files:
        assert (previz_run / name).is_file(), name
    with Image.open(previz_run / "doc/poster.jpg") as poster:
        assert poster.size == (320, 180)
    commands = (previz_run / "doc/ffmpeg-commands.txt").read_text(encoding="utf-8")
    assert "# film -> film.mp4" in commands and "ffmpeg -hide_banner" in commands


def test_voices_and_loudness_are_reported(previz_run):
    text = (previz_run / "workflow.md").read_text(encoding="utf-8")
    sound = section(text, "Voices and sound")
    events = [json.loads(line) for line in (previz_run / "events.jsonl").read_text().splitlines()]
    lines = [e for e in events if e["type"] == "voice_line"]
    assert lines
    for line in lines:
        row = next(r for r in sound.splitlines() if r.startswith(f"| {line['shot_id']} |"))
        assert line["text"] in row and f"{line['backend']}:{line['model']} {line['voice']}" in row
        assert f"| {line['start_s']:.1f} s | {line['duration_s']:.1f} s | yes |" in row
    [loud] = [e for e in events if e["type"] == "loudness"]
    assert f"integrated {loud['output_i']:.1f} LUFS against a target of -16.0 LUFS" in sound
    assert "Scratch voices are a timing track" in sound


def test_replay_writes_the_document_in_the_language_asked(previz_run, tmp_path):
    import shutil

    copy = shutil.copytree(previz_run, tmp_path / "copy")
    result = director("replay", str(copy), "--doc-lang", "zh", "--html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (copy / "workflow.md").read_text(encoding="utf-8")
    assert sections(text)[:4] == SECTIONS_ZH
    assert "- [3. 一致性如何实现：角色与风格](#3-一致性如何实现角色与风格)" in text
    title = fold(read_events(copy / "events.jsonl")).story.title
    assert text.startswith(f"# {title}：创作流程")
    assert "## 目录" in text and "### 评审阈值（按实际应用）" in text
    page = (copy / "workflow.html").read_text(encoding="utf-8")
    assert "成片" in page and "film.mp4" in page
    again = director("replay", str(copy), cwd=tmp_path)  # the run's own language again
    assert again.returncode == 0, again.stderr
    assert (copy / "workflow.md").read_bytes() == (previz_run / "workflow.md").read_bytes()


def test_a_chinese_logline_gets_a_chinese_document(tmp_path):
    args = ["run", "--logline", ZH, "--minutes", "0.25", "--size", "320x180", "--yes"]
    result = director(*args, "--runs-dir", "runs", "--run-id", "zh", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "runs" / "zh"
    text = (run / "workflow.md").read_text(encoding="utf-8")
    assert sections(text)[:4] == SECTIONS_ZH
    assert "- [3. 一致性如何实现：角色与风格](#3-一致性如何实现角色与风格)" in text
    assert sections(text)[-1] == "附录：逐镜头完整记录"
    assert "评审阈值（按实际应用）" in text and "生成画面：占镜头总时长的 100%" in text
    assert "The film" not in text and "Creative process" not in text
    assert "未运行：" in text or "均未运行" in text
    record = fold(read_events(run / "events.jsonl"))
    assert record.story.language == "zh" and record.started.options["doc_lang"] is None
    english = build_document(record, "en")
    assert [b.text for b in english.blocks if getattr(b, "level", 0) == 2][0] == "1. The film"


def test_the_doc_lang_of_a_run_is_recorded_and_a_resume_can_change_it(tmp_path):
    plan = make_plan(2)
    options = resolve(_flags(tmp_path, "l", doc_lang="zh", approve="defer", yes=False))
    backends = {
        "planner": ScriptedPlanner(plan),
        "image": SolidImage(),
        "critics": [ScriptedCritic({})],
    }
    first = start_run(options, backends=backends)
    assert first.waiting is not None
    assert json.loads(first.paths.run_json.read_text())["options"]["doc_lang"] == "zh"
    approve = lambda waiting: {"decision": "approve"}  # noqa: E731
    resume_run(first.paths, backends=backends, approver=approve, doc_lang="en")
    resumed = [e for e in read_events(first.paths.events) if isinstance(e, RunResumed)]
    assert resumed[-1].changed["doc_lang"] == ["zh", "en"]
    text = first.paths.workflow.read_text(encoding="utf-8")
    assert sections(text)[0] == "The film" and "Resumed 1 time (first " in text


def _flags(tmp_path, run_id, **extra):
    return {
        "logline": "Mara defends the last garden from robots",
        "minutes": 0.25,
        "size": "320x180",
        "max_attempts": 3,
        "runs_dir": str(tmp_path),
        "run_id": run_id,
        "yes": True,
        **extra,
    }


def test_a_cast_on_a_face_drawing_backend_shows_references_scores_and_the_fix(tmp_path):
    from tests.test_cast_in_film import Studio

    photo = tmp_path / "mara.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    plan = make_plan(1, shot_s=15.0)
    plan.bible.width, plan.bible.height = 640, 480
    flags = _flags(tmp_path, "c", size="640x480", max_attempts=6, character=[f"Mara={photo}"])
    result = start_run(
        resolve(flags), backends={"planner": ScriptedPlanner(plan), "image": Studio(photo)}
    )
    text = result.paths.workflow.read_text(encoding="utf-8")
    consistency = section(text, "How consistency was solved: characters and style")
    assert "![Mara: reference photo 1 (mara.png)](doc/references/Mara-1.jpg)" in consistency
    assert "No reference photos" not in consistency
    record = fold(read_events(result.paths.events))
    chosen = record.chosen_keyframe("s001")
    identity = next(
        c for c in record.critique("s001", "keyframe", chosen.number).checks if c.name == "identity"
    )
    header = next(line for line in consistency.splitlines() if line.startswith("| shot |"))
    assert f"identity (at least {identity.threshold:.3g})" in header
    row = next(line for line in consistency.splitlines() if line.startswith("| s001 |"))
    assert f"| {identity.score:.3g} ok |" in row and "| Mara |" in row

    problems = section(text, "Problems met and how they were solved")
    assert "![s001: the failed attempt 1 beside attempt" in problems
    assert "s001: solved on the ladder (reseed -> repair -> references -> reframe)" in problems
    # the same failure four times over is one line with its count
    assert re.search(
        r"s001 attempts 1, 2, 3, 4 \(seeds [\d, ]+\) failed the same way, 4 times: ", problems
    )
    assert "reframe (a new framing)" in problems  # the rungs, explained once
    for name in linked(text):
        assert (result.paths.root / name).is_file(), name
    with Image.open(result.paths.root / "doc/problems/s001.jpg") as pair:
        assert pair.width > pair.height  # two frames side by side
    appendix = section(text, "Appendix: the full record of every shot")
    assert "identity" in appendix.split("Keyframe attempts:")[1].splitlines()[2]


def test_human_edits_and_rerolls_are_the_human_decisions(tmp_path):
    plan = make_plan(4)
    answers = iter(
        [
            {"decision": "approve"},
            {"decision": "reroll", "shot": "s001"},
            {"decision": "edit", "shot": "s002", "slot": "action", "text": "waters the beans"},
            {"decision": "approve"},
            {"decision": "approve"},
        ]
    )
    backends = {
        "planner": ScriptedPlanner(plan),
        "image": SolidImage(),
        "critics": [ScriptedCritic({"s003": 2})],
    }
    options = resolve(_flags(tmp_path, "h", approve="defer", yes=False))
    result = start_run(options, backends=backends, approver=lambda waiting: next(answers))
    text = result.paths.workflow.read_text(encoding="utf-8")
    process = section(text, "Creative process")
    assert "5 human decisions; 0 checkpoints approved automatically." in process
    assert "in 8 attempts (4 rerolls; 1 of the shots passed" in process
    human = section(text, "Human decisions")
    assert "| reroll shot s001 | human |" in human
    assert "| edit shot s002 | human | s002 action -> 'waters the beans' |" in human
    assert "No human decision" not in human
    problems = section(text, "Problems met and how they were solved")
    assert "s001 attempt 1: reroll by human: a new keyframe" in problems
    assert "s002 attempt 1: edit by human: action slot rewritten as 'waters the beans'" in problems
    assert "![s001: attempt 1, sent back by a human, beside attempt 2, the one kept]" in problems
    assert "s003: solved on the ladder (reseed -> reseed); attempt 3 passed every check" in problems
    appendix = section(text, "Appendix: the full record of every shot")
    assert "- action: waters the beans" in appendix
    for name in linked(text):
        assert (result.paths.root / name).is_file(), name


def test_each_fixed_sentence_is_written_in_both_languages():
    for key, entry in _table().items():
        assert set(entry) == {"en", "zh"}, key
        en, zh = entry["en"], entry["zh"]
        assert type(en) is type(zh) or (isinstance(en, list) and isinstance(zh, str)), key
        if isinstance(en, str):
            assert set(re.findall(r"{(\w+)", en)) == set(re.findall(r"{(\w+)", zh)), key
        if isinstance(en, list) and isinstance(zh, list):
            assert len(en) == len(zh), key


def test_the_document_model_carries_the_film_and_its_figures(previz_run):
    doc = build_document(fold(read_events(previz_run / "events.jsonl")))
    [video] = [b for b in doc.blocks if isinstance(b, Video)]
    assert (video.path, video.poster) == ("film.mp4", "doc/poster.jpg")
    figures = [b.path for b in doc.blocks if isinstance(b, Figure)]
    assert figures[0] == "doc/shots.jpg"
    assert all((previz_run / f).is_file() for f in figures)
    assert write_workflow(RunPaths(previz_run))[0].read_text(encoding="utf-8") == (
        previz_run / "workflow.md"
    ).read_text(encoding="utf-8")


def test_the_style_lora_is_named_with_its_training_notes(tmp_path):
    from director.records import BiblePlanned, RunFinished, RunStarted, StoryDeveloped

    weights = tmp_path / "lora" / "ink-wash.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    (weights.parent / "lora.md").write_text("# ink-wash\n\nrank 16, 800 steps\n")
    plan = make_plan(2)
    bible = plan.bible.model_copy(update={"lora": "ink-wash"})
    events = [
        RunStarted(
            run_id="l",
            logline=plan.story.logline,
            options={"lora": f"{weights}:0.8"},
            versions={},
            ts="2026-12-07T01:00:00.123+00:00",
        ),
        StoryDeveloped(backend="scripted", story=plan.story),
        BiblePlanned(backend="scripted", bible=bible, cards=plan.cards),
        RunFinished(status="completed", seconds=61.7),
    ]
    root = tmp_path / "run"
    root.mkdir()
    (root / "events.jsonl").write_text(
        "".join(
            e.model_copy(update={"seq": n}).model_dump_json() + "\n"
            for n, e in enumerate(events, 1)
        ),
        encoding="utf-8",
    )
    text = write_workflow(RunPaths(root))[0].read_text(encoding="utf-8")
    style = section(text, "How consistency was solved: characters and style")
    assert f"- LoRA: ink-wash at strength 0.8 ({weights})" in style
    assert "- Its training notes: doc/lora.md" in style
    assert "- The style bible's LoRA: ink-wash" in style and "No LoRA" not in style
    assert (root / "doc" / "lora.md").read_text() == "# ink-wash\n\nrank 16, 800 steps\n"
    film = section(text, "The film")
    assert "| 2026-12-07 01:00:00 | 1 min 2 s |" in film  # to the second


def test_the_lora_spec_is_read_as_lora_reads_it():
    from types import SimpleNamespace

    from director.replay.evidence import lora_spec

    def spec(text: str):
        return lora_spec(SimpleNamespace(started=SimpleNamespace(options={"lora": text})))

    assert spec("/l/ink.safetensors:0.8") == ("/l/ink.safetensors", "0.8")
    assert spec("/l/ink.safetensors:-0.5") == ("/l/ink.safetensors", "-0.5")
    assert spec("C:/l/ink.safetensors") == ("C:/l/ink.safetensors", None)
    assert spec("ink:strong") == ("ink:strong", None)
