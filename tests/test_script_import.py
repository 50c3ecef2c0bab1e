"""A creator's own script becomes the film: each format through ``director run --script`` to an
MP4, with the creator's words verbatim in plan.json and workflow.md and what director filled
logged; ``--beats`` with a logline; and every malformed file refused in one line naming the file
and line, with no run folder left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from director.tools.assemble.probe import probe
from director.tools.llm.offline import OfflinePlanner
from director.tools.llm.script import ScriptPlanner, load_script
from tests.test_bad_inputs import clean_env, invoke

SCRIPTS = Path(__file__).parent / "fixtures" / "scripts"
SMALL = ("--yes", "-q", "--size", "320x180")


def run_script(tmp_path: Path, *args: str):
    runs = tmp_path / "runs"
    result = invoke(["run", *args, *SMALL, "--runs-dir", str(runs)], tmp_path, clean_env())
    folders = sorted(runs.iterdir()) if runs.exists() else []
    return result, folders


def made_film(tmp_path: Path, *args: str) -> tuple[Path, dict, str, list[dict]]:
    result, folders = run_script(tmp_path, *args)
    assert result.code == 0, result.stderr
    (folder,) = folders
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    info = probe(folder / "film.mp4")
    assert (info.width, info.height) == (320, 180)
    assert info.duration_s == pytest.approx(plan["beat_sheet"]["beats"][-1]["start_s"]
                                            + plan["beat_sheet"]["beats"][-1]["duration_s"],
                                            abs=0.1)  # fmt: skip
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    return folder, plan, (folder / "workflow.md").read_text(encoding="utf-8"), events


def shot_texts(plan: dict) -> tuple[list[str], list[str]]:
    actions = [s["prompt"]["action"] for s in plan["shots"]]
    lines = [s["line"]["text"] for s in plan["shots"] if s["line"]]
    return actions, lines


def filled_reports(events: list[dict]) -> list[str]:
    return [e["detail"] for e in events if e["type"] == "stage_started" and e["stage"] == "script"]


def assert_locked(plan: dict, slot: str, text: str) -> None:
    """``text`` is in ``slot`` of a shot, as written, and marked as a human's."""
    shot = next(s for s in plan["shots"] if s["prompt"][slot] == text)
    assert slot in shot["edited_slots"]


# --- each format, end to end ------------------------------------------------------------------


def test_fountain_screenplay_becomes_a_film_with_its_words(tmp_path):
    folder, plan, doc, events = made_film(
        tmp_path, "--script", str(SCRIPTS / "last_concert.fountain"), "--minutes", "5"
    )
    actions, lines = shot_texts(plan)
    written = [
        "ELIAS, eighty, walks between rows of sleeping robots, a tuning fork in his fist.",
        "Dust hangs over a grand piano. Elias lifts the lid.",
        "A hundred robots turn their heads toward the stage.",
    ]
    said = [
        "Nobody has asked for an A in forty years.",
        "This one is for whoever is still listening.",
    ]
    assert actions == written and lines == said
    for text in written:
        assert_locked(plan, "action", text)
        assert text in doc
    assert all(text in doc for text in said)
    story = plan["story"]
    assert story["title"] == "The Last Concert"
    assert story["logline"].startswith("In 2075 the last human alive, an old piano tuner")
    assert [p["name"] for p in story["protagonists"]] == ["Elias"]
    beats = plan["beat_sheet"]["beats"]
    assert [b["name"] for b in beats] == ["EXT. SILENT CITY - NIGHT", "INT. CONCERT HALL - NIGHT"]
    assert [b["location"] for b in beats] == ["Silent City", "Concert Hall"]
    assert plan["shots"][0]["prompt"]["environment"] == "Silent City, night"
    # --minutes is ignored: the film is its three 4 s shots and two 3 s cards
    assert sum(b["duration_s"] for b in beats) == pytest.approx(18.0)
    reports = filled_reports(events)
    assert any(
        "filled by director's rules: subject of 2, environment of 3, camera of 3" in r
        for r in reports
    ), reports
    assert "script:last_concert.fountain (Fountain screenplay), gaps filled by offline" in doc
    options = json.loads((folder / "run.json").read_text())["options"]
    assert options["script"] == str((SCRIPTS / "last_concert.fountain").resolve())


