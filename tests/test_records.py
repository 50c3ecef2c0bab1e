from pydantic import TypeAdapter

from director.records import (
    SCHEMA_VERSION,
    AttemptMade,
    CheckResult,
    Critique,
    Event,
    ShotPrompt,
)


def _prompt(**kw):
    base = dict(
        subject="Mara",
        action="kneels",
        environment="a garden at dawn",
        camera="close-up, low angle, static camera",
        style="storyboard",
    )
    return ShotPrompt(**{**base, **kw})


def test_prompt_renders_slots_in_order():
    text = _prompt().render()
    assert text == "Mara, kneels, a garden at dawn, close-up, low angle, static camera, storyboard"


def test_chinese_prompt_uses_chinese_separator_and_drops_trailing_punctuation():
    p = _prompt(
        subject="林晚，七十岁",
        action="跪下抚摸幼苗。",
        environment="黎明的花园",
        camera="特写，仰拍，固定机位",
        style="故事板",
    )
    assert p.render() == "林晚，七十岁，跪下抚摸幼苗，黎明的花园，特写，仰拍，固定机位，故事板"


def test_empty_slot_is_skipped_and_negative_is_trimmed():
    p = _prompt(action="  ", negative=" text, watermark ")
    assert ", ," not in p.render()
    assert p.render_negative() == "text, watermark"


def _check(name, score, threshold, passed, higher=True):
    return CheckResult(
        name=name,
        score=score,
        threshold=threshold,
        passed=passed,
        reason="r",
        higher_is_better=higher,
    )


def test_verdict_ignores_checks_that_did_not_run():
    c = Critique(
        shot_id="s001", attempt=1, checks=[_check("a", 1, 0.5, True), _check("b", None, None, None)]
    )
    assert c.verdict == "pass" and c.margin() == 0


def test_margin_grows_with_shortfall_in_both_directions():
    small = Critique(shot_id="s", attempt=1, checks=[_check("a", 0.45, 0.5, False)])
    large = Critique(
        shot_id="s",
        attempt=2,
        checks=[_check("a", 0.1, 0.5, False), _check("b", 0.2, 0.05, False, higher=False)],
    )
    assert small.verdict == "fail"
    assert 0 < small.margin() < large.margin()


def test_events_round_trip_through_the_discriminated_union():
    from director.records import Attempt

    attempt = Attempt(
        shot_id="s001",
        kind="keyframe",
        number=1,
        backend="previz",
        model="storyboard-v1",
        seed=7,
        prompt="p",
        artifact="keyframes/s001/1.png",
        sha256="0" * 64,
        seconds=0.1,
    )
    event = AttemptMade(attempt=attempt)
    back = TypeAdapter(Event).validate_python(event.model_dump(mode="json"))
    assert isinstance(back, AttemptMade) and back.attempt == attempt
    assert back.v == SCHEMA_VERSION


def test_text_entering_a_record_is_cleaned_of_control_characters():
    from director.records import Story, clean_text

    assert clean_text("a\x00b\x1b]0;title\x07c\r\nd\x85e\ud800") == "ab]0;titlec\nde\ufffd"
    answer = (
        '{"logline": "x", "language": "en", "title": "The\\u0000 Garden\\u001b[2J",'
        ' "protagonists": [{"name": "Ma\\u0007ra", "description": "d"}], "world": "w",'
        ' "want": "w", "obstacle": "o", "theme": "t", "tone": "t", "locations": ["a\\u0000b"]}'
    )
    story = Story.model_validate_json(answer)  # as a language model's answer is read
    assert story.title == "The Garden[2J" and story.protagonists[0].name == "Mara"
    assert story.locations == ["ab"]
