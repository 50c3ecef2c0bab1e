"""DashScope voices through the real ``dashscope`` SDK against a loopback fake that speaks the
published protocols: Qwen-TTS over HTTP (an audio URL to download) and CosyVoice over the
websocket (run-task, binary audio frames, task-finished). Lines in English and Chinese, each
in a voice of its language; the task or request id handed over before the wait; refusals as
one clear line (a bad key, a voice the model does not have, throttling that does not end) or
as a failed line (the content check); throttling retried; every line priced, logged, counted
against --budget; and whole films through the CLI, their lines heard at their shots."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from director import registry
from director.errors import ModerationRejected, ProviderError, UnknownBackend
from director.tools import hosted, pricing
from director.tools.providers import ProviderSettings
from director.tools.voice.cosyvoice import V2_VOICES, CosyVoice, websocket_url
from director.tools.voice.dashscope import DashScopeVoice
from director.tools.voice.qwen_tts import QWEN3_VOICES, QwenTTS
from tests.fakes import dashscope_speech
from tests.fakes.dashscope_speech import RATE, characters, speech_seconds
from tests.test_cli import assert_clean_error, director
from tests.test_mix import decoded, level_db

EN = "In 2075 the last human on Earth tends a garden that robots keep bulldozing"
ZH = "2075年，地球上最后一个人类独自守着一座被机器人反复推平的花园"
FAST = hosted.Retries(base_delay=0.01, max_delay=0.05)


@pytest.fixture
def fake(monkeypatch):
    yield from dashscope_speech.serve(monkeypatch)


def voice(fake, model: str, key: str | None = None, **kwargs) -> DashScopeVoice:
    found = ProviderSettings("dashscope", api_key=key or fake.key, base_url=fake.base_url)
    return DashScopeVoice(model, provider_settings=found, retries=FAST, **kwargs)


def seconds_of(path: Path) -> float:
    with wave.open(str(path)) as audio:
        assert audio.getframerate() == RATE and audio.getnchannels() == 1
        return audio.getnframes() / RATE


# --- one line at a time ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["qwen3-tts-flash", "cosyvoice-v2"])
@pytest.mark.parametrize(
    "language, text", [("en", "The garden grows back."), ("zh", "花园又长回来了。")]
)
def test_a_line_is_spoken_in_a_voice_of_its_language(fake, tmp_path, model, language, text):
    backend = voice(fake, model)
    assert type(backend) is (CosyVoice if model.startswith("cosyvoice") else QwenTTS)
    spoken = backend.voice_for("Mara", language)
    assert spoken in backend.voices_for(language) and spoken != backend.voice_for(None, language)
    assert backend.voice_for("Mara", language) == spoken  # the same voice every time
    dest = tmp_path / "line.wav"
    told: list[str] = []
    backend.on_task = lambda task: told.append(task) or _not_yet(dest)
    cost = backend.speak(text, voice=spoken, language=language, dest=dest)
    assert seconds_of(dest) == pytest.approx(speech_seconds(text), abs=0.01)
    assert fake.texts == [(model, spoken, text)]
    rate = pricing.load_prices().find("dashscope", model).amount
    assert cost == pytest.approx(characters(text) * rate / 1e4)
    assert backend.last_cost.detail == f"{characters(text)} characters"
    assert len(told) == 1
    if model.startswith("cosyvoice"):
        assert told == fake.tasks  # the client's task id, known before run-task went out
        parameters = fake.requests[0]["parameters"]
        assert parameters["language_hints"] == [language] and parameters["voice"] == spoken
    else:
        [sent] = fake.requests
        assert sent["input"] == {
            "text": text,
            "voice": spoken,
            "language_type": {"en": "English", "zh": "Chinese"}[language],
        }


def _not_yet(dest: Path) -> None:
    assert not dest.exists(), "the id must be told before the audio is there"


def test_qwen_tts_bills_its_tokens_and_reads_the_language_from_the_text(fake, tmp_path):
    backend = voice(fake, "qwen-tts")
    text = "Hello there."
    cost = backend.speak(text, voice="Cherry", language="en", dest=tmp_path / "a.wav")
    assert "language_type" not in fake.requests[0]["input"]
    audio_tokens = 50 * -(-speech_seconds(text) // 1)
    assert cost == pytest.approx((len(text) * 0.23 + audio_tokens * 1.434) / 1e6)
    assert backend.estimate(text) == pytest.approx(cost, rel=0.5)


def test_the_price_counts_a_han_character_twice():
    table = pricing.load_prices()
    offer = pricing.quote_speech("dashscope", "cosyvoice-v2", "你好 Mara", table=table)
    assert offer.detail == "9 characters"
    assert offer.usd == pytest.approx(9 * 0.286706 / 1e4)
    billed = pricing.bill_speech("dashscope", "cosyvoice-v2", "x", {"characters": 12}, table=table)
    assert billed.detail == "12 characters"
    assert pricing.quote_speech("scratch", "espeak-ng", "hello").usd == 0.0
    unknown = pricing.quote_speech("dashscope", "cosyvoice-v9", "hello", table=table)
    assert unknown.usd is None and '[prices."dashscope:cosyvoice-v9"]' in unknown.reason


@pytest.mark.parametrize("model", ["qwen3-tts-flash", "cosyvoice-v2"])
def test_throttling_is_retried_until_the_line_is_spoken(fake, tmp_path, model):
    fake.throttle_first, fake.retry_after = 2, 0
    backend = voice(fake, model)
    backend.speak(
        "Again.", voice=backend.voice_for(None, "en"), language="en", dest=tmp_path / "a.wav"
    )
    assert fake.calls == 3 and len(fake.texts) == 1


@pytest.mark.parametrize("model", ["qwen3-tts-flash", "cosyvoice-v2"])
def test_throttling_that_does_not_end_stops_with_what_to_do(fake, tmp_path, model):
    fake.throttle_first = 100
    backend = voice(fake, model)
    backend.service.retries = hosted.Retries(throttled=3, base_delay=0.01)
    with pytest.raises(ProviderError, match="still throttled after 3 tries") as caught:
        backend.speak("Again.", voice=backend.voice_for(None), language="en", dest=tmp_path / "a")
    assert "resume the run later" in caught.value.hint and fake.calls == 3


@pytest.mark.parametrize("model", ["qwen3-tts-flash", "cosyvoice-v2"])
def test_a_bad_key_names_the_variable_and_never_shows_the_key(fake, tmp_path, model):
    secret = "sk-not-the-right-one-4242"
    backend = voice(fake, model, key=secret)
    with pytest.raises(ProviderError) as caught:
        backend.speak("Hi.", voice=backend.voice_for(None), language="en", dest=tmp_path / "a")
    said = f"{caught.value} {caught.value.hint}"
    assert "refused the API key" in said and "DASHSCOPE_API_KEY" in said and secret not in said
    assert fake.texts == []


@pytest.mark.parametrize(
    "model, wrong", [("qwen3-tts-flash", "longshu_v2"), ("cosyvoice-v2", "Cherry")]
)
def test_a_voice_the_model_does_not_have_stops_with_its_voices(fake, tmp_path, model, wrong):
    backend = voice(fake, model)
    with pytest.raises(ProviderError, match=f"has no voice '{wrong}'") as caught:
        backend.speak("Hi.", voice=wrong, language="en", dest=tmp_path / "a.wav")
    assert backend.voice_for(None) in caught.value.hint
    assert len(fake.take_violations()) == 1


@pytest.mark.parametrize("model", ["qwen3-tts-flash", "cosyvoice-v2"])
def test_the_content_check_fails_the_line_with_its_code(fake, tmp_path, model):
    fake.flagged = {"forbidden"}
    backend = voice(fake, model)
    with pytest.raises(ModerationRejected) as caught:
        backend.speak(
            "A forbidden word.", voice=backend.voice_for(None), language="en", dest=tmp_path / "a"
        )
    assert caught.value.code == "DataInspectionFailed"
    if model.startswith("cosyvoice"):
        assert caught.value.task_id == fake.tasks[0]


def test_a_voice_of_another_model_is_refused_before_anything_is_made():
    from director.errors import InputError

    with pytest.raises(InputError, match="another DashScope model") as caught:
        DashScopeVoice.check_voice("Cherry", "cosyvoice-v2")
    assert "longxiaochun_v2" in caught.value.hint
    with pytest.raises(InputError, match="not of cosyvoice-v3-flash"):
        DashScopeVoice.check_voice("longxiaochun_v2", "cosyvoice-v3-flash")
    DashScopeVoice.check_voice("Jennifer", "qwen3-tts-flash")
    DashScopeVoice.check_voice("my-cloned-voice-01", "cosyvoice-v2")  # only the service knows


def test_models_are_named_like_the_other_voices(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    assert registry.load("voices", "dashscope").model == "qwen3-tts-flash"
    assert isinstance(registry.load("voices", "dashscope:cosyvoice-v3-flash"), CosyVoice)
    assert isinstance(registry.load("voices", "dashscope:qwen-tts-latest"), QwenTTS)
    with pytest.raises(UnknownBackend, match="cosyvoice-v2"):
        registry.load("voices", "dashscope:wan2.2-t2i-flash")
    assert websocket_url("https://dashscope-intl.aliyuncs.com/api/v1") == (
        "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"
    )


# --- whole films through the CLI -------------------------------------------------------------


def _film(root: Path, fake, logline: str, spec: str, *extra: str, key: str = ""):
    env = {"DASHSCOPE_API_KEY": key or fake.key, "DASHSCOPE_HTTP_BASE_URL": fake.base_url}
    result = director(
        "run", "--logline", logline, "--yes", "--json", "--runs-dir", "runs", "--run-id", "r",
        "--minutes", "0.25", "--size", "320x180", "--voice", spec, *extra, cwd=root, env=env,
    )  # fmt: skip
    folder = root / "runs" / "r"
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    return result, folder, events


@pytest.mark.parametrize(
    "spec, logline, language",
    [("dashscope", EN, "en"), ("dashscope:cosyvoice-v2", ZH, "zh")],
)
def test_a_film_speaks_its_lines_at_their_shots_and_logs_their_cost(
    fake, tmp_path, spec, logline, language
):
    result, folder, events = _film(tmp_path, fake, logline, spec)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    plan = json.loads((folder / "plan.json").read_text())
    lines = {s["id"]: s["line"]["text"] for s in plan["shots"] if s.get("line")}
    spoken = [e for e in events if e["type"] == "voice_line"]
    assert lines and [e["shot_id"] for e in spoken] == list(lines)
    started = {e["shot_id"]: (i, e) for i, e in enumerate(events) if e["type"] == "voice_task"}
    costs = {e["shot_id"]: e for e in events if e["type"] == "cost" and e["kind"] == "voice"}
    model = "cosyvoice-v2" if "cosyvoice" in spec else "qwen3-tts-flash"
    rate = pricing.load_prices().find("dashscope", model).amount
    voices = (V2_VOICES if "cosyvoice" in spec else QWEN3_VOICES)[language]
    for e in spoken:
        assert (e["backend"], e["model"], e["scratch"]) == ("dashscope", model, False)
        assert e["voice"] in voices  # a voice of the line's language
        assert (e["voice"] == voices[0]) == (e["kind"] == "narration")
        assert e["voice"] in {v for _, v, t in fake.texts if t == lines[e["shot_id"]]}
        assert seconds_of(folder / e["path"]) == pytest.approx(e["duration_s"], abs=0.01)
        index, task = started[e["shot_id"]]
        assert index < events.index(e) and task["task_id"] == e["task_id"] != ""
        billed = characters(lines[e["shot_id"]]) * rate / 1e4
        assert e["cost"] == costs[e["shot_id"]]["amount"] == pytest.approx(billed)
        assert costs[e["shot_id"]]["job_id"] == e["task_id"]
    if language == "zh":
        assert all(any("\u4e00" <= c <= "\u9fff" for c in e["text"]) for e in spoken)
    assert summary["cost"]["voices"] == pytest.approx(sum(e["cost"] for e in spoken), abs=1e-8)
    assert summary["unspoken_lines"] == []
    sound = decoded(Path(summary["paths"]["film"]))
    silence = level_db(sound, 0.1, plan["cards"]["title_s"] - 0.1)
    for e in spoken:  # heard from the shot's start, not before it
        assert level_db(sound, e["start_s"] + 0.05, e["start_s"] + e["duration_s"] - 0.05) > (
            silence + 30
        )
        assert level_db(sound, e["start_s"] - 0.4, e["start_s"] - 0.05) < -50 or e is spoken[0]


def test_the_budget_leaves_out_the_lines_it_cannot_pay_for(fake, tmp_path):
    first = characters("First the garden. Then the rest.") * 0.10 / 1e4
    result, folder, events = _film(
        tmp_path, fake, EN, "dashscope", "--budget", f"{first * 1.5:.6f}"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    spoken = [e for e in events if e["type"] == "voice_line"]
    left = [e for e in events if e["type"] == "voice_failed"]
    assert spoken and left and {e["code"] for e in left} == {"Budget"}
    assert "cannot pay for it" in left[0]["reason"]
    assert summary["cost"]["voices"] <= first * 1.5
    assert [e["shot_id"] for e in summary["unspoken_lines"]] == [e["shot_id"] for e in left]
    assert len(fake.texts) == len(spoken)  # nothing was paid for twice
    assert Path(summary["paths"]["film"]).is_file()


def test_a_refused_line_is_left_out_and_the_film_is_made(fake, tmp_path):
    fake.flagged = {"garden"}
    result, folder, events = _film(tmp_path, fake, EN, "dashscope:cosyvoice-v2")
    assert result.returncode == 0, result.stderr
    left = [e for e in events if e["type"] == "voice_failed"]
    assert left and all(e["code"] == "DataInspectionFailed" and e["task_id"] for e in left)
    assert all("garden" in e["text"] for e in left)
    spoken = [e["shot_id"] for e in events if e["type"] == "voice_line"]
    assert not {e["shot_id"] for e in left} & set(spoken)
    assert json.loads(result.stdout)["unspoken_lines"][0]["code"] == "DataInspectionFailed"


def test_a_bad_key_stops_the_run_with_one_line_and_the_run_resumes(fake, tmp_path):
    secret = "sk-another-account-0000"
    result, folder, events = _film(tmp_path, fake, EN, "dashscope:cosyvoice-v2", key=secret)
    assert_clean_error(result, "DashScope refused the API key")
    assert secret not in result.stderr and fake.texts == []
    assert not [e for e in events if e["type"] in ("voice_line", "cost")]
    assert not (folder / "film.mp4").exists()
    env = {"DASHSCOPE_API_KEY": fake.key, "DASHSCOPE_HTTP_BASE_URL": fake.base_url}
    again = director("resume", "r", "--runs-dir", "runs", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    spoken = [e for e in events if e["type"] == "voice_line"]
    assert spoken and len(fake.texts) == len(spoken) and (folder / "film.mp4").is_file()
    assert "Cost: $" in again.stderr and "voice s00" in again.stderr


def test_the_summary_counts_each_paid_job_once_and_names_unpriced_models(tmp_path):
    from director.cli.run import costs, unspoken_lines

    records = [
        {"type": "cost", "kind": "clip", "backend": "dashscope", "model": "m", "amount": 0.5,
         "job_id": "t1"},
        {"type": "cost", "kind": "clip", "backend": "dashscope", "model": "m", "amount": 0.5,
         "job_id": "t1"},  # a node re-run after a crash logs it again: paid once
        {"type": "cost", "kind": "voice", "backend": "dashscope", "model": "v", "amount": 0.25,
         "job_id": "t2"},
        {"type": "cost", "kind": "voice", "backend": "x", "model": "y", "amount": None,
         "job_id": "t3"},
        {"type": "voice_failed", "shot_id": "s1", "text": "Hi.", "code": "Budget", "reason": "r"},
        {"type": "assembly", "step": "film"},
    ]  # fmt: skip
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(r) for r in records))
    assert costs(events) == {"total": 0.75, "voices": 0.25, "unpriced": ["x:y"]}
    assert unspoken_lines(events) == [
        {"shot_id": "s1", "text": "Hi.", "code": "Budget", "reason": "r"}
    ]