def test_markdown_outline_becomes_a_film_with_its_words(tmp_path):
    _, plan, doc, events = made_film(
        tmp_path, "--script", str(SCRIPTS / "letters.md"), "--minutes", "0.25"
    )
    actions, lines = shot_texts(plan)
    assert "Ling folds a letter into a paper boat under the moon" in actions
    assert lines == ["Tell her I waited.", "The moon had kept every one."]
    assert [s["line"]["kind"] for s in plan["shots"] if s["line"]] == ["dialogue", "narration"]
    first = plan["shots"][0]
    assert first["prompt"]["camera"] == "close-up, high angle"
    assert (first["size"], first["angle"], first["duration_s"]) == ("close-up", "high-angle", 4.0)
    assert sorted(first["edited_slots"]) == ["action", "camera"]
    assert_locked(plan, "subject", "Ling, a girl of ten in a yellow raincoat")
    beats = plan["beat_sheet"]["beats"]
    assert beats[0]["summary"] == "Ling writes her hundredth letter and folds it into a paper boat."
    assert beats[0]["location"] == "a rooftop garden at night"
    assert plan["story"]["title"] == "Letters to the Moon"
    for text in (*lines, beats[0]["summary"], "Ling opens it with shaking hands"):
        assert text in doc
    assert filled_reports(events)


def test_json_shot_list_becomes_a_film_with_its_words(tmp_path):
    _, plan, doc, _ = made_film(
        tmp_path, "--script", str(SCRIPTS / "robot_garden.json"), "--minutes", "1"
    )
    assert [s["duration_s"] for s in plan["shots"]] == [4.0, 5.0, 4.5]
    assert_locked(plan, "subject", "Mara, a woman of seventy with a grey braid and a green coat")
    assert_locked(plan, "camera", "wide shot, low angle, tracking")
    assert plan["shots"][1]["move"] == "tracking"
    line = plan["shots"][2]["line"]
    assert (line["speaker"], line["text"]) == ("Mara", "Not this one. Not ever.")
    assert [b["name"] for b in plan["beat_sheet"]["beats"]] == ["Morning", "Night"]
    assert "presses a seed into black soil with her thumb" in doc
    assert "her kitchen by candlelight" in doc


def test_csv_shot_list_becomes_a_film_with_its_words(tmp_path):
    _, plan, doc, events = made_film(tmp_path, "--script", str(SCRIPTS / "lighthouse.csv"))
    assert_locked(plan, "action", "strikes a match, cupping it against the wind")
    assert_locked(plan, "environment", "the lamp room at night")
    lines = [s["line"] for s in plan["shots"] if s["line"]]
    assert lines[0] == {"kind": "narration", "speaker": None, "text": lines[0]["text"]}
    assert lines[0]["text"] == "The light had never gone out before."
    assert "Not tonight." in doc
    # no title: the logline is what the film opens on, in the creator's words
    assert plan["story"]["logline"] == (
        "an old keeper in a yellow oilskin climbs the spiral stairs of the lighthouse"
    )
    assert any("camera of 1" in r for r in filled_reports(events))


def test_beats_outline_with_a_logline(tmp_path):
    logline = "A girl climbs down a dry well to find the spring her village lost"
    _, plan, doc, events = made_film(
        tmp_path,
        "--logline", logline, "--beats", str(SCRIPTS / "beats_only.md"), "--minutes", "0.5",
    )  # fmt: skip
    assert plan["story"]["logline"] == logline
    beats = plan["beat_sheet"]["beats"]
    assert [b["name"] for b in beats] == ["The Drought", "The Spring", "The Return"]
    assert beats[0]["duration_s"] == pytest.approx(10.0 + 3.0)  # its [10s] and the title card
    assert sum(b["duration_s"] for b in beats) == pytest.approx(30.0, abs=0.01)  # --minutes
    by_beat = {b["id"]: [s for s in plan["shots"] if s["beat_id"] == b["id"]] for b in beats}
    assert all(by_beat.values())  # the run's planner planned the beats without shots
    spring = by_beat[beats[1]["id"]]
    assert (
        spring[0]["prompt"]["action"] == "Ana finds water seeping from a crack in the well's wall"
    )
    assert spring[1]["line"]["text"] == "Still here."
    assert "The village well runs dry and Ana climbs down with a lantern." in doc
    assert any("planned by offline" in r for r in filled_reports(events))


# --- the planner on its own -------------------------------------------------------------------


