"""The language-model planner against a fake OpenAI-compatible server, through the real SDK."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from director import registry
from director.errors import ConfigError, InputError, ProviderError
from director.records import Character, Plan
from director.tools.image.previz import PrevizImage
from director.tools.llm.answers import bounded_split, strict_schema
from director.tools.llm.language import load_vocab
from director.tools.llm.openai_planner import (
    CompatiblePlanner,
    DashScopePlanner,
    LLMCall,
    OpenAIPlanner,
    compatible_url,
)
from director.tools.providers import DASHSCOPE_REGIONS
from tests.fakes.openai_server import FakeOpenAI, Reply

EN = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
ZH = "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园"
MARA = "a woman of seventy, wiry, grey braid, green wool coat, carries a brass watering can"
STORY = {
    "title": "The Last Garden",
    "protagonists": [{"name": "Mara", "description": MARA}],
    "world": "Earth in 2075, after the cities emptied.",
    "want": "Mara wants to keep her rooftop garden alive.",
    "obstacle": "Robots bulldoze the garden every night.",
    "theme": "Care outlasts machines.",
    "tone": "quiet, stubborn, tender",
    "locations": ["the rooftop garden", "the empty street", "the greenhouse"],
}
STORY_ZH = {
    "title": "最后的花园",
    "protagonists": [{"name": "玛拉", "description": "七十岁的女人，瘦削，灰色发辫，绿色羊毛外套"}],
    "world": "2075年的地球，城市早已空无一人。",
    "want": "玛拉想让屋顶花园活下去。",
    "obstacle": "机器人每晚推平花园。",
    "theme": "照料比机器更长久。",
    "tone": "安静而倔强",
    "locations": ["屋顶花园", "空荡的街道"],
}
BIBLE = {
    "name": "Rust and Moss",
    "suffix": "watercolour storyboard, moss greens and rust, soft morning light, 35mm lens, fine grain",
    "negative": "neon, lens flare",
    "palette": ["#F2EAD3", "#101820", "#6b8f5e", "#c8b88a", "#2f4f3f"],
    "grain": 0.3,
}
STAGE_MARKS = {
    "story developer": "develop",
    "story editor": "beat_sheet",
    "production designer": "bible",
    "director of photography": "shot_list",
    "You repair": "repair_slot",
}


# --- a scripted model: answers each stage from what the prompt asks --------------------------


def stage_of(request) -> str:
    system = request.json["messages"][0]["content"]
    return next(stage for mark, stage in STAGE_MARKS.items() if mark in system)


def beats_answer(text: str, zh: bool = False, durations=None) -> dict:
    count = int(re.search(r"Write exactly (\d+) beats", text)[1])
    locations = json.loads(re.search(r"copied exactly: (\[.*\])", text)[1])
    durations = durations or [10.0 + 5 * i for i in range(count)]
    said = "玛拉在{}守护花园的第{}幕。" if zh else "Mara guards the garden in {}, part {}."
    change = "她明白了代价。" if zh else "She learns what it costs."
    return {
        "beats": [
            {
                "summary": said.format(locations[i % len(locations)], i + 1),
                "change": change,
                "location": locations[i % len(locations)],
                "duration_s": durations[i],
            }
            for i in range(count)
        ]
    }


def shots_answer(text: str, zh: bool = False, duration: float = 5.0) -> dict:
    beats = []
    for beat_id, low in re.findall(r"^- (b\d\d) .*?: (\d+) (?:to \d+ )?shots?\)$", text, re.M):
        shots = [shot(i, zh, duration) for i in range(int(low))]
        beats.append({"beat_id": beat_id, "shots": shots})
    return {"beats": beats}


def shot(i: int, zh: bool, duration: float) -> dict:
    hero = i % 2 == 0
    return {
        "role": "medium" if hero else "insert",
        "size": "medium" if hero else "close-up",
        "angle": "eye-level",
        "move": "push-in",
        "duration_s": duration,
        "characters": ["玛拉" if zh else "Mara"] if hero else [],
        "subject": "Mara" if hero else ("一把铜壶" if zh else "a brass watering can"),
        "action": ("她给幼苗浇水" if zh else "waters the seedlings") + f" ({i})",
        "environment": "屋顶花园，清晨" if zh else "the rooftop garden at dawn",
        "line": None,
        "transition": "cut",
        "continuous": False,
    }


def screenwriter(request) -> dict:
    """A model that answers every stage correctly, in English."""
    stage, text = stage_of(request), request.text
    return {
        "develop": lambda: STORY,
        "beat_sheet": lambda: beats_answer(text),
        "bible": lambda: BIBLE,
        "shot_list": lambda: shots_answer(text),
        "repair_slot": lambda: {"text": "her face turned to the light"},
    }[stage]()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("DIRECTOR_CONFIG", str(config))
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "DIRECTOR_DASHSCOPE_REGION"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def plan_with(planner, logline=EN, language="en", runtime=60.0, structure="qczh", cast=()):
    story = planner.develop(logline, language=language, seed=7, cast=cast)
    sheet = planner.beat_sheet(story, structure=structure, runtime_s=runtime, seed=7)
    bible, cards = planner.bible(story, sheet, width=320, height=180, seed=7)
    shots = planner.shot_list(story, sheet, bible, cards, seed=7)
    return Plan(story=story, beat_sheet=sheet, bible=bible, cards=cards, shots=shots)


def assert_plan_adds_up(plan: Plan, runtime: float) -> None:
    sheet, cards, shots = plan.beat_sheet, plan.cards, plan.shots
    assert round(sheet.total_s, 2) == runtime
    start = 0.0
    for i, beat in enumerate(sheet.beats):
        assert (beat.id, beat.index) == (f"b{i + 1:02d}", i)
        assert beat.start_s == pytest.approx(start, abs=1e-6)
        start = round(start + beat.duration_s, 2)
        cards_here = (cards.title_s if i == 0 else 0) + (
            cards.end_s if i == len(sheet.beats) - 1 else 0
        )
        in_beat = [s for s in shots if s.beat_id == beat.id]
        assert round(sum(s.duration_s for s in in_beat), 2) == round(
            beat.duration_s - cards_here, 2
        )
    assert all(3.0 <= s.duration_s <= 8.0 for s in shots)
    assert [s.id for s in shots] == [f"s{i + 1:03d}" for i in range(len(shots))]
    assert [s.index for s in shots] == list(range(len(shots)))
    assert (shots[-1].transition, shots[-1].transition_s) == ("cut", 0.0)


# --- the stages -------------------------------------------------------------------------------


def test_every_stage_gives_records_that_make_a_valid_plan(fake, tmp_path):
    fake.chat_handler = screenwriter
    planner = OpenAIPlanner("gpt-4.1-mini")
    plan = Plan.model_validate_json(plan_with(planner).model_dump_json())

    assert_plan_adds_up(plan, 60.0)
    assert plan.beat_sheet.structure == "qi-cheng-zhuan-he"
    assert [b.name for b in plan.beat_sheet.beats][0] == "Qi (setup)"
    hero = plan.story.protagonists[0]
    camera = load_vocab("camera.json")
    for s in plan.shots:
        assert s.prompt.style == plan.bible.suffix and s.prompt.negative == plan.bible.negative
        if s.characters:
            assert s.characters == ["Mara"] and s.prompt.subject == hero.description
        assert s.prompt.camera.startswith(camera["size"][s.size]["en"])
    assert plan.bible.palette[0] == "#101820" and plan.bible.palette[-1] == "#f2ead3"
    assert plan.bible.negative.startswith("text, watermark") and "neon" in plan.bible.negative
    assert (plan.cards.title, plan.cards.label) == (plan.story.title, "AI-generated")
    # The plan's shots draw: previz renders the first from its prompt slots.
    request_shot = plan.shots[0]
    PrevizImage().generate(_image_request(plan, request_shot), tmp_path / "k.png")
    assert (tmp_path / "k.png").stat().st_size > 0
    # Structured outputs, strict, one schema per stage; the seed passed through.
    formats = [r.json["response_format"] for r in fake.chat_requests()]
    assert [f["json_schema"]["name"] for f in formats] == [
        "develop",
        "beat_sheet",
        "bible",
        "shot_list",
    ]
    assert all(f["type"] == "json_schema" and f["json_schema"]["strict"] for f in formats)
    assert all(r.json["seed"] == 7 and r.json["model"] == "gpt-4.1-mini" for r in fake.requests)


def _image_request(plan, shot):
    from director.tools.base import ImageRequest

    return ImageRequest(
        shot=shot,
        bible=plan.bible,
        seed=1,
        width=320,
        height=180,
        prompt=shot.prompt.render(),
        negative_prompt=shot.prompt.render_negative(),
    )


def test_strict_schemas_require_every_property_and_forbid_others():
    from director.tools.llm.answers import ShotListAnswer

    schema = strict_schema(ShotListAnswer)
    objects = [schema, *schema["$defs"].values()]
    for node in objects:
        assert node["additionalProperties"] is False
        assert set(node["required"]) == set(node["properties"])
    assert "default" not in json.dumps(schema)


def test_the_cast_plays_the_lead_with_its_own_identity_block(fake):
    fake.chat_handler = screenwriter
    ada = Character(name="Ada", description="a girl of ten, red raincoat, yellow boots")
    plan = plan_with(OpenAIPlanner(), cast=[ada])
    assert plan.story.protagonists == [Character(name="Ada", description=ada.description)]
    develop = fake.chat_requests()[0]
    assert "Ada: a girl of ten, red raincoat" in develop.text
    # The model's shots name "Mara"; only cast members can be in frame.
    assert all(s.characters == [] for s in plan.shots)


def test_a_chinese_logline_asks_for_chinese_and_retries_an_english_answer(fake):
    fake.script(STORY, STORY_ZH)
    planner = OpenAIPlanner()
    story = planner.develop(ZH, language="zh", seed=1)
    assert story.title == "最后的花园" and story.language == "zh"
    first, second = fake.chat_requests()
    assert "简体中文" in first.json["messages"][0]["content"]
    assert "Simplified Chinese" in second.json["messages"][-1]["content"]

    fake.chat_handler = lambda r: {
        "beat_sheet": lambda: beats_answer(r.text, zh=True),
        "bible": lambda: {**BIBLE, "suffix": "水彩故事板，苔绿与铁锈色，柔和晨光，细腻颗粒"},
        "shot_list": lambda: shots_answer(r.text, zh=True),
    }[stage_of(r)]()
    sheet = planner.beat_sheet(story, structure="", runtime_s=30, seed=1)
    assert [b.name for b in sheet.beats] == ["起", "承", "转", "合"]
    bible, cards = planner.bible(story, sheet, width=320, height=180, seed=1)
    assert (cards.end, cards.label) == ("完", "AI生成") and bible.negative.startswith("文字，水印")
    shots = planner.shot_list(story, sheet, bible, cards, seed=1)
    assert shots[0].prompt.camera == "中景，平视，缓慢推镜"
    assert shots[0].prompt.subject == story.protagonists[0].description


# --- structured outputs, JSON mode and the one retry -----------------------------------------


def test_json_schema_refused_falls_back_to_json_mode_and_one_retry(fake):
    fake.reject_json_schema = True
    fake.script("Sure! Here is the story: {", STORY)
    planner = OpenAIPlanner()
    story = planner.develop(EN, language="en", seed=1)
    assert story.title == "The Last Garden"

    refused, bad, good = fake.chat_requests()
    assert refused.json["response_format"]["type"] == "json_schema"
    assert bad.json["response_format"] == {"type": "json_object"}
    assert "JSON Schema" in bad.json["messages"][1]["content"]  # the schema rides in the prompt
    assert good.json["messages"][-2] == {
        "role": "assistant",
        "content": "Sure! Here is the story: {",
    }
    assert "not valid JSON" in good.json["messages"][-1]["content"]
    assert [c.mode for c in planner.calls] == ["json_schema", "json_object", "json_object"]
    assert planner.calls[0].error.startswith("BadRequestError")
    assert "not valid JSON" in planner.calls[1].error and planner.calls[2].error == ""

    # Later stages go straight to JSON mode.
    fake.chat_handler = screenwriter
    planner.beat_sheet(story, structure="three-act", runtime_s=60, seed=1)
    assert fake.chat_requests()[-1].json["response_format"] == {"type": "json_object"}
    assert len(fake.chat_requests()) == 4


def test_an_answer_failing_validation_is_retried_with_the_error(fake):
    wrong = {**STORY, "locations": []}
    missing = {k: v for k, v in STORY.items() if k != "want"}
    fake.script(missing, STORY)
    planner = OpenAIPlanner()
    planner.develop(EN, language="en", seed=1)
    assert "want: Field required" in fake.chat_requests()[1].json["messages"][-1]["content"]

    fake.script(wrong, wrong)
    with pytest.raises(ProviderError, match="locations: name one to three") as err:
        planner.develop(EN, language="en", seed=1)
    assert "twice" in str(err.value) and "--llm offline" in str(err.value)
    assert len(fake.chat_requests()) == 4
    assert [bool(c.error) for c in planner.calls] == [True, False, True, True]


def test_a_beat_in_an_unknown_location_is_sent_back(fake):
    fake.script(STORY)
    planner = OpenAIPlanner()
    story = planner.develop(EN, language="en", seed=1)
    fake.chat_handler = None
    good = {
        "beats": [
            {
                "summary": f"Mara works, part {i}.",
                "change": "She learns.",
                "location": "the greenhouse",
                "duration_s": 15,
            }
            for i in range(4)
        ]
    }
    lost = json.loads(json.dumps(good))
    lost["beats"][2]["location"] = "the moon"
    fake.script(lost, good)
    sheet = planner.beat_sheet(story, structure="qczh", runtime_s=60, seed=1)
    assert {b.location for b in sheet.beats} == {"the greenhouse"}
    assert "'the moon' is not one of the story's locations" in fake.requests[-1].text


# --- arithmetic is director's ----------------------------------------------------------------


def test_beat_lengths_are_normalised_to_the_runtime(fake):
    fake.script(STORY)
    planner = OpenAIPlanner()
    story = planner.develop(EN, language="en", seed=1)
    fake.chat_handler = lambda r: beats_answer(r.text, durations=[1, 100, 50, 0.01])
    sheet = planner.beat_sheet(story, structure="qczh", runtime_s=47.3, seed=1)
    durations = [b.duration_s for b in sheet.beats]
    assert round(sum(durations), 2) == 47.3
    assert durations[0] >= 4.5 and durations[-1] >= 4.5  # a shot and a card fit
    assert durations[1] > durations[2] > durations[0]
    assert [b.start_s for b in sheet.beats] == [
        round(sum(durations[:i]), 2) for i in range(len(durations))
    ]


def test_shot_lengths_counts_and_transitions_are_fixed_in_code(fake):
    fake.chat_handler = screenwriter
    planner = OpenAIPlanner()
    story = planner.develop(EN, language="en", seed=1)
    sheet = planner.beat_sheet(story, structure="qczh", runtime_s=60, seed=1)
    bible, cards = planner.bible(story, sheet, width=320, height=180, seed=1)

    def sloppy(request):
        answer = shots_answer(request.text, duration=30.0)
        for group in answer["beats"]:
            for s in group["shots"]:
                s["continuous"] = True  # only across a cut inside a beat
            group["shots"][0]["transition"] = "fade-black"  # inside a beat: a crossfade
            group["shots"][-1]["transition"] = "crossfade"  # across beats: a cut
        answer["beats"][-1]["shots"][-1]["transition"] = "fade-black"
        return answer

    fake.chat_handler = sloppy
    shots = planner.shot_list(story, sheet, bible, cards, seed=1)
    assert_plan_adds_up(
        Plan(story=story, beat_sheet=sheet, bible=bible, cards=cards, shots=shots), 60
    )
    assert not shots[0].continuous and any(s.continuous for s in shots)
    for a, b in zip(shots, shots[1:], strict=False):
        assert b.continuous == (a.transition == "cut" and a.beat_id == b.beat_id)
        if a.transition == "crossfade":
            assert a.beat_id == b.beat_id and 0.5 <= a.transition_s <= 0.75
        else:
            assert a.transition == "cut" and a.transition_s == 0.0

    too_few = shots_answer(fake.requests[-1].text)
    too_few["beats"][1]["shots"] = too_few["beats"][1]["shots"][:1]
    fake.chat_handler = None
    fake.script(too_few, shots_answer(fake.requests[-1].text))
    planner.shot_list(story, sheet, bible, cards, seed=1)
    assert re.search(
        r"beat b02 has [\d.]+ s of shots: write between \d+ and \d+ shots", fake.requests[-1].text
    )


def test_later_stages_never_rewrite_approved_records(fake):
    fake.chat_handler = screenwriter
    planner = OpenAIPlanner()
    story = planner.develop(EN, language="en", seed=1)
    approved_story = story.model_dump()

    def rewriter(request):
        answer = screenwriter(request)
        # A model that tries to retitle the film and rewrite the beats it was given.
        answer |= {"title": "A Different Film", "logline": "Something else", "story": {}}
        for group in answer.get("beats", []):
            if "shots" in group:
                group |= {"summary": "Rewritten", "name": "Act Nine"}
                for s in group["shots"]:
                    s |= {"style": "neon anime", "beat_id": "b99", "id": "x"}
        return answer

    fake.chat_handler = rewriter
    sheet = planner.beat_sheet(story, structure="qczh", runtime_s=60, seed=1)
    approved_sheet = sheet.model_dump()
    bible, cards = planner.bible(story, sheet, width=320, height=180, seed=1)
    shots = planner.shot_list(story, sheet, bible, cards, seed=1)
    assert story.model_dump() == approved_story and sheet.model_dump() == approved_sheet
    assert cards.title == "The Last Garden"
    assert {s.beat_id for s in shots} == {b.id for b in sheet.beats}
    assert all(s.prompt.style == bible.suffix for s in shots)


# --- repair, usage, errors -------------------------------------------------------------------


def test_repair_slot_rewrites_one_slot_and_keeps_approved_text(fake):
    fake.chat_handler = screenwriter
    planner = OpenAIPlanner()
    plan = plan_with(planner)
    shot = next(s for s in plan.shots if s.characters)
    slots = shot.prompt.slots()
    text = planner.repair_slot(shot, slots, "action", ["prompt: 0.18 below 0.22 (action weakest)"])
    assert text == "her face turned to the light"
    request = fake.chat_requests()[-1]
    assert "prompt: 0.18 below 0.22" in request.text and 'Rewrite the "action" slot' in request.text
    assert request.json["response_format"]["json_schema"]["name"] == "repair_slot"

    fake.chat_handler = None
    fake.script({"text": "under even daylight"})
    style = planner.repair_slot(shot, slots, "style", ["style: 0.5 below 0.7"])
    assert style.startswith(plan.bible.suffix) and style.endswith("under even daylight")
    assert "word for word" in fake.chat_requests()[-1].text

    fake.script({"text": ""}, {"text": "   "})
    assert planner.repair_slot(shot, slots, "camera", ["sharpness: 3 below 25"]) is None
    assert planner.repair_slot(shot, slots, "nonsense", ["x"]) is None


def test_token_usage_latency_and_cost_of_every_call_are_kept(fake):
    fake.chat_handler = screenwriter
    fake.latency = 0.05
    seen: list[LLMCall] = []
    planner = OpenAIPlanner("gpt-4.1-mini", on_call=seen.append)
    plan_with(planner)
    assert seen == planner.calls and len(seen) == 4
    for call in seen:
        assert call.prompt_tokens > 50 and call.completion_tokens > 5
        assert call.seconds >= 0.05 and call.provider == "openai"
        # gpt-4.1-mini: $0.40 in, $1.60 out per million tokens.
        expected = (call.prompt_tokens * 0.4 + call.completion_tokens * 1.6) / 1e6
        assert call.cost == pytest.approx(expected, rel=1e-6)
    unpriced = OpenAIPlanner("my-finetune", on_call=seen.append)
    fake.latency = 0.0
    unpriced.develop(EN, language="en", seed=1)
    assert unpriced.calls[0].cost is None and "no price" in unpriced.calls[0].cost_detail


def test_a_bad_key_names_the_variable_and_never_repeats_the_key(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-4242424242")
    with pytest.raises(ProviderError) as err:
        OpenAIPlanner().develop(EN, language="en", seed=1)
    assert "OPENAI_API_KEY" in str(err.value) and "HTTP 401" in str(err.value)
    assert "4242" not in str(err.value) and "4242" not in repr(err.value.__cause__)
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="Set OPENAI_API_KEY"):
        OpenAIPlanner()


def test_a_missing_model_says_how_to_choose_one(fake):
    fake.models = {"gpt-4.1-mini"}
    with pytest.raises(ProviderError, match="no model 'gpt-9'") as err:
        OpenAIPlanner("gpt-9").develop(EN, language="en", seed=1)
    assert "openai:MODEL" in str(err.value) and "OPENAI_BASE_URL" in str(err.value)


def test_throttling_is_retried_honouring_retry_after_and_5xx_gives_up(fake):
    fake.script(Reply.rate_limited(0.3), STORY)
    planner = OpenAIPlanner(max_retries=2)
    start = time.perf_counter()
    planner.develop(EN, language="en", seed=1)
    assert time.perf_counter() - start >= 0.3 and len(fake.chat_requests()) == 2

    fake.script(*[Reply.server_error(503)] * 3)
    with pytest.raises(ProviderError, match="HTTP 503 .* after 2 retries"):
        planner.develop(EN, language="en", seed=1)
    assert len(fake.chat_requests()) == 5


# --- the providers ---------------------------------------------------------------------------


def test_dashscope_uses_compatible_mode_on_the_region_host(fake, monkeypatch):
    assert compatible_url(DASHSCOPE_REGIONS["singapore"]) == (
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
    )
    monkeypatch.setenv("DASHSCOPE_API_KEY", fake.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", f"{fake.root}/api/v1")
    monkeypatch.delenv("OPENAI_API_KEY")
    planner = registry.load("planners", "dashscope")
    assert isinstance(planner, DashScopePlanner) and planner.model == "qwen-plus"
    fake.script(STORY)
    planner.develop(EN, language="en", seed=1)
    request = fake.chat_requests()[-1]
    assert request.path == "/compatible-mode/v1/chat/completions"
    assert request.json["enable_thinking"] is False and request.json["model"] == "qwen-plus"

    fake.script(Reply.data_inspection_failed())
    with pytest.raises(ProviderError, match="content filter of DashScope"):
        planner.develop(EN, language="en", seed=1)
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-not-this-one")
    with pytest.raises(ProviderError, match="DASHSCOPE_API_KEY"):
        registry.load("planners", "dashscope:qwen-max").develop(EN, language="en", seed=1)


def test_an_openai_compatible_server_is_named_url_hash_model(fake, monkeypatch):
    spec = f"openai-compatible:{fake.base_url}#qwen2.5:7b"
    monkeypatch.setenv("DIRECTOR_COMPATIBLE_API_KEY", fake.api_key)  # its own key
    planner = registry.load("planners", spec)
    assert isinstance(planner, CompatiblePlanner) and planner.served == "qwen2.5:7b"
    fake.script(STORY)
    planner.develop(EN, language="en", seed=1)
    assert fake.chat_requests()[-1].json["model"] == "qwen2.5:7b"

    # without its own key it never gets the OpenAI one, only a placeholder
    monkeypatch.delenv("DIRECTOR_COMPATIBLE_API_KEY")
    fake.api_key = "not-needed"
    fake.script(STORY)
    registry.load("planners", spec).develop(EN, language="en", seed=1)
    for bad in ("openai-compatible", "openai-compatible:qwen2.5", "openai-compatible:http://x#"):
        with pytest.raises(InputError, match="URL#MODEL"):
            registry.load("planners", bad)


def test_registry_names_the_openai_planner():
    assert registry.available("planners")["openai"].endswith(":OpenAIPlanner")


def test_bounded_split_keeps_bounds_and_the_total():
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 8)
        lows, highs = [300] * n, [800] * n
        total = rng.randint(300 * n, 800 * n)
        weights = [rng.choice([0.0, 0.5, 3.0, 40.0, rng.random()]) for _ in range(n)]
        parts = bounded_split(total, weights, lows, highs)
        assert sum(parts) == total and all(300 <= p <= 800 for p in parts)
    assert bounded_split(1000, [1, 1, 2], [0] * 3, [1000] * 3) == [250, 250, 500]


def test_the_planners_get_their_provider_table_and_the_runs_prices_from_the_registry(tmp_path):
    from director import registry
    from director.config import ConfigFile
    from director.tools.openai_client import priced

    tables = {
        "providers": {
            "openai-compatible": {"api_key": "from-the-file"},
            "openai": {"api_key": "sk-from-the-file"},
        },
        "prices": {"openai:gpt-4o-mini": {"input_per_1m": 1000.0, "output_per_1m": 1000.0}},
    }
    file = ConfigFile(tmp_path / "config.toml", {}, tables)
    spec = "openai-compatible:http://127.0.0.1:9/v1#served-model"
    compatible = registry.load("planners", spec, file=file)
    assert compatible.provider.api_key == "from-the-file"
    planner = registry.load("planners", "openai:gpt-4o-mini", file=file)
    usage = {"prompt_tokens": 1000, "completion_tokens": 1000}
    cost, _ = priced("openai", "gpt-4o-mini", usage, planner.prices)
    packaged, _ = priced("openai", "gpt-4o-mini", usage)
    assert cost == 2.0 and cost != packaged  # the file's price, not the packaged one