def planned(path: Path, base=None):
    script = load_script(path)
    planner = ScriptPlanner(script, base=base or OfflinePlanner())
    story = planner.develop("A girl writes to the moon", language="en", seed=1)
    sheet = planner.beat_sheet(story, structure="three-act", runtime_s=60, seed=1)
    bible, cards = planner.bible(story, sheet, width=320, height=180, seed=1)
    return planner, story, sheet, bible, cards


def test_beats_add_up_to_their_shots_and_cards():
    planner, story, sheet, bible, cards = planned(SCRIPTS / "letters.md")
    shots = planner.shot_list(story, sheet, bible, cards, seed=1)
    for i, beat in enumerate(sheet.beats):
        inner = sum(s.duration_s for s in shots if s.beat_id == beat.id)
        cards_s = (cards.title_s if i == 0 else 0) + (
            cards.end_s if i == len(sheet.beats) - 1 else 0
        )
        assert beat.duration_s == pytest.approx(inner + cards_s)
    assert [s.id for s in shots] == [f"s{i:03d}" for i in range(1, len(shots) + 1)]
    assert shots[-1].transition == "cut"


def test_a_beat_rewritten_at_the_checkpoint_is_planned_from_its_new_text():
    planner, story, sheet, bible, cards = planned(SCRIPTS / "letters.md")
    beats = list(sheet.beats)
    beats[1] = beats[1].model_copy(update={"summary": "Ling waits all night; nothing comes."})
    edited = sheet.model_copy(update={"beats": beats})
    shots = planner.shot_list(story, edited, bible, cards, seed=1)
    reply = [s for s in shots if s.beat_id == beats[1].id]
    assert reply and not any(s.edited_slots for s in reply)
    assert "A silver envelope lies on the wet tiles" not in [s.prompt.action for s in shots]


def test_chinese_outline_gets_chinese_camera_words(tmp_path):
    outline = tmp_path / "zh.md"
    outline.write_text("## 屋顶\n- 小玲把信折成纸船\n- 小玲：“告诉她我等过。”\n", encoding="utf-8")
    planner = ScriptPlanner(load_script(outline), base=OfflinePlanner())
    story = planner.develop("小女孩每晚给月亮写信", language="zh", seed=1)
    sheet = planner.beat_sheet(story, structure="qczh", runtime_s=60, seed=1)
    bible, cards = planner.bible(story, sheet, width=320, height=180, seed=1)
    shots = planner.shot_list(story, sheet, bible, cards, seed=1)
    assert shots[0].prompt.action == "小玲把信折成纸船"
    assert shots[1].line.speaker == "小玲" and shots[1].line.text == "告诉她我等过。"
    assert "远景" in shots[0].prompt.camera


def test_fountain_features_director_reads():
    text = (
        "Title: Night\n    Shift\nAuthor: Someone\n\n"
        "= The keeper works alone.\n\n"
        "# ACT ONE\n\n"
        ".ROOFTOP #1#\n\n"
        "Rain. [[a note for the editor]] A lamp swings.\n\n"
        "/* a cut line\nstill cut */\n"
        "MIRA (V.O.)\n(softly)\nKeep the light on.\n\n"
        "DISSOLVE TO:\n\n"
        "INT. STAIRWELL - DAY\n\n"
        "!THE STAIRS CREAK.\n"
    )
    path = Path("night.fountain")
    from director.tools.llm.script.fountain import parse_fountain

    script = parse_fountain(path, text)
    assert script.title == "Night Shift" and script.logline == "The keeper works alone."
    first, second = script.beats
    assert (first.name, first.location) == ("ROOFTOP", "Rooftop")
    assert first.shots[0].slots["action"] == "Rain.  A lamp swings."
    assert first.shots[0].line.speaker == "Mira"
    assert first.shots[0].transition == "crossfade"
    assert (second.location, second.time) == ("Stairwell", "Day")
    assert second.shots[0].slots["action"] == "THE STAIRS CREAK."


# --- malformed files --------------------------------------------------------------------------

MALFORMED = [
    ("shots.csv", "action,duration\nwalks in,4\nsits down,soon\n",
     "shots.csv line 3: duration 'soon' is not a number of seconds"),
    ("shots.csv", "action,mood\nwalks in,sad\n", "shots.csv line 1: unknown column mood"),
    ("shots.json", '{"shots": {"action": "walks"}}', "shots.json line 1: is not a list of shots"),
    ("shots.json", '"a film"', "is not a list of shots"),
    ("shots.json", '[\n  {"action": "walks"},\n  {"action": "sits",}\n]',
     "shots.json line 3: is not JSON"),
    ("shots.json", '[\n  {"action": "walks"},\n  {"action": "sits", "lens": "50mm"}\n]',
     "shots.json line 3: unknown key 'lens' in a shot"),
    ("shots.json", '[\n  {"action": "walks", "duration": "4x"}\n]',
     "shots.json line 2: duration '4x' is not a number of seconds"),
    ("film.fountain", "Title: Nothing\n\nShe waits.\n",
     "film.fountain line 3: action before the first scene heading"),
    ("film.fountain", "Title: Nothing\n\n= just a synopsis\n", "film.fountain line 1: has no scene"),
    ("film.fountain", "INT. ROOM - DAY\n\n/* never closed\n", "line 3: a /* boneyard is never closed"),
    ("film.fountain", "INT. ROOM - DAY\n\nEXT. YARD - DAY\n\nRain.\n",
     "line 1: scene 'INT. ROOM - DAY' has no action or dialogue"),
    ("outline.md", "- a shot\n\n## A beat\n",
     "outline.md line 1: a shot (bullet) before the first beat heading"),
    ("outline.md", "## A beat\n- a shot [lens: 50mm]\n", "outline.md line 2: [lens: 50mm] is not"),
    ("outline.md", "## A beat\n- a shot\n  - a detail\n", "outline.md line 3: an indented"),
    ("outline.md", "## A beat\n- a shot [1s]\n", "outline.md line 2: shot 1 s is out of range"),
    ("outline.md", "Just some words.\n", "outline.md line 1: has no heading"),
    ("film.txt", "Some words with no shape.\n", "cannot tell what kind of script this is"),
    ("empty.fountain", "  \n\n", "is empty"),
]  # fmt: skip


def assert_refused(result, folders, fragment: str) -> None:
    assert result.code == 2, result.stderr
    assert len(result.lines) == 1, result.stderr
    assert fragment in result.lines[0], result.lines[0]
    assert "Traceback" not in result.stderr
    assert folders == []


@pytest.mark.parametrize(("name", "content", "fragment"), MALFORMED)
def test_malformed_script_is_one_line(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result, folders = run_script(tmp_path, "--script", str(path))
    assert_refused(result, folders, fragment)


def test_script_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin.fountain"
    path.write_bytes(b"INT. ROOM - DAY\n\nCaf\xe9 au lait.\n")
    result, folders = run_script(tmp_path, "--script", str(path))
    assert_refused(result, folders, "latin.fountain line 3: is not UTF-8 text")


def test_script_too_large_missing_or_a_folder(tmp_path):
    big = tmp_path / "big.md"
    big.write_text("## A beat\n" + "- a shot\n" * 200_000, encoding="utf-8")
    for path, fragment in (
        (big, "a script is at most 1000 kB"),
        (tmp_path / "gone.fountain", "is not a file"),
    ):
        result, folders = run_script(tmp_path, "--script", str(path))
        assert_refused(result, folders, fragment)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_script(tmp_path):
    path = tmp_path / "locked.fountain"
    path.write_text("INT. ROOM - DAY\n\nRain.\n", encoding="utf-8")
    path.chmod(0)
    result, folders = run_script(tmp_path, "--script", str(path))
    assert_refused(result, folders, "cannot be read")


def test_beats_must_be_an_outline_and_not_with_script(tmp_path):
    result, folders = run_script(
        tmp_path, "--logline", "A keeper", "--beats", str(SCRIPTS / "lighthouse.csv")
    )
    assert_refused(result, folders, "is not a Markdown beat outline")
    result, folders = run_script(
        tmp_path,
        "--script", str(SCRIPTS / "letters.md"), "--beats", str(SCRIPTS / "beats_only.md"),
    )  # fmt: skip
    assert_refused(result, folders, "--script and --beats both give the plan")


def test_cast_members_keep_their_identity_and_all_play():
    from director.records import Character

    planner = ScriptPlanner(load_script(SCRIPTS / "letters.md"), base=OfflinePlanner())
    ling = Character(name="Ling", description="a girl of ten in a yellow raincoat")
    moon = Character(name="Moon", description="an old woman made of pale light")
    story = planner.develop("A girl writes to the moon", language="en", seed=1, cast=[ling, moon])
    assert [(c.name, c.description) for c in story.protagonists] == [
        ("Ling", ling.description),
        ("Moon", moon.description),
    ]
